// The duration of a compute stage on an emulated device, shared by device
// emulation during training (run_timed) and by APS's profiles.
#pragma once

#include <algorithm>

namespace pipar {

// The wall time and the process CPU time of one timed stage.
struct StageRun {
  double wall_s = 0.0;
  double cpu_s = 0.0;
};

// Returns the duration of a stage on the device that `slowdown` emulates:
// the wall time without emulation (slowdown <= 1), otherwise `slowdown`
// times the CPU time per thread if that is longer than the wall time.
inline double emulated_seconds(const StageRun& run, double slowdown, int threads) {
  if (slowdown <= 1.0) return run.wall_s;
  return std::max(run.wall_s, slowdown * run.cpu_s / threads);
}

}  // namespace pipar
