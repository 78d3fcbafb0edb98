// Collection of the run metadata stored with every results file.
#include "pipar/run_info.hpp"

#include <sched.h>

#include <algorithm>
#include <ctime>
#include <thread>

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

std::string shell_quote(const std::string& word) {
  const bool plain = !word.empty() && word.find_first_not_of(
                                          "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                          "0123456789-_./=:,+@%") == std::string::npos;
  if (plain) return word;
  std::string quoted = "'";
  for (char c : word) {
    if (c == '\'') {
      quoted += "'\\''";
    } else {
      quoted += c;
    }
  }
  return quoted + "'";
}

}  // namespace

std::string join_command_line(int argc, char** argv) {
  std::string line;
  for (int i = 0; i < argc; ++i) {
    if (i > 0) line += ' ';
    line += shell_quote(argv[i]);
  }
  return line;
}

RunInfo collect_run_info(const mpi::Communicator& world, int argc, char** argv) {
  RunInfo info;
  info.command_line = join_command_line(argc, argv);
  info.started_utc = world.broadcast(utc_now(), 0);
  info.mpi_library = mpi::library_version();
  info.world_size = world.size();
  info.hostnames = world.all_gather(mpi::processor_name());
  return info;
}

int default_threads_per_rank(const mpi::Communicator& world) {
  mpi::Communicator node = world.split_shared();
  const int node_cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  int threads = std::max(1, node_cores / node.size());

  // A launcher may bind the rank to fewer CPUs than the node has (Slurm's
  // --cpus-per-task, mpirun's --bind-to core); more threads than that thrash.
  cpu_set_t allowed;
  CPU_ZERO(&allowed);
  if (sched_getaffinity(0, sizeof(allowed), &allowed) == 0) {
    threads = std::min(threads, std::max(1, CPU_COUNT(&allowed)));
  }
  return threads;
}

}  // namespace pipar
