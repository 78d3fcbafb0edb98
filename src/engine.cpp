// `pipar train`: set-up, the round loop of each role, evaluation and results.
#include "pipar/engine.hpp"

#include <sched.h>
#include <torch/version.h>

#include <algorithm>
#include <cmath>
#include <optional>
#include <thread>

#include "pipar/dataset.hpp"
#include "pipar/error.hpp"
#include "pipar/log.hpp"
#include "pipar/model.hpp"
#include "pipar/partition.hpp"
#include "pipar/federated_training.hpp"
#include "pipar/split_training.hpp"
#include "pipar/train_results.hpp"
#include "pipar/transport.hpp"

namespace pipar {
namespace {

constexpr int kServerRank = 0;
constexpr std::int64_t kEvalBatchSize = 1000;

// Runs a check whose outcome is the same on every rank, such as an option
// against the model; rank 0 alone prints the error.
template <typename Check>
void run_same_on_every_rank(const mpi::Communicator& world, Check&& check) {
  try {
    check();
  } catch (const InputError& error) {
    if (world.rank() == 0) log::error(error.what());
    throw ReportedError(2);
  }
}

// Runs a step whose outcome may differ between ranks, such as reading a
// file; the lowest failing rank prints its error and every rank stops.
template <typename Step>
void run_and_agree(const mpi::Communicator& world, Step&& step) {
  std::string message;
  bool failed = false;
  try {
    step();
  } catch (const InputError& error) {
    failed = true;
    message = error.what();
  }
  const int lowest = world.lowest_failed_rank(failed);
  if (lowest < 0) return;
  if (world.rank() == lowest) log::error(message);
  throw ReportedError(2);
}

int available_cpus() {
  cpu_set_t allowed;
  CPU_ZERO(&allowed);
  if (sched_getaffinity(0, sizeof(allowed), &allowed) != 0) return 1;
  return std::max(1, CPU_COUNT(&allowed));
}

struct Evaluation {
  double loss = 0.0;
  double accuracy = 0.0;
};

Evaluation evaluate(torch::nn::Sequential& model, const TensorData& test) {
  torch::NoGradGuard no_grad;
  model->eval();
  double loss_sum = 0.0;
  std::int64_t correct = 0;
  for (std::int64_t start = 0; start < test.size(); start += kEvalBatchSize) {
    const std::int64_t length = std::min(kEvalBatchSize, test.size() - start);
    const torch::Tensor logits = model->forward(test.images.narrow(0, start, length));
    const torch::Tensor labels = test.labels.narrow(0, start, length);
    loss_sum += torch::nn::functional::cross_entropy(
                    logits, labels,
                    torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kSum))
                    .item<double>();
    correct += logits.argmax(1).eq(labels).sum().item<std::int64_t>();
  }
  const auto samples = static_cast<double>(test.size());
  return Evaluation{loss_sum / samples, static_cast<double>(correct) / samples};
}

std::string format_duration(double seconds) {
  if (seconds < 120.0) return std::to_string(static_cast<int>(std::lround(seconds))) + " s";
  return std::to_string(static_cast<int>(std::lround(seconds / 60.0))) + " min";
}

// Builds the full model with the run's seed, so every call on every rank
// returns the same initial weights.
torch::nn::Sequential build_seeded_model(const TrainOptions& options, const DatasetSpec& spec) {
  torch::manual_seed(options.seed);
  return build_model(options.model, spec.input, spec.classes);
}

TrainingConfig training_config(const TrainOptions& options, int clients) {
  TrainingConfig config;
  config.cut = options.cut;
  config.micro_batches = options.effective_micro_batches();
  config.batch_size = options.batch_size;
  config.local_epochs = options.local_epochs;
  config.learning_rate = options.learning_rate;
  config.momentum = options.momentum;
  config.seed = options.seed;
  config.clients = clients;
  return config;
}

bool is_federated(const TrainOptions& options) { return options.scheme == "fl"; }

std::unique_ptr<ServerRole> make_server_role(const TrainOptions& options, const DatasetSpec& spec,
                                             torch::nn::Sequential global_model, int clients,
                                             Transport& transport) {
  const TrainingConfig config = training_config(options, clients);
  if (is_federated(options)) {
    return std::make_unique<FederatedServer>(std::move(global_model), config, transport);
  }
  const bool sequential = options.scheme == "sl";
  std::vector<torch::nn::Sequential> replicas;
  for (int i = 0; i < (sequential ? 1 : clients); ++i) {
    torch::nn::Sequential full = build_seeded_model(options, spec);
    replicas.push_back(slice_blocks(full, static_cast<std::size_t>(options.cut), full->size()));
  }
  return std::make_unique<SplitServer>(
      sequential ? SplitServer::Mode::kSequential : SplitServer::Mode::kParallel,
      std::move(global_model), std::move(replicas), config, transport);
}

std::vector<double> to_doubles(const torch::Tensor& tensor) {
  const torch::Tensor values = tensor.to(torch::kFloat64).contiguous();
  return std::vector<double>(values.data_ptr<double>(), values.data_ptr<double>() + values.numel());
}

std::vector<std::int64_t> to_int64s(const torch::Tensor& tensor) {
  const torch::Tensor values = tensor.to(torch::kInt64).contiguous();
  return std::vector<std::int64_t>(values.data_ptr<std::int64_t>(),
                                   values.data_ptr<std::int64_t>() + values.numel());
}

TensorData load_client_shard(const TrainOptions& options, const DatasetSpec& spec, int client,
                             int clients) {
  const LabeledImages train = load_labeled_images(spec, options.resolved_data_dir(), /*train=*/true);
  auto shards = iid_partition(train.count, clients, mix_seed(options.seed, /*partition=*/1));
  std::vector<std::int64_t> shard = std::move(shards[static_cast<std::size_t>(client - 1)]);
  if (options.samples_per_client > 0 &&
      options.samples_per_client < static_cast<std::int64_t>(shard.size())) {
    shard.resize(static_cast<std::size_t>(options.samples_per_client));
  }
  return to_tensors(spec, train, shard);
}

TensorData load_test_set(const TrainOptions& options, const DatasetSpec& spec) {
  const LabeledImages test = load_labeled_images(spec, options.resolved_data_dir(), /*train=*/false);
  std::vector<std::int64_t> indices;
  if (options.test_samples > 0 && options.test_samples < test.count) {
    indices.resize(static_cast<std::size_t>(options.test_samples));
    std::iota(indices.begin(), indices.end(), 0);
  }
  return to_tensors(spec, test, indices);
}

void run_client(const TrainOptions& options, const mpi::Communicator& world,
                const DatasetSpec& spec, Transport& transport) {
  const int client = world.rank();
  const int clients = world.size() - 1;
  std::optional<TensorData> shard;
  run_and_agree(world, [&] { shard = load_client_shard(options, spec, client, clients); });

  const TrainingConfig config = training_config(options, clients);
  torch::nn::Sequential full = build_seeded_model(options, spec);
  std::unique_ptr<ClientRole> role;
  if (is_federated(options)) {
    role = std::make_unique<FederatedClient>(client, full, std::move(*shard), config, transport);
  } else {
    role = std::make_unique<SplitClient>(
        client, slice_blocks(full, 0, static_cast<std::size_t>(options.cut)), std::move(*shard),
        config, transport);
  }
  world.barrier();
  for (int round = 0; round < options.rounds; ++round) {
    role->train_round(round);
    log::debug("finished round ", round);
  }
}

std::string describe_run(const TrainOptions& options, const DatasetSpec& spec, int clients,
                         std::size_t block_count) {
  std::string text = "training " + options.model + " on " + spec.name + " with " +
                     options.scheme + ": " + std::to_string(clients) + " clients";
  if (!is_federated(options)) {
    text += ", cut point " + std::to_string(options.cut) + " of " + std::to_string(block_count) +
            " blocks, " + std::to_string(options.effective_micro_batches()) +
            " micro-batches per batch of " + std::to_string(options.batch_size);
  }
  return text;
}

void run_server(const TrainOptions& options, const mpi::Communicator& world,
                const DatasetSpec& spec, const RunInfo& run, int threads,
                Transport& transport) {
  const int clients = world.size() - 1;
  std::vector<std::string> thread_texts = world.all_gather(std::to_string(threads));
  std::vector<std::int64_t> threads_per_rank;
  for (const auto& text : thread_texts) threads_per_rank.push_back(std::stoll(text));

  std::optional<TrainRecorder> recorder;
  std::optional<TensorData> test;
  run_and_agree(world, [&] {
    recorder.emplace(options, run, threads_per_rank,
                     std::vector<std::pair<std::string, std::string>>{
                         {"libtorch_version", TORCH_VERSION},
                         {"optimizer_state_policy", kOptimizerStatePolicy}});
    test = load_test_set(options, spec);
  });

  torch::nn::Sequential global_model = build_seeded_model(options, spec);
  const std::unique_ptr<ServerRole> role =
      make_server_role(options, spec, global_model, clients, transport);

  // The clients wait for the next round's model while the server evaluates,
  // so evaluation may use every CPU this process can run on.
  const int eval_threads = std::max(threads, available_cpus());

  world.barrier();
  log::info(describe_run(options, spec, clients, global_model->size()));
  double elapsed = 0.0;
  for (int round = 0; round < options.rounds; ++round) {
    std::vector<std::int64_t> sent_before(static_cast<std::size_t>(clients));
    std::vector<std::int64_t> received_before(static_cast<std::size_t>(clients));
    for (int c = 1; c <= clients; ++c) {
      sent_before[static_cast<std::size_t>(c - 1)] = transport.bytes_sent_to(c);
      received_before[static_cast<std::size_t>(c - 1)] = transport.bytes_received_from(c);
    }

    const double start = MPI_Wtime();
    const ServerRoundStats stats = role->train_round(round);
    const double trained = MPI_Wtime();
    torch::set_num_threads(eval_threads);
    const Evaluation evaluation = evaluate(global_model, *test);
    torch::set_num_threads(threads);
    const double evaluated = MPI_Wtime();

    RoundRecord record;
    record.round = round;
    record.wall_time_s = trained - start;
    record.eval_time_s = evaluated - trained;
    record.train_loss = stats.train_loss;
    record.test_loss = evaluation.loss;
    record.test_accuracy = evaluation.accuracy;
    for (int c = 1; c <= clients; ++c) {
      record.bytes_up.push_back(transport.bytes_received_from(c) -
                                received_before[static_cast<std::size_t>(c - 1)]);
      record.bytes_down.push_back(transport.bytes_sent_to(c) -
                                  sent_before[static_cast<std::size_t>(c - 1)]);
    }
    recorder->record_round(record);

    elapsed += evaluated - start;
    const double left = elapsed / (round + 1) * (options.rounds - round - 1);
    log::info("round ", round + 1, "/", options.rounds, ": train loss ", stats.train_loss,
              ", test loss ", evaluation.loss, ", test accuracy ",
              std::round(evaluation.accuracy * 10000.0) / 100.0, "%, round time ",
              record.wall_time_s, " s, evaluation ", record.eval_time_s, " s, time left about ",
              format_duration(left));
  }
  const FlatState final_state = flatten_state(*global_model);
  recorder->record_model(to_doubles(final_state.floating), to_int64s(final_state.integer));
  recorder->finish();
  log::info("results written to ", options.output);
}

}  // namespace

void run_train(const TrainOptions& options, const mpi::Communicator& world, const RunInfo& run) {
  run_same_on_every_rank(world, [&] { validate_train_options(options, world.size()); });
  const int threads = options.threads > 0 ? options.threads : default_threads_per_rank(world);
  torch::set_num_threads(threads);
  if (world.rank() == 0) {
    log::info("LibTorch intra-op threads per rank: ", threads,
              options.threads > 0 ? " (from --threads)" : " (node cores / ranks on the node)");
  }

  DatasetSpec spec;
  run_same_on_every_rank(world, [&] {
    spec = dataset_spec(options.dataset);
    const torch::nn::Sequential model = build_seeded_model(options, spec);
    if (!is_federated(options)) check_cut_point(options.model, options.cut, model->size());
  });

  TransportOptions transport_options;
  transport_options.max_poll_interval_us = options.progress_poll_us;
  Transport transport(world, transport_options);
  if (world.rank() == kServerRank) {
    run_server(options, world, spec, run, threads, transport);
  } else {
    world.all_gather(std::to_string(threads));
    run_client(options, world, spec, transport);
  }
  transport.wait_all_sends();
  world.barrier();
}

}  // namespace pipar
