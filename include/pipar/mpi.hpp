// Owners for the MPI environment and communicators, and the one place where
// MPI return codes become exceptions.
//
// Every communicator that pipar creates has MPI_ERRORS_RETURN set, so a
// failing call returns to check(), which throws pipar::MpiError naming the
// call, the rank and the text of MPI_Error_string.
#pragma once

#include <mpi.h>

#include <string>
#include <vector>

namespace pipar::mpi {

// Throws MpiError for any code other than MPI_SUCCESS. `call` names the MPI
// function, for example "MPI_Isend".
void check(int code, const char* call);

// Initialises MPI with MPI_Init_thread and finalizes it when destroyed.
// Construct exactly one, first thing in main, on every rank.
class Environment {
 public:
  // Throws MpiError when MPI provides a thread level below `required_level`.
  Environment(int& argc, char**& argv, int required_level);
  ~Environment();
  Environment(const Environment&) = delete;
  Environment& operator=(const Environment&) = delete;

  int provided_thread_level() const { return provided_level_; }

 private:
  int provided_level_ = MPI_THREAD_SINGLE;
};

// An owned communicator, freed with MPI_Comm_free when destroyed. Copying is
// disabled because two owners would free the handle twice.
class Communicator {
 public:
  // Duplicates `comm` (for example MPI_COMM_WORLD) so that pipar's messages
  // can never match messages of other code sharing the same communicator.
  static Communicator duplicate(MPI_Comm comm);

  Communicator() = default;
  ~Communicator();
  Communicator(Communicator&& other) noexcept;
  Communicator& operator=(Communicator&& other) noexcept;
  Communicator(const Communicator&) = delete;
  Communicator& operator=(const Communicator&) = delete;

  MPI_Comm get() const { return comm_; }
  int rank() const { return rank_; }
  int size() const { return size_; }

  // The ranks that share this rank's node (MPI_COMM_TYPE_SHARED).
  Communicator split_shared() const;

  // Splits by `color` (MPI_Comm_split), ordering each part by `key`. A rank
  // that passes MPI_UNDEFINED receives an empty communicator (is_null()).
  // Collective.
  Communicator split(int color, int key) const;
  bool is_null() const { return comm_ == MPI_COMM_NULL; }

  void barrier() const;
  // A barrier that sleeps between tests of an MPI_Ibarrier instead of
  // polling, so that ranks waiting here leave their cores to ranks that
  // compute. Each sleep is at most `max_sleep_us` microseconds. Collective.
  void barrier_sleeping(int max_sleep_us) const;

  // Returns the lowest rank on which `failed` is true, or -1 when no rank
  // failed. Collective: every rank must call it, so a failure seen on one
  // rank can stop all of them without a hang.
  int lowest_failed_rank(bool failed) const;

  // Broadcasts a string from `root` to every rank. Collective.
  std::string broadcast(const std::string& value, int root) const;

  // Gathers one string from every rank on every rank, in rank order. Collective.
  std::vector<std::string> all_gather(const std::string& value) const;

 private:
  explicit Communicator(MPI_Comm comm);

  MPI_Comm comm_ = MPI_COMM_NULL;
  int rank_ = -1;
  int size_ = 0;
};

// The text of MPI_Get_library_version, on one line.
std::string library_version();

// The name of the node this rank runs on (MPI_Get_processor_name).
std::string processor_name();

// The world rank of this process, or -1 before MPI_Init; for error messages.
int world_rank();

}  // namespace pipar::mpi
