#!/usr/bin/env python3
"""Check `pipar export` output against the sweep results file it came from.

Usage: check_export.py RESULTS.h5 EXPORT.csv EXPORT.json
Every point of the file must appear once in both outputs, with its options
and its summary values equal to those stored in HDF5.
"""
import csv
import json
import math
import sys

import h5py


def fail(message):
    print("FAIL: " + message, file=sys.stderr)
    sys.exit(1)


def read_points(path):
    points = {}
    with h5py.File(path, "r") as results:
        for name, group in results["points"].items():
            index = int(group.attrs["index"])
            options = {key: value for key, value in group["options"].attrs.items()}
            columns = [column.strip() for column in group["summary"].attrs["columns"].split(",")]
            summary = dict(zip(columns, group["summary"][:].tolist()))
            points[index] = (options, summary)
    return points


def close(a, b):
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)


def main():
    results, csv_path, json_path = sys.argv[1:4]
    expected = read_points(results)
    if not expected:
        fail(f"{results} has no points to compare")

    with open(csv_path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    if sorted(int(row["point"]) for row in rows) != sorted(expected):
        fail(f"CSV points {[row['point'] for row in rows]}; expected {sorted(expected)}")
    for row in rows:
        options, summary = expected[int(row["point"])]
        for key, value in options.items():
            if row[key] != value:
                fail(f"CSV point {row['point']} option {key}: {row[key]!r}, file has {value!r}")
        for key, value in summary.items():
            if not close(float(row[key]), value):
                fail(f"CSV point {row['point']} {key}: {row[key]}, file has {value}")

    with open(json_path) as handle:
        document = json.load(handle)
    entries = document["points"]
    if sorted(entry["point"] for entry in entries) != sorted(expected):
        fail(f"JSON points {[entry['point'] for entry in entries]}; expected {sorted(expected)}")
    for entry in entries:
        options, summary = expected[entry["point"]]
        if entry["options"] != options:
            fail(f"JSON point {entry['point']} options differ from the file")
        for key, value in summary.items():
            if not close(entry["summary"][key], value):
                fail(f"JSON point {entry['point']} {key}: {entry['summary'][key]}, file has {value}")
    print(f"ok: {len(expected)} points match in CSV and JSON")


if __name__ == "__main__":
    main()
