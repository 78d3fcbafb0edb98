// Facts about a run that make its results traceable: versions, commit,
// command line, hosts and thread counts.
#pragma once

#include <string>
#include <vector>

#include "pipar/mpi.hpp"

namespace pipar {

const char* pipar_version();
// `git describe --always --dirty` of the source tree at configure time.
const char* git_commit();

struct RunInfo {
  std::string command_line;
  std::string started_utc;  // ISO 8601, for example 2026-12-04T22:30:00Z
  std::string mpi_library;
  int world_size = 0;
  std::vector<std::string> hostnames;  // indexed by world rank
};

// Collects RunInfo on every rank. Collective over `world`.
RunInfo collect_run_info(const mpi::Communicator& world, int argc, char** argv);

// Joins argv into one shell-quoted line.
std::string join_command_line(int argc, char** argv);

// Returns the default LibTorch intra-op thread count for this rank: the
// node's cores divided among the ranks on the node, at least 1 and at most
// the CPUs this process may run on. Collective over `world`.
int default_threads_per_rank(const mpi::Communicator& world);

}  // namespace pipar
