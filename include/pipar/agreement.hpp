// Helpers that stop every rank of a communicator together on an input error,
// so that the error is printed once and no rank hangs.
#pragma once

#include <string>

#include "pipar/error.hpp"
#include "pipar/log.hpp"
#include "pipar/mpi.hpp"

namespace pipar {

// Runs a check whose outcome is the same on every rank, such as an option
// against the model; rank 0 alone prints the error.
template <typename Check>
void run_same_on_every_rank(const mpi::Communicator& world, Check&& check) {
  try {
    check();
  } catch (const InputError& error) {
    if (world.rank() == 0) log::error(error.what());
    throw ReportedError(2);
  }
}

// Runs a step whose outcome may differ between ranks, such as reading a
// file; the lowest failing rank prints its error and every rank stops.
template <typename Step>
void run_and_agree(const mpi::Communicator& world, Step&& step) {
  std::string message;
  bool failed = false;
  try {
    step();
  } catch (const InputError& error) {
    failed = true;
    message = error.what();
  }
  const int lowest = world.lowest_failed_rank(failed);
  if (lowest < 0) return;
  if (world.rank() == lowest) log::error(message);
  throw ReportedError(2);
}

}  // namespace pipar
