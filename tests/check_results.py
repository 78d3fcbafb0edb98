#!/usr/bin/env python3
"""Checks a `pipar train` results file: its metadata, its per-round tables,
and that the last round's test accuracy reaches a minimum."""
import argparse
import sys

import h5py

REQUIRED_ATTRIBUTES = [
    "program", "pipar_version", "git_commit", "command_line", "started_utc",
    "finished_utc", "status", "mpi_library", "libtorch_version", "world_size",
    "clients", "seed", "optimizer_state_policy",
]
REQUIRED_OPTIONS = ["scheme", "model", "dataset", "cut", "micro_batches", "batch_size",
                    "rounds", "learning_rate", "momentum", "seed", "threads"]
PER_ROUND = ["round", "wall_time_s", "eval_time_s", "train_loss", "test_loss", "test_accuracy",
             "lower_bound_s", "efficiency"]


def check(path, rounds, min_accuracy):
    problems = []
    with h5py.File(path, "r") as results:
        attributes = results.attrs
        for name in REQUIRED_ATTRIBUTES:
            if name not in attributes:
                problems.append(f"root attribute {name} is missing")
        if attributes.get("status") != "completed":
            problems.append(f"status is {attributes.get('status')!r}, expected 'completed'")
        clients = int(attributes["clients"])
        for name in REQUIRED_OPTIONS:
            if name not in results["options"].attrs:
                problems.append(f"option {name} is missing from /options")
        hostnames = results["ranks/hostname"]
        if len(hostnames) != clients + 1:
            problems.append(f"/ranks/hostname has {len(hostnames)} entries for {clients + 1} ranks")
        for name in PER_ROUND:
            shape = results[f"rounds/{name}"].shape
            if shape != (rounds, 1):
                problems.append(f"/rounds/{name} has shape {shape}, expected ({rounds}, 1)")
        for name in ["bytes_up", "bytes_down"]:
            table = results[f"rounds/{name}"][()]
            if table.shape != (rounds, clients):
                problems.append(f"/rounds/{name} has shape {table.shape}, expected ({rounds}, {clients})")
            elif (table <= 0).any():
                problems.append(f"/rounds/{name} has a client that sent no bytes: {table.tolist()}")
        for name in ["busy_s", "idle_s"]:
            table = results[f"rounds/{name}"][()]
            if table.shape != (rounds, 1 + 3 * clients):
                problems.append(f"/rounds/{name} has shape {table.shape}, expected ({rounds}, {1 + 3 * clients})")
        efficiency = results["rounds/efficiency"][()]
        if ((efficiency <= 0) | (efficiency > 1.0 + 1e-9)).any():
            problems.append(f"efficiency outside (0, 1]: {efficiency.ravel().tolist()}")
        if results["events"].shape[1] != 8 or results["events"].shape[0] == 0:
            problems.append(f"/events has shape {results['events'].shape}, expected (n > 0, 8)")
        for name in ["model/floating", "model/integer"]:
            if name not in results:
                problems.append(f"/{name}, the final model state, is missing")
        accuracy = float(results["rounds/test_accuracy"][-1, 0])
        if not accuracy >= min_accuracy:
            problems.append(f"final test accuracy {accuracy:.4f} is below {min_accuracy}")
        print(f"{path}: {rounds} rounds, final test accuracy {accuracy:.4f}")
    return problems


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("path")
    parser.add_argument("--rounds", type=int, required=True)
    parser.add_argument("--min-accuracy", type=float, required=True)
    arguments = parser.parse_args()
    problems = check(arguments.path, arguments.rounds, arguments.min_accuracy)
    for problem in problems:
        print(f"FAIL: {problem}", file=sys.stderr)
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
