// Automated parameter selection (APS): profiles every block on every rank,
// takes each client's link from its emulated settings or a ping-pong, and
// chooses each client's cut point P and micro-batch count N with the cost
// model of cost_model.hpp.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "pipar/cost_model.hpp"
#include "pipar/mpi.hpp"
#include "pipar/options.hpp"
#include "pipar/stage_time.hpp"

namespace pipar {

// The per-client choice that training uses, and how it was made.
struct SplitPlan {
  std::vector<int> cuts;           // per client, index client - 1
  std::vector<int> micro_batches;  // per client
  double predicted_round_s = 0.0;
  double profiling_s = 0.0;  // profiling every rank and measuring the links
  double search_s = 0.0;     // the cost model's search
  std::size_t candidates_evaluated = 0;
  std::vector<CandidateTime> top_common;  // fastest common (P, N), fastest first
  std::vector<LinkProfile> links;         // per client, as the model used them
  std::string link_source;                // "emulated" or "measured by ping-pong"
  // Predicted round time of every common (P, N) of the grid, for checking
  // the model against measured sweeps.
  std::vector<CandidateTime> grid;
  // The cost model's busy time of each resource in the chosen plan, in
  // resource_names() order, to compare with the measured rounds/busy_s.
  std::vector<double> predicted_busy_s;
  // The profiles the model used, by rank: the server, then clients 1..K.
  std::vector<DeviceProfile> devices;

  double overhead_s() const { return profiling_s + search_s; }
};

// The timed runs of every block on one node. One rank of the node takes them
// and every rank of the node derives its profile from them, because the
// ranks run on the same cores.
struct NodeTimings {
  std::int64_t small = 0;  // samples of the first profiled size
  std::int64_t large = 0;  // samples of the second
  int threads = 1;         // intra-op threads of the rank that profiled
  // Indexed [size][block][pass], size 0 being `small` and 1 `large`. The
  // two sizes may have different numbers of passes.
  std::vector<std::vector<std::vector<StageRun>>> forward;
  std::vector<std::vector<std::vector<StageRun>>> backward;
  std::vector<StageRun> steps;  // per block
};

// The two micro-batch sizes that APS times every block at.
struct ProfileSizes {
  std::int64_t small = 0;
  std::int64_t large = 0;
};

// Chooses the profiled sizes for a batch of `batch_size` samples and the
// micro-batch count candidates. The smaller is the smallest micro-batch a
// candidate gives, where a fixed cost per call weighs most. The larger is
// half the batch, or twice the smaller if that is more, at most the batch:
// the wider the two sizes lie apart, the less timing noise tilts the line
// through them. `max_large` > 0 caps the larger size, but not below twice
// the smaller, so that a slow model profiles in bounded time. Always
// small < large.
ProfileSizes profile_sizes(int batch_size, const std::vector<int>& micro_batch_candidates,
                           std::int64_t max_large = 0);

// Serializes node timings for MPI, and back. decode_timings() throws
// std::invalid_argument for a malformed text.
std::string encode_timings(const NodeTimings& timings);
NodeTimings decode_timings(const std::string& encoded);

// Builds the profile of a device that `slowdown` emulates from a node's
// timings. Each block's time per sample is the slope of the line through
// the fastest runs at the two sizes, and the call overhead is the mean
// intercept over blocks and directions, clamped at 0.
DeviceProfile device_profile(const NodeTimings& timings, double slowdown);

// One rank's measurement of its own blocks, gathered on rank 0.
struct RankProfile {
  DeviceProfile device;
  std::int64_t samples = 0;  // training samples of the client's shard (0 on the server)
};

// Serializes a profile for MPI, and back.
std::string encode_profile(const RankProfile& profile);
RankProfile decode_profile(const std::string& text);

// The links of every client as options.uplink_mbps and the like set them,
// at the start of training; a bandwidth trace's later changes are not seen.
std::vector<LinkProfile> emulated_links(const TrainOptions& options, int clients);

// The candidate grid of options: cut points and micro-batch counts.
SearchBounds search_bounds(const TrainOptions& options, int block_count);

// Rank 0's part of the plan: builds the cost model from every rank's
// profile and the links, searches, and fills the plan. `profiles[0]` is
// the server's. Throws InputError for invalid bounds.
SplitPlan choose_plan(const TrainOptions& options, const std::vector<RankProfile>& profiles,
                      const std::vector<BlockSize>& sizes, const std::vector<LinkProfile>& links);

// Prints the plan as a table on standard output: each client's choice and
// the fastest common candidates, with the predicted times and the overhead.
void print_plan(const SplitPlan& plan, double measured_round_s = 0.0);

}  // namespace pipar

namespace pipar {

// Runs APS for the ranks of `world`, rank 0 being the server. One rank per
// node times every block at the sizes of profile_sizes() while the node's
// other ranks sleep. Each rank of the node derives its profile from
// those runs as its device emulation would stretch them (`slowdown` times
// the CPU time per thread), or takes the wall time without emulation.
// Rank 0 measures each client's link by ping-pong unless the options emulate
// links, and chooses the plan, which every rank returns. `shard_samples` is
// the calling client's shard size (ignored on rank 0). Collective. Call it
// before the ranks create their transports.
// NOTE: the derived profiles assume that the ranks of a node run the same
// number of intra-op threads, as pipar's default and --threads give them.
// NOTE: the profile is taken while the node's other ranks sleep. In
// training they compute beside it, so a server sharing its cores with
// clients can be predicted faster than it runs (15% on 2 cores, 5 ranks).
SplitPlan plan_split(const TrainOptions& options, const mpi::Communicator& world,
                     std::int64_t shard_samples, double slowdown);

}  // namespace pipar
