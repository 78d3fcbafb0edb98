// Exception types shared by every pipar component.
#pragma once

#include <stdexcept>
#include <string>

namespace pipar {

// Input that the user can fix: an option value, a missing or malformed data
// file, an output path that cannot be written. The message names the value
// and the fix. The program exits with status 2 on it.
class InputError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A failed MPI call. The message names the call, the rank and the text of
// MPI_Error_string.
class MpiError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A broken protocol invariant between ranks, such as a message that matches
// no outstanding micro-batch. It indicates a bug, not bad input.
class ProtocolError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// An error that one rank has already printed. Every rank that catches it
// exits with exit_code() and prints nothing more, so the user sees the
// message once however many ranks run.
class ReportedError : public std::runtime_error {
 public:
  explicit ReportedError(int exit_code)
      : std::runtime_error("error reported by one rank"), exit_code_(exit_code) {}
  int exit_code() const { return exit_code_; }

 private:
  int exit_code_;
};

}  // namespace pipar
