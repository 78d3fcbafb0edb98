#!/usr/bin/env bash
# Trains VGG-5 on Fashion-MNIST with each scheme (FL, SL, SFL, PiPar) on one
# server and four clients for the same number of rounds, from the same seed,
# and prints a table of final test accuracy and mean round time per scheme.
#
# Usage: bench/compare_schemes.sh [ROUNDS] [OUTPUT_FOLDER]
# Defaults: 2 rounds, results in bench-out/schemes. Extra settings come from
# PIPAR_ARGS, e.g. PIPAR_ARGS="--samples-per-client 3000" for a short run.
set -euo pipefail
source_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build_dir=${PIPAR_BUILD_DIR:-$source_dir/build}
rounds=${1:-2}
output=${2:-bench-out/schemes}

"$source_dir/scripts/build.sh" pipar >&2
source "$source_dir/scripts/mpi-env.sh"
mkdir -p "$output"

for scheme in fl sl sfl pipar; do
  echo "# training with --scheme $scheme" >&2
  # shellcheck disable=SC2086  # PIPAR_ARGS is a list of arguments
  mpirun -n 5 "$build_dir/pipar" train --scheme "$scheme" --rounds "$rounds" --seed 1 \
    --output "$output/$scheme.h5" ${PIPAR_ARGS:-} >&2
done

/usr/bin/python3 - "$output" <<'PYTHON'
import sys
import h5py

folder = sys.argv[1]
print("# VGG-5 / Fashion-MNIST, 4 clients, same seed; times on this machine")
print(f"# {'scheme':<7} {'rounds':>6} {'final test accuracy (%)':>24} {'mean round time (s)':>20}")
for scheme in ["fl", "sl", "sfl", "pipar"]:
    with h5py.File(f"{folder}/{scheme}.h5", "r") as results:
        accuracy = 100.0 * results["rounds/test_accuracy"][-1, 0]
        round_time = results["rounds/wall_time_s"][:, 0].mean()
        rounds = results["rounds/round"].shape[0]
    print(f"  {scheme:<7} {rounds:>6} {accuracy:>24.2f} {round_time:>20.1f}")
PYTHON
