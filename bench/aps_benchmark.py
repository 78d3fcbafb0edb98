#!/usr/bin/env python3
"""APS against an exhaustive sweep of the same (cut point, micro-batches) grid.

For each configuration file (a sweep file whose [grid] sweeps cut and
micro-batches over a [base] of training settings), this script
  1. runs the exhaustive sweep: every common (P, N), one round each;
  2. runs pipar train --cut auto --micro-batches auto with the same [base],
     searching the same grid, for one round;
  3. runs the APS choice and the sweep's fastest points again, several times
     each and in turn, because one round per point cannot separate candidates
     that are within the machine's run-to-run variation;
then prints, per configuration, the measured round time of the APS choice
against the best point of the sweep (from the single rounds and from the
medians of step 3), the cost model's median prediction error over the grid,
and the APS overhead as a share of the round.

Usage: bench/aps_benchmark.py [--build-dir build] [--out bench-out/aps]
       [--confirm-repetitions 3] [--confirm-points 2] CONFIG.toml...
Run it with /usr/bin/python3 (Debian's h5py).
"""
import argparse
import os
import statistics
import subprocess
import sys
import tomllib

import h5py


def option_text(value):
    if isinstance(value, list):
        return ",".join(str(item) for item in value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def run(command, log_path):
    print("$ " + " ".join(command), file=sys.stderr)
    with open(log_path, "w") as log:
        subprocess.run(command, check=True, stdout=log, stderr=subprocess.STDOUT)


def measured_grid(path):
    """Returns {(cut, N): round time in s} of a sweep results file."""
    grid = {}
    with h5py.File(path, "r") as results:
        for group in results["points"].values():
            options = group["options"].attrs
            columns = [name.strip() for name in group["summary"].attrs["columns"].split(",")]
            summary = dict(zip(columns, group["summary"][:]))
            grid[(int(options["cut"]), int(options["micro_batches"]))] = summary["round_time_median_s"]
    return grid


def aps_result(path):
    with h5py.File(path, "r") as results:
        aps = results["aps"]
        predicted = {
            (int(cut), int(count)): float(time)
            for cut, count, time in zip(aps["grid_cut"][:], aps["grid_micro_batches"][:],
                                        aps["grid_predicted_round_s"][:])
        }
        return {
            "cuts": [int(value) for value in aps["cut"][:]],
            "micro_batches": [int(value) for value in aps["micro_batches"][:]],
            "predicted_round_s": float(aps.attrs["predicted_round_s"]),
            "overhead_s": float(aps.attrs["overhead_s"]),
            "measured_round_s": float(results["rounds/wall_time_s"][0, 0]),
            "grid": predicted,
        }


def round_time(path):
    with h5py.File(path, "r") as results:
        return float(results["rounds/wall_time_s"][0, 0])


def confirm(train_base, mpirun, choices, args, name):
    """Runs each choice (a (cuts, micro-batches) pair of per-client tuples)
    args.confirm_repetitions times, taking turns, and returns the median round
    time of each."""
    times = {choice: [] for choice in choices}
    for repetition in range(args.confirm_repetitions):
        for index, (cuts, counts) in enumerate(choices):
            path = os.path.join(args.out, f"{name}-confirm-{index}-{repetition}.h5")
            command = train_base + ["--output", path, "--cut", option_text(list(cuts)),
                                    "--micro-batches", option_text(list(counts))]
            run(mpirun + command, path[:-3] + ".log")
            times[(cuts, counts)].append(round_time(path))
    return {choice: statistics.median(values) for choice, values in times.items()}


def benchmark(config_path, args):
    with open(config_path, "rb") as handle:
        config = tomllib.load(handle)
    name = os.path.splitext(os.path.basename(config_path))[0]
    base = config.get("base", {})
    grid = config["grid"]
    clients = int(base.get("clients", 4))
    pipar = os.path.join(args.build_dir, "pipar")
    mpirun = ["mpirun", "-n", str(clients + 1)]

    sweep_file = os.path.join(args.out, name + "-grid.h5")
    run(mpirun + [pipar, "sweep", config_path, "--output", sweep_file],
        os.path.join(args.out, name + "-grid.log"))
    aps_file = os.path.join(args.out, name + "-aps.h5")
    train_base = [pipar, "train"]
    for key, value in base.items():
        if key != "clients":
            train_base.append(f"--{key}={option_text(value)}")
    train = train_base + ["--output", aps_file, "--cut", "auto", "--micro-batches", "auto",
                          "--aps-cuts", f"{min(grid['cut'])}-{max(grid['cut'])}",
                          "--aps-micro-batches", option_text(grid["micro-batches"])]
    run(mpirun + train, os.path.join(args.out, name + "-aps.log"))

    measured = measured_grid(sweep_file)
    aps = aps_result(aps_file)
    errors = [abs(aps["grid"][point] - time) / time for point, time in measured.items()
              if point in aps["grid"]]
    best_point, best_time = min(measured.items(), key=lambda item: item[1])

    aps_choice = (tuple(aps["cuts"]), tuple(aps["micro_batches"]))
    fastest = sorted(measured, key=measured.get)[:args.confirm_points]
    grid_choices = [((p,) * clients, (n,) * clients) for p, n in fastest]
    confirmed = {}
    if args.confirm_repetitions > 0:
        confirmed = confirm(train_base, mpirun, list(dict.fromkeys([aps_choice] + grid_choices)),
                            args, name)
    confirmed_best = min(grid_choices, key=lambda choice: confirmed.get(choice, float("inf")))
    return {
        "name": name,
        "best_point": best_point,
        "best_s": best_time,
        "aps_choice": ",".join(f"({p},{n})" for p, n in zip(aps["cuts"], aps["micro_batches"])),
        "aps_s": aps["measured_round_s"],
        "aps_predicted_s": aps["predicted_round_s"],
        "ratio": aps["measured_round_s"] / best_time,
        "median_error": statistics.median(errors),
        "max_error": max(errors),
        "overhead_s": aps["overhead_s"],
        "overhead_share": aps["overhead_s"] / aps["measured_round_s"],
        "points": len(errors),
        "confirmed_best_point": (confirmed_best[0][0], confirmed_best[1][0]),
        "confirmed_best_s": confirmed.get(confirmed_best, float("nan")),
        "confirmed_aps_s": confirmed.get(aps_choice, float("nan")),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--build-dir", default="build")
    parser.add_argument("--out", default="bench-out/aps")
    parser.add_argument("--confirm-repetitions", type=int, default=3,
                        help="runs of each candidate in step 3 (0: skip step 3)")
    parser.add_argument("--confirm-points", type=int, default=2,
                        help="fastest grid points of the sweep that step 3 runs again")
    parser.add_argument("configs", nargs="+")
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)

    rows = [benchmark(path, args) for path in args.configs]
    print("| configuration | best grid point (P,N) | best measured s | APS choice per client (P,N) "
          "| APS measured s | APS / best | APS predicted s | median prediction error | "
          "max prediction error | APS overhead s | overhead / round |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for row in rows:
        print(f"| {row['name']} | {row['best_point']} | {row['best_s']:.2f} | {row['aps_choice']} "
              f"| {row['aps_s']:.2f} | {row['ratio']:.3f} | {row['aps_predicted_s']:.2f} "
              f"| {100 * row['median_error']:.1f}% over {row['points']} points "
              f"| {100 * row['max_error']:.1f}% | {row['overhead_s']:.2f} "
              f"| {100 * row['overhead_share']:.1f}% |")
    if args.confirm_repetitions > 0:
        print()
        print(f"Medians of {args.confirm_repetitions} runs each, taken in turn:")
        print()
        print("| configuration | fastest grid point (P,N) | its median s | APS median s "
              "| APS / best |")
        print("|---|---|---|---|---|")
        for row in rows:
            print(f"| {row['name']} | {row['confirmed_best_point']} "
                  f"| {row['confirmed_best_s']:.2f} | {row['confirmed_aps_s']:.2f} "
                  f"| {row['confirmed_aps_s'] / row['confirmed_best_s']:.3f} |")


if __name__ == "__main__":
    main()
