#!/usr/bin/env python3
"""Check the APS record of a results file.

Usage: check_aps.py RESULTS.h5 --clients K --blocks L --batch-size B [--trained]
Each client's cut point must lie in 1..L-1 and its micro-batch count must
divide B. The grid must hold every (P, N) of the search with a positive
prediction, and the overhead must be positive. The predicted busy time of
every resource must be positive for compute and at most the predicted
round, and the profiles must cover every rank and block. With --trained, the run's
/rounds must exist, and its log line's choice must be the one stored.
"""
import argparse
import sys

import h5py


def fail(message):
    print("FAIL: " + message, file=sys.stderr)
    sys.exit(1)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results")
    parser.add_argument("--clients", type=int, required=True)
    parser.add_argument("--blocks", type=int, required=True)
    parser.add_argument("--batch-size", type=int, required=True)
    parser.add_argument("--trained", action="store_true")
    args = parser.parse_args()

    with h5py.File(args.results, "r") as results:
        if "aps" not in results:
            fail(f"{args.results} has no /aps group")
        aps = results["aps"]
        cuts = list(aps["cut"][:])
        counts = list(aps["micro_batches"][:])
        if len(cuts) != args.clients or len(counts) != args.clients:
            fail(f"{len(cuts)} cut points and {len(counts)} micro-batch counts for {args.clients} clients")
        for client, (cut, count) in enumerate(zip(cuts, counts), start=1):
            if not 1 <= cut <= args.blocks - 1:
                fail(f"client {client}: cut point {cut} outside 1..{args.blocks - 1}")
            if args.batch_size % count != 0:
                fail(f"client {client}: {count} micro-batches do not divide the batch size {args.batch_size}")
        grid = list(zip(aps["grid_cut"][:], aps["grid_micro_batches"][:], aps["grid_predicted_round_s"][:]))
        expected = (args.blocks - 1) * len({n for _, n, _ in grid})
        if len(grid) != expected:
            fail(f"the grid has {len(grid)} predictions; expected {expected}")
        if any(time <= 0 for _, _, time in grid):
            fail("a grid prediction is not positive")
        best_common = min(time for _, _, time in grid)
        predicted = aps.attrs["predicted_round_s"]
        if predicted > best_common * (1 + 1e-9):
            fail(f"the chosen plan's prediction {predicted} s is slower than the best common "
                 f"point of the grid, {best_common} s")
        busy = list(aps["predicted_busy_s"][:])
        if len(busy) != 1 + 3 * args.clients:
            fail(f"{len(busy)} predicted busy times; expected {1 + 3 * args.clients} resources")
        if any(time <= 0 for time in busy[:1 + args.clients]):
            fail(f"a compute resource has no predicted busy time: {busy[:1 + args.clients]}")
        if max(busy) > predicted * (1 + 1e-9):
            fail(f"a predicted busy time {max(busy)} s exceeds the predicted round {predicted} s")
        for name in ("profile_forward_s_per_sample", "profile_backward_s_per_sample", "profile_step_s"):
            shape = aps[name].shape
            if shape != (args.clients + 1, args.blocks):
                fail(f"/aps/{name} has shape {shape}; expected ({args.clients + 1}, {args.blocks})")
        if aps["profile_forward_s_per_sample"][:].sum(axis=1).min() <= 0:
            fail("a rank's profile has no forward time")
        if len(aps["profile_call_overhead_s"][:]) != args.clients + 1:
            fail("/aps/profile_call_overhead_s does not have one entry per rank")
        if not aps.attrs["overhead_s"] > 0:
            fail("the overhead is not positive")
        has_rounds = "rounds" in results
        if args.trained != has_rounds:
            fail("a trained run must have /rounds and a plan-only run must not")
    print(f"ok: choice {list(zip(cuts, counts))}, predicted {predicted:.3f} s, "
          f"{len(grid)} grid points")


if __name__ == "__main__":
    main()
