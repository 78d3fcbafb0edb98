#!/usr/bin/python3
"""Run bench/plot_results.py on a sweep results file and check the PNG files it writes.

Usage: tests/check_plots.py RESULTS.h5 OUT_DIR --expect NAME,...

The check fails unless the script exits with status 0 and writes every
expected figure. Every PNG it writes must be at least --min-pixels wide and
high. Every `wrote PATH` line must name a PNG written by this run, and every
PNG written by this run must be printed.
"""
import argparse
import os
import struct
import subprocess
import sys

SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "bench", "plot_results.py")
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_files(folder):
    """Return {name: (mtime_ns, size)} of the PNG files in `folder`."""
    if not os.path.isdir(folder):
        return {}
    files = {}
    for name in os.listdir(folder):
        path = os.path.join(folder, name)
        if name.endswith(".png") and os.path.isfile(path):
            status = os.stat(path)
            files[name] = (status.st_mtime_ns, status.st_size)
    return files


def png_size(path):
    """Return (width, height) from the IHDR chunk, or raise ValueError on a malformed PNG."""
    with open(path, "rb") as png:
        header = png.read(24)
    if not header.startswith(PNG_SIGNATURE):
        raise ValueError(f"does not start with the PNG signature (first bytes {header[:8]!r})")
    if len(header) < 24 or header[12:16] != b"IHDR":
        raise ValueError("has no IHDR chunk after the signature")
    return struct.unpack(">II", header[16:24])


def parse_output(stdout):
    """Return the file names printed as `wrote PATH` and {name: reason} of skipped figures."""
    claimed, skipped = [], {}
    for line in stdout.splitlines():
        if line.startswith("wrote "):
            claimed.append(line[len("wrote "):].strip())
        elif line.startswith("skipped "):
            name, _, reason = line[len("skipped "):].partition(":")
            skipped[name.strip()] = reason.strip()
    return claimed, skipped


def check(script, results, out_dir, expected, min_pixels):
    problems = []
    before = png_files(out_dir)
    command = [sys.executable, script, results, "--out-dir", out_dir]
    print("running:", " ".join(command))
    run = subprocess.run(command, capture_output=True, text=True)
    sys.stdout.write(run.stdout)
    sys.stderr.write(run.stderr)
    if run.returncode != 0:
        problems.append(f"{script} exited with status {run.returncode}")

    after = png_files(out_dir)
    # A file counts as written by this run if it is new or its time or size changed.
    written = {name for name, stamp in after.items() if before.get(name) != stamp}
    claimed_paths, skipped = parse_output(run.stdout)
    claimed = set()
    for path in claimed_paths:
        name = os.path.basename(path)
        claimed.add(name)
        if os.path.realpath(os.path.dirname(path)) != os.path.realpath(out_dir):
            problems.append(f"printed path {path} is not in {out_dir}")
        elif name not in after:
            problems.append(f"printed {path} but the file does not exist")
        elif name not in written:
            problems.append(f"printed {path} but this run did not write it (the file is older)")
    for name in sorted(written - claimed):
        problems.append(f"{name} was written but not printed as a `wrote` line")

    for name in sorted(written | claimed):
        path = os.path.join(out_dir, name)
        if not os.path.isfile(path):
            continue
        try:
            width, height = png_size(path)
        except ValueError as error:
            problems.append(f"{name} {error}")
            continue
        if width < min_pixels or height < min_pixels:
            problems.append(f"{name} is {width}x{height} px, expected at least "
                            f"{min_pixels} px in each direction")

    for name in expected:
        if name not in claimed:
            reason = skipped.get(name)
            detail = f" (the script skipped it: {reason})" if reason else ""
            problems.append(f"expected figure {name} was not written{detail}")
    return problems


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("results", help="results file written by `pipar sweep`")
    parser.add_argument("out_dir", help="folder for the PNG files, created if missing")
    parser.add_argument("--expect", required=True, metavar="NAME,...",
                        help="figures that must be written, e.g. timeline,accuracy "
                             "(names with or without .png)")
    parser.add_argument("--min-pixels", type=int, default=300,
                        help="minimum width and height of every PNG in pixels (default: 300)")
    parser.add_argument("--script", default=SCRIPT,
                        help="plotting script to run (default: bench/plot_results.py of this "
                             "checkout); another one only serves to test this checker")
    arguments = parser.parse_args()
    expected = [name.strip() if name.strip().endswith(".png") else f"{name.strip()}.png"
                for name in arguments.expect.split(",") if name.strip()]

    problems = check(arguments.script, arguments.results, arguments.out_dir, expected,
                     arguments.min_pixels)
    for problem in problems:
        print(f"FAIL: {problem}", file=sys.stderr)
    if problems:
        sys.exit(1)
    print(f"OK: {len(expected)} expected figures written, every printed PNG checked")


if __name__ == "__main__":
    main()
