// `pipar train`: one training run across the ranks of a communicator.
#pragma once

#include "pipar/mpi.hpp"
#include "pipar/options.hpp"
#include "pipar/run_info.hpp"

namespace pipar {

class RunSink;

// Trains with options.scheme: rank 0 of `world` is the server and ranks
// 1..K are the clients. Rank 0 logs one line per round and hands the results
// to `sink`, or writes them to options.output when `sink` is null; other
// ranks ignore `sink`. Collective over `world`. Input errors, whether seen
// on every rank (an invalid cut point) or on one (a missing data file, an
// output path that cannot be written), are printed once and then thrown as
// ReportedError on every rank. Any other exception means the ranks may be
// out of step, so the caller must call MPI_Abort.
void run_train(const TrainOptions& options, const mpi::Communicator& world, const RunInfo& run,
               RunSink* sink = nullptr);

// Checks the options against the model and the data set: a known model and
// data set, and a cut point inside the model. Throws InputError. Local: no
// MPI communication.
void check_model_and_dataset(const TrainOptions& options);

}  // namespace pipar
