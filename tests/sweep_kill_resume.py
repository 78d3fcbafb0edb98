#!/usr/bin/env python3
"""Kill a sweep with SIGKILL three times at different moments, then rerun it.

After every kill the results file must open with h5dump and keep every point
stored before, and the final run must complete the sweep with every point
exactly once. Usage:

  sweep_kill_resume.py --ranks N --output FILE.h5 -- MPIEXEC [ARGS...] PIPAR sweep SWEEP.toml

The command after -- is started as given plus --output FILE.h5.
"""
import argparse
import os
import random
import signal
import subprocess
import sys
import time

import h5py

START_TIMEOUT_S = 300  # a stage that stores no point in this time has hung


def fail(message):
    print("FAIL: " + message, file=sys.stderr)
    sys.exit(1)


def stored_points(path):
    """Returns {group name: key} of the points in the file, or {} before it exists."""
    if not os.path.exists(path):
        return {}
    with h5py.File(path, "r") as results:
        if "points" not in results:
            return {}
        return {name: results["points"][name].attrs["key"] for name in results["points"]}


def check_readable(path, stage):
    if not os.path.exists(path):
        print(f"{stage}: no results file yet")
        return
    dump = subprocess.run(["h5dump", "-H", path], capture_output=True, text=True)
    if dump.returncode != 0:
        fail(f"{stage}: h5dump cannot read {path}: {dump.stderr.strip()}")


def check_points(path, before, stage):
    points = stored_points(path)
    lost = set(before) - set(points)
    if lost:
        fail(f"{stage}: points {sorted(lost)} were stored before and are missing now")
    keys = list(points.values())
    if len(keys) != len(set(keys)):
        fail(f"{stage}: a point is stored twice: keys {keys}")
    print(f"{stage}: h5dump reads the file, {len(points)} points stored")
    return points


def start(command):
    # A session of its own, so that one killpg reaches mpirun and every rank.
    return subprocess.Popen(command, start_new_session=True)


def kill(process):
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def wait_for_new_point(process, path, count, stage):
    deadline = time.monotonic() + START_TIMEOUT_S
    while len(stored_points(path)) <= count:
        if process.poll() is not None:
            fail(f"{stage}: the sweep exited with status {process.returncode} before storing "
                 "another point")
        if time.monotonic() > deadline:
            kill(process)
            fail(f"{stage}: no new point within {START_TIMEOUT_S} s")
        time.sleep(0.05)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", required=True)
    parser.add_argument("--seed", type=int, default=1, help="seed of the third kill's delay")
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    command = [part for part in args.command if part != "--"] + ["--output", args.output]
    for leftover in (args.output, args.output + ".partial"):
        if os.path.exists(leftover):
            os.remove(leftover)

    # 1: during the first point, once the sweep has created its file.
    process = start(command)
    deadline = time.monotonic() + START_TIMEOUT_S
    while not os.path.exists(args.output):
        if process.poll() is not None or time.monotonic() > deadline:
            kill(process)
            fail("kill 1: the sweep did not create its results file")
        time.sleep(0.05)
    time.sleep(1.0)
    kill(process)
    check_readable(args.output, "kill 1 (1 s after the file was created)")
    points = check_points(args.output, {}, "kill 1")

    # 2: right after a point is stored, while the next one starts.
    process = start(command)
    wait_for_new_point(process, args.output, len(points), "kill 2")
    kill(process)
    check_readable(args.output, "kill 2 (right after a point was stored)")
    points = check_points(args.output, points, "kill 2")

    # 3: at a random moment of a later point.
    process = start(command)
    wait_for_new_point(process, args.output, len(points), "kill 3")
    time.sleep(random.Random(args.seed).uniform(0.2, 3.0))
    kill(process)
    check_readable(args.output, "kill 3 (during a point)")
    points = check_points(args.output, points, "kill 3")

    # The rerun resumes and completes.
    finished = subprocess.run(command, timeout=1800)
    if finished.returncode != 0:
        fail(f"the final run exited with status {finished.returncode}")
    check_readable(args.output, "final run")
    points = check_points(args.output, points, "final run")
    with h5py.File(args.output, "r") as results:
        total = int(results.attrs["points_total"])
        status = results.attrs["status"]
        invocations = len(results["invocations"])
        indices = sorted(int(results["points"][name].attrs["index"]) for name in results["points"])
    if status != "completed":
        fail(f"status is {status!r} after the final run; expected 'completed'")
    if indices != list(range(total)):
        fail(f"stored point indices {indices}; expected each of 0..{total - 1} once")
    if invocations != 4:
        fail(f"{invocations} invocation groups; expected 4, one per start")
    print(f"ok: {total} points, each stored once, after 3 kills and {invocations} invocations")


if __name__ == "__main__":
    main()
