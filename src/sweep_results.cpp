// Layout and crash-safe updates of a sweep's results file.
#include "pipar/sweep_results.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <stdexcept>
#include <tuple>

#include "pipar/error.hpp"
#include "pipar/results.hpp"

namespace pipar {
namespace {

std::string zero_padded(int value, int width) {
  std::string text = std::to_string(value);
  return std::string(static_cast<std::size_t>(std::max(0, width - static_cast<int>(text.size()))), '0') +
         text;
}

double mean(const std::vector<double>& values) {
  double sum = 0.0;
  for (double value : values) sum += value;
  return values.empty() ? 0.0 : sum / static_cast<double>(values.size());
}

// Mean of columns [first, first + count) of a per-resource row.
double mean_of(const std::vector<double>& row, std::size_t first, std::size_t count) {
  double sum = 0.0;
  for (std::size_t i = first; i < first + count; ++i) sum += row.at(i);
  return sum / static_cast<double>(count);
}

double mean_of(const std::vector<std::int64_t>& row) {
  double sum = 0.0;
  for (std::int64_t value : row) sum += static_cast<double>(value);
  return row.empty() ? 0.0 : sum / static_cast<double>(row.size());
}

// The value of each repetition for each summarized quantity.
struct RepetitionValues {
  std::vector<double> round_time, lower_bound, efficiency, server_idle, client_idle, uplink_idle,
      downlink_idle, test_accuracy, bytes_up, bytes_down;
};

void add_repetition(RepetitionValues& values, const std::vector<RoundRecord>& rounds,
                    int warmup_rounds, int clients) {
  if (static_cast<int>(rounds.size()) <= warmup_rounds) {
    throw std::invalid_argument("a repetition has " + std::to_string(rounds.size()) +
                                " rounds, none after " + std::to_string(warmup_rounds) +
                                " warm-up rounds");
  }
  const auto k = static_cast<std::size_t>(clients);
  RepetitionValues measured;
  for (std::size_t r = static_cast<std::size_t>(warmup_rounds); r < rounds.size(); ++r) {
    const RoundRecord& round = rounds[r];
    measured.round_time.push_back(round.wall_time_s);
    measured.lower_bound.push_back(round.lower_bound_s);
    measured.efficiency.push_back(round.efficiency);
    measured.server_idle.push_back(round.idle_s.at(0));
    measured.client_idle.push_back(mean_of(round.idle_s, 1, k));
    measured.uplink_idle.push_back(mean_of(round.idle_s, 1 + k, k));
    measured.downlink_idle.push_back(mean_of(round.idle_s, 1 + 2 * k, k));
    measured.bytes_up.push_back(mean_of(round.bytes_up));
    measured.bytes_down.push_back(mean_of(round.bytes_down));
  }
  values.round_time.push_back(mean(measured.round_time));
  values.lower_bound.push_back(mean(measured.lower_bound));
  values.efficiency.push_back(mean(measured.efficiency));
  values.server_idle.push_back(mean(measured.server_idle));
  values.client_idle.push_back(mean(measured.client_idle));
  values.uplink_idle.push_back(mean(measured.uplink_idle));
  values.downlink_idle.push_back(mean(measured.downlink_idle));
  values.test_accuracy.push_back(rounds.back().test_accuracy);
  values.bytes_up.push_back(mean(measured.bytes_up));
  values.bytes_down.push_back(mean(measured.bytes_down));
}

// fsync on a file or a folder, so that a rename survives a power loss too.
void sync_path(const std::string& path) {
  const int descriptor = ::open(path.c_str(), O_RDONLY);
  if (descriptor < 0) return;
  ::fsync(descriptor);
  ::close(descriptor);
}

void write_invocation(ResultsFile& file, const std::string& group, const SweepInvocation& invocation) {
  file.set_attribute(group, "command_line", invocation.run.command_line);
  file.set_attribute(group, "started_utc", invocation.run.started_utc);
  file.set_attribute(group, "status", std::string("running"));
  file.set_attribute(group, "git_commit", std::string(git_commit()));
  file.set_attribute(group, "pipar_version", std::string(pipar_version()));
  file.set_attribute(group, "mpi_library", invocation.run.mpi_library);
  file.set_attribute(group, "world_size", static_cast<std::int64_t>(invocation.run.world_size));
  file.set_attribute(group, "overrides", invocation.overrides);
  for (const auto& [name, value] : invocation.slurm.to_key_values()) {
    file.set_attribute(group, name, value);
  }
  file.write_strings(group + "/hostname", invocation.run.hostnames);
}

}  // namespace

double median(std::vector<double> values) {
  if (values.empty()) throw std::invalid_argument("median of no values");
  std::sort(values.begin(), values.end());
  const std::size_t middle = values.size() / 2;
  return values.size() % 2 == 1 ? values[middle] : (values[middle - 1] + values[middle]) / 2.0;
}

PointSummary summarize_point(const std::vector<std::vector<RoundRecord>>& repetitions,
                             int warmup_rounds, int clients) {
  if (repetitions.empty()) throw std::invalid_argument("a point without repetitions");
  RepetitionValues values;
  for (const auto& rounds : repetitions) add_repetition(values, rounds, warmup_rounds, clients);

  // (name, unit suffix, values): each gives median, min and max columns,
  // such as round_time_median_s.
  const std::vector<std::tuple<std::string, std::string, const std::vector<double>*>> quantities{
      {"round_time", "_s", &values.round_time},
      {"lower_bound", "_s", &values.lower_bound},
      {"efficiency", "", &values.efficiency},
      {"server_idle", "_s", &values.server_idle},
      {"client_idle", "_s", &values.client_idle},
      {"uplink_idle", "_s", &values.uplink_idle},
      {"downlink_idle", "_s", &values.downlink_idle},
      {"test_accuracy", "", &values.test_accuracy},
      {"bytes_up", "", &values.bytes_up},
      {"bytes_down", "", &values.bytes_down},
  };
  PointSummary summary;
  for (const auto& [name, unit, series] : quantities) {
    summary.names.push_back(name + "_median" + unit);
    summary.values.push_back(median(*series));
    summary.names.push_back(name + "_min" + unit);
    summary.values.push_back(*std::min_element(series->begin(), series->end()));
    summary.names.push_back(name + "_max" + unit);
    summary.values.push_back(*std::max_element(series->begin(), series->end()));
  }
  return summary;
}

std::string point_group(int index) { return "/points/" + zero_padded(index, 4); }

template <typename Change>
void SweepResults::commit(Change&& change) {
  const std::string temporary = path_ + ".partial";
  std::error_code error;
  if (std::filesystem::exists(path_)) {
    std::filesystem::copy_file(path_, temporary, std::filesystem::copy_options::overwrite_existing,
                               error);
    if (error) {
      throw InputError("cannot copy results file " + path_ + " to " + temporary + ": " +
                       error.message() + "; check the free space and permissions of the folder");
    }
  }
  {
    ResultsFile file(temporary, ResultsFile::Mode::kAppend);
    change(file);
    file.flush();
  }
  sync_path(temporary);
  if (std::rename(temporary.c_str(), path_.c_str()) != 0) {
    throw InputError("cannot rename " + temporary + " to " + path_ + ": " + std::strerror(errno));
  }
  std::string folder = std::filesystem::path(path_).parent_path().string();
  sync_path(folder.empty() ? "." : folder);
}

SweepResults::SweepResults(const std::string& path, const SweepDefinition& sweep,
                           const SweepInvocation& invocation)
    : path_(path), points_total_(static_cast<int>(sweep.points.size())) {
  int invocation_index = 0;
  if (std::filesystem::exists(path)) {
    const ResultsFile existing(path, ResultsFile::Mode::kRead);
    const std::string fix = "; write to another --output, or delete " + path + " to start over";
    if (!existing.exists("/points") ||
        existing.read_string_attribute("/", "program") != "pipar sweep") {
      throw InputError("results file " + path + " exists and is not a pipar sweep file" + fix);
    }
    if (existing.read_string_attribute("/", "sweep_text") != sweep.text) {
      throw InputError("results file " + path + " contains the results of another sweep file (its "
                       "sweep_text differs from " + sweep.path + ")" + fix);
    }
    if (existing.read_string_attribute("/", "overrides") != invocation.overrides) {
      throw InputError("results file " + path + " was run with the options '" +
                       existing.read_string_attribute("/", "overrides") + "', this run has '" +
                       invocation.overrides + "'; rerun with the same options" + fix);
    }
    for (const std::string& name : existing.list_groups("/points")) {
      const int index = std::stoi(name);
      if (index >= points_total_ ||
          existing.read_string_attribute(point_group(index), "key") != sweep.points[index].key) {
        throw InputError("results file " + path + " contains a point " + name +
                         " that this sweep file does not produce" + fix);
      }
      completed_.insert(index);
    }
    invocation_index = static_cast<int>(existing.list_groups("/invocations").size());
  }
  invocation_group_ = "/invocations/" + zero_padded(invocation_index, 4);

  const bool create = invocation_index == 0;
  commit([&](ResultsFile& file) {
    if (create) {
      file.set_attribute("/", "program", std::string("pipar sweep"));
      file.set_attribute("/", "pipar_version", std::string(pipar_version()));
      file.set_attribute("/", "git_commit", std::string(git_commit()));
      file.set_attribute("/", "created_utc", invocation.run.started_utc);
      file.set_attribute("/", "sweep_name", sweep.name);
      file.set_attribute("/", "sweep_file", sweep.path);
      file.set_attribute("/", "sweep_text", sweep.text);
      file.set_attribute("/", "overrides", invocation.overrides);
      file.set_attribute("/", "repetitions", static_cast<std::int64_t>(sweep.repetitions));
      file.set_attribute("/", "warmup_rounds", static_cast<std::int64_t>(sweep.warmup_rounds));
      file.set_attribute("/", "points_total", static_cast<std::int64_t>(points_total_));
      file.set_attribute("/points", "count", static_cast<std::int64_t>(0));
    }
    file.set_attribute("/", "status", std::string("running"));
    write_invocation(file, invocation_group_, invocation);
  });
}

void SweepResults::write_point(const PointResult& result, const PointSummary& summary) {
  const SweepPoint& point = *result.point;
  const std::string group = point_group(point.index);
  commit([&](ResultsFile& file) {
    file.set_attribute(group, "index", static_cast<std::int64_t>(point.index));
    file.set_attribute(group, "key", point.key);
    file.set_attribute(group, "label", point.label);
    file.set_attribute(group, "invocation", invocation_group_);
    file.set_attribute(group, "started_utc", result.started_utc);
    file.set_attribute(group, "finished_utc", result.finished_utc);
    file.set_attribute(group, "clients", static_cast<std::int64_t>(point.clients));
    file.set_attribute(group, "repetitions", static_cast<std::int64_t>(result.repetitions.size()));
    file.set_attribute(group, "warmup_rounds",
                       static_cast<std::int64_t>(point.options.rounds - point.measured_rounds));
    file.set_attribute(group, "rounds", static_cast<std::int64_t>(point.measured_rounds));
    for (const auto& [name, value] : point.options.to_key_values()) {
      if (name != "output" && name != "trace" && name != "log_level") {
        file.set_attribute(group + "/options", name, value);
      }
    }
    file.set_attribute(group + "/options", "clients", std::to_string(point.clients));
    file.write_strings(group + "/ranks/hostname", result.run.hostnames);

    const int warmup_rounds = point.options.rounds - point.measured_rounds;
    for (std::size_t r = 0; r < result.repetitions.size(); ++r) {
      const RecordedRun& run = result.repetitions[r];
      const std::string repetition = group + "/repetitions/" + zero_padded(static_cast<int>(r), 2);
      if (r == 0) {
        file.write_vector(group + "/ranks/threads", run.start().threads_per_rank);
        for (const auto& [name, value] : run.start().extra) file.set_attribute(group, name, value);
      }
      const std::string resources = join_resources(run.start().resources);
      for (const RoundRecord& round : run.rounds()) {
        append_round(file, repetition, round, resources);
        file.append_row(repetition + "/rounds/warmup",
                        std::vector<std::int64_t>{round.round < warmup_rounds ? 1 : 0});
      }
      append_events(file, repetition, run.events(), run.origin());
      if (run.plan()) write_plan(file, repetition, *run.plan());
    }

    file.write_vector(group + "/summary", summary.values);
    std::string columns;
    for (const std::string& name : summary.names) columns += (columns.empty() ? "" : ", ") + name;
    file.set_attribute(group + "/summary", "columns", columns);
    file.set_attribute("/points", "count", static_cast<std::int64_t>(completed_.size() + 1));
  });
  completed_.insert(point.index);
}

void SweepResults::finish() {
  const bool all_done = static_cast<int>(completed_.size()) == points_total_;
  commit([&](ResultsFile& file) {
    file.set_attribute(invocation_group_, "status", std::string("completed"));
    file.set_attribute(invocation_group_, "finished_utc", utc_timestamp());
    if (all_done) {
      file.set_attribute("/", "status", std::string("completed"));
      file.set_attribute("/", "finished_utc", utc_timestamp());
    }
  });
}

}  // namespace pipar
