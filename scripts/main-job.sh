#!/usr/bin/env bash
# The main job: installs and builds pipar if needed, then trains VGG-5 on
# Fashion-MNIST with PiPar on one server and four clients (5 MPI ranks) and
# writes pipar-main.h5 in the current folder. Extra arguments are passed to
# `pipar train`, for example --rounds 5 or --output other.h5.
set -euo pipefail
source_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build_dir=${PIPAR_BUILD_DIR:-$source_dir/build}

"$source_dir/scripts/build.sh" pipar
source "$source_dir/scripts/mpi-env.sh"

start=$(date +%s)
mpirun -n 5 "$build_dir/pipar" train --scheme pipar --model vgg5 --dataset fashion-mnist \
  --rounds 2 --output pipar-main.h5 "$@"
echo "main job: training took $(($(date +%s) - start)) s; results in pipar-main.h5" >&2
