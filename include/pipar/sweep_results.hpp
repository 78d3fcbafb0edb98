// The results file of `pipar sweep`: one HDF5 file per sweep, a group per
// completed point. docs/results.md documents the layout.
#pragma once

#include <set>
#include <string>
#include <utility>
#include <vector>

#include "pipar/run_info.hpp"
#include "pipar/slurm.hpp"
#include "pipar/sweep_file.hpp"
#include "pipar/train_results.hpp"

namespace pipar {

// Statistics of one point over its repetitions. Each repetition contributes
// the mean of its measured rounds (the final round for test accuracy), and
// the summary contains the median, minimum and maximum of those values.
struct PointSummary {
  std::vector<std::string> names;  // column names, each with its unit suffix
  std::vector<double> values;
};

// Summarizes the rounds of each repetition; the first `warmup_rounds` rows of
// each are left out. Throws std::invalid_argument for no repetitions or a
// repetition without measured rounds.
PointSummary summarize_point(const std::vector<std::vector<RoundRecord>>& repetitions,
                             int warmup_rounds, int clients);

// The median of `values`: the mean of the two middle values for an even count.
double median(std::vector<double> values);

// A completed point, ready to store.
struct PointResult {
  const SweepPoint* point = nullptr;
  std::vector<RecordedRun> repetitions;
  RunInfo run;  // of the point's communicator
  std::string started_utc;
  std::string finished_utc;
};

// The identity of one start of `pipar sweep`.
struct SweepInvocation {
  RunInfo run;  // of the whole job
  SlurmInfo slurm;
  std::string overrides;  // the command-line options applied to every point
};

// The sweep's results file, used by rank 0 only.
//
// Every change is made on a copy of the file in the same folder, which is
// then renamed over the file. A sweep killed at any moment therefore leaves
// either the old or the new file, each complete and readable, never a
// half-written point. NOTE: two sweeps writing the same file at once are
// not detected, and the later rename wins.
class SweepResults {
 public:
  // Creates `path`, or reopens it to resume the same sweep. Throws InputError
  // when the path cannot be written, or when the existing file contains another
  // sweep file's results or was run with other command-line overrides.
  SweepResults(const std::string& path, const SweepDefinition& sweep,
               const SweepInvocation& invocation);

  const std::string& path() const { return path_; }
  // Indices of the points the file already contains.
  const std::set<int>& completed() const { return completed_; }

  // Stores a point with its summary, then flushes and renames, so the point
  // survives a crash from the moment this returns.
  void write_point(const PointResult& result, const PointSummary& summary);

  // Marks the sweep completed.
  void finish();

 private:
  template <typename Change>
  void commit(Change&& change);

  std::string path_;
  std::string invocation_group_;
  std::set<int> completed_;
  int points_total_ = 0;
};

// The group of a point, "/points/0007" for index 7.
std::string point_group(int index);

}  // namespace pipar
