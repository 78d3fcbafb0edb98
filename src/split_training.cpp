// Split training roles: SL, SFL and PiPar.
#include "pipar/split_training.hpp"

#include <sstream>
#include <string>

#include "pipar/error.hpp"
#include "pipar/log.hpp"
#include "pipar/model.hpp"

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

SplitClient::SplitClient(int client, torch::nn::Sequential client_part, TensorData shard,
                         const TrainingConfig& config, RoleContext context)
    : client_(client),
      part_(std::move(client_part)),
      shard_(std::move(shard)),
      config_(config),
      context_(context) {}

void SplitClient::train_round(int round) {
  receive_global_model(context_.transport, round, *part_);
  optimizer_ = make_optimizer(*part_, config_);
  part_->train();
  for_each_batch(shard_.size(), config_, round, client_,
                 [&](int batch, const torch::Tensor& indices) { train_batch(round, batch, indices); });

  const FlatState state = flatten_state(*part_);
  MessageHeader header;
  header.kind = MessageKind::kClientModel;
  header.client = client_;
  header.round = round;
  header.samples = shard_.size();
  context_.transport.send(kServerRank, header, {state.floating, state.integer});
  send_events(context_, client_, round);
}

// Forwards all micro-batches back to back, posting each upload as soon as its
// forward ends, then runs each backward as soon as its gradient arrives, in
// whatever order the gradients come, and steps once for the whole batch.
void SplitClient::train_batch(int round, int batch, const torch::Tensor& indices) {
  const torch::Tensor images = batch_images(shard_, indices, config_, round, batch, client_);
  const torch::Tensor labels = shard_.labels.index_select(0, indices);
  const std::int64_t batch_samples = indices.numel();
  const auto count =
      static_cast<int>(std::min<std::int64_t>(config_.micro_batches_of(client_), batch_samples));
  const auto image_chunks = images.tensor_split(count);
  const auto label_chunks = labels.tensor_split(count);

  Event event;
  event.resource = Resource::kClientCompute;
  event.client = client_;
  event.round = round;
  event.batch = batch;

  std::vector<torch::Tensor> outputs(static_cast<std::size_t>(count));
  for (int i = 0; i < count; ++i) {
    torch::Tensor output;
    event.kind = EventKind::kForward;
    event.micro_batch = i;
    run_timed(context_, event,
              [&] { output = part_->forward(image_chunks[static_cast<std::size_t>(i)]); });
    outputs[static_cast<std::size_t>(i)] = output;

    MessageHeader header;
    header.kind = MessageKind::kActivation;
    header.client = client_;
    header.round = round;
    header.batch = batch;
    header.micro_batch = i;
    header.micro_batch_count = count;
    header.batch_samples = batch_samples;
    context_.transport.send(kServerRank, header,
                            {output.detach().contiguous(),
                             label_chunks[static_cast<std::size_t>(i)].contiguous()});
  }

  for (int remaining = count; remaining > 0; --remaining) {
    Message message = context_.transport.receive();
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
    event.kind = EventKind::kBackward;
    event.micro_batch = header.micro_batch;
    run_timed(context_, event, [&] { output.backward(message.tensors[0]); });
    output = torch::Tensor();  // frees the micro-batch's graph
  }
  event.kind = EventKind::kStep;
  event.micro_batch = -1;
  run_timed(context_, event, [&] {
    optimizer_->step();
    optimizer_->zero_grad();
  });
}

SplitServer::SplitServer(Mode mode, torch::nn::Sequential global_model,
                         std::vector<torch::nn::Sequential> replicas,
                         const TrainingConfig& config, RoleContext context)
    : mode_(mode),
      global_model_(global_model),
      global_client_(slice_blocks(global_model, 0, static_cast<std::size_t>(config.cut))),
      global_server_(slice_blocks(global_model, static_cast<std::size_t>(config.cut),
                                  global_model->size())),
      replicas_(std::move(replicas)),
      config_(config),
      context_(context),
      optimizers_(replicas_.size()),
      progress_(static_cast<std::size_t>(config.clients)) {
  const std::size_t expected = mode_ == Mode::kParallel ? progress_.size() : 1;
  if (replicas_.size() != expected) {
    throw std::invalid_argument("split server needs " + std::to_string(expected) +
                                " replicas, got " + std::to_string(replicas_.size()));
  }
  if (mode_ == Mode::kSequential && !config_.client_cuts.empty()) {
    throw std::invalid_argument("sequential split learning hands one client part from client "
                                "to client, so every client needs the same cut point");
  }
  for (int client = 1; client <= config_.clients; ++client) {
    const auto cut = static_cast<std::size_t>(config_.cut_of(client));
    client_parts_.push_back(slice_blocks(global_model_, 0, cut));
    server_parts_.push_back(slice_blocks(global_model_, cut, global_model_->size()));
  }
}

torch::nn::Sequential& SplitServer::replica_for(int client) {
  return mode_ == Mode::kParallel ? replicas_[static_cast<std::size_t>(client - 1)] : replicas_[0];
}

ServerRoundStats SplitServer::train_round(int round) {
  for (std::size_t i = 0; i < replicas_.size(); ++i) {
    load_state(*replicas_[i], flatten_state(*server_parts_[i]));
    replicas_[i]->train();
  }
  for (auto& progress : progress_) progress = ClientProgress{};

  ServerRoundStats stats;
  if (mode_ == Mode::kSequential) {
    // Each client in turn trains from the client part its predecessor left.
    for (int client = 1; client <= config_.clients; ++client) {
      optimizers_[0] = make_optimizer(*replicas_[0], config_);
      send_client_part(round, client, flatten_state(*global_client_));
      std::vector<Message> models = serve_until_models(round, {client}, stats);
      const Message& model = models[static_cast<std::size_t>(client - 1)];
      load_state(*global_client_, FlatState{model.tensors[0], model.tensors[1]});
    }
    load_state(*global_server_, flatten_state(*replicas_[0]));
  } else {
    std::vector<int> clients;
    for (int client = 1; client <= config_.clients; ++client) {
      const auto index = static_cast<std::size_t>(client - 1);
      optimizers_[index] = make_optimizer(*replicas_[index], config_);
      send_client_part(round, client, flatten_state(*client_parts_[index]));
      clients.push_back(client);
    }
    std::vector<Message> models = serve_until_models(round, clients, stats);
    Event aggregation;
    aggregation.kind = EventKind::kAggregate;
    aggregation.round = round;
    aggregation.start = context_.clock.now();

    // FedAvg over the full models, each the client's part joined with its
    // replica, weighted by the clients' sample counts. Clients may differ in
    // cut point, so each full state is laid out as the whole model's.
    std::vector<FlatState> full_states;
    std::vector<std::int64_t> weights;
    for (int client : clients) {
      const auto index = static_cast<std::size_t>(client - 1);
      const Message& model = models[index];
      full_states.push_back(join_state(FlatState{model.tensors[0], model.tensors[1]},
                                       parameter_count(*client_parts_[index]),
                                       flatten_state(*replica_for(client)),
                                       parameter_count(*replica_for(client))));
      weights.push_back(model.header.samples);
    }
    load_state(*global_model_, weighted_average(full_states, weights));
    aggregation.end = context_.clock.now();
    context_.events.add(aggregation);
  }
  stats.train_loss = stats.samples > 0 ? stats.train_loss / static_cast<double>(stats.samples) : 0.0;
  return stats;
}

void SplitServer::send_client_part(int round, int client, const FlatState& state) {
  MessageHeader header;
  header.kind = MessageKind::kGlobalModel;
  header.client = client;
  header.round = round;
  context_.transport.send(client, header, {state.floating, state.integer});
}

std::vector<Message> SplitServer::serve_until_models(int round, const std::vector<int>& clients,
                                                     ServerRoundStats& stats) {
  std::vector<Message> models(progress_.size());
  std::vector<bool> expected(progress_.size() + 1, false);
  for (int client : clients) expected[static_cast<std::size_t>(client)] = true;

  std::size_t received = 0;
  while (received < clients.size()) {
    Message message = context_.transport.receive();
    const MessageHeader& header = message.header;
    const bool from_expected_client =
        header.client >= 1 && header.client <= static_cast<int>(progress_.size()) &&
        header.client == message.source && expected[static_cast<std::size_t>(header.client)] &&
        header.round == round;
    expect_header(from_expected_client, header,
                  "a message of round " + std::to_string(round) + " from a client training now");
    const auto index = static_cast<std::size_t>(header.client - 1);

    if (header.kind == MessageKind::kActivation) {
      serve_activation(message, stats);
      continue;
    }
    const ClientProgress& progress = progress_[index];
    const bool complete = header.kind == MessageKind::kClientModel &&
                          models[index].header.tensor_count == 0 &&
                          progress.processed == progress.micro_batch_count &&
                          header.tensor_count == 2 && header.samples > 0;
    expect_header(complete, header, "an activation, or one client model after the last micro-batch");
    models[index] = std::move(message);
    ++received;
  }
  return models;
}

// Forward, loss and backward of one micro-batch on its client's replica. The
// loss is the micro-batch's summed cross-entropy divided by the samples of
// the whole batch, so the N micro-batch gradients add up to the gradient of
// the batch's mean loss even when micro-batches differ in size.
void SplitServer::serve_activation(const Message& message, ServerRoundStats& stats) {
  const MessageHeader& header = message.header;
  ClientProgress& progress = progress_[static_cast<std::size_t>(header.client - 1)];

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

  torch::nn::Sequential& replica = replica_for(header.client);
  torch::Tensor activation = message.tensors[0].requires_grad_(true);
  const torch::Tensor& labels = message.tensors[1];
  Event event;
  event.resource = Resource::kServerCompute;
  event.client = header.client;
  event.round = header.round;
  event.batch = header.batch;
  event.micro_batch = header.micro_batch;

  torch::Tensor loss_sum;
  event.kind = EventKind::kForward;
  run_timed(context_, event, [&] {
    loss_sum = torch::nn::functional::cross_entropy(
        replica->forward(activation), labels,
        torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kSum));
  });
  event.kind = EventKind::kBackward;
  run_timed(context_, event,
            [&] { (loss_sum / static_cast<double>(header.batch_samples)).backward(); });

  MessageHeader reply = header;
  reply.kind = MessageKind::kGradient;
  context_.transport.send(header.client, reply, {activation.grad().contiguous()});

  stats.train_loss += loss_sum.item<double>();
  stats.samples += labels.size(0);
  progress.seen[static_cast<std::size_t>(header.micro_batch)] = true;
  progress.processed += 1;
  if (progress.processed == progress.micro_batch_count) {
    auto& optimizer =
        optimizers_[mode_ == Mode::kParallel ? static_cast<std::size_t>(header.client - 1) : 0];
    event.kind = EventKind::kStep;
    event.micro_batch = -1;
    run_timed(context_, event, [&] {
      optimizer->step();
      optimizer->zero_grad();
    });
  }
}

}  // namespace pipar
