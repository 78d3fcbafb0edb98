// Clock alignment between ranks.
#include "pipar/clock.hpp"

#include <limits>

namespace pipar {
namespace {

constexpr int kClockTag = 201;

bool wtime_is_global(MPI_Comm comm) {
  int* value = nullptr;
  int found = 0;
  mpi::check(MPI_Comm_get_attr(comm, MPI_WTIME_IS_GLOBAL, &value, &found), "MPI_Comm_get_attr");
  return found && value != nullptr && *value != 0;
}

}  // namespace

Clock synchronize_clock(const mpi::Communicator& world, int exchanges) {
  if (wtime_is_global(world.get())) return Clock(0.0);

  double offset = 0.0;
  for (int peer = 1; peer < world.size(); ++peer) {
    if (world.rank() == 0) {
      for (int i = 0; i < exchanges; ++i) {
        double request = 0.0;
        mpi::check(MPI_Recv(&request, 1, MPI_DOUBLE, peer, kClockTag, world.get(), MPI_STATUS_IGNORE),
                   "MPI_Recv");
        const double reference = MPI_Wtime();
        mpi::check(MPI_Send(&reference, 1, MPI_DOUBLE, peer, kClockTag, world.get()), "MPI_Send");
      }
    } else if (world.rank() == peer) {
      double best_round_trip = std::numeric_limits<double>::infinity();
      for (int i = 0; i < exchanges; ++i) {
        const double sent = MPI_Wtime();
        mpi::check(MPI_Send(&sent, 1, MPI_DOUBLE, 0, kClockTag, world.get()), "MPI_Send");
        double reference = 0.0;
        mpi::check(MPI_Recv(&reference, 1, MPI_DOUBLE, 0, kClockTag, world.get(), MPI_STATUS_IGNORE),
                   "MPI_Recv");
        const double received = MPI_Wtime();
        if (received - sent < best_round_trip) {
          best_round_trip = received - sent;
          offset = reference - (sent + received) / 2.0;
        }
      }
    }
  }
  return Clock(offset);
}

}  // namespace pipar
