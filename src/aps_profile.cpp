// The measuring side of APS: block timings with LibTorch, link timings with
// MPI, and the collective that turns them into a plan.
#include <algorithm>
#include <chrono>
#include <sstream>

#include "pipar/agreement.hpp"
#include "pipar/aps.hpp"
#include "pipar/dataset.hpp"
#include "pipar/model.hpp"
#include "pipar/training.hpp"

namespace pipar {
namespace {

constexpr int kPingPongTag = 0x4150;  // "AP"; no transport exists yet on this communicator
constexpr int kLatencyExchanges = 10;
constexpr int kBandwidthExchanges = 3;
constexpr int kBandwidthBytes = 4 << 20;  // 4 MiB, long enough to dwarf the latency
// Timed passes per block and size after the warm-up pass; the fastest counts.
constexpr int kProfileRepeats = 2;

struct BlockTimes {
  double forward_s = std::numeric_limits<double>::infinity();
  double backward_s = std::numeric_limits<double>::infinity();
};

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// How long a stage takes on this rank's emulated device. Device emulation
// (run_timed) stretches a stage to `slowdown` times its CPU time per thread,
// so an emulated client is timed the same way, which also keeps other
// processes on a shared machine out of its profile. Without emulation the
// wall time counts.
class StageTimer {
 public:
  StageTimer(double slowdown, int threads) : slowdown_(slowdown), threads_(threads) {}

  void start() {
    wall_start_ = std::chrono::steady_clock::now();
    cpu_start_ = slowdown_ > 1.0 ? process_cpu_seconds() : 0.0;
  }
  double seconds() const {
    const double wall = seconds_since(wall_start_);
    if (slowdown_ <= 1.0) return wall;
    return std::max(wall, slowdown_ * (process_cpu_seconds() - cpu_start_) / threads_);
  }

 private:
  double slowdown_;
  int threads_;
  std::chrono::steady_clock::time_point wall_start_;
  double cpu_start_ = 0.0;
};

// Times the forward and backward of each block of `model` on `samples`
// inputs, keeping the fastest of `repeats` runs after one warm-up. Each
// block runs on its own detached input, as on either side of any cut point.
// The last block's forward includes the loss.
std::vector<BlockTimes> time_blocks(torch::nn::Sequential& model, const InputShape& input,
                                    std::int64_t classes, std::int64_t samples, int repeats,
                                    StageTimer& timer) {
  model->train();
  std::vector<torch::Tensor> inputs;
  torch::Tensor activation = torch::randn({samples, input.channels, input.height, input.width});
  const torch::Tensor labels = torch::randint(classes, {samples}, torch::kInt64);
  {
    torch::NoGradGuard no_grad;
    for (auto& block : *model) {
      inputs.push_back(activation);
      activation = block.forward(activation);
    }
  }

  std::vector<BlockTimes> times(inputs.size());
  for (int repeat = 0; repeat <= repeats; ++repeat) {
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
      const double forward_s = timer.seconds();
      const torch::Tensor gradient = torch::ones_like(output);
      timer.start();
      output.backward(gradient);
      const double backward_s = timer.seconds();
      if (repeat > 0) {  // repeat 0 warms up allocators and caches
        times[index].forward_s = std::min(times[index].forward_s, forward_s);
        times[index].backward_s = std::min(times[index].backward_s, backward_s);
      }
      ++index;
    }
  }
  return times;
}

// Times one SGD step (momentum as in training) over each block's parameters.
std::vector<double> time_steps(torch::nn::Sequential& model, double momentum, StageTimer& timer) {
  std::vector<double> steps;
  for (auto& block : *model) {
    std::vector<torch::Tensor> parameters = block.ptr()->parameters();
    if (parameters.empty()) {
      steps.push_back(0.0);
      continue;
    }
    for (auto& parameter : parameters) parameter.mutable_grad() = torch::ones_like(parameter);
    torch::optim::SGD optimizer(parameters, torch::optim::SGDOptions(1e-6).momentum(momentum));
    optimizer.step();  // allocates the momentum buffers
    timer.start();
    optimizer.step();
    steps.push_back(timer.seconds());
  }
  return steps;
}

// Fits time = call overhead + samples x per-sample time through the timings
// at a tenth and at half of the batch, on the device that `slowdown`
// emulates. Half a
// batch rather than a whole one halves the profiling time, which is APS's
// overhead. Block times grow close to linearly with the samples, so the
// line extends to the whole batch.
DeviceProfile profile_device(const TrainOptions& options, const DatasetSpec& spec, double slowdown) {
  StageTimer timer(slowdown, torch::get_num_threads());
  torch::manual_seed(options.seed);
  torch::nn::Sequential model = build_model(options.model, spec.input, spec.classes);
  const std::int64_t small = std::max<std::int64_t>(1, options.batch_size / 10);
  const std::int64_t large = std::max<std::int64_t>(small + 1, options.batch_size / 2);
  const std::vector<BlockTimes> at_small =
      time_blocks(model, spec.input, spec.classes, small, kProfileRepeats, timer);
  const std::vector<BlockTimes> at_large =
      time_blocks(model, spec.input, spec.classes, large, kProfileRepeats, timer);
  const std::vector<double> steps = time_steps(model, options.momentum, timer);

  DeviceProfile device;
  double overhead_sum = 0.0;
  for (std::size_t i = 0; i < at_large.size(); ++i) {
    BlockTiming timing;
    const double span = large > small ? static_cast<double>(large - small) : 1.0;
    timing.forward_s_per_sample =
        std::max(0.0, (at_large[i].forward_s - at_small[i].forward_s) / span);
    timing.backward_s_per_sample =
        std::max(0.0, (at_large[i].backward_s - at_small[i].backward_s) / span);
    overhead_sum += std::max(0.0, at_small[i].forward_s - small * timing.forward_s_per_sample);
    overhead_sum += std::max(0.0, at_small[i].backward_s - small * timing.backward_s_per_sample);
    timing.step_s = steps[i];
    device.blocks.push_back(timing);
  }
  device.call_overhead_s = overhead_sum / (2.0 * static_cast<double>(at_large.size()));
  return device;
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
                     std::int64_t shard_samples, double slowdown, bool ranks_share_cores) {
  const double start = MPI_Wtime();
  const DatasetSpec spec = dataset_spec(options.dataset);
  RankProfile mine;
  mine.samples = world.rank() == 0 ? 0 : shard_samples;

  // Ranks that share cores would slow each other's timings, so they take turns.
  if (ranks_share_cores) {
    for (int turn = 0; turn < world.size(); ++turn) {
      if (world.rank() == turn) mine.device = profile_device(options, spec, slowdown);
      world.barrier_sleeping(1000);
    }
  } else {
    mine.device = profile_device(options, spec, slowdown);
    world.barrier();
  }
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
