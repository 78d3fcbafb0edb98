// Federated learning roles.
#include "pipar/federated_training.hpp"

#include <string>

#include "pipar/error.hpp"

namespace pipar {
namespace {

constexpr int kServerRank = 0;

}  // namespace

FederatedClient::FederatedClient(int client, torch::nn::Sequential model, TensorData shard,
                                 const TrainingConfig& config, RoleContext context)
    : client_(client),
      model_(std::move(model)),
      shard_(std::move(shard)),
      config_(config),
      context_(context) {}

void FederatedClient::train_round(int round) {
  receive_global_model(context_.transport, round, *model_);

  auto optimizer = make_optimizer(*model_, config_);
  model_->train();
  double loss_sum = 0.0;
  std::int64_t trained = 0;
  Event event;
  event.resource = Resource::kClientCompute;
  event.client = client_;
  event.round = round;
  for_each_batch(shard_.size(), config_, round, client_, [&](int batch, const torch::Tensor& indices) {
    const torch::Tensor labels = shard_.labels.index_select(0, indices);
    torch::Tensor loss;
    event.batch = batch;
    event.kind = EventKind::kForward;
    run_timed(context_, event, [&] {
      loss = torch::nn::functional::cross_entropy(
          model_->forward(batch_images(shard_, indices, config_, round, batch, client_)), labels);
    });
    event.kind = EventKind::kBackward;
    run_timed(context_, event, [&] { loss.backward(); });
    event.kind = EventKind::kStep;
    run_timed(context_, event, [&] {
      optimizer->step();
      optimizer->zero_grad();
    });
    loss_sum += loss.item<double>() * static_cast<double>(indices.numel());
    trained += indices.numel();
  });

  const FlatState state = flatten_state(*model_);
  MessageHeader header;
  header.kind = MessageKind::kClientModel;
  header.client = client_;
  header.round = round;
  header.samples = shard_.size();
  header.trained_samples = trained;
  header.loss_sum = loss_sum;
  context_.transport.send(kServerRank, header, {state.floating, state.integer});
  send_events(context_, client_, round);
}

FederatedServer::FederatedServer(torch::nn::Sequential global_model, const TrainingConfig& config,
                                 RoleContext context)
    : global_model_(std::move(global_model)), config_(config), context_(context) {}

ServerRoundStats FederatedServer::train_round(int round) {
  const FlatState global_state = flatten_state(*global_model_);
  for (int client = 1; client <= config_.clients; ++client) {
    MessageHeader header;
    header.kind = MessageKind::kGlobalModel;
    header.client = client;
    header.round = round;
    context_.transport.send(client, header, {global_state.floating, global_state.integer});
  }

  std::vector<FlatState> states(static_cast<std::size_t>(config_.clients));
  std::vector<std::int64_t> weights(states.size(), 0);
  ServerRoundStats stats;
  for (int received = 0; received < config_.clients; ++received) {
    Message message = context_.transport.receive();
    const MessageHeader& header = message.header;
    const bool valid = header.kind == MessageKind::kClientModel && header.round == round &&
                       header.client == message.source && header.client >= 1 &&
                       header.client <= config_.clients &&
                       weights[static_cast<std::size_t>(header.client - 1)] == 0 &&
                       header.tensor_count == 2 && header.samples > 0;
    if (!valid) {
      throw ProtocolError("unexpected " + describe(header) +
                          "; expected one client model of round " + std::to_string(round) +
                          " from each client");
    }
    const auto index = static_cast<std::size_t>(header.client - 1);
    states[index] = FlatState{message.tensors[0], message.tensors[1]};
    weights[index] = header.samples;
    stats.train_loss += header.loss_sum;
    stats.samples += header.trained_samples;
  }
  Event aggregation;
  aggregation.kind = EventKind::kAggregate;
  aggregation.round = round;
  aggregation.start = context_.clock.now();
  load_state(*global_model_, weighted_average(states, weights));
  aggregation.end = context_.clock.now();
  context_.events.add(aggregation);
  stats.train_loss = stats.samples > 0 ? stats.train_loss / static_cast<double>(stats.samples) : 0.0;
  return stats;
}

}  // namespace pipar
