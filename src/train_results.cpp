// Layout of a `pipar train` results file; docs/results.md documents it.
#include "pipar/train_results.hpp"

#include <ctime>
#include <stdexcept>

#include "pipar/events.hpp"

namespace pipar {
namespace {

std::string utc_now() {
  std::time_t now = std::time(nullptr);
  std::tm parts{};
  gmtime_r(&now, &parts);
  char text[32] = {};
  std::strftime(text, sizeof(text), "%Y-%m-%dT%H:%M:%SZ", &parts);
  return text;
}

void write_metadata(ResultsFile& file, const TrainOptions& options, const RunInfo& run,
                    const RunStart& start) {
  file.set_attribute("/", "program", std::string("pipar train"));
  file.set_attribute("/", "pipar_version", std::string(pipar_version()));
  file.set_attribute("/", "git_commit", std::string(git_commit()));
  file.set_attribute("/", "command_line", run.command_line);
  file.set_attribute("/", "started_utc", run.started_utc);
  file.set_attribute("/", "status", std::string("running"));
  file.set_attribute("/", "mpi_library", run.mpi_library);
  file.set_attribute("/", "world_size", static_cast<std::int64_t>(run.world_size));
  file.set_attribute("/", "clients", static_cast<std::int64_t>(run.world_size - 1));
  file.set_attribute("/", "seed", static_cast<std::int64_t>(options.seed));
  for (const auto& [name, value] : start.extra) file.set_attribute("/", name, value);

  for (const auto& [name, value] : options.to_key_values()) {
    file.set_attribute("/options", name, value);
  }
  file.write_strings("/ranks/hostname", run.hostnames);
  file.write_vector("/ranks/threads", start.threads_per_rank);
}

std::string child(const std::string& group, const std::string& name) {
  return group == "/" || group.empty() ? "/" + name : group + "/" + name;
}

void append_scalar(ResultsFile& file, const std::string& dataset, double value) {
  file.append_row(dataset, std::vector<double>{value});
}

}  // namespace

std::string utc_timestamp() { return utc_now(); }

std::string join_resources(const std::vector<std::string>& resources) {
  std::string joined;
  for (std::size_t i = 0; i < resources.size(); ++i) joined += (i ? ", " : "") + resources[i];
  return joined;
}

void append_round(ResultsFile& file, const std::string& group, const RoundRecord& record,
                  const std::string& resources) {
  const std::string rounds = child(group, "rounds");
  const bool first = !file.exists(rounds + "/round");
  file.append_row(rounds + "/round", std::vector<std::int64_t>{record.round});
  append_scalar(file, rounds + "/wall_time_s", record.wall_time_s);
  append_scalar(file, rounds + "/eval_time_s", record.eval_time_s);
  append_scalar(file, rounds + "/train_loss", record.train_loss);
  append_scalar(file, rounds + "/test_loss", record.test_loss);
  append_scalar(file, rounds + "/test_accuracy", record.test_accuracy);
  file.append_row(rounds + "/bytes_up", record.bytes_up);
  file.append_row(rounds + "/bytes_down", record.bytes_down);
  append_scalar(file, rounds + "/lower_bound_s", record.lower_bound_s);
  append_scalar(file, rounds + "/efficiency", record.efficiency);
  file.append_row(rounds + "/busy_s", record.busy_s);
  file.append_row(rounds + "/idle_s", record.idle_s);
  if (first) {
    file.set_attribute(rounds + "/wall_time_s", "units", std::string("s"));
    file.set_attribute(rounds + "/eval_time_s", "units", std::string("s"));
    file.set_attribute(rounds + "/test_accuracy", "units", std::string("fraction"));
    file.set_attribute(rounds + "/bytes_up", "units", std::string("bytes, one column per client"));
    file.set_attribute(rounds + "/bytes_down", "units", std::string("bytes, one column per client"));
    file.set_attribute(rounds + "/lower_bound_s", "units", std::string("s"));
    file.set_attribute(rounds + "/busy_s", "units", std::string("s"));
    file.set_attribute(rounds + "/idle_s", "units", std::string("s"));
    file.set_attribute(rounds + "/busy_s", "columns", resources);
    file.set_attribute(rounds + "/idle_s", "columns", resources);
  }
}

void append_events(ResultsFile& file, const std::string& group, const std::vector<double>& encoded,
                   double origin) {
  if (encoded.empty()) return;
  const std::string events = child(group, "events");
  const bool first = !file.exists(events);
  file.append_rows(events, encoded, kEventFields);
  if (first) {
    file.set_attribute(events, "columns",
                       std::string("resource, client, kind, round, batch, micro_batch, start_s, end_s"));
    file.set_attribute(events, "origin_s", origin);
  }
}

void write_plan(ResultsFile& file, const std::string& group, const SplitPlan& plan) {
  const std::string aps = child(group, "aps");
  file.set_attribute(aps, "predicted_round_s", plan.predicted_round_s);
  file.set_attribute(aps, "profiling_s", plan.profiling_s);
  file.set_attribute(aps, "search_s", plan.search_s);
  file.set_attribute(aps, "overhead_s", plan.overhead_s());
  file.set_attribute(aps, "candidates_evaluated", static_cast<std::int64_t>(plan.candidates_evaluated));
  file.set_attribute(aps, "link_source", plan.link_source);
  file.write_vector(aps + "/cut", std::vector<std::int64_t>(plan.cuts.begin(), plan.cuts.end()));
  file.write_vector(aps + "/micro_batches",
                    std::vector<std::int64_t>(plan.micro_batches.begin(), plan.micro_batches.end()));
  std::vector<double> uplink, downlink, latency;
  for (const LinkProfile& link : plan.links) {
    uplink.push_back(link.uplink_mbps);
    downlink.push_back(link.downlink_mbps);
    latency.push_back(link.latency_s);
  }
  file.write_vector(aps + "/uplink_mbps", uplink);
  file.write_vector(aps + "/downlink_mbps", downlink);
  file.write_vector(aps + "/latency_s", latency);
  std::vector<std::int64_t> grid_cut, grid_micro_batches;
  std::vector<double> grid_round;
  for (const CandidateTime& candidate : plan.grid) {
    grid_cut.push_back(candidate.choice.cut);
    grid_micro_batches.push_back(candidate.choice.micro_batches);
    grid_round.push_back(candidate.round_s);
  }
  file.write_vector(aps + "/grid_cut", grid_cut);
  file.write_vector(aps + "/grid_micro_batches", grid_micro_batches);
  file.write_vector(aps + "/grid_predicted_round_s", grid_round);
  if (!plan.predicted_busy_s.empty()) {
    file.write_vector(aps + "/predicted_busy_s", plan.predicted_busy_s);
  }
  if (plan.devices.empty()) return;
  std::vector<double> forward, backward, step, overhead;
  for (const DeviceProfile& device : plan.devices) {
    overhead.push_back(device.call_overhead_s);
    for (const BlockTiming& block : device.blocks) {
      forward.push_back(block.forward_s_per_sample);
      backward.push_back(block.backward_s_per_sample);
      step.push_back(block.step_s);
    }
  }
  const std::size_t blocks = plan.devices.front().blocks.size();
  const auto write_table = [&](const std::string& name, const std::vector<double>& values) {
    if (file.exists(aps + name)) file.remove(aps + name);  // one table per plan, never appended to
    file.append_rows(aps + name, values, blocks);
  };
  write_table("/profile_forward_s_per_sample", forward);
  write_table("/profile_backward_s_per_sample", backward);
  write_table("/profile_step_s", step);
  file.write_vector(aps + "/profile_call_overhead_s", overhead);
}

void TrainRecorder::record_plan(const SplitPlan& plan) {
  write_plan(file(), "/", plan);
  file().flush();
}

TrainRecorder::TrainRecorder(const TrainOptions& options, const RunInfo& run)
    : options_(options), run_(run) {}

ResultsFile& TrainRecorder::file() {
  if (!file_) throw std::logic_error("TrainRecorder used before begin()");
  return *file_;
}

void TrainRecorder::begin(const RunStart& start) {
  file_.emplace(options_.output, ResultsFile::Mode::kCreate);
  resources_ = join_resources(start.resources);
  write_metadata(*file_, options_, run_, start);
  file_->flush();
}

void TrainRecorder::record_round(const RoundRecord& record) {
  append_round(file(), "/", record, resources_);
  file().flush();
}

void TrainRecorder::record_events(const std::vector<double>& encoded, double origin) {
  if (encoded.empty()) return;
  append_events(file(), "/", encoded, origin);
  file().flush();
}

void TrainRecorder::record_model(const std::vector<double>& floating,
                                 const std::vector<std::int64_t>& integer) {
  file().write_vector("/model/floating", floating);
  file().write_vector("/model/integer", integer);
  file().flush();
}

void TrainRecorder::finish() {
  file().set_attribute("/", "status", std::string("completed"));
  file().set_attribute("/", "finished_utc", utc_now());
  file().flush();
}

void RecordedRun::record_events(const std::vector<double>& encoded, double origin) {
  origin_ = origin;
  events_.insert(events_.end(), encoded.begin(), encoded.end());
}

}  // namespace pipar
