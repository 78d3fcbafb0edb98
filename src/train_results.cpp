// Layout of a `pipar train` results file; docs/results.md documents it.
#include "pipar/train_results.hpp"

#include <ctime>

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
                    const std::vector<std::int64_t>& threads_per_rank,
                    const std::vector<std::pair<std::string, std::string>>& extra) {
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
  for (const auto& [name, value] : extra) file.set_attribute("/", name, value);

  for (const auto& [name, value] : options.to_key_values()) {
    file.set_attribute("/options", name, value);
  }
  file.write_strings("/ranks/hostname", run.hostnames);
  file.write_vector("/ranks/threads", threads_per_rank);
}

void append_scalar(ResultsFile& file, const std::string& dataset, double value) {
  file.append_row(dataset, std::vector<double>{value});
}

}  // namespace

TrainRecorder::TrainRecorder(const TrainOptions& options, const RunInfo& run,
                             const std::vector<std::int64_t>& threads_per_rank,
                             const std::vector<std::pair<std::string, std::string>>& extra,
                             const std::vector<std::string>& resources)
    : file_(options.output, ResultsFile::Mode::kCreate) {
  for (std::size_t i = 0; i < resources.size(); ++i) {
    resources_ += (i ? ", " : "") + resources[i];
  }
  write_metadata(file_, options, run, threads_per_rank, extra);
  file_.flush();
}

void TrainRecorder::record_round(const RoundRecord& record) {
  file_.append_row("/rounds/round", std::vector<std::int64_t>{record.round});
  append_scalar(file_, "/rounds/wall_time_s", record.wall_time_s);
  append_scalar(file_, "/rounds/eval_time_s", record.eval_time_s);
  append_scalar(file_, "/rounds/train_loss", record.train_loss);
  append_scalar(file_, "/rounds/test_loss", record.test_loss);
  append_scalar(file_, "/rounds/test_accuracy", record.test_accuracy);
  file_.append_row("/rounds/bytes_up", record.bytes_up);
  file_.append_row("/rounds/bytes_down", record.bytes_down);
  append_scalar(file_, "/rounds/lower_bound_s", record.lower_bound_s);
  append_scalar(file_, "/rounds/efficiency", record.efficiency);
  file_.append_row("/rounds/busy_s", record.busy_s);
  file_.append_row("/rounds/idle_s", record.idle_s);
  if (record.round == 0) {
    file_.set_attribute("/rounds/wall_time_s", "units", std::string("s"));
    file_.set_attribute("/rounds/eval_time_s", "units", std::string("s"));
    file_.set_attribute("/rounds/test_accuracy", "units", std::string("fraction"));
    file_.set_attribute("/rounds/bytes_up", "units", std::string("bytes, one column per client"));
    file_.set_attribute("/rounds/bytes_down", "units", std::string("bytes, one column per client"));
    file_.set_attribute("/rounds/lower_bound_s", "units", std::string("s"));
    file_.set_attribute("/rounds/busy_s", "units", std::string("s"));
    file_.set_attribute("/rounds/idle_s", "units", std::string("s"));
    file_.set_attribute("/rounds/busy_s", "columns", resources_);
    file_.set_attribute("/rounds/idle_s", "columns", resources_);
  }
  file_.flush();
}

void TrainRecorder::record_events(const std::vector<double>& encoded, double origin) {
  if (encoded.empty()) return;
  if (!file_.exists("/events")) {
    file_.append_rows("/events", encoded, kEventFields);
    file_.set_attribute("/events", "columns",
                        std::string("resource, client, kind, round, batch, micro_batch, start_s, end_s"));
    file_.set_attribute("/events", "origin_s", origin);
  } else {
    file_.append_rows("/events", encoded, kEventFields);
  }
  file_.flush();
}

void TrainRecorder::record_model(const std::vector<double>& floating,
                                 const std::vector<std::int64_t>& integer) {
  file_.write_vector("/model/floating", floating);
  file_.write_vector("/model/integer", integer);
  file_.flush();
}

void TrainRecorder::finish() {
  file_.set_attribute("/", "status", std::string("completed"));
  file_.set_attribute("/", "finished_utc", utc_now());
  file_.flush();
}

}  // namespace pipar
