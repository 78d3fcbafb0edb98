// A clock shared by all ranks: MPI_Wtime plus a per-rank offset to rank 0.
#pragma once

#include "pipar/mpi.hpp"

namespace pipar {

class Clock {
 public:
  Clock() = default;
  explicit Clock(double offset_s) : offset_s_(offset_s) {}
  // Seconds on rank 0's MPI_Wtime scale.
  double now() const { return MPI_Wtime() + offset_s_; }
  double offset_s() const { return offset_s_; }

 private:
  double offset_s_ = 0.0;
};

// Aligns every rank's clock with rank 0's. When the MPI library declares its
// clocks global (MPI_WTIME_IS_GLOBAL) the offset is 0. Otherwise each rank in
// turn exchanges `exchanges` timestamps with rank 0 and keeps the offset of
// the exchange with the shortest round trip (Cristian's method). The offset is
// accurate to half that round trip. Collective over `world`.
Clock synchronize_clock(const mpi::Communicator& world, int exchanges = 16);

}  // namespace pipar
