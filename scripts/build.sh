#!/usr/bin/env bash
# Installs the missing Debian packages, then configures and builds pipar in
# build/ (or $PIPAR_BUILD_DIR). Re-running only rebuilds what changed.
# Arguments name the targets to build (default: all, tests included).
set -euo pipefail
source_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build_dir=${PIPAR_BUILD_DIR:-$source_dir/build}

"$source_dir/scripts/install-deps.sh"

generator=()
if command -v ninja >/dev/null 2>&1 && [[ ! -f "$build_dir/CMakeCache.txt" ]]; then
  generator=(-G Ninja)
fi
cmake -S "$source_dir" -B "$build_dir" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release >/dev/null
# Each LibTorch translation unit needs about 1 GiB of memory to compile.
targets=()
for target in "$@"; do targets+=(--target "$target"); done
cmake --build "$build_dir" --parallel "$(nproc)" "${targets[@]}"
