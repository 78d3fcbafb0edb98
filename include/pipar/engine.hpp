// `pipar train`: one training run across the ranks of a communicator.
#pragma once

#include "pipar/mpi.hpp"
#include "pipar/options.hpp"
#include "pipar/run_info.hpp"

namespace pipar {

// Trains with options.scheme: rank 0 of `world` is the server and ranks
// 1..K are the clients. Rank 0 writes options.output and logs one line per
// round. Collective over `world`. Input errors, whether seen on every rank
// (an invalid cut point) or on one (a missing data file, an output path that
// cannot be written), are printed once and then thrown as ReportedError on
// every rank. Any other exception means the ranks may be out of step, so the
// caller must call MPI_Abort.
void run_train(const TrainOptions& options, const mpi::Communicator& world, const RunInfo& run);

}  // namespace pipar
