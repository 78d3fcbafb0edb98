// PiPar's pipelined split training: the client and the server roles.
#include "pipar/split_training.hpp"

#include <numeric>
#include <sstream>
#include <string>

#include "pipar/error.hpp"
#include "pipar/log.hpp"
#include "pipar/partition.hpp"

namespace pipar {
namespace {

constexpr int kServerRank = 0;

void expect_header(bool condition, const MessageHeader& header, const std::string& expected) {
  if (!condition) {
    throw ProtocolError("unexpected " + describe(header) + "; expected " + expected);
  }
}

std::string shape_text(torch::IntArrayRef shape) {
  std::ostringstream text;
  text << shape;
  return text.str();
}

}  // namespace

std::unique_ptr<torch::optim::SGD> make_optimizer(torch::nn::Module& module,
                                                  const SplitConfig& config) {
  return std::make_unique<torch::optim::SGD>(
      module.parameters(),
      torch::optim::SGDOptions(config.learning_rate).momentum(config.momentum));
}

SplitClient::SplitClient(int client, torch::nn::Sequential client_part, TensorData shard,
                         const SplitConfig& config, Transport& transport)
    : client_(client),
      part_(std::move(client_part)),
      shard_(std::move(shard)),
      config_(config),
      transport_(transport) {}

void SplitClient::train_round(int round) {
  optimizer_ = make_optimizer(*part_, config_);
  part_->train();

  const std::int64_t samples = shard_.size();
  int batch = 0;
  for (int epoch = 0; epoch < config_.local_epochs; ++epoch) {
    std::vector<std::int64_t> order(static_cast<std::size_t>(samples));
    std::iota(order.begin(), order.end(), 0);
    const auto epoch_index = static_cast<std::uint64_t>(round * config_.local_epochs + epoch);
    order = shuffled(std::move(order),
                     mix_seed(config_.seed, epoch_index, static_cast<std::uint64_t>(client_)));
    const torch::Tensor permutation = torch::tensor(order, torch::kInt64);

    for (std::int64_t start = 0; start < samples; start += config_.batch_size) {
      const std::int64_t length = std::min<std::int64_t>(config_.batch_size, samples - start);
      train_batch(round, batch, permutation.narrow(0, start, length));
      ++batch;
    }
  }
  exchange_model(round);
}

// Forwards all micro-batches back to back, posting each upload as soon as its
// forward ends, then runs each backward as soon as its gradient arrives, in
// whatever order the gradients come, and steps once for the whole batch.
void SplitClient::train_batch(int round, int batch, const torch::Tensor& indices) {
  const torch::Tensor images = shard_.images.index_select(0, indices);
  const torch::Tensor labels = shard_.labels.index_select(0, indices);
  const std::int64_t batch_samples = indices.numel();
  const auto count =
      static_cast<int>(std::min<std::int64_t>(config_.micro_batches, batch_samples));
  const auto image_chunks = images.tensor_split(count);
  const auto label_chunks = labels.tensor_split(count);

  std::vector<torch::Tensor> outputs(static_cast<std::size_t>(count));
  for (int i = 0; i < count; ++i) {
    torch::Tensor output = part_->forward(image_chunks[static_cast<std::size_t>(i)]);
    outputs[static_cast<std::size_t>(i)] = output;

    MessageHeader header;
    header.kind = MessageKind::kActivation;
    header.client = client_;
    header.round = round;
    header.batch = batch;
    header.micro_batch = i;
    header.micro_batch_count = count;
    header.batch_samples = batch_samples;
    transport_.send(kServerRank, header,
                    {output.detach().contiguous(),
                     label_chunks[static_cast<std::size_t>(i)].contiguous()});
  }

  for (int remaining = count; remaining > 0; --remaining) {
    Message message = transport_.receive();
    const MessageHeader& header = message.header;
    const bool matches = header.kind == MessageKind::kGradient && header.client == client_ &&
                         header.round == round && header.batch == batch &&
                         header.micro_batch >= 0 && header.micro_batch < count &&
                         outputs[static_cast<std::size_t>(header.micro_batch)].defined() &&
                         header.tensor_count == 1;
    expect_header(matches, header,
                  "a gradient for an outstanding micro-batch of client " +
                      std::to_string(client_) + ", round " + std::to_string(round) +
                      ", batch " + std::to_string(batch));
    torch::Tensor& output = outputs[static_cast<std::size_t>(header.micro_batch)];
    if (message.tensors[0].sizes() != output.sizes()) {
      throw ProtocolError("gradient of shape " + shape_text(message.tensors[0].sizes()) +
                          " does not match activation of shape " + shape_text(output.sizes()) +
                          " in " + describe(header));
    }
    output.backward(message.tensors[0]);
    output = torch::Tensor();  // frees the micro-batch's graph
  }
  optimizer_->step();
  optimizer_->zero_grad();
}

void SplitClient::exchange_model(int round) {
  const FlatState state = flatten_state(*part_);
  MessageHeader header;
  header.kind = MessageKind::kClientModel;
  header.client = client_;
  header.round = round;
  header.samples = shard_.size();
  transport_.send(kServerRank, header, {state.floating, state.integer});

  Message message = transport_.receive();
  const bool matches = message.header.kind == MessageKind::kGlobalModel &&
                       message.header.round == round && message.header.tensor_count == 2;
  expect_header(matches, message.header, "the global model of round " + std::to_string(round));
  load_state(*part_, FlatState{message.tensors[0], message.tensors[1]});
}

SplitServer::SplitServer(std::vector<torch::nn::Sequential> replicas, const SplitConfig& config,
                         Transport& transport)
    : replicas_(std::move(replicas)),
      config_(config),
      transport_(transport),
      optimizers_(replicas_.size()),
      progress_(replicas_.size()) {}

ServerRoundStats SplitServer::train_round(int round) {
  for (std::size_t i = 0; i < replicas_.size(); ++i) {
    optimizers_[i] = make_optimizer(*replicas_[i], config_);
    replicas_[i]->train();
    progress_[i] = ClientProgress{};
  }

  ServerRoundStats stats;
  std::vector<Message> client_models(replicas_.size());
  std::size_t models_received = 0;
  while (models_received < replicas_.size()) {
    Message message = transport_.receive();
    const MessageHeader& header = message.header;
    const bool known_client = header.client >= 1 &&
                              header.client <= static_cast<int>(replicas_.size()) &&
                              header.client == message.source && header.round == round;
    expect_header(known_client, header,
                  "a message of round " + std::to_string(round) + " from its own client");
    const auto index = static_cast<std::size_t>(header.client - 1);

    if (header.kind == MessageKind::kActivation) {
      serve_activation(message, stats);
    } else if (header.kind == MessageKind::kClientModel) {
      const ClientProgress& progress = progress_[index];
      const bool complete = !client_models[index].header.tensor_count &&
                            progress.processed == progress.micro_batch_count &&
                            header.tensor_count == 2 && header.samples > 0;
      expect_header(complete, header, "one client model after the client's last micro-batch");
      client_models[index] = std::move(message);
      ++models_received;
    } else {
      expect_header(false, header, "an activation or a client model");
    }
  }
  stats.train_loss = stats.samples > 0 ? stats.train_loss / static_cast<double>(stats.samples) : 0.0;
  aggregate(client_models, stats);
  return stats;
}

// Forward, loss and backward of one micro-batch on its client's replica. The
// loss is the micro-batch's summed cross-entropy divided by the samples of
// the whole batch, so the N micro-batch gradients add up to the gradient of
// the batch's mean loss even when micro-batches differ in size.
void SplitServer::serve_activation(const Message& message, ServerRoundStats& stats) {
  const MessageHeader& header = message.header;
  const auto index = static_cast<std::size_t>(header.client - 1);
  ClientProgress& progress = progress_[index];

  if (header.batch != progress.batch) {
    const bool previous_done = progress.processed == progress.micro_batch_count;
    expect_header(previous_done && header.micro_batch_count >= 1, header,
                  "the rest of batch " + std::to_string(progress.batch));
    progress = ClientProgress{header.batch, header.micro_batch_count,
                              std::vector<bool>(static_cast<std::size_t>(header.micro_batch_count)),
                              0};
  }
  const bool valid = header.micro_batch_count == progress.micro_batch_count &&
                     header.micro_batch >= 0 && header.micro_batch < progress.micro_batch_count &&
                     !progress.seen[static_cast<std::size_t>(header.micro_batch)] &&
                     header.tensor_count == 2 && header.batch_samples > 0;
  expect_header(valid, header, "a micro-batch of batch " + std::to_string(progress.batch) +
                                   " not served yet, with activations and labels");

  torch::Tensor activation = message.tensors[0].requires_grad_(true);
  const torch::Tensor& labels = message.tensors[1];
  torch::Tensor logits = replicas_[index]->forward(activation);
  torch::Tensor loss_sum = torch::nn::functional::cross_entropy(
      logits, labels,
      torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kSum));
  (loss_sum / static_cast<double>(header.batch_samples)).backward();

  MessageHeader reply = header;
  reply.kind = MessageKind::kGradient;
  transport_.send(header.client, reply, {activation.grad().contiguous()});

  stats.train_loss += loss_sum.item<double>();
  stats.samples += labels.size(0);
  progress.seen[static_cast<std::size_t>(header.micro_batch)] = true;
  progress.processed += 1;
  if (progress.processed == progress.micro_batch_count) {
    optimizers_[index]->step();
    optimizers_[index]->zero_grad();
  }
}

// FedAvg over the full models, each the client's part joined with its
// replica; every replica continues from the average at once, the clients
// once send_global_model() delivers it.
void SplitServer::aggregate(const std::vector<Message>& client_models, ServerRoundStats& stats) {
  std::vector<FlatState> full_states;
  std::vector<std::int64_t> weights;
  for (std::size_t i = 0; i < replicas_.size(); ++i) {
    const Message& message = client_models[i];
    const FlatState client_state{message.tensors[0], message.tensors[1]};
    full_states.push_back(concat_state(client_state, flatten_state(*replicas_[i])));
    weights.push_back(message.header.samples);
  }
  const FlatState average = weighted_average(full_states, weights);
  std::tie(stats.client_part, stats.server_part) = split_state(
      average, client_models[0].tensors[0].numel(), client_models[0].tensors[1].numel());
  for (auto& replica : replicas_) load_state(*replica, stats.server_part);
}

void SplitServer::send_global_model(int round, const FlatState& client_part) {
  for (std::size_t i = 0; i < replicas_.size(); ++i) {
    MessageHeader header;
    header.kind = MessageKind::kGlobalModel;
    header.client = static_cast<int>(i) + 1;
    header.round = round;
    transport_.send(header.client, header, {client_part.floating, client_part.integer});
  }
}

}  // namespace pipar
