// `pipar train`: set-up, the round loop of each role, evaluation and results.
#include "pipar/engine.hpp"

#include <sched.h>
#include <torch/version.h>

#include <algorithm>
#include <cmath>
#include <optional>
#include <thread>

#include "pipar/agreement.hpp"
#include "pipar/augment.hpp"
#include "pipar/aps.hpp"
#include "pipar/blas.hpp"
#include "pipar/clock.hpp"
#include "pipar/dataset.hpp"
#include "pipar/events.hpp"
#include "pipar/link.hpp"
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

// Sets the thread count of LibTorch's intra-op pool and of OpenBLAS's pool,
// whose idle workers would otherwise spin on every core (pipar/blas.hpp).
// Returns false when the BLAS is not OpenBLAS.
bool set_compute_threads(int threads) {
  torch::set_num_threads(threads);
  return set_blas_threads(threads);
}

// Describes the BLAS thread count for the results file's metadata.
std::string blas_threads_note() {
  const int threads = blas_threads();
  return threads > 0 ? "as /ranks/threads; OpenBLAS reports " + std::to_string(threads) + " on rank 0"
                     : "not controlled by pipar";
}

int available_cpus() {
  cpu_set_t allowed;
  CPU_ZERO(&allowed);
  if (sched_getaffinity(0, sizeof(allowed), &allowed) != 0) return 1;
  return std::max(1, CPU_COUNT(&allowed));
}

// True when no node runs more ranks than it has cores. Collective.
bool node_has_core_per_rank(const mpi::Communicator& world) {
  const mpi::Communicator node = world.split_shared();
  const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  return world.lowest_failed_rank(node.size() > cores) < 0;
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

std::string clock_alignment_note() {
  return "event and message times use rank 0's MPI_Wtime; every other rank adds an offset "
         "measured at start-up from the fastest of 16 timestamp exchanges with rank 0 (0 when "
         "MPI_WTIME_IS_GLOBAL is set)";
}

std::string format_duration(double seconds) {
  if (seconds < 120.0) return std::to_string(static_cast<int>(std::lround(seconds))) + " s";
  return std::to_string(static_cast<int>(std::lround(seconds / 60.0))) + " min";
}

// Builds the full model with the run's seed, so every call on every rank
// returns the same initial weights.
torch::nn::Sequential build_seeded_model(const TrainOptions& options, const DatasetSpec& spec) {
  torch::manual_seed(options.seed);
  return build_model_for_dataset(options.model, spec);
}

TrainingConfig training_config(const TrainOptions& options, int clients, const SplitPlan& plan) {
  TrainingConfig config;
  config.cut = options.cut;
  config.micro_batches = options.effective_micro_batches();
  // Per-client values from the command line; either list may be given alone.
  if (!options.client_cuts.empty() ||
      (!options.client_micro_batches.empty() && options.scheme == "pipar")) {
    config.client_cuts = options.client_cuts.empty() ? std::vector<int>(clients, options.cut)
                                                     : options.client_cuts;
    config.client_micro_batches =
        options.client_micro_batches.empty() || options.scheme != "pipar"
            ? std::vector<int>(clients, config.micro_batches)
            : options.client_micro_batches;
  }
  if (!plan.cuts.empty()) {
    config.client_cuts = plan.cuts;
    config.client_micro_batches = plan.micro_batches;
    config.cut = plan.cuts[0];
    config.micro_batches = plan.micro_batches[0];
  }
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
                                             torch::nn::Sequential global_model,
                                             const TrainingConfig& config,
                                             const RoleContext& context) {
  const int clients = config.clients;
  if (is_federated(options)) {
    return std::make_unique<FederatedServer>(std::move(global_model), config, context);
  }
  const bool sequential = options.scheme == "sl";
  std::vector<torch::nn::Sequential> replicas;
  for (int i = 0; i < (sequential ? 1 : clients); ++i) {
    torch::nn::Sequential full = build_seeded_model(options, spec);
    replicas.push_back(
        slice_blocks(full, static_cast<std::size_t>(config.cut_of(i + 1)), full->size()));
  }
  return std::make_unique<SplitServer>(
      sequential ? SplitServer::Mode::kSequential : SplitServer::Mode::kParallel,
      std::move(global_model), std::move(replicas), config, context);
}

// The emulated links of every client, from the link options and the trace.
std::vector<LinkSettings> link_settings(const TrainOptions& options, int clients) {
  std::vector<LinkSettings> links(static_cast<std::size_t>(clients));
  for (int c = 1; c <= clients; ++c) {
    LinkSettings& link = links[static_cast<std::size_t>(c - 1)];
    link.uplink = BandwidthSchedule(TrainOptions::per_client(options.uplink_mbps, c, 0.0));
    link.downlink = BandwidthSchedule(TrainOptions::per_client(options.downlink_mbps, c, 0.0));
    link.latency_s = TrainOptions::per_client(options.latency_ms, c, 0.0) / 1000.0;
  }
  if (!options.bandwidth_trace.empty()) apply_bandwidth_trace(options.bandwidth_trace, links);
  return links;
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
  const ImageSet train = load_images(spec, options.resolved_data_dir(), /*train=*/true);
  const std::uint64_t partition_seed = mix_seed(options.seed, /*partition=*/1);
  auto shards = options.partition == "dirichlet"
                    ? dirichlet_partition(train.labels, static_cast<int>(spec.classes), clients,
                                          options.dirichlet_alpha, partition_seed)
                : !options.shard_sizes.empty()
                    ? sized_iid_partition(train.count, options.shard_sizes, partition_seed)
                    : iid_partition(train.count, clients, partition_seed);
  std::vector<std::int64_t> shard = std::move(shards[static_cast<std::size_t>(client - 1)]);
  if (options.samples_per_client > 0 &&
      options.samples_per_client < static_cast<std::int64_t>(shard.size())) {
    shard.resize(static_cast<std::size_t>(options.samples_per_client));
  }
  return to_tensors(spec, train, shard);
}

TensorData load_test_set(const TrainOptions& options, const DatasetSpec& spec) {
  const ImageSet test = load_images(spec, options.resolved_data_dir(), /*train=*/false);
  std::vector<std::int64_t> indices;
  if (options.test_samples > 0 && options.test_samples < test.count) {
    indices.resize(static_cast<std::size_t>(options.test_samples));
    std::iota(indices.begin(), indices.end(), 0);
  }
  return to_tensors(spec, test, indices);
}

// The run settings of this rank, decided once for all ranks by run_train.
struct RankSetup {
  Clock clock;
  int threads = 1;
  bool busy_wait = false;          // waits poll MPI instead of sleeping
  bool ranks_share_cores = false;  // some node has more ranks than cores
};

// Runs APS when the options ask for it, after the data is loaded and before
// the transport exists. Collective. Returns an empty plan otherwise.
SplitPlan plan_if_requested(const TrainOptions& options, const mpi::Communicator& world,
                            std::int64_t shard_samples, double slowdown) {
  if (!options.uses_aps()) return SplitPlan{};
  return plan_split(options, world, shard_samples, slowdown);
}

void run_client(const TrainOptions& options, const mpi::Communicator& world,
                const DatasetSpec& spec, const RankSetup& setup) {
  const Clock& clock = setup.clock;
  const int client = world.rank();
  const int clients = world.size() - 1;
  EventLog events;
  std::optional<TensorData> shard;
  Event loading{Resource::kClientCompute, client, EventKind::kLoadData};
  loading.start = clock.now();
  run_and_agree(world, [&] { shard = load_client_shard(options, spec, client, clients); });
  loading.end = clock.now();
  events.add(loading);

  const double slowdown = TrainOptions::per_client(options.client_slowdown, client, 1.0);
  const SplitPlan plan = plan_if_requested(options, world, shard->size(), slowdown);
  if (options.plan_only) {
    world.barrier();
    return;
  }

  TransportOptions transport_options;
  transport_options.max_poll_interval_us = options.progress_poll_us;
  transport_options.clock = clock;
  transport_options.busy_wait = setup.busy_wait;
  Transport transport(world, transport_options);
  const RoleContext context{transport, events, clock, slowdown, setup.threads};

  TrainingConfig config = training_config(options, clients, plan);
  if (options.augment) config.augmentation = augmentation_for(spec);
  torch::nn::Sequential full = build_seeded_model(options, spec);
  std::unique_ptr<ClientRole> role;
  if (is_federated(options)) {
    role = std::make_unique<FederatedClient>(client, full, std::move(*shard), config, context);
  } else {
    role = std::make_unique<SplitClient>(
        client, slice_blocks(full, 0, static_cast<std::size_t>(config.cut_of(client))),
        std::move(*shard), config, context);
  }
  world.barrier();
  for (int round = 0; round < options.rounds; ++round) {
    role->train_round(round);
    log::debug("finished round ", round);
  }
  transport.wait_all_sends();
  world.barrier();
}

std::string join_counts(const std::vector<int>& values) {
  std::string text;
  for (std::size_t i = 0; i < values.size(); ++i) text += (i ? "," : "") + std::to_string(values[i]);
  return text;
}

std::string describe_run(const TrainOptions& options, const DatasetSpec& spec,
                         const TrainingConfig& config, std::size_t block_count) {
  std::string text = "training " + options.model + " on " + spec.name + " with " +
                     options.scheme + ": " + std::to_string(config.clients) + " clients";
  if (is_federated(options)) return text;
  if (!config.client_cuts.empty()) {
    return text + ", cut points " + join_counts(config.client_cuts) + " of " +
           std::to_string(block_count) + " blocks and " + join_counts(config.client_micro_batches) +
           " micro-batches per batch of " + std::to_string(options.batch_size) +
           " (per client, chosen by APS)";
  }
  return text + ", cut point " + std::to_string(config.cut) + " of " + std::to_string(block_count) +
         " blocks, " + std::to_string(config.micro_batches) + " micro-batches per batch of " +
         std::to_string(options.batch_size);
}

// Receives every client's events of `round`, sent after its client model.
std::vector<Event> receive_client_events(Transport& transport, int clients, int round) {
  std::vector<Event> events;
  for (int received = 0; received < clients; ++received) {
    const Message message = transport.receive_control();
    if (message.header.kind != MessageKind::kEvents || message.header.round != round ||
        message.header.tensor_count != 1) {
      throw ProtocolError("unexpected " + describe(message.header) + "; expected the events of round " +
                          std::to_string(round));
    }
    const torch::Tensor& values = message.tensors[0];
    const auto decoded = decode_events(values.data_ptr<double>(), static_cast<std::size_t>(values.numel()));
    events.insert(events.end(), decoded.begin(), decoded.end());
  }
  return events;
}

// Training bytes the server's transport has exchanged with each client.
struct ByteCounts {
  std::vector<std::int64_t> received;  // index c - 1 for client c
  std::vector<std::int64_t> sent;
};

ByteCounts count_bytes(const Transport& transport, int clients) {
  ByteCounts counts;
  for (int c = 1; c <= clients; ++c) {
    counts.received.push_back(transport.bytes_received_from(c));
    counts.sent.push_back(transport.bytes_sent_to(c));
  }
  return counts;
}

RoundRecord make_record(int round, double wall_time_s, double eval_time_s,
                        const ServerRoundStats& stats, const Evaluation& evaluation,
                        const RoundAnalysis& analysis, const ByteCounts& before,
                        const ByteCounts& after) {
  RoundRecord record;
  record.round = round;
  record.wall_time_s = wall_time_s;
  record.eval_time_s = eval_time_s;
  record.train_loss = stats.train_loss;
  record.test_loss = evaluation.loss;
  record.test_accuracy = evaluation.accuracy;
  record.lower_bound_s = analysis.lower_bound_s;
  record.efficiency = analysis.efficiency;
  record.busy_s = analysis.busy_s;
  record.idle_s = analysis.idle_s;
  for (std::size_t i = 0; i < before.sent.size(); ++i) {
    record.bytes_up.push_back(after.received[i] - before.received[i]);
    record.bytes_down.push_back(after.sent[i] - before.sent[i]);
  }
  return record;
}

void log_round(const TrainOptions& options, int round, const RoundRecord& record, double left) {
  log::info("round ", round + 1, "/", options.rounds, ": train loss ", record.train_loss,
            ", test accuracy ", std::round(record.test_accuracy * 10000.0) / 100.0,
            "%, round time ", record.wall_time_s, " s (lower bound ", record.lower_bound_s,
            " s, efficiency ", std::round(record.efficiency * 1000.0) / 1000.0, "), evaluation ",
            record.eval_time_s, " s, time left about ", format_duration(left));
}

void run_server(const TrainOptions& options, const mpi::Communicator& world,
                const DatasetSpec& spec, const RunInfo& run, const RankSetup& setup,
                RunSink* sink) {
  const Clock& clock = setup.clock;
  const int threads = setup.threads;
  const int clients = world.size() - 1;
  std::vector<std::string> thread_texts = world.all_gather(std::to_string(threads));
  std::vector<std::int64_t> threads_per_rank;
  for (const auto& text : thread_texts) threads_per_rank.push_back(std::stoll(text));

  EventLog events;
  std::optional<TrainRecorder> own_recorder;
  if (sink == nullptr) own_recorder.emplace(options, run);
  RunSink* const recorder = sink != nullptr ? sink : &*own_recorder;
  std::optional<TensorData> test;
  std::vector<LinkSettings> links;
  Event loading{Resource::kServerCompute, 0, EventKind::kLoadData};
  loading.start = clock.now();
  run_and_agree(world, [&] {
    RunStart start;
    start.threads_per_rank = threads_per_rank;
    start.extra = {{"libtorch_version", TORCH_VERSION},
                   {"optimizer_state_policy", kOptimizerStatePolicy},
                   {"clock_alignment", clock_alignment_note()},
                   {"blas", blas_description()},
                   {"blas_threads", blas_threads_note()}};
    start.resources = resource_names(clients);
    recorder->begin(start);
    test = load_test_set(options, spec);
    if (options.emulates_links()) links = link_settings(options, clients);
  });
  loading.end = clock.now();
  events.add(loading);

  const SplitPlan plan = plan_if_requested(options, world, 0, 1.0);
  if (options.uses_aps()) {
    print_plan(plan);
    recorder->record_plan(plan);
  }
  if (options.plan_only) {
    recorder->finish();
    if (own_recorder) log::info("plan written to ", options.output);
    world.barrier();
    return;
  }

  // Trace times and bandwidth-trace times count from the start of training.
  world.barrier();
  const double origin = clock.now();
  std::optional<NetworkEmulator> emulator;
  if (options.emulates_links()) emulator.emplace(std::move(links), options.half_duplex, origin);

  TransportOptions transport_options;
  transport_options.max_poll_interval_us = options.progress_poll_us;
  transport_options.clock = clock;
  transport_options.emulator = emulator ? &*emulator : nullptr;
  transport_options.link_events = &events;
  transport_options.busy_wait = setup.busy_wait;
  Transport transport(world, transport_options);
  const RoleContext context{transport, events, clock, /*slowdown=*/1.0, threads};

  torch::nn::Sequential global_model = build_seeded_model(options, spec);
  const TrainingConfig config = training_config(options, clients, plan);
  const std::unique_ptr<ServerRole> role =
      make_server_role(options, spec, global_model, config, context);

  // The clients wait for the next round's model while the server evaluates,
  // so evaluation may use every CPU this process can run on.
  const int eval_threads = std::max(threads, available_cpus());

  log::info(describe_run(options, spec, config, global_model->size()));
  std::vector<Event> all_events;
  double elapsed = 0.0;
  for (int round = 0; round < options.rounds; ++round) {
    const ByteCounts bytes_before = count_bytes(transport, clients);
    const double start = clock.now();
    const ServerRoundStats stats = role->train_round(round);
    const double trained = clock.now();
    std::vector<Event> round_events = events.take();
    const std::vector<Event> client_events = receive_client_events(transport, clients, round);
    round_events.insert(round_events.end(), client_events.begin(), client_events.end());
    const RoundAnalysis analysis = analyze_round(round_events, clients, start, trained);

    Event evaluation_event{Resource::kServerCompute, 0, EventKind::kEvaluate, round};
    evaluation_event.start = clock.now();
    set_compute_threads(eval_threads);
    const Evaluation evaluation = evaluate(global_model, *test);
    set_compute_threads(threads);
    evaluation_event.end = clock.now();
    round_events.push_back(evaluation_event);

    const RoundRecord record =
        make_record(round, trained - start, evaluation_event.end - evaluation_event.start, stats,
                    evaluation, analysis, bytes_before, count_bytes(transport, clients));
    recorder->record_round(record);
    recorder->record_events(encode_events(round_events), origin);
    if (!options.trace.empty()) {
      all_events.insert(all_events.end(), round_events.begin(), round_events.end());
    }

    elapsed += evaluation_event.end - start;
    log_round(options, round, record, elapsed / (round + 1) * (options.rounds - round - 1));
  }
  const FlatState final_state = flatten_state(*global_model);
  recorder->record_model(to_doubles(final_state.floating), to_int64s(final_state.integer));
  recorder->finish();
  if (!options.trace.empty()) {
    write_chrome_trace(options.trace, all_events, clients, origin);
    log::info("trace written to ", options.trace);
  }
  if (own_recorder) log::info("results written to ", options.output);
  transport.wait_all_sends();
  world.barrier();
}

}  // namespace

void check_model_and_dataset(const TrainOptions& options) {
  const DatasetSpec spec = dataset_spec(options.dataset);
  const torch::nn::Sequential model = build_seeded_model(options, spec);
  if (options.augment) augmentation_for(spec);  // throws for a grayscale data set
  if (!is_federated(options) && !options.cut_auto) {
    check_cut_point(options.model, options.cut, model->size());
    for (int cut : options.client_cuts) check_cut_point(options.model, cut, model->size());
  }
  if (options.cut_auto && options.aps_max_cut > static_cast<int>(model->size()) - 1) {
    throw InputError("invalid --aps-cuts maximum " + std::to_string(options.aps_max_cut) + ": " +
                     options.model + " has " + std::to_string(model->size()) +
                     " blocks, so cut points go from 1 to " + std::to_string(model->size() - 1));
  }
}

void run_train(const TrainOptions& options, const mpi::Communicator& world, const RunInfo& run,
               RunSink* sink) {
  run_same_on_every_rank(world, [&] { validate_train_options(options, world.size()); });
  const int threads = options.threads > 0 ? options.threads : default_threads_per_rank(world);
  const bool blas_set = set_compute_threads(threads);
  if (world.rank() == 0) {
    log::info("LibTorch intra-op", blas_set ? " and OpenBLAS" : "", " threads per rank: ", threads,
              options.threads > 0 ? " (from --threads)" : " (node cores / ranks on the node)");
  }

  DatasetSpec spec;
  run_same_on_every_rank(world, [&] {
    check_model_and_dataset(options);
    spec = dataset_spec(options.dataset);
  });

  RankSetup setup;
  setup.clock = synchronize_clock(world);
  setup.threads = threads;
  setup.ranks_share_cores = !node_has_core_per_rank(world);
  setup.busy_wait = options.wait_policy == "poll" ||
                    (options.wait_policy == "auto" && !setup.ranks_share_cores);
  if (world.rank() == 0) {
    log::info("waiting ranks ", setup.busy_wait ? "poll MPI" : "sleep", " (--wait-policy ",
              options.wait_policy, ")");
  }
  if (world.rank() == kServerRank) {
    run_server(options, world, spec, run, setup, sink);
  } else {
    world.all_gather(std::to_string(threads));
    run_client(options, world, spec, setup);
  }
}

}  // namespace pipar
