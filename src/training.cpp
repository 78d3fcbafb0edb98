// Code shared by the training schemes: the optimizer, the batch order and
// the start of a client's round.
#include "pipar/training.hpp"

#include <ctime>
#include <numeric>

#include "pipar/error.hpp"
#include "pipar/partition.hpp"

namespace pipar {
namespace {

// Tag of the augmentation's random stream, apart from the batch order's.
constexpr std::uint64_t kAugmentationStream = 0xA06;

}  // namespace

double process_cpu_seconds() {
  timespec now{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &now);
  return static_cast<double>(now.tv_sec) + 1e-9 * static_cast<double>(now.tv_nsec);
}

void send_events(const RoleContext& context, int client, int round) {
  const std::vector<double> values = encode_events(context.events.take());
  MessageHeader header;
  header.kind = MessageKind::kEvents;
  header.client = client;
  header.round = round;
  torch::Tensor tensor = torch::tensor(values, torch::kFloat64);
  context.transport.send(/*destination=*/0, header, {tensor});
}

std::unique_ptr<torch::optim::SGD> make_optimizer(torch::nn::Module& module,
                                                  const TrainingConfig& config) {
  return std::make_unique<torch::optim::SGD>(
      module.parameters(),
      torch::optim::SGDOptions(config.learning_rate).momentum(config.momentum));
}

void for_each_batch(std::int64_t samples, const TrainingConfig& config, int round, int client,
                    const std::function<void(int, const torch::Tensor&)>& train_batch) {
  int batch = 0;
  for (int epoch = 0; epoch < config.local_epochs; ++epoch) {
    std::vector<std::int64_t> order(static_cast<std::size_t>(samples));
    std::iota(order.begin(), order.end(), 0);
    const auto epoch_index = static_cast<std::uint64_t>(round) * config.local_epochs + epoch;
    order = shuffled(std::move(order),
                     mix_seed(config.seed, epoch_index, static_cast<std::uint64_t>(client)));
    const torch::Tensor permutation = torch::tensor(order, torch::kInt64);

    for (std::int64_t start = 0; start < samples; start += config.batch_size) {
      const std::int64_t length = std::min<std::int64_t>(config.batch_size, samples - start);
      train_batch(batch, permutation.narrow(0, start, length));
      ++batch;
    }
  }
}

torch::Tensor batch_images(const TensorData& shard, const torch::Tensor& indices,
                           const TrainingConfig& config, int round, int batch, int client) {
  torch::Tensor images = shard.images.index_select(0, indices);
  if (!config.augmentation.enabled) return images;
  const std::uint64_t seed =
      mix_seed(mix_seed(config.seed, kAugmentationStream, static_cast<std::uint64_t>(round)),
               static_cast<std::uint64_t>(batch), static_cast<std::uint64_t>(client));
  return augment_images(images, config.augmentation, seed);
}

void receive_global_model(Transport& transport, int round, torch::nn::Module& module) {
  Message message = transport.receive();
  const MessageHeader& header = message.header;
  if (header.kind != MessageKind::kGlobalModel || header.round != round ||
      header.tensor_count != 2) {
    throw ProtocolError("unexpected " + describe(header) + "; expected the global model of round " +
                        std::to_string(round));
  }
  load_state(module, FlatState{message.tensors[0], message.tensors[1]});
}

}  // namespace pipar
