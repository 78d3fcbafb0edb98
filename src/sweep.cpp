// `pipar sweep`: checks every point first, then runs the points that the
// results file does not hold yet, each on a communicator of its own size.
#include "pipar/sweep.hpp"

#include <CLI/CLI.hpp>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <iomanip>
#include <optional>
#include <set>
#include <sstream>

#include "pipar/agreement.hpp"
#include "pipar/engine.hpp"
#include "pipar/error.hpp"
#include "pipar/log.hpp"
#include "pipar/run_info.hpp"
#include "pipar/slurm.hpp"
#include "pipar/sweep_file.hpp"
#include "pipar/sweep_results.hpp"

namespace pipar {
namespace {

// Waiting ranks check the barrier at least every 20 ms: short next to a
// point, which takes seconds or more.
constexpr int kIdleBarrierSleepUs = 20000;

std::string read_text_file(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  if (!file) {
    throw InputError("cannot read sweep file " + path + ": not found or not readable; give the "
                     "path of a TOML sweep file such as bench/round-time-vs-n.toml");
  }
  std::ostringstream text;
  text << file.rdbuf();
  return text.str();
}

std::vector<std::string> override_arguments(const SweepOptions& options) {
  std::vector<std::string> arguments;
  if (options.threads > 0) arguments.push_back("--threads=" + std::to_string(options.threads));
  if (!options.data_dir.empty()) arguments.push_back("--data-dir=" + options.data_dir);
  return arguments;
}

std::string join(const std::vector<std::string>& values, const std::string& separator) {
  std::string text;
  for (std::size_t i = 0; i < values.size(); ++i) text += (i ? separator : "") + values[i];
  return text;
}

// Returns one message per point that cannot run with this world size, this
// model or these options; the same on every rank.
std::vector<std::string> invalid_points(const SweepDefinition& sweep, int world_size) {
  std::vector<std::string> messages;
  for (const SweepPoint& point : sweep.points) {
    const std::string prefix = "point " + std::to_string(point.index) + " (" + point.label + "): ";
    if (point.clients + 1 > world_size) {
      messages.push_back(prefix + "needs " + std::to_string(point.clients + 1) +
                         " MPI ranks (1 server and " + std::to_string(point.clients) +
                         " clients) but the job has " + std::to_string(world_size) +
                         "; start the sweep with mpirun -n " + std::to_string(point.clients + 1) +
                         " or more, or lower clients");
      continue;
    }
    try {
      validate_train_options(point.options, point.clients + 1);
      check_model_and_dataset(point.options);
    } catch (const InputError& error) {
      messages.push_back(prefix + error.what());
    }
  }
  return messages;
}

std::string output_path(const SweepOptions& options, const SweepDefinition& sweep) {
  if (!options.output.empty()) return options.output;
  if (!sweep.output.empty()) return sweep.output;
  return sweep.name + ".h5";
}

std::string format_value(double value) {
  std::ostringstream text;
  text << std::setprecision(6) << value;
  return text.str();
}

// Prints the point's summary to stdout as a table: a '#' line that names
// the point, then one row per quantity with its unit.
void print_table(const SweepPoint& point, int points, const SweepDefinition& sweep,
                 const PointSummary& summary) {
  struct Row {
    const char* label;
    const char* quantity;
    const char* unit;
  };
  static const Row rows[] = {
      {"round time", "round_time", "s"},
      {"lower bound", "lower_bound", "s"},
      {"efficiency", "efficiency", "bound / round time"},
      {"server idle", "server_idle", "s"},
      {"client idle (mean)", "client_idle", "s"},
      {"uplink idle (mean)", "uplink_idle", "s"},
      {"downlink idle (mean)", "downlink_idle", "s"},
      {"test accuracy (final)", "test_accuracy", "fraction"},
      {"bytes up per client", "bytes_up", "bytes per round"},
      {"bytes down per client", "bytes_down", "bytes per round"},
  };
  const auto value = [&summary](const std::string& prefix) {
    for (std::size_t i = 0; i < summary.names.size(); ++i) {
      if (summary.names[i].rfind(prefix, 0) == 0) return summary.values[i];
    }
    throw std::logic_error("summary has no column " + prefix);
  };
  std::ostringstream table;
  table << "# point " << point.index << " (points 0-" << points - 1 << "): " << point.label
        << " (clients: " << point.clients << ", repetitions: " << sweep.repetitions
        << ", measured rounds: " << point.measured_rounds
        << ", warm-up rounds: " << sweep.warmup_rounds << ")\n";
  table << "# " << std::left << std::setw(24) << "metric" << std::right << std::setw(12) << "median"
        << std::setw(12) << "min" << std::setw(12) << "max" << "  unit\n";
  for (const Row& row : rows) {
    const std::string quantity = row.quantity;
    table << "  " << std::left << std::setw(24) << row.label << std::right << std::setw(12)
          << format_value(value(quantity + "_median")) << std::setw(12)
          << format_value(value(quantity + "_min")) << std::setw(12)
          << format_value(value(quantity + "_max")) << "  " << row.unit << "\n";
  }
  std::fputs(table.str().c_str(), stdout);
  std::fflush(stdout);
}

// Runs the repetitions of `point` on world ranks 0..K; the other ranks wait.
// Returns whether every rank completed it; rank 0 also fills `result`.
bool run_point(const SweepPoint& point, int repetitions, const mpi::Communicator& world, int argc,
               char** argv, PointResult& result) {
  const bool member = world.rank() <= point.clients;
  const mpi::Communicator part = world.split(member ? 0 : MPI_UNDEFINED, world.rank());
  bool failed = false;
  if (member) {
    result.run = collect_run_info(part, argc, argv);
    result.started_utc = result.run.started_utc;
    try {
      for (int repetition = 0; repetition < repetitions; ++repetition) {
        RecordedRun recorded;
        run_train(point.options, part, result.run, world.rank() == 0 ? &recorded : nullptr);
        if (world.rank() == 0) result.repetitions.push_back(std::move(recorded));
      }
    } catch (const ReportedError&) {
      failed = true;  // already printed by the rank that saw it
    }
    result.finished_utc = utc_timestamp();
  }
  world.barrier_sleeping(kIdleBarrierSleepUs);
  return world.lowest_failed_rank(failed) < 0;
}

void log_plan(const SweepDefinition& sweep, const std::string& output, std::size_t done) {
  log::info("sweep ", sweep.name, ": ", sweep.points.size(), " points",
            sweep.duplicates > 0 ? " (" + std::to_string(sweep.duplicates) +
                                       " grid entries dropped as duplicates)"
                                 : std::string(),
            ", repetitions per point: ", sweep.repetitions, "; results in ", output,
            done > 0 ? ", " + std::to_string(done) + " points already there" : std::string());
}

}  // namespace

void add_sweep_options(CLI::App& app, SweepOptions& options) {
  app.add_option("sweep_file", options.sweep_file, "TOML sweep file (see docs/sweeps.md)")
      ->required();
  app.add_option("--output", options.output,
                 "HDF5 results file, written by rank 0; an existing file of the same sweep is "
                 "resumed [default: the sweep file's output, else <sweep name>.h5]");
  app.add_option("--threads", options.threads,
                 "LibTorch intra-op threads per rank for every point, overriding the sweep file "
                 "(0: not overridden)")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--data-dir", options.data_dir,
                 "Data folder for every point, overriding the sweep file");
  app.add_flag("--dry-run", options.dry_run, "Check and list the points, then stop");
  app.add_option("--log-level", options.log_level, "error, warning, info or debug")
      ->check(CLI::IsMember({"error", "warning", "info", "debug"}))
      ->capture_default_str();
}

void run_sweep(const SweepOptions& options, const mpi::Communicator& world, int argc, char** argv) {
  std::string text;
  run_and_agree(world, [&] {
    if (world.rank() == 0) text = read_text_file(options.sweep_file);
  });
  text = world.broadcast(text, 0);

  const std::vector<std::string> overrides = override_arguments(options);
  SweepDefinition sweep;
  run_same_on_every_rank(world, [&] {
    sweep = parse_sweep(text, options.sweep_file, world.size() - 1, overrides);
  });
  // A dry run lists the points without the ranks they need, and prints how
  // many that is.
  int ranks_needed = 2;
  for (const SweepPoint& point : sweep.points) ranks_needed = std::max(ranks_needed, point.clients + 1);
  const std::vector<std::string> problems =
      invalid_points(sweep, options.dry_run ? std::max(ranks_needed, world.size()) : world.size());
  if (!problems.empty()) {
    if (world.rank() == 0) {
      for (const std::string& problem : problems) log::error(problem);
      log::error(std::to_string(problems.size()) + " of " + std::to_string(sweep.points.size()) +
                 " points of " + options.sweep_file + " are invalid; nothing was run");
    }
    throw ReportedError(2);
  }

  const std::string output = output_path(options, sweep);
  if (options.dry_run) {
    if (world.rank() == 0) {
      log_plan(sweep, output, 0);
      log::info("the sweep needs ", ranks_needed, " MPI ranks: mpirun -n ", ranks_needed,
                " pipar sweep ", options.sweep_file);
      for (const SweepPoint& point : sweep.points) {
        std::printf("%d\t%s\t%s\n", point.index, point.label.c_str(), point.key.c_str());
      }
    }
    return;
  }

  const RunInfo run = collect_run_info(world, argc, argv);
  std::optional<SweepResults> results;
  std::string completed;
  run_and_agree(world, [&] {
    if (world.rank() != 0) return;
    SweepInvocation invocation{run, read_slurm_environment(), join(overrides, " ")};
    results.emplace(output, sweep, invocation);
    for (int index : results->completed()) completed += std::to_string(index) + " ";
  });
  completed = world.broadcast(completed, 0);
  std::set<int> done;
  std::istringstream indices(completed);
  for (int index = 0; indices >> index;) done.insert(index);
  if (world.rank() == 0) log_plan(sweep, output, done.size());

  for (const SweepPoint& point : sweep.points) {
    if (done.count(point.index) != 0) continue;
    if (world.rank() == 0) {
      log::info("point ", point.index, " (", done.size() + 1, " of ", sweep.points.size(),
                "): ", point.label);
    }
    PointResult result;
    result.point = &point;
    if (!run_point(point, sweep.repetitions, world, argc, argv, result)) {
      if (world.rank() == 0) {
        log::error("point ", point.index, " failed; the ", done.size(),
                   " points completed so far are in ", output, ", and rerunning resumes there");
      }
      throw ReportedError(2);
    }
    // Rank 0 alone writes, but every rank learns whether it could.
    run_and_agree(world, [&] {
      if (world.rank() != 0) return;
      std::vector<std::vector<RoundRecord>> rounds;
      for (const RecordedRun& repetition : result.repetitions) rounds.push_back(repetition.rounds());
      const int warmup_rounds = point.options.rounds - point.measured_rounds;
      const PointSummary summary = summarize_point(rounds, warmup_rounds, point.clients);
      results->write_point(result, summary);
      print_table(point, static_cast<int>(sweep.points.size()), sweep, summary);
    });
    done.insert(point.index);
  }
  run_and_agree(world, [&] {
    if (world.rank() != 0) return;
    results->finish();
    log::info("sweep ", sweep.name, " completed: ", sweep.points.size(), " points in ", output);
  });
}

}  // namespace pipar
