// Cost model of one training round, for the automated choice of the cut
// point P and the number of micro-batches N of each client (APS).
//
// The model simulates the stages of a round on the resources they occupy:
// each client's compute, each uplink and downlink, and the server's compute,
// which all clients share. It follows the order of operations of
// SplitClient and SplitServer (split_training.hpp), so its predictions are
// in the same terms as the busy times that analyze_round() measures. This
// file needs neither MPI nor LibTorch.
//
// Units: times in seconds, bandwidth in Mbit/s (1 Mbit = 1e6 bits), sizes in
// bytes. Blocks are numbered 1..L; vectors indexed by block hold block b at
// index b - 1. Clients are numbered 1..K; vectors indexed by client hold
// client k at index k - 1.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "pipar/events.hpp"

namespace pipar {

// Measured cost of one block on one device. A forward call of the block on m
// samples takes call_overhead_s + m * forward_s_per_sample, and likewise for
// backward, where call_overhead_s belongs to the device (DeviceProfile).
// NOTE: real kernels are not linear in m (caches, threads, vector widths),
// so the prediction is only as good as a profile taken near the micro-batch
// sizes that the search considers.
struct BlockTiming {
  double forward_s_per_sample = 0.0;  // the last block's forward includes the loss
  double backward_s_per_sample = 0.0;
  double step_s = 0.0;  // optimizer step over this block's parameters, once per batch
};

// The speed of one device: the server or one client.
struct DeviceProfile {
  std::vector<BlockTiming> blocks;  // L entries
  double call_overhead_s = 0.0;     // fixed cost of every forward or backward call of one block
};

// The size of one block's output and state, the same on every device.
struct BlockSize {
  std::int64_t output_bytes_per_sample = 0;  // 4 bytes per float32 element, as describe_blocks()
  // Parameters and buffers, sent with the model at round start and end.
  std::int64_t state_bytes = 0;
};

// One client's links to the server. A bandwidth of 0 or infinity means
// unlimited: a message then takes no time to send but still has latency.
struct LinkProfile {
  double uplink_mbps = 0.0;    // client -> server
  double downlink_mbps = 0.0;  // server -> client
  double latency_s = 0.0;      // one way, both directions
};

struct ClientProfile {
  DeviceProfile device;
  LinkProfile link;
  std::int64_t samples = 0;  // training samples of the client's shard, >= 1
};

// The inputs of a round prediction apart from the choice of P and N: the
// model, the devices, the links and the training settings.
struct CostModelConfig {
  std::vector<BlockSize> blocks;  // the model's L blocks, L >= 2
  // Labels travel with each upload: 8 bytes per sample for int64 class ids.
  std::int64_t label_bytes_per_sample = 8;
  // Bytes that the transport adds to every message, such as its header:
  // sizeof(MessageHeader) for pipar's transport, 0 to count only tensors.
  std::int64_t message_header_bytes = 0;
  DeviceProfile server;
  std::vector<ClientProfile> clients;  // K >= 1 entries
  int batch_size = 100;
  int local_epochs = 1;
  // In half duplex both directions of a client's link share one channel, in
  // the order messages are posted, as NetworkEmulator does.
  bool half_duplex = false;
  double aggregation_s = 0.0;  // FedAvg on the server at the end of an SFL, PiPar or FL round
};

// One client's cut point P (blocks 1..P on the client, 1 <= P <= L - 1) and
// number of micro-batches N per batch (N divides the batch size).
struct SplitChoice {
  int cut = 1;
  int micro_batches = 1;
};

bool operator==(const SplitChoice& a, const SplitChoice& b);
bool operator!=(const SplitChoice& a, const SplitChoice& b);

struct RoundPrediction {
  double round_s = 0.0;  // makespan: from the start of the round to the end of aggregation
  // Busy time per resource, in resource_names() order: server compute,
  // client 1..K compute, uplink 1..K, downlink 1..K.
  std::vector<double> busy_s;
  double lower_bound_s = 0.0;  // the largest busy_s
  // The simulated stages, in the order they were scheduled. Filled only when
  // the schedule is requested: round 0, batches counted from 0 across local
  // epochs, and micro-batches from 0. A model transfer is an upload or
  // download with batch -1.
  std::vector<Event> schedule;
};

// Predicts a PiPar round with per-client choices, `choices[k - 1]` for client
// k. N = 1 for every client predicts SFL.
//
// Each client receives its part of the model and forwards the N
// micro-batches of a batch back to back, posting each upload as its forward
// ends. It then runs the backward of each micro-batch when its gradient has
// arrived, in arrival order, and steps after the N-th. It starts the next
// batch only after the step, because the step changes the weights the next
// forwards use, and returns its part of the model after the last batch.
//
// The server serves the micro-batches of all clients one at a time in
// arrival order (forward, loss and backward), posts each gradient as soon as
// it is computed, and steps a client's server part after that client's N-th
// micro-batch. The round ends after FedAvg, which starts once every client's
// model has arrived and the server is idle.
//
// Throws InputError for an invalid config or choice, naming the value and
// the fix.
RoundPrediction predict_round(const CostModelConfig& config,
                              const std::vector<SplitChoice>& choices,
                              bool record_schedule = false);

// Predicts a round of vanilla split learning (SL) with cut point `cut` for
// every client: clients train one after another, each with one micro-batch
// per batch, and the server passes the client part from one client to the
// next. The round ends when the last client's model has arrived, with no
// FedAvg. Throws InputError like predict_round().
RoundPrediction predict_sl_round(const CostModelConfig& config, int cut,
                                 bool record_schedule = false);

// Predicts a FedAvg (FL) round: every client downloads the whole model,
// trains it on its shard with the client's own block timings, and uploads it.
// FedAvg starts when the last model has arrived. Throws InputError like
// predict_round().
RoundPrediction predict_fl_round(const CostModelConfig& config, bool record_schedule = false);

// The candidates of a parameter search.
struct SearchBounds {
  int min_cut = 1;
  int max_cut = 0;  // 0: the last valid cut point, L - 1
  // Candidate numbers of micro-batches. Values that do not divide the batch
  // size are skipped, but at least one must divide it.
  std::vector<int> micro_batches;
  int max_passes = 4;         // improvement passes after the common start, >= 0
  std::size_t top_count = 5;  // entries of ParameterSelection::top_common
};

struct CandidateTime {
  SplitChoice choice;
  double round_s = 0.0;
};

struct ParameterSelection {
  std::vector<SplitChoice> choices;  // per client
  double round_s = 0.0;              // predicted round time of `choices`
  // The fastest common choices (one (P, N) for every client), fastest first,
  // at most SearchBounds::top_count.
  std::vector<CandidateTime> top_common;
  // Assignments of (P, N) to all clients whose round was simulated, fully
  // or until it could no longer beat the best so far.
  std::size_t candidates_evaluated = 0;
  // Assignments ruled out by a lower bound on their round time without a
  // simulation. The bounds cost one single-client simulation per client and
  // grid point, which neither count includes.
  std::size_t candidates_pruned = 0;
  int passes = 0;  // improvement passes run
};

// Chooses (P, N) per client by local search on predict_round(). The grid is
// every cut point in the bounds times every candidate N that divides the
// batch size. The search ranks every common (P, N) and starts from the
// fastest. A pass then gives each client in turn the grid choice that
// shortens the round most while the others keep theirs. If that changes
// nothing, it tries moving the cut points of two clients by one block each,
// which can shift load through the shared server where no single change
// helps. The search stops after a pass that changes nothing, or after
// bounds.max_passes passes. Each change must shorten the predicted round, so
// the result is never slower than the best common choice, but it is a local
// optimum, not necessarily the global one. A tie never replaces the current
// choice, and among tied candidates the earlier grid point wins: the smaller
// P, then the smaller N. Throws InputError for invalid bounds:
// an empty cut range, a cut outside 1..L-1, an empty micro-batch list, a
// value below 1, no value that divides the batch size, or max_passes < 0.
// NOTE: a simulation's cost grows with the micro-batches in the round, so a
// long round takes seconds to search: 2 s for 4 clients of 150 batches each
// with N up to 100, on a shared 2-core machine. A round with fewer samples
// per client ranks the candidates faster, if a few batches are typical.
ParameterSelection select_parameters(const CostModelConfig& config, const SearchBounds& bounds);

}  // namespace pipar
