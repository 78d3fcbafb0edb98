#!/usr/bin/env bash
# Installs and builds what is missing, then runs the whole test suite with
# CTest: unit tests, MPI tests on 2 and 3 ranks, short training runs and the
# bad-input cases.
set -euo pipefail
source_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build_dir=${PIPAR_BUILD_DIR:-$source_dir/build}

"$source_dir/scripts/build.sh"
source "$source_dir/scripts/mpi-env.sh"
ctest --test-dir "$build_dir" --output-on-failure --timeout 900 "$@"
