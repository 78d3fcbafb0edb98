#!/usr/bin/env bash
# PiPar against SFL on an emulated edge, and pipar's own overheads.
#
# 1. VGG-5 / Fashion-MNIST, 4 clients, uplink 10 Mbit/s, downlink 25 Mbit/s,
#    clients 20 times slower than this machine: SFL and PiPar with several
#    micro-batch counts N, one after the other in this run. Prints each round
#    time, PiPar's speedup over SFL and the efficiency against the lower bound.
# 2. Transport overhead: ping-pong bandwidth of the Transport against plain
#    MPI at the same message sizes (pipar_transport_bench, 2 ranks).
# 3. Compute overhead: the engine's compute per batch (SFL, 1 client, from
#    its events) against a plain single-process LibTorch loop on the same
#    model and batch size (pipar_compute_bench), both with 1 thread and as
#    the median of 30 batches after 5 warm-up batches. The engine runs with
#    the default progress-thread poll interval and with a 2 ms one.
#
# Usage: bench/edge_benchmark.sh [SAMPLES_PER_CLIENT] [OUTPUT_FOLDER]
# Defaults: 1000 samples per client (10 batches), bench-out/edge.
set -euo pipefail
source_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build_dir=${PIPAR_BUILD_DIR:-$source_dir/build}
samples=${1:-1000}
output=${2:-bench-out/edge}

"$source_dir/scripts/build.sh" pipar pipar_transport_bench pipar_compute_bench >&2
source "$source_dir/scripts/mpi-env.sh"
mkdir -p "$output"

edge=(--uplink-mbps 10 --downlink-mbps 25 --client-slowdown 20 --cut 2 --rounds 1
      --samples-per-client "$samples" --test-samples 1000 --seed 1)
echo "# edge: SFL" >&2
mpirun -n 5 "$build_dir/pipar" train --scheme sfl "${edge[@]}" --output "$output/sfl.h5" >&2
for n in 2 4 5 10; do
  echo "# edge: PiPar with $n micro-batches" >&2
  mpirun -n 5 "$build_dir/pipar" train --scheme pipar --micro-batches "$n" "${edge[@]}" \
    --output "$output/pipar-n$n.h5" --trace "$output/pipar-n$n.json" >&2
done

# Compute: the engine and the plain loop alternate, 3 times each, because on
# a shared machine the speed of one process run varies by several percent.
for repetition in 1 2 3; do
  echo "# compute: engine, SFL with one client, repetition $repetition" >&2
  mpirun -n 2 "$build_dir/pipar" train --scheme sfl --threads 1 --rounds 1 \
    --samples-per-client 3500 --test-samples 500 --output "$output/compute-engine-$repetition.h5" >&2
  mpirun -n 2 "$build_dir/pipar" train --scheme sfl --threads 1 --rounds 1 --progress-poll-us 2000 \
    --samples-per-client 3500 --test-samples 500 --output "$output/compute-engine-poll2ms-$repetition.h5" >&2
  "$build_dir/pipar_compute_bench" 30 1 100 >"$output/compute-plain-$repetition.txt"
done

/usr/bin/python3 - "$output" "$samples" <<'PYTHON'
import re
import statistics
import sys
import h5py

folder, samples = sys.argv[1], int(sys.argv[2])

def round_figures(path):
    with h5py.File(path, "r") as results:
        return (float(results["rounds/wall_time_s"][0, 0]), float(results["rounds/lower_bound_s"][0, 0]),
                float(results["rounds/efficiency"][0, 0]))

print(f"# edge: VGG-5 / Fashion-MNIST, 4 clients x {samples} samples, 1 round, cut point 2,")
print("# uplink 10 Mbit/s, downlink 25 Mbit/s, clients 20x slower; times in s")
print(f"# {'scheme':<14} {'round time':>10} {'lower bound':>12} {'efficiency':>10} {'speedup vs SFL':>15}")
sfl_time, bound, efficiency = round_figures(f"{folder}/sfl.h5")
print(f"  {'sfl':<14} {sfl_time:>10.2f} {bound:>12.2f} {efficiency:>10.3f} {1.0:>15.2f}")
for n in [2, 4, 5, 10]:
    time, bound, efficiency = round_figures(f"{folder}/pipar-n{n}.h5")
    print(f"  {'pipar N=' + str(n):<14} {time:>10.2f} {bound:>12.2f} {efficiency:>10.3f} {sfl_time / time:>15.2f}")

def engine_ms_per_batch(path):
    """Median over batches of one batch's compute, after 5 warm-up batches as in the plain loop."""
    with h5py.File(path, "r") as results:
        events = results["events"][()]
    # Server and client compute (resource 0 and 1): forward, backward, step (kind 0 to 2).
    compute = events[(events[:, 0] <= 1) & (events[:, 2] <= 2)]
    per_batch = {}
    for event in compute:
        batch = int(event[4])
        per_batch[batch] = per_batch.get(batch, 0.0) + float(event[7] - event[6])
    timed = [per_batch[batch] for batch in sorted(per_batch)][5:]
    return 1000.0 * statistics.median(timed)

def plain_ms_per_batch(path):
    with open(path, encoding="utf-8") as text:
        return float(re.search(r"median ([0-9.]+) ms", text.read()).group(1))

engine = [engine_ms_per_batch(f"{folder}/compute-engine-{i}.h5") for i in (1, 2, 3)]
engine_slow_poll = [engine_ms_per_batch(f"{folder}/compute-engine-poll2ms-{i}.h5") for i in (1, 2, 3)]
plain = [plain_ms_per_batch(f"{folder}/compute-plain-{i}.txt") for i in (1, 2, 3)]
print("# compute per batch: VGG-5, batch 100, 1 LibTorch thread, median of 30 batches after 5 warm-up")
print("# batches, 3 alternating runs (ms)")
print(f"  engine (SFL, 1 client): {', '.join(f'{t:.1f}' for t in engine)}; median {statistics.median(engine):.1f}")
print(f"  engine, 2 ms poll:      {', '.join(f'{t:.1f}' for t in engine_slow_poll)}; median {statistics.median(engine_slow_poll):.1f}")
print(f"  plain LibTorch loop:    {', '.join(f'{t:.1f}' for t in plain)}; median {statistics.median(plain):.1f}")
print(f"  engine / plain: {statistics.median(engine) / statistics.median(plain):.3f}; "
      f"with a 2 ms poll: {statistics.median(engine_slow_poll) / statistics.median(plain):.3f}")
PYTHON

echo "# transport: ping-pong" >&2
mpirun -n 2 "$build_dir/pipar_transport_bench" 100
