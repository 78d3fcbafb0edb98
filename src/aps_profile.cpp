// The measuring side of APS: block timings with LibTorch, link timings with
// MPI, and the collective that turns them into a plan.
#include <algorithm>
#include <chrono>
#include <limits>
#include <sstream>

#include "pipar/agreement.hpp"
#include "pipar/aps.hpp"
#include "pipar/dataset.hpp"
#include "pipar/log.hpp"
#include "pipar/model.hpp"
#include "pipar/training.hpp"

namespace pipar {
namespace {

constexpr int kPingPongTag = 0x4150;  // "AP"; no transport exists yet on this communicator
constexpr int kLatencyExchanges = 10;
constexpr int kBandwidthExchanges = 3;
constexpr int kBandwidthBytes = 4 << 20;  // 4 MiB, long enough to dwarf the latency
// Timed passes per profiled size: at most kMaxTimedPasses, and no more once
// the passes at that size have taken kEnoughSeconds. A long pass varies
// little from one run to the next, and for a large model its repetition
// would be most of the profiling time. The fastest run of each block counts.
constexpr int kMaxTimedPasses = 3;
constexpr double kEnoughSeconds = 0.4;
// Upper bound on one pass at the larger profiled size, as estimated from
// the smaller.
constexpr double kLargePassSeconds = 2.0;

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// Measures the wall time and the process CPU time of one stage.
class StageTimer {
 public:
  void start() {
    wall_start_ = std::chrono::steady_clock::now();
    cpu_start_ = process_cpu_seconds();
  }
  StageRun stop() const {
    return StageRun{seconds_since(wall_start_), process_cpu_seconds() - cpu_start_};
  }

 private:
  std::chrono::steady_clock::time_point wall_start_;
  double cpu_start_ = 0.0;
};

// The input of every block for `samples` samples: a random image batch and
// the outputs of the blocks before, computed without autograd.
std::vector<torch::Tensor> block_inputs(torch::nn::Sequential& model, const InputShape& input,
                                        std::int64_t samples) {
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> inputs;
  torch::Tensor activation = torch::randn({samples, input.channels, input.height, input.width});
  for (auto& block : *model) {
    inputs.push_back(activation);
    activation = block.forward(activation);
  }
  return inputs;
}

// Repeats each block input along the batch dimension up to `samples`, which
// saves a forward pass at the larger profiled size.
std::vector<torch::Tensor> tile(const std::vector<torch::Tensor>& inputs, std::int64_t samples) {
  std::vector<torch::Tensor> tiled;
  for (const torch::Tensor& input : inputs) {
    std::vector<std::int64_t> repeats(static_cast<std::size_t>(input.dim()), 1);
    repeats[0] = (samples + input.size(0) - 1) / input.size(0);
    tiled.push_back(input.repeat(repeats).narrow(0, 0, samples).contiguous());
  }
  return tiled;
}

// Runs the forward and backward of each block once on `inputs`, each block
// on its own detached input, as on either side of any cut point. The last
// block's forward includes the loss. Appends one run per block to
// forward[block] and backward[block] when they are given, and returns the
// wall time of the whole pass.
double time_pass(torch::nn::Sequential& model, const std::vector<torch::Tensor>& inputs,
                 const torch::Tensor& labels, std::vector<std::vector<StageRun>>* forward,
                 std::vector<std::vector<StageRun>>* backward) {
  const auto begin = std::chrono::steady_clock::now();
  const std::int64_t samples = labels.size(0);
  StageTimer timer;
  std::size_t index = 0;
  for (auto& block : *model) {
    const bool last = index + 1 == inputs.size();
    torch::Tensor block_input = inputs[index].clone().requires_grad_(index > 0);
    timer.start();
    torch::Tensor output = block.forward(block_input);
    if (last) {
      output = torch::nn::functional::cross_entropy(
                   output, labels,
                   torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kSum)) /
               static_cast<double>(samples);
    }
    const StageRun forward_run = timer.stop();
    const torch::Tensor gradient = torch::ones_like(output);
    timer.start();
    output.backward(gradient);
    const StageRun backward_run = timer.stop();
    if (forward != nullptr) (*forward)[index].push_back(forward_run);
    if (backward != nullptr) (*backward)[index].push_back(backward_run);
    ++index;
  }
  return seconds_since(begin);
}

// Times one SGD step (momentum as in training) over each block's parameters.
std::vector<StageRun> time_steps(torch::nn::Sequential& model, double momentum) {
  std::vector<StageRun> steps;
  StageTimer timer;
  for (auto& block : *model) {
    std::vector<torch::Tensor> parameters = block.ptr()->parameters();
    if (parameters.empty()) {
      steps.push_back(StageRun{});
      continue;
    }
    for (auto& parameter : parameters) parameter.mutable_grad() = torch::ones_like(parameter);
    torch::optim::SGD optimizer(parameters, torch::optim::SGDOptions(1e-6).momentum(momentum));
    optimizer.step();  // allocates the momentum buffers
    timer.start();
    optimizer.step();
    steps.push_back(timer.stop());
  }
  return steps;
}

// The timed passes at one profiled size.
struct SizePasses {
  std::vector<torch::Tensor> inputs;
  torch::Tensor labels;
  std::size_t size = 0;  // index into NodeTimings::forward and ::backward
  int passes = 0;
  double spent_s = 0.0;

  bool wants_more() const { return passes < kMaxTimedPasses && spent_s < kEnoughSeconds; }

  // Runs one timed pass into `timings` and returns its wall time.
  double run(torch::nn::Sequential& model, NodeTimings& timings) {
    const double seconds =
        time_pass(model, inputs, labels, &timings.forward[size], &timings.backward[size]);
    ++passes;
    spent_s += seconds;
    return seconds;
  }
};

// Times every block at the two sizes of profile_sizes(). One untimed pass
// at the smaller size warms up the allocator and the thread pools, and one
// timed pass there sets the cap on the larger size: a pass of about
// kLargePassSeconds. The other passes alternate between the sizes, so that
// a change of the machine's speed meanwhile shifts both ends of each
// block's line alike.
NodeTimings time_node(const TrainOptions& options, const DatasetSpec& spec) {
  const double begin = MPI_Wtime();
  torch::manual_seed(options.seed);
  torch::nn::Sequential model = build_model(options.model, spec.input, spec.classes);
  model->train();
  const std::size_t blocks = model->size();
  NodeTimings timings;
  timings.threads = torch::get_num_threads();
  const std::vector<int> candidates =
      search_bounds(options, static_cast<int>(blocks)).micro_batches;
  timings.small = profile_sizes(options.batch_size, candidates).small;
  timings.forward.assign(2, std::vector<std::vector<StageRun>>(blocks));
  timings.backward.assign(2, std::vector<std::vector<StageRun>>(blocks));

  SizePasses small;
  small.inputs = block_inputs(model, spec.input, timings.small);
  small.labels = torch::randint(spec.classes, {timings.small}, torch::kInt64);
  time_pass(model, small.inputs, small.labels, nullptr, nullptr);
  // The small pass's time per sample includes the fixed cost of each call,
  // so the cap errs on the short side.
  const double seconds_per_sample = small.run(model, timings) / static_cast<double>(timings.small);
  std::int64_t max_large = 0;  // no cap
  if (seconds_per_sample * static_cast<double>(options.batch_size) > kLargePassSeconds) {
    max_large = std::max<std::int64_t>(
        1, static_cast<std::int64_t>(kLargePassSeconds / seconds_per_sample));
  }
  timings.large = profile_sizes(options.batch_size, candidates, max_large).large;

  SizePasses large;
  large.inputs = tile(small.inputs, timings.large);
  large.labels = torch::randint(spec.classes, {timings.large}, torch::kInt64);
  large.size = 1;
  while (small.wants_more() || large.wants_more()) {
    if (large.wants_more()) large.run(model, timings);
    if (small.wants_more()) small.run(model, timings);
  }

  timings.steps = time_steps(model, options.momentum);
  log::debug("profiled every block at ", timings.small, " and ", timings.large, " samples (",
             small.passes, " and ", large.passes, " passes) in ", MPI_Wtime() - begin, " s");
  return timings;
}

std::vector<BlockSize> block_sizes(const TrainOptions& options, const DatasetSpec& spec) {
  torch::manual_seed(options.seed);
  torch::nn::Sequential model = build_model(options.model, spec.input, spec.classes);
  const std::vector<BlockInfo> infos = describe_blocks(model, spec.input);
  std::vector<BlockSize> sizes;
  std::size_t index = 0;
  for (auto& block : *model) {
    BlockSize size;
    size.output_bytes_per_sample = infos[index++].output_bytes;
    for (const auto& parameter : block.ptr()->parameters()) size.state_bytes += 4 * parameter.numel();
    for (const auto& buffer : block.ptr()->buffers()) {
      size.state_bytes += (buffer.is_floating_point() ? 4 : 8) * buffer.numel();
    }
    sizes.push_back(size);
  }
  return sizes;
}

// Half the fastest round trip of `bytes` one way and one byte back, between
// rank 0 and `client`. Collective between the two ranks; rank 0 sends first
// when `downlink` is set, the client otherwise.
double one_way_seconds(const mpi::Communicator& world, int client, int bytes, bool downlink,
                       int exchanges) {
  std::vector<char> payload(static_cast<std::size_t>(bytes));
  char reply = 0;
  const bool sends_payload = (world.rank() == 0) == downlink;
  const int peer = world.rank() == 0 ? client : 0;
  double fastest = std::numeric_limits<double>::infinity();
  for (int exchange = 0; exchange <= exchanges; ++exchange) {
    const double start = MPI_Wtime();
    if (sends_payload) {
      mpi::check(MPI_Send(payload.data(), bytes, MPI_CHAR, peer, kPingPongTag, world.get()), "MPI_Send");
      mpi::check(MPI_Recv(&reply, 1, MPI_CHAR, peer, kPingPongTag, world.get(), MPI_STATUS_IGNORE),
                 "MPI_Recv");
    } else {
      mpi::check(MPI_Recv(payload.data(), bytes, MPI_CHAR, peer, kPingPongTag, world.get(),
                          MPI_STATUS_IGNORE),
                 "MPI_Recv");
      mpi::check(MPI_Send(&reply, 1, MPI_CHAR, peer, kPingPongTag, world.get()), "MPI_Send");
    }
    if (exchange > 0) fastest = std::min(fastest, MPI_Wtime() - start);
  }
  return fastest / 2.0;
}

// Measures each client's link to rank 0 by ping-pong, one client at a time.
// Rank 0 returns the links; other ranks return an empty vector.
std::vector<LinkProfile> measure_links(const mpi::Communicator& world) {
  std::vector<LinkProfile> links;
  for (int client = 1; client < world.size(); ++client) {
    if (world.rank() != 0 && world.rank() != client) continue;
    const double latency_s = one_way_seconds(world, client, 1, true, kLatencyExchanges);
    const double down_s = one_way_seconds(world, client, kBandwidthBytes, true, kBandwidthExchanges);
    const double up_s = one_way_seconds(world, client, kBandwidthBytes, false, kBandwidthExchanges);
    const auto mbps = [&](double seconds) {
      const double transfer_s = seconds - latency_s;
      return transfer_s > 0.0 ? kBandwidthBytes * 8.0 / transfer_s / 1e6 : 0.0;
    };
    if (world.rank() == 0) links.push_back(LinkProfile{mbps(up_s), mbps(down_s), latency_s});
  }
  return links;
}

std::string encode_choices(const SplitPlan& plan) {
  std::ostringstream text;
  text.precision(17);
  text << plan.predicted_round_s << ' ' << plan.cuts.size();
  for (std::size_t k = 0; k < plan.cuts.size(); ++k) text << ' ' << plan.cuts[k] << ' ' << plan.micro_batches[k];
  return text.str();
}

void decode_choices(const std::string& text, SplitPlan& plan) {
  std::istringstream input(text);
  std::size_t clients = 0;
  input >> plan.predicted_round_s >> clients;
  plan.cuts.resize(clients);
  plan.micro_batches.resize(clients);
  for (std::size_t k = 0; k < clients; ++k) input >> plan.cuts[k] >> plan.micro_batches[k];
}

}  // namespace

SplitPlan plan_split(const TrainOptions& options, const mpi::Communicator& world,
                     std::int64_t shard_samples, double slowdown) {
  const double start = MPI_Wtime();
  const DatasetSpec spec = dataset_spec(options.dataset);
  RankProfile mine;
  mine.samples = world.rank() == 0 ? 0 : shard_samples;

  // One rank per node profiles while the others sleep, so no rank of the
  // node takes CPU from it, and the nodes profile at the same time.
  const mpi::Communicator node = world.split_shared();
  std::string timings;
  if (node.rank() == 0) timings = encode_timings(time_node(options, spec));
  world.barrier_sleeping(1000);
  timings = node.broadcast(timings, 0);
  mine.device = device_profile(decode_timings(timings), slowdown);

  const std::vector<LinkProfile> links =
      options.emulates_links() ? emulated_links(options, world.size() - 1) : measure_links(world);
  const std::vector<std::string> encoded = world.all_gather(encode_profile(mine));
  const double profiled = MPI_Wtime();

  SplitPlan plan;
  std::string choices;
  run_and_agree(world, [&] {
    if (world.rank() != 0) return;
    std::vector<RankProfile> profiles;
    for (const std::string& text : encoded) profiles.push_back(decode_profile(text));
    plan = choose_plan(options, profiles, block_sizes(options, spec), links);
    plan.link_source = options.emulates_links() ? "emulated" : "measured by ping-pong";
    plan.profiling_s = profiled - start;
    plan.search_s = MPI_Wtime() - profiled;
    choices = encode_choices(plan);
  });
  choices = world.broadcast(choices, 0);
  if (world.rank() != 0) decode_choices(choices, plan);
  return plan;
}

}  // namespace pipar
