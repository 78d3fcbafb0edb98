// Rank 0's side of APS: the cost model's inputs, the search and the table.
#include "pipar/aps.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <iomanip>
#include <limits>
#include <sstream>

#include "pipar/error.hpp"
#include "pipar/message.hpp"

namespace pipar {
namespace {

// The default micro-batch candidates: 1 and the divisors of the batch size
// up to min(B / 2, 100), the cap of the published method.
std::vector<int> default_micro_batches(int batch_size) {
  std::vector<int> counts{1};
  const int cap = std::max(1, std::min(batch_size / 2, 100));
  for (int count = 2; count <= cap; ++count) {
    if (batch_size % count == 0) counts.push_back(count);
  }
  return counts;
}

// The fastest of a block's runs on the device that `slowdown` emulates.
double fastest(const std::vector<StageRun>& runs, double slowdown, int threads) {
  double best = std::numeric_limits<double>::infinity();
  for (const StageRun& run : runs) best = std::min(best, emulated_seconds(run, slowdown, threads));
  return best;
}

}  // namespace

ProfileSizes profile_sizes(int batch_size, const std::vector<int>& micro_batch_candidates,
                           std::int64_t max_large) {
  const std::int64_t batch = std::max(1, batch_size);
  int max_count = 0;
  for (int count : micro_batch_candidates) {
    if (count > 0 && batch % count == 0) max_count = std::max(max_count, count);
  }
  ProfileSizes sizes;
  sizes.small = max_count > 0 ? batch / max_count : std::max<std::int64_t>(1, batch / 10);
  sizes.large = std::min(batch, std::max(batch / 2, 2 * sizes.small));
  if (max_large > 0) sizes.large = std::min(sizes.large, std::max(max_large, 2 * sizes.small));
  if (sizes.large <= sizes.small) sizes.small = std::max<std::int64_t>(1, sizes.large / 2);
  if (sizes.large <= sizes.small) sizes.large = sizes.small + 1;
  return sizes;
}

std::string encode_timings(const NodeTimings& timings) {
  std::ostringstream text;
  text.precision(17);
  const std::size_t blocks = timings.steps.size();
  text << timings.small << ' ' << timings.large << ' ' << timings.threads << ' ' << blocks;
  const auto put = [&](const StageRun& run) { text << ' ' << run.wall_s << ' ' << run.cpu_s; };
  for (std::size_t size = 0; size < 2; ++size) {
    const std::size_t passes = timings.forward.at(size).at(0).size();
    text << ' ' << passes;
    for (std::size_t block = 0; block < blocks; ++block) {
      for (std::size_t pass = 0; pass < passes; ++pass) {
        put(timings.forward[size][block].at(pass));
        put(timings.backward[size][block].at(pass));
      }
    }
  }
  for (const StageRun& step : timings.steps) put(step);
  return text.str();
}

NodeTimings decode_timings(const std::string& encoded) {
  std::istringstream text(encoded);
  NodeTimings timings;
  std::size_t blocks = 0;
  text >> timings.small >> timings.large >> timings.threads >> blocks;
  const auto get = [&] {
    StageRun run;
    text >> run.wall_s >> run.cpu_s;
    return run;
  };
  timings.forward.assign(2, std::vector<std::vector<StageRun>>(blocks));
  timings.backward.assign(2, std::vector<std::vector<StageRun>>(blocks));
  for (std::size_t size = 0; size < 2 && text; ++size) {
    std::size_t passes = 0;
    text >> passes;
    if (passes == 0) text.setstate(std::ios::failbit);
    for (std::size_t block = 0; block < blocks && text; ++block) {
      for (std::size_t pass = 0; pass < passes && text; ++pass) {
        timings.forward[size][block].push_back(get());
        timings.backward[size][block].push_back(get());
      }
    }
  }
  for (std::size_t block = 0; block < blocks && text; ++block) timings.steps.push_back(get());
  if (!text) throw std::invalid_argument("malformed block timings: " + encoded);
  return timings;
}

// Block times grow close to linearly with the samples, so the line through
// the two profiled sizes extends to the whole batch.
DeviceProfile device_profile(const NodeTimings& timings, double slowdown) {
  const int threads = timings.threads;
  const double span = static_cast<double>(timings.large - timings.small);
  const double small = static_cast<double>(timings.small);
  DeviceProfile device;
  double overhead_sum = 0.0;
  const std::size_t blocks = timings.steps.size();
  for (std::size_t i = 0; i < blocks; ++i) {
    const double forward_small = fastest(timings.forward[0][i], slowdown, threads);
    const double forward_large = fastest(timings.forward[1][i], slowdown, threads);
    const double backward_small = fastest(timings.backward[0][i], slowdown, threads);
    const double backward_large = fastest(timings.backward[1][i], slowdown, threads);
    BlockTiming timing;
    timing.forward_s_per_sample = std::max(0.0, (forward_large - forward_small) / span);
    timing.backward_s_per_sample = std::max(0.0, (backward_large - backward_small) / span);
    overhead_sum += std::max(0.0, forward_small - small * timing.forward_s_per_sample);
    overhead_sum += std::max(0.0, backward_small - small * timing.backward_s_per_sample);
    timing.step_s = emulated_seconds(timings.steps[i], slowdown, threads);
    device.blocks.push_back(timing);
  }
  device.call_overhead_s = overhead_sum / (2.0 * static_cast<double>(blocks));
  return device;
}

std::string encode_profile(const RankProfile& profile) {
  std::ostringstream text;
  text << std::setprecision(17) << profile.samples << ' ' << profile.device.call_overhead_s << ' '
       << profile.device.blocks.size();
  for (const BlockTiming& block : profile.device.blocks) {
    text << ' ' << block.forward_s_per_sample << ' ' << block.backward_s_per_sample << ' '
         << block.step_s;
  }
  return text.str();
}

RankProfile decode_profile(const std::string& text) {
  std::istringstream input(text);
  RankProfile profile;
  std::size_t blocks = 0;
  input >> profile.samples >> profile.device.call_overhead_s >> blocks;
  profile.device.blocks.resize(blocks);
  for (BlockTiming& block : profile.device.blocks) {
    input >> block.forward_s_per_sample >> block.backward_s_per_sample >> block.step_s;
  }
  if (!input) throw std::invalid_argument("malformed block profile: " + text);
  return profile;
}

std::vector<LinkProfile> emulated_links(const TrainOptions& options, int clients) {
  std::vector<LinkProfile> links(static_cast<std::size_t>(clients));
  for (int client = 1; client <= clients; ++client) {
    LinkProfile& link = links[static_cast<std::size_t>(client - 1)];
    link.uplink_mbps = TrainOptions::per_client(options.uplink_mbps, client, 0.0);
    link.downlink_mbps = TrainOptions::per_client(options.downlink_mbps, client, 0.0);
    link.latency_s = TrainOptions::per_client(options.latency_ms, client, 0.0) / 1000.0;
  }
  return links;
}

SearchBounds search_bounds(const TrainOptions& options, int block_count) {
  SearchBounds bounds;
  if (options.cut_auto) {
    bounds.min_cut = options.aps_min_cut;
    bounds.max_cut = options.aps_max_cut > 0 ? options.aps_max_cut : block_count - 1;
  } else {
    bounds.min_cut = bounds.max_cut = options.cut;
  }
  if (options.micro_batches_auto) {
    bounds.micro_batches = options.aps_micro_batches.empty()
                               ? default_micro_batches(options.batch_size)
                               : options.aps_micro_batches;
  } else {
    bounds.micro_batches = {options.micro_batches};
  }
  return bounds;
}

SplitPlan choose_plan(const TrainOptions& options, const std::vector<RankProfile>& profiles,
                      const std::vector<BlockSize>& sizes, const std::vector<LinkProfile>& links) {
  CostModelConfig config;
  config.blocks = sizes;
  config.server = profiles.at(0).device;
  for (std::size_t k = 1; k < profiles.size(); ++k) {
    ClientProfile client;
    client.device = profiles[k].device;
    client.link = links.at(k - 1);
    client.samples = std::max<std::int64_t>(1, profiles[k].samples);
    config.clients.push_back(client);
  }
  config.message_header_bytes = static_cast<std::int64_t>(sizeof(MessageHeader));
  config.batch_size = options.batch_size;
  config.local_epochs = options.local_epochs;
  config.half_duplex = options.half_duplex;

  const SearchBounds bounds = search_bounds(options, static_cast<int>(sizes.size()));
  const ParameterSelection selection = select_parameters(config, bounds);
  SplitPlan plan;
  for (const SplitChoice& choice : selection.choices) {
    plan.cuts.push_back(choice.cut);
    plan.micro_batches.push_back(choice.micro_batches);
  }
  plan.predicted_round_s = selection.round_s;
  plan.predicted_busy_s = predict_round(config, selection.choices).busy_s;
  for (const RankProfile& profile : profiles) plan.devices.push_back(profile.device);
  plan.candidates_evaluated = selection.candidates_evaluated;
  plan.top_common = selection.top_common;
  plan.links = links;
  for (int cut = bounds.min_cut; cut <= bounds.max_cut; ++cut) {
    for (int count : bounds.micro_batches) {
      if (options.batch_size % count != 0) continue;
      const std::vector<SplitChoice> common(config.clients.size(), SplitChoice{cut, count});
      plan.grid.push_back(CandidateTime{SplitChoice{cut, count}, predict_round(config, common).round_s});
    }
  }
  return plan;
}

void print_plan(const SplitPlan& plan, double measured_round_s) {
  std::ostringstream table;
  table << std::setprecision(4);
  table << "# APS: links " << plan.link_source << "; overhead " << plan.overhead_s()
        << " s (profiling " << plan.profiling_s << " s, search " << plan.search_s << " s, "
        << plan.candidates_evaluated << " assignments simulated)\n";
  table << "# client     cut  micro-batches  uplink_mbps  downlink_mbps  latency_s\n";
  for (std::size_t k = 0; k < plan.cuts.size(); ++k) {
    const LinkProfile& link = plan.links.at(k);
    table << "  " << std::left << std::setw(10) << k + 1 << std::right << std::setw(4) << plan.cuts[k]
          << std::setw(15) << plan.micro_batches[k] << std::setw(13) << link.uplink_mbps
          << std::setw(15) << link.downlink_mbps << std::setw(11) << link.latency_s << "\n";
  }
  table << "# predicted round time of this choice: " << plan.predicted_round_s << " s";
  if (measured_round_s > 0.0) table << " (measured " << measured_round_s << " s)";
  table << "\n# fastest common choices (every client the same P and N)\n";
  table << "#  cut  micro-batches  predicted_round_s\n";
  for (const CandidateTime& candidate : plan.top_common) {
    table << "  " << std::setw(4) << candidate.choice.cut << std::setw(15)
          << candidate.choice.micro_batches << std::setw(19) << candidate.round_s << "\n";
  }
  std::fputs(table.str().c_str(), stdout);
  std::fflush(stdout);
}

}  // namespace pipar
