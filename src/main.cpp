// The `pipar` program: parses the subcommand's options, runs it, and turns
// errors into one message and a non-zero exit on every rank.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <cstdlib>
#include <exception>

#include "pipar/engine.hpp"
#include "pipar/error.hpp"
#include "pipar/export_command.hpp"
#include "pipar/log.hpp"
#include "pipar/models_command.hpp"
#include "pipar/mpi.hpp"
#include "pipar/options.hpp"
#include "pipar/run_info.hpp"
#include "pipar/slurm.hpp"
#include "pipar/sweep.hpp"

namespace {

// Parses the command line on every rank; only rank 0 prints help or a
// parse error. Returns -1 to go on, or the exit code.
int parse(CLI::App& app, int argc, char** argv, int rank) {
  try {
    app.parse(argc, argv);
    return -1;
  } catch (const CLI::ParseError& error) {
    if (rank == 0) return app.exit(error);
    return error.get_exit_code();
  }
}

}  // namespace

int main(int argc, char** argv) {
#if defined(OPEN_MPI)
  // Open MPI aborts in MPI_Init with a message about its build when srun
  // gives it no PMIx server, so pipar first prints what to change in the
  // launch. The tasks cannot reach each other, so only the step's first
  // task prints it.
  const pipar::SlurmInfo slurm = pipar::read_slurm_environment();
  const std::string problem = pipar::pmix_problem_before_init(
      slurm, std::getenv("PMIX_NAMESPACE") != nullptr, std::getenv("OMPI_COMM_WORLD_SIZE") != nullptr);
  if (!problem.empty()) {
    if (slurm.proc_id == "0" || slurm.proc_id.empty()) std::fprintf(stderr, "error: %s\n", problem.c_str());
    return 2;
  }
#endif
  pipar::mpi::Environment environment(argc, argv, MPI_THREAD_MULTIPLE);
  int exit_code = 0;
  try {
    pipar::mpi::Communicator world = pipar::mpi::Communicator::duplicate(MPI_COMM_WORLD);

    CLI::App app{"pipar: pipeline-parallel split learning (PiPar) and its baselines over MPI"};
    app.require_subcommand(1);
    pipar::TrainOptions train_options;
    CLI::App* train = app.add_subcommand(
        "train", "Train a split DNN: rank 0 is the server, ranks 1..K are the clients");
    pipar::add_train_options(*train, train_options);
    pipar::ModelsOptions models_options;
    CLI::App* models = app.add_subcommand(
        "models", "List a model's blocks with their size, output and FLOPs, to choose a cut point");
    pipar::add_models_options(*models, models_options);

    // `pipar aps` takes the options of `pipar train` with both parameters
    // automatic unless given, and stops once they are chosen.
    pipar::TrainOptions aps_options;
    aps_options.cut_auto = true;
    aps_options.micro_batches_auto = true;
    CLI::App* aps = app.add_subcommand(
        "aps", "Choose the cut point and micro-batch count of each client by profiling "
               "(automated parameter selection), print the best candidates and stop");
    pipar::add_train_options(*aps, aps_options);
    pipar::SweepOptions sweep_options;
    CLI::App* sweep = app.add_subcommand(
        "sweep", "Run every point of a TOML sweep file in this MPI job, into one HDF5 file "
                 "that a rerun resumes");
    pipar::add_sweep_options(*sweep, sweep_options);
    pipar::ExportOptions export_options;
    CLI::App* export_command = app.add_subcommand(
        "export", "Write the per-point summary of a sweep results file as CSV or JSON");
    pipar::add_export_options(*export_command, export_options);

    exit_code = parse(app, argc, argv, world.rank());
    if (exit_code >= 0) return exit_code;
    exit_code = 0;

    // srun with a PMI plugin that does not match the MPI library starts N
    // singletons, each rank 0 of its own world: stop them before they run.
    const char* mpirun_size = std::getenv("OMPI_COMM_WORLD_SIZE");
    pipar::check_launcher(pipar::read_slurm_environment(), world.size(), mpirun_size != nullptr);

    if (models->parsed() || export_command->parsed()) {
      if (world.rank() == 0 && models->parsed()) pipar::run_models(models_options);
      if (world.rank() == 0 && export_command->parsed()) pipar::run_export(export_options);
      return 0;
    }

    const std::string role = world.rank() == 0 ? "server" : "client";
    if (aps->parsed()) {
      aps_options.plan_only = true;
      if (aps_options.output == pipar::TrainOptions{}.output) aps_options.output = "pipar-aps.h5";
    }
    const std::string& log_level = sweep->parsed() ? sweep_options.log_level
                                   : aps->parsed() ? aps_options.log_level
                                                   : train_options.log_level;
    const auto level = pipar::log::parse_level(log_level);
    // Ranks other than 0 print info lines only when debug output is requested.
    const auto rank_level = world.rank() == 0 || level == pipar::log::Level::kDebug
                                ? level
                                : std::min(level, pipar::log::Level::kWarning);
    pipar::log::configure(world.rank(), role, rank_level);

    const pipar::RunInfo run = pipar::collect_run_info(world, argc, argv);
    if (train->parsed()) pipar::run_train(train_options, world, run);
    if (aps->parsed()) pipar::run_train(aps_options, world, run);
    if (sweep->parsed()) pipar::run_sweep(sweep_options, world, argc, argv);
  } catch (const pipar::ReportedError& error) {
    exit_code = error.exit_code();
  } catch (const pipar::InputError& error) {
    // Only steps that run on one rank without the others waiting for it,
    // such as `pipar export` and the launcher check, get here.
    pipar::log::error(error.what());
    exit_code = 2;
  } catch (const std::exception& error) {
    pipar::log::error(error.what());
    MPI_Abort(MPI_COMM_WORLD, 1);
  }
  return exit_code;
}
