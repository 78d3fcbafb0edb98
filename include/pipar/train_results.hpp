// The results file of one `pipar train` run: metadata once, a row per round.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "pipar/options.hpp"
#include "pipar/results.hpp"
#include "pipar/run_info.hpp"

namespace pipar {

struct RoundRecord {
  int round = 0;
  double wall_time_s = 0.0;  // training and aggregation, without evaluation
  double eval_time_s = 0.0;
  double train_loss = 0.0;  // mean cross-entropy over the round's training samples
  double test_loss = 0.0;
  double test_accuracy = 0.0;  // fraction in [0, 1]
  std::vector<std::int64_t> bytes_up;    // per client, client -> server
  std::vector<std::int64_t> bytes_down;  // per client, server -> client
  double lower_bound_s = 0.0;  // busy time of the busiest resource
  double efficiency = 0.0;     // lower_bound_s / wall_time_s
  std::vector<double> busy_s;  // per resource, in resource_names() order
  std::vector<double> idle_s;
};

// Written by rank 0 only. Every round is flushed to disk as it is recorded,
// so a run that dies keeps every completed round.
class TrainRecorder {
 public:
  // Creates `options.output` and writes the metadata. `extra` adds
  // attributes to the root group (LibTorch version, optimizer policy, ...).
  // Throws InputError when the file cannot be created.
  TrainRecorder(const TrainOptions& options, const RunInfo& run,
                const std::vector<std::int64_t>& threads_per_rank,
                const std::vector<std::pair<std::string, std::string>>& extra,
                const std::vector<std::string>& resources);

  void record_round(const RoundRecord& record);
  // Appends encoded events (encode_events()) to /events; `origin` is the
  // shared-clock time at which training started.
  void record_events(const std::vector<double>& encoded, double origin);
  // Stores the final aggregated model as flat state (see docs/results.md).
  void record_model(const std::vector<double>& floating, const std::vector<std::int64_t>& integer);
  // Marks the run completed and stores its end time.
  void finish();

 private:
  ResultsFile file_;
  std::string resources_;
};

}  // namespace pipar
