// `pipar sweep`: every point of a sweep file's grid in one MPI job, with one
// results file that a rerun resumes.
#pragma once

#include <string>

#include "pipar/mpi.hpp"

namespace CLI {
class App;
}

namespace pipar {

struct SweepOptions {
  std::string sweep_file;
  std::string output;    // empty: the sweep file's [sweep] output, else <name>.h5
  int threads = 0;       // 0: not set, each point uses its own or the default
  std::string data_dir;  // empty: not set
  bool dry_run = false;
  std::string log_level = "info";
};

void add_sweep_options(CLI::App& app, SweepOptions& options);

// Runs the sweep. Collective over `world`: a point with K clients runs on
// world ranks 0..K while the other ranks wait without using their cores.
// Rank 0 writes the results file and prints a table per point. Input errors
// are printed once and thrown as ReportedError on every rank; points stored
// before the error stay in the file.
void run_sweep(const SweepOptions& options, const mpi::Communicator& world, int argc, char** argv);

}  // namespace pipar
