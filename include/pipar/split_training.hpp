// Split training: SL, SFL and PiPar.
//
// The client runs blocks 1..cut, the server the rest. With N micro-batches
// per batch the client forwards them back to back, uploading each as soon as
// its forward ends, and runs each backward when its gradient arrives (PiPar);
// with N = 1 this is SplitFed version 1 (SFL). In parallel mode the server
// keeps one replica per client and serves micro-batches of all clients in
// arrival order, then averages (FedAvg). In sequential mode (vanilla split
// learning, SL) it keeps a single server model and serves one client at a
// time, handing each client the client-side weights of the one before it.
#pragma once

#include <torch/torch.h>

#include <vector>

#include "pipar/fedavg.hpp"
#include "pipar/training.hpp"

namespace pipar {

class SplitClient : public ClientRole {
 public:
  // `client` is 1..K, which is also its rank in the transport's communicator.
  SplitClient(int client, torch::nn::Sequential client_part, TensorData shard,
              const TrainingConfig& config, RoleContext context);

  void train_round(int round) override;

 private:
  void train_batch(int round, int batch, const torch::Tensor& indices);

  int client_;
  torch::nn::Sequential part_;
  TensorData shard_;
  TrainingConfig config_;
  RoleContext context_;
  std::unique_ptr<torch::optim::SGD> optimizer_;
};

class SplitServer : public ServerRole {
 public:
  enum class Mode { kParallel, kSequential };

  // `global_model` is the full model, which the server evaluates; its blocks
  // 1..P are what it sends a client with cut point P (config.cut_of).
  // `replicas` are server parts (blocks P+1..L): one per client in parallel
  // mode, one in sequential mode, which needs the same cut for every client.
  SplitServer(Mode mode, torch::nn::Sequential global_model,
              std::vector<torch::nn::Sequential> replicas, const TrainingConfig& config,
              RoleContext context);

  ServerRoundStats train_round(int round) override;

 private:
  struct ClientProgress {
    int batch = -1;
    int micro_batch_count = 0;
    std::vector<bool> seen;
    int processed = 0;
  };

  void send_client_part(int round, int client, const FlatState& state);
  // Serves activations until the client models of `clients` have arrived;
  // returns them indexed by client - 1 (others are left empty).
  std::vector<Message> serve_until_models(int round, const std::vector<int>& clients,
                                          ServerRoundStats& stats);
  void serve_activation(const Message& message, ServerRoundStats& stats);
  torch::nn::Sequential& replica_for(int client);

  Mode mode_;
  torch::nn::Sequential global_model_;
  torch::nn::Sequential global_client_;  // blocks 1..cut of the global model
  torch::nn::Sequential global_server_;  // blocks cut+1..L of the global model
  // Per client, the blocks of the global model on each side of its cut
  // point; they share the global model's parameters.
  std::vector<torch::nn::Sequential> client_parts_;
  std::vector<torch::nn::Sequential> server_parts_;
  std::vector<torch::nn::Sequential> replicas_;
  TrainingConfig config_;
  RoleContext context_;
  std::vector<std::unique_ptr<torch::optim::SGD>> optimizers_;  // one per replica
  std::vector<ClientProgress> progress_;                         // one per client
};

}  // namespace pipar
