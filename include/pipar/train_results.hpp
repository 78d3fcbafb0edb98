// The results file of one `pipar train` run: metadata once, a row per round.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "pipar/aps.hpp"
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

// The facts rank 0 has when training starts, for the results metadata.
struct RunStart {
  std::vector<std::int64_t> threads_per_rank;                // indexed by rank
  std::vector<std::pair<std::string, std::string>> extra;    // root attributes (LibTorch version, ...)
  std::vector<std::string> resources;                        // resource_names() of the run
};

// Receives the results of one training run on rank 0, in this order: begin(),
// then record_round() and record_events() once per round, record_model()
// and finish(). A sink that fails in begin() throws InputError.
class RunSink {
 public:
  virtual ~RunSink() = default;
  virtual void begin(const RunStart& start) = 0;
  virtual void record_round(const RoundRecord& record) = 0;
  // `encoded` contains the round's events (encode_events()); `origin` is the
  // shared-clock time at which training started.
  virtual void record_events(const std::vector<double>& encoded, double origin) = 0;
  virtual void record_model(const std::vector<double>& floating,
                            const std::vector<std::int64_t>& integer) = 0;
  virtual void finish() = 0;
  // The APS choice, before the first round; only runs that use APS call it.
  virtual void record_plan(const SplitPlan& plan) = 0;
};

// The results file of `pipar train`. Every round is flushed to disk as it is
// recorded, so a run that dies keeps every completed round.
class TrainRecorder : public RunSink {
 public:
  TrainRecorder(const TrainOptions& options, const RunInfo& run);

  // Creates `options.output` and writes the metadata. Throws InputError when
  // the file cannot be created.
  void begin(const RunStart& start) override;
  void record_round(const RoundRecord& record) override;
  void record_events(const std::vector<double>& encoded, double origin) override;
  // Stores the final aggregated model as flat state (see docs/results.md).
  void record_model(const std::vector<double>& floating,
                    const std::vector<std::int64_t>& integer) override;
  // Marks the run completed and stores its end time.
  void finish() override;
  void record_plan(const SplitPlan& plan) override;

 private:
  ResultsFile& file();

  TrainOptions options_;
  RunInfo run_;
  std::optional<ResultsFile> file_;
  std::string resources_;
};

// Keeps a run's results in memory, for a sweep that writes each point once
// it completes. The final model is not kept.
class RecordedRun : public RunSink {
 public:
  void begin(const RunStart& start) override { start_ = start; }
  void record_round(const RoundRecord& record) override { rounds_.push_back(record); }
  void record_events(const std::vector<double>& encoded, double origin) override;
  void record_model(const std::vector<double>&, const std::vector<std::int64_t>&) override {}
  void finish() override { finished_ = true; }
  void record_plan(const SplitPlan& plan) override { plan_ = plan; }

  const RunStart& start() const { return start_; }
  const std::vector<RoundRecord>& rounds() const { return rounds_; }
  const std::vector<double>& events() const { return events_; }
  double origin() const { return origin_; }
  bool finished() const { return finished_; }
  const std::optional<SplitPlan>& plan() const { return plan_; }

 private:
  RunStart start_;
  std::optional<SplitPlan> plan_;
  std::vector<RoundRecord> rounds_;
  std::vector<double> events_;
  double origin_ = 0.0;
  bool finished_ = false;
};

// Writes the per-round tables of `record` below `group` ("/" for a train
// file): one row in each dataset of `group`/rounds. `resources` names the
// columns of busy_s and idle_s.
void append_round(ResultsFile& file, const std::string& group, const RoundRecord& record,
                  const std::string& resources);

// Appends encoded events to `group`/events, creating it with its column
// names and `origin` on first use.
void append_events(ResultsFile& file, const std::string& group, const std::vector<double>& encoded,
                   double origin);

// Returns the current UTC time as ISO 8601, for example 2026-12-05T01:30:00Z.
std::string utc_timestamp();

// Writes an APS plan to `group`/aps: the choice per client, the links it
// assumed, its predictions and its overhead (docs/results.md).
void write_plan(ResultsFile& file, const std::string& group, const SplitPlan& plan);

// Returns the resource names joined with ", ", as stored in `columns`.
std::string join_resources(const std::vector<std::string>& resources);

}  // namespace pipar
