#!/usr/bin/env bash
# Trains with several schemes from the same seed and compares the results
# files with compare_results.py.
#
# Usage: run_equivalence.sh PYTHON TOLERANCE RANKS OUTPUT_PREFIX -- COMMON_ARGS... -- \
#            'SCHEME_ARGS' 'SCHEME_ARGS' ...
# The first SCHEME_ARGS run is the reference; each is one string of extra
# `pipar train` arguments. MPIEXEC and PIPAR name the launcher and program.
set -euo pipefail
python=$1 tolerance=$2 ranks=$3 prefix=$4
shift 4
[[ $1 == -- ]] && shift
common=()
while [[ $1 != -- ]]; do common+=("$1"); shift; done
shift

outputs=()
index=0
for variant in "$@"; do
  output="$prefix-$index.h5"
  # shellcheck disable=SC2086  # each variant is a list of arguments
  "$MPIEXEC" -n "$ranks" "$PIPAR" train "${common[@]}" $variant --output "$output"
  outputs+=("$output")
  index=$((index + 1))
done
"$python" "$(dirname "$0")/compare_results.py" "${outputs[@]}" --tolerance "$tolerance"
