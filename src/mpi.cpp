// MPI environment, communicator owners and error translation.
#include "pipar/mpi.hpp"

#include <algorithm>
#include <chrono>
#include <thread>
#include <utility>

#include "pipar/error.hpp"

namespace pipar::mpi {

int world_rank() {
  int initialized = 0;
  int finalized = 0;
  MPI_Initialized(&initialized);
  MPI_Finalized(&finalized);
  if (!initialized || finalized) return -1;
  int rank = -1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  return rank;
}

void check(int code, const char* call) {
  if (code == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING] = {};
  int length = 0;
  if (MPI_Error_string(code, text, &length) != MPI_SUCCESS) {
    length = 0;
  }
  throw MpiError(std::string(call) + " failed on rank " + std::to_string(world_rank()) + ": " +
                 std::string(text, static_cast<std::size_t>(length)) + " (error code " +
                 std::to_string(code) + ")");
}

Environment::Environment(int& argc, char**& argv, int required_level) {
  check(MPI_Init_thread(&argc, &argv, required_level, &provided_level_), "MPI_Init_thread");
  check(MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN), "MPI_Comm_set_errhandler");
  if (provided_level_ < required_level) {
    throw MpiError("MPI_Init_thread provided thread level " + std::to_string(provided_level_) +
                   " but pipar needs MPI_THREAD_MULTIPLE (" + std::to_string(required_level) +
                   ") for its progress thread; use an MPI library built with thread support, "
                   "such as Debian's Open MPI 4.1");
  }
}

Environment::~Environment() {
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (!finalized) MPI_Finalize();
}

Communicator::Communicator(MPI_Comm comm) : comm_(comm) {
  check(MPI_Comm_set_errhandler(comm_, MPI_ERRORS_RETURN), "MPI_Comm_set_errhandler");
  check(MPI_Comm_rank(comm_, &rank_), "MPI_Comm_rank");
  check(MPI_Comm_size(comm_, &size_), "MPI_Comm_size");
}

Communicator Communicator::duplicate(MPI_Comm comm) {
  MPI_Comm copy = MPI_COMM_NULL;
  check(MPI_Comm_dup(comm, &copy), "MPI_Comm_dup");
  return Communicator(copy);
}

Communicator::~Communicator() {
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (comm_ != MPI_COMM_NULL && !finalized) MPI_Comm_free(&comm_);
}

Communicator::Communicator(Communicator&& other) noexcept
    : comm_(std::exchange(other.comm_, MPI_COMM_NULL)),
      rank_(std::exchange(other.rank_, -1)),
      size_(std::exchange(other.size_, 0)) {}

Communicator& Communicator::operator=(Communicator&& other) noexcept {
  if (this != &other) {
    Communicator discarded(std::move(*this));
    comm_ = std::exchange(other.comm_, MPI_COMM_NULL);
    rank_ = std::exchange(other.rank_, -1);
    size_ = std::exchange(other.size_, 0);
  }
  return *this;
}

Communicator Communicator::split_shared() const {
  MPI_Comm node = MPI_COMM_NULL;
  check(MPI_Comm_split_type(comm_, MPI_COMM_TYPE_SHARED, rank_, MPI_INFO_NULL, &node),
        "MPI_Comm_split_type");
  return Communicator(node);
}

Communicator Communicator::split(int color, int key) const {
  MPI_Comm part = MPI_COMM_NULL;
  check(MPI_Comm_split(comm_, color, key, &part), "MPI_Comm_split");
  if (part == MPI_COMM_NULL) return Communicator();
  return Communicator(part);
}

void Communicator::barrier() const { check(MPI_Barrier(comm_), "MPI_Barrier"); }

void Communicator::barrier_sleeping(int max_sleep_us) const {
  MPI_Request request = MPI_REQUEST_NULL;
  check(MPI_Ibarrier(comm_, &request), "MPI_Ibarrier");
  int sleep_us = 1;
  while (true) {
    int done = 0;
    check(MPI_Test(&request, &done, MPI_STATUS_IGNORE), "MPI_Test");
    if (done) return;
    std::this_thread::sleep_for(std::chrono::microseconds(sleep_us));
    sleep_us = std::min(2 * sleep_us, max_sleep_us);
  }
}

int Communicator::lowest_failed_rank(bool failed) const {
  int candidate = failed ? rank_ : size_;
  int lowest = size_;
  check(MPI_Allreduce(&candidate, &lowest, 1, MPI_INT, MPI_MIN, comm_), "MPI_Allreduce");
  return lowest == size_ ? -1 : lowest;
}

std::string Communicator::broadcast(const std::string& value, int root) const {
  long long length = static_cast<long long>(value.size());
  check(MPI_Bcast(&length, 1, MPI_LONG_LONG, root, comm_), "MPI_Bcast");
  std::string result = rank_ == root ? value : std::string(static_cast<std::size_t>(length), '\0');
  check(MPI_Bcast(result.data(), static_cast<int>(length), MPI_CHAR, root, comm_), "MPI_Bcast");
  return result;
}

std::vector<std::string> Communicator::all_gather(const std::string& value) const {
  int length = static_cast<int>(value.size());
  std::vector<int> lengths(static_cast<std::size_t>(size_));
  check(MPI_Allgather(&length, 1, MPI_INT, lengths.data(), 1, MPI_INT, comm_), "MPI_Allgather");

  std::vector<int> offsets(lengths.size(), 0);
  for (std::size_t i = 1; i < lengths.size(); ++i) offsets[i] = offsets[i - 1] + lengths[i - 1];
  std::string joined(static_cast<std::size_t>(offsets.back() + lengths.back()), '\0');
  check(MPI_Allgatherv(value.data(), length, MPI_CHAR, joined.data(), lengths.data(),
                       offsets.data(), MPI_CHAR, comm_),
        "MPI_Allgatherv");

  std::vector<std::string> values;
  values.reserve(lengths.size());
  for (std::size_t i = 0; i < lengths.size(); ++i) {
    values.push_back(joined.substr(static_cast<std::size_t>(offsets[i]),
                                   static_cast<std::size_t>(lengths[i])));
  }
  return values;
}

std::string library_version() {
  char text[MPI_MAX_LIBRARY_VERSION_STRING] = {};
  int length = 0;
  check(MPI_Get_library_version(text, &length), "MPI_Get_library_version");
  std::string version(text, static_cast<std::size_t>(length));
  std::replace(version.begin(), version.end(), '\n', ' ');
  while (!version.empty() && (version.back() == ' ' || version.back() == '\0')) version.pop_back();
  return version;
}

std::string processor_name() {
  char name[MPI_MAX_PROCESSOR_NAME] = {};
  int length = 0;
  check(MPI_Get_processor_name(name, &length), "MPI_Get_processor_name");
  return std::string(name, static_cast<std::size_t>(length));
}

}  // namespace pipar::mpi
