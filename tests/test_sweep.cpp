// Sweep files, point summaries and the sweep results file, without MPI ranks.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "pipar/error.hpp"
#include "pipar/results.hpp"
#include "pipar/slurm.hpp"
#include "pipar/sweep_file.hpp"
#include "pipar/sweep_results.hpp"

namespace {

using pipar::InputError;
using pipar::parse_sweep;
using pipar::SweepDefinition;

// Returns the message of the InputError that `parse` throws, or "" if none.
template <typename Parse>
std::string input_error(Parse&& parse) {
  try {
    parse();
  } catch (const InputError& error) {
    return error.what();
  }
  return "";
}

const char* const kGrid = R"(
[sweep]
name = "grid"
repetitions = 3
warmup-rounds = 1

[base]
rounds = 2
uplink-mbps = [10, 5]

[grid]
scheme = ["sfl", "pipar"]
micro-batches = [1, 4]
cut = [1, 2]
)";

TEST(SweepFile, GridExpandsLastKeyFastest) {
  const SweepDefinition sweep = parse_sweep(kGrid, "grid.toml", 2, {});
  // Axes iterate by key: cut, micro-batches, scheme. SFL ignores
  // micro-batches, so its second micro-batches value duplicates the first.
  ASSERT_EQ(sweep.points.size(), 6u);
  EXPECT_EQ(sweep.duplicates, 2);
  EXPECT_EQ(sweep.points[0].label, "cut=1 scheme=sfl");
  EXPECT_EQ(sweep.points[1].label, "cut=1 micro-batches=1 scheme=pipar");
  EXPECT_EQ(sweep.points[2].label, "cut=1 micro-batches=4 scheme=pipar");
  EXPECT_EQ(sweep.points[3].label, "cut=2 scheme=sfl");
  for (std::size_t i = 0; i < sweep.points.size(); ++i) {
    EXPECT_EQ(sweep.points[i].index, static_cast<int>(i));
  }
}

TEST(SweepFile, PointOptionsParsedByTrainOptions) {
  const SweepDefinition sweep = parse_sweep(kGrid, "grid.toml", 2, {});
  const pipar::SweepPoint& point = sweep.points[2];
  EXPECT_EQ(point.options.scheme, "pipar");
  EXPECT_EQ(point.options.cut, 1);
  EXPECT_EQ(point.options.micro_batches, 4);
  EXPECT_EQ(point.options.uplink_mbps, (std::vector<double>{10.0, 5.0}));
  EXPECT_EQ(point.clients, 2);
  EXPECT_EQ(point.measured_rounds, 2);
  EXPECT_EQ(point.options.rounds, 3);  // the warm-up round comes first
  EXPECT_EQ(sweep.repetitions, 3);
  EXPECT_EQ(sweep.warmup_rounds, 1);
  EXPECT_EQ(sweep.name, "grid");
}

TEST(SweepFile, KeysDifferForEveryPoint) {
  const SweepDefinition sweep = parse_sweep(kGrid, "grid.toml", 2, {});
  for (std::size_t i = 0; i < sweep.points.size(); ++i) {
    for (std::size_t j = i + 1; j < sweep.points.size(); ++j) {
      EXPECT_NE(sweep.points[i].key, sweep.points[j].key) << i << " and " << j;
    }
  }
  EXPECT_EQ(sweep.points[0].key, "clients=2 cut=1 rounds=2 scheme=sfl uplink-mbps=10,5");
}

TEST(SweepFile, OverridesWinOverFileValues) {
  const char* text = "[base]\nthreads = 4\n";
  const SweepDefinition sweep = parse_sweep(text, "s.toml", 3, {"--threads=1"});
  ASSERT_EQ(sweep.points.size(), 1u);
  EXPECT_EQ(sweep.points[0].options.threads, 1);
  EXPECT_NE(sweep.points[0].key.find("threads=1"), std::string::npos);
}

TEST(SweepFile, ClientsAxisSetsRanks) {
  const char* text = "[grid]\nclients = [1, 3]\n";
  const SweepDefinition sweep = parse_sweep(text, "s.toml", 8, {});
  ASSERT_EQ(sweep.points.size(), 2u);
  EXPECT_EQ(sweep.points[0].clients, 1);
  EXPECT_EQ(sweep.points[1].clients, 3);
}

TEST(SweepFile, NameDefaultsToFileStem) {
  const SweepDefinition sweep = parse_sweep("", "bench/round-time-vs-n.toml", 4, {});
  EXPECT_EQ(sweep.name, "round-time-vs-n");
  EXPECT_EQ(sweep.points.size(), 1u);
}

TEST(SweepFile, RelativeTraceResolvedNextToFile) {
  const char* text = "[base]\nbandwidth-trace = \"traces/halving.csv\"\ndata-dir = \"/data\"\n";
  const SweepDefinition sweep = parse_sweep(text, "bench/fig.toml", 4, {});
  EXPECT_EQ(sweep.points[0].options.bandwidth_trace, "bench/traces/halving.csv");
  EXPECT_EQ(sweep.points[0].options.data_dir, "/data");
}

TEST(SweepFile, UnknownKeyNamesLineAndChoices) {
  const std::string message =
      input_error([] { parse_sweep("[grid]\n\nmicro-batch = [1, 2]\n", "s.toml", 4, {}); });
  EXPECT_NE(message.find("s.toml:3"), std::string::npos) << message;
  EXPECT_NE(message.find("unknown key 'micro-batch'"), std::string::npos) << message;
  EXPECT_NE(message.find("micro-batches"), std::string::npos) << message;
}

TEST(SweepFile, ManagedOptionRejected) {
  const std::string message =
      input_error([] { parse_sweep("[base]\noutput = \"x.h5\"\n", "s.toml", 4, {}); });
  EXPECT_NE(message.find("'output' cannot be set in a sweep file"), std::string::npos) << message;
}

TEST(SweepFile, SyntaxErrorNamesLine) {
  const std::string message =
      input_error([] { parse_sweep("[base]\nrounds = 2\ncut = [1,\n", "s.toml", 4, {}); });
  EXPECT_NE(message.find("s.toml:"), std::string::npos) << message;
  EXPECT_NE(message.find("invalid TOML"), std::string::npos) << message;
}

TEST(SweepFile, RejectedValueNamesPoint) {
  const std::string message =
      input_error([] { parse_sweep("[grid]\nscheme = [\"pipar\", \"ring\"]\n", "s.toml", 4, {}); });
  EXPECT_NE(message.find("scheme=ring"), std::string::npos) << message;
  EXPECT_NE(message.find("--scheme"), std::string::npos) << message;
}

TEST(SweepFile, EmptyGridAxisRejected) {
  const std::string message = input_error([] { parse_sweep("[grid]\ncut = []\n", "s.toml", 4, {}); });
  EXPECT_NE(message.find("non-empty array"), std::string::npos) << message;
}

TEST(SweepFile, UnknownTableRejected) {
  const std::string message = input_error([] { parse_sweep("[grids]\ncut = [1]\n", "s.toml", 4, {}); });
  EXPECT_NE(message.find("unexpected 'grids'"), std::string::npos) << message;
}

TEST(SweepFile, RepetitionsBelowOneRejected) {
  const std::string message =
      input_error([] { parse_sweep("[sweep]\nrepetitions = 0\n", "s.toml", 4, {}); });
  EXPECT_NE(message.find("repetitions"), std::string::npos) << message;
  EXPECT_NE(message.find("at least 1"), std::string::npos) << message;
}

TEST(Median, OddAndEvenCounts) {
  EXPECT_DOUBLE_EQ(pipar::median({3.0, 1.0, 2.0}), 2.0);
  EXPECT_DOUBLE_EQ(pipar::median({4.0, 1.0, 3.0, 2.0}), 2.5);
  EXPECT_THROW(pipar::median({}), std::invalid_argument);
}

// A round of a run with two clients: idle columns are server, client 1,
// client 2, uplink 1, uplink 2, downlink 1, downlink 2.
pipar::RoundRecord make_round(int round, double wall_time, double accuracy) {
  pipar::RoundRecord record;
  record.round = round;
  record.wall_time_s = wall_time;
  record.lower_bound_s = wall_time / 2.0;
  record.efficiency = 0.5;
  record.test_accuracy = accuracy;
  record.idle_s = {1.0, 2.0, 4.0, 10.0, 20.0, 100.0, 300.0};
  record.busy_s = std::vector<double>(7, 0.0);
  record.bytes_up = {100, 300};
  record.bytes_down = {10, 30};
  return record;
}

double summary_value(const pipar::PointSummary& summary, const std::string& name) {
  for (std::size_t i = 0; i < summary.names.size(); ++i) {
    if (summary.names[i] == name) return summary.values[i];
  }
  ADD_FAILURE() << "no summary column " << name;
  return 0.0;
}

TEST(PointSummary, WarmupExcludedAndStatisticsOverRepetitions) {
  // Repetition means of the measured rounds: 2, 4 and 9 s; the warm-up
  // round (100 s) must not count.
  const std::vector<std::vector<pipar::RoundRecord>> repetitions{
      {make_round(0, 100.0, 0.1), make_round(1, 1.0, 0.5), make_round(2, 3.0, 0.6)},
      {make_round(0, 100.0, 0.1), make_round(1, 4.0, 0.5), make_round(2, 4.0, 0.7)},
      {make_round(0, 100.0, 0.1), make_round(1, 8.0, 0.5), make_round(2, 10.0, 0.8)},
  };
  const pipar::PointSummary summary = pipar::summarize_point(repetitions, 1, 2);
  ASSERT_EQ(summary.names.size(), summary.values.size());
  EXPECT_DOUBLE_EQ(summary_value(summary, "round_time_median_s"), 4.0);
  EXPECT_DOUBLE_EQ(summary_value(summary, "round_time_min_s"), 2.0);
  EXPECT_DOUBLE_EQ(summary_value(summary, "round_time_max_s"), 9.0);
  EXPECT_DOUBLE_EQ(summary_value(summary, "lower_bound_median_s"), 2.0);
  EXPECT_DOUBLE_EQ(summary_value(summary, "test_accuracy_median"), 0.7);  // final rounds
  EXPECT_DOUBLE_EQ(summary_value(summary, "server_idle_median_s"), 1.0);
  EXPECT_DOUBLE_EQ(summary_value(summary, "client_idle_median_s"), 3.0);
  EXPECT_DOUBLE_EQ(summary_value(summary, "uplink_idle_median_s"), 15.0);
  EXPECT_DOUBLE_EQ(summary_value(summary, "downlink_idle_median_s"), 200.0);
  EXPECT_DOUBLE_EQ(summary_value(summary, "bytes_up_median"), 200.0);
  EXPECT_DOUBLE_EQ(summary_value(summary, "bytes_down_median"), 20.0);
}

TEST(PointSummary, NoMeasuredRoundRejected) {
  const std::vector<std::vector<pipar::RoundRecord>> repetitions{{make_round(0, 1.0, 0.5)}};
  EXPECT_THROW(pipar::summarize_point(repetitions, 1, 2), std::invalid_argument);
}

class SweepResultsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    folder_ = std::filesystem::temp_directory_path() /
              ("pipar-sweep-test-" + std::to_string(::getpid()) + "-" +
               ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(folder_);
    path_ = (folder_ / "sweep.h5").string();
    invocation_.run.command_line = "pipar sweep grid.toml";
    invocation_.run.started_utc = "2026-12-05T00:00:00Z";
    invocation_.run.world_size = 3;
    invocation_.run.hostnames = {"a", "a", "a"};
  }
  void TearDown() override { std::filesystem::remove_all(folder_); }

  // A completed point of `sweep` with one repetition of two rounds.
  pipar::PointResult completed_point(const SweepDefinition& sweep, int index) {
    pipar::PointResult result;
    result.point = &sweep.points[static_cast<std::size_t>(index)];
    pipar::RecordedRun run;
    run.begin(pipar::RunStart{{1, 1, 1}, {{"libtorch_version", "1.13"}}, {"s", "c1", "c2", "u1", "u2", "d1", "d2"}});
    run.record_round(make_round(0, 5.0, 0.3));
    run.record_round(make_round(1, 4.0, 0.4));
    run.record_events(std::vector<double>(16, 1.0), 0.5);
    run.finish();
    result.repetitions.push_back(run);
    result.run = invocation_.run;
    return result;
  }

  std::filesystem::path folder_;
  std::string path_;
  pipar::SweepInvocation invocation_;
};

TEST_F(SweepResultsTest, ResumeSkipsStoredPoints) {
  const SweepDefinition sweep = parse_sweep(kGrid, "grid.toml", 2, {});
  {
    pipar::SweepResults results(path_, sweep, invocation_);
    EXPECT_TRUE(results.completed().empty());
    const pipar::PointResult point = completed_point(sweep, 2);
    results.write_point(point, pipar::summarize_point({point.repetitions[0].rounds()}, 1, 2));
  }
  EXPECT_FALSE(std::filesystem::exists(path_ + ".partial"));
  pipar::SweepResults resumed(path_, sweep, invocation_);
  EXPECT_EQ(resumed.completed(), (std::set<int>{2}));

  const pipar::ResultsFile file(path_, pipar::ResultsFile::Mode::kRead);
  EXPECT_EQ(file.list_groups("/invocations"), (std::vector<std::string>{"0000", "0001"}));
  EXPECT_EQ(file.list_groups("/points"), (std::vector<std::string>{"0002"}));
  EXPECT_EQ(file.read_string_attribute("/points/0002", "key"), sweep.points[2].key);
  EXPECT_EQ(file.read_string_attribute("/points/0002/options", "micro_batches"), "4");
  std::vector<std::size_t> shape;
  const std::vector<double> warmup = file.read_doubles("/points/0002/repetitions/00/rounds/warmup", &shape);
  EXPECT_EQ(warmup, (std::vector<double>{1.0, 0.0}));
  EXPECT_EQ(shape, (std::vector<std::size_t>{2, 1}));
  EXPECT_EQ(file.read_doubles("/points/0002/repetitions/00/events", &shape).size(), 16u);
  EXPECT_EQ(shape, (std::vector<std::size_t>{2, 8}));
  EXPECT_EQ(file.read_string_attribute("/", "status"), "running");
}

TEST_F(SweepResultsTest, FinishMarksCompletedOnlyWhenAllPointsStored) {
  const SweepDefinition sweep = parse_sweep("[grid]\ncut = [1, 2]\n", "two.toml", 2, {});
  pipar::SweepResults results(path_, sweep, invocation_);
  const pipar::PointResult first = completed_point(sweep, 0);
  const pipar::PointSummary summary = pipar::summarize_point({first.repetitions[0].rounds()}, 0, 2);
  results.write_point(first, summary);
  results.finish();
  EXPECT_EQ(pipar::ResultsFile(path_, pipar::ResultsFile::Mode::kRead).read_string_attribute("/", "status"),
            "running");
  results.write_point(completed_point(sweep, 1), summary);
  results.finish();
  EXPECT_EQ(pipar::ResultsFile(path_, pipar::ResultsFile::Mode::kRead).read_string_attribute("/", "status"),
            "completed");
}

TEST_F(SweepResultsTest, OtherSweepFileRejected) {
  const SweepDefinition sweep = parse_sweep(kGrid, "grid.toml", 2, {});
  { pipar::SweepResults results(path_, sweep, invocation_); }
  const SweepDefinition other = parse_sweep("[grid]\ncut = [1, 2]\n", "grid.toml", 2, {});
  const std::string message = input_error([&] { pipar::SweepResults(path_, other, invocation_); });
  EXPECT_NE(message.find("another sweep file"), std::string::npos) << message;
  EXPECT_NE(message.find("another --output"), std::string::npos) << message;
}

TEST_F(SweepResultsTest, OtherOverridesRejected) {
  const SweepDefinition sweep = parse_sweep(kGrid, "grid.toml", 2, {});
  { pipar::SweepResults results(path_, sweep, invocation_); }
  invocation_.overrides = "--threads=2";
  const std::string message = input_error([&] { pipar::SweepResults(path_, sweep, invocation_); });
  EXPECT_NE(message.find("--threads=2"), std::string::npos) << message;
}

TEST_F(SweepResultsTest, TrainFileRejected) {
  {
    pipar::ResultsFile train(path_, pipar::ResultsFile::Mode::kCreate);
    train.set_attribute("/", "program", std::string("pipar train"));
  }
  const SweepDefinition sweep = parse_sweep(kGrid, "grid.toml", 2, {});
  const std::string message = input_error([&] { pipar::SweepResults(path_, sweep, invocation_); });
  EXPECT_NE(message.find("not a pipar sweep file"), std::string::npos) << message;
}

TEST(CheckLauncher, SingletonUnderMultiTaskStepRejected) {
  pipar::SlurmInfo slurm;
  slurm.job_id = "7";
  slurm.step_tasks = "4";
  const std::string message = input_error([&] { pipar::check_launcher(slurm, 1, false); });
  EXPECT_NE(message.find("srun started 4 tasks"), std::string::npos) << message;
  EXPECT_NE(message.find("--mpi=pmix"), std::string::npos) << message;
}

TEST(CheckLauncher, StepWithoutPmixRejectedBeforeInit) {
  pipar::SlurmInfo slurm;
  slurm.step_tasks = "3";
  const std::string problem = pipar::pmix_problem_before_init(slurm, false, false);
  EXPECT_NE(problem.find("srun started 3 tasks"), std::string::npos) << problem;
  EXPECT_NE(problem.find("no PMIx server"), std::string::npos) << problem;
  EXPECT_EQ(pipar::pmix_problem_before_init(slurm, true, false), "");
  EXPECT_EQ(pipar::pmix_problem_before_init(slurm, false, true), "");
  slurm.step_tasks = "1";
  EXPECT_EQ(pipar::pmix_problem_before_init(slurm, false, false), "");
}

TEST(CheckLauncher, MatchingWorldAccepted) {
  pipar::SlurmInfo slurm;
  slurm.step_tasks = "4";
  EXPECT_NO_THROW(pipar::check_launcher(slurm, 4, false));
  slurm.step_tasks = "1";
  EXPECT_NO_THROW(pipar::check_launcher(slurm, 1, false));
  slurm.step_tasks = "";  // a batch script's shell, not an srun step
  EXPECT_NO_THROW(pipar::check_launcher(slurm, 1, false));
  slurm.step_tasks = "2";  // mpirun's daemons inside an allocation
  EXPECT_NO_THROW(pipar::check_launcher(slurm, 1, true));
}

}  // namespace
