#!/usr/bin/env bash
# Runs the figure sweeps of bench/ and renders their figures: the reference
# results in results/ come from this script.
#
# Usage: bench/reference-results.sh [OUTPUT_FOLDER] [SWEEP...]
# Defaults: results/ and every bench/fig*.toml. Each sweep writes
# OUTPUT_FOLDER/<sweep name>.h5 and its PNGs into OUTPUT_FOLDER/<sweep name>/.
# A sweep whose file is already complete is skipped by pipar sweep itself,
# and a killed run resumes where it stopped.
set -euo pipefail
source_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build_dir=${PIPAR_BUILD_DIR:-$source_dir/build}
output=${1:-$source_dir/results}
shift || true
sweeps=("$@")
((${#sweeps[@]} > 0)) || sweeps=("$source_dir"/bench/fig*.toml)

"$source_dir/scripts/build.sh" pipar >&2
source "$source_dir/scripts/mpi-env.sh"
mkdir -p "$output"

for sweep in "${sweeps[@]}"; do
  name=$(basename "$sweep" .toml)
  # The dry run prints the rank count the sweep needs.
  ranks=$("$build_dir/pipar" sweep "$sweep" --dry-run 2>&1 |
    sed -n 's/.*the sweep needs \([0-9]*\) MPI ranks.*/\1/p')
  echo "# $name: $ranks ranks, load before: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
  mpirun -n "$ranks" "$build_dir/pipar" sweep "$sweep" --output "$output/$name.h5" \
    > "$output/$name.txt"
  echo "# $name: done, load after: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
  /usr/bin/python3 "$source_dir/bench/plot_results.py" "$output/$name.h5" --out-dir "$output/$name"
done
