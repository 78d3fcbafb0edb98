// Federated learning (FedAvg): every client trains the whole model on its
// shard; the server averages the models and sends the average back.
#pragma once

#include <torch/torch.h>

#include "pipar/fedavg.hpp"
#include "pipar/training.hpp"

namespace pipar {

class FederatedClient : public ClientRole {
 public:
  // `client` is 1..K, its rank in the transport's communicator.
  FederatedClient(int client, torch::nn::Sequential model, TensorData shard,
                  const TrainingConfig& config, RoleContext context);

  void train_round(int round) override;

 private:
  int client_;
  torch::nn::Sequential model_;
  TensorData shard_;
  TrainingConfig config_;
  RoleContext context_;
};

class FederatedServer : public ServerRole {
 public:
  // `global_model` is the model the server sends, averages into and evaluates.
  FederatedServer(torch::nn::Sequential global_model, const TrainingConfig& config,
                  RoleContext context);

  ServerRoundStats train_round(int round) override;

 private:
  torch::nn::Sequential global_model_;
  TrainingConfig config_;
  RoleContext context_;
};

}  // namespace pipar
