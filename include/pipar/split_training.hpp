// The two roles of split training with pipelined micro-batches (PiPar).
//
// Call order, per round r on every rank of the world communicator:
//   clients: SplitClient::train_round(r), which ends by sending the client
//            part's state and loading the aggregated state it receives back;
//   server:  SplitServer::train_round(r), which serves every client's
//            micro-batches in arrival order and aggregates with FedAvg, then
//            SplitServer::send_global_model(r), which sends each client the
//            aggregated client part.
// Both sides use one Transport each, created over the same communicator.
// With micro_batches = 1 the schedule is SplitFed (version 1).
#pragma once

#include <torch/torch.h>

#include <memory>
#include <vector>

#include "pipar/dataset.hpp"
#include "pipar/fedavg.hpp"
#include "pipar/transport.hpp"

namespace pipar {

struct SplitConfig {
  int cut = 2;
  int micro_batches = 4;
  int batch_size = 100;
  int local_epochs = 1;
  double learning_rate = 0.01;
  double momentum = 0.9;
  std::uint64_t seed = 1;
  int clients = 1;
};

// The optimizer-state policy of every scheme: SGD momentum buffers start
// from zero in every round, because the weights they were built for were
// replaced by the aggregate.
constexpr const char* kOptimizerStatePolicy =
    "SGD momentum buffers are reset at the start of every round, when the aggregated weights "
    "are loaded";

std::unique_ptr<torch::optim::SGD> make_optimizer(torch::nn::Module& module, const SplitConfig& config);

// One client: blocks 1..cut of the model on its private shard.
class SplitClient {
 public:
  // `client` is 1..K, which is also its rank in the communicator.
  SplitClient(int client, torch::nn::Sequential client_part, TensorData shard,
              const SplitConfig& config, Transport& transport);

  void train_round(int round);
  const torch::nn::Sequential& part() const { return part_; }

 private:
  void train_batch(int round, int batch, const torch::Tensor& indices);
  void exchange_model(int round);

  int client_;
  torch::nn::Sequential part_;
  TensorData shard_;
  SplitConfig config_;
  Transport& transport_;
  std::unique_ptr<torch::optim::SGD> optimizer_;
};

// What the server measured in one round.
struct ServerRoundStats {
  double train_loss = 0.0;     // mean cross-entropy over the round's training samples
  std::int64_t samples = 0;    // training samples processed
  // The model after FedAvg, as the state of blocks 1..cut and of the rest.
  FlatState client_part;
  FlatState server_part;
};

// The server: one replica of blocks cut+1..L and one optimizer per client.
class SplitServer {
 public:
  SplitServer(std::vector<torch::nn::Sequential> replicas, const SplitConfig& config,
              Transport& transport);

  // Serves the round's micro-batches and aggregates; the clients wait for
  // send_global_model(round, stats.client_part) before their next round.
  ServerRoundStats train_round(int round);
  void send_global_model(int round, const FlatState& client_part);

 private:
  struct ClientProgress {
    int batch = -1;
    int micro_batch_count = 0;
    std::vector<bool> seen;
    int processed = 0;
  };

  void serve_activation(const Message& message, ServerRoundStats& stats);
  void aggregate(const std::vector<Message>& client_models, ServerRoundStats& stats);

  std::vector<torch::nn::Sequential> replicas_;  // replicas_[c - 1] serves client c
  SplitConfig config_;
  Transport& transport_;
  std::vector<std::unique_ptr<torch::optim::SGD>> optimizers_;
  std::vector<ClientProgress> progress_;
};

}  // namespace pipar
