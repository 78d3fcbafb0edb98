#!/usr/bin/env python3
"""Checks a Chrome trace written by `pipar train --trace`: valid JSON in the
Trace Event Format, one named track per resource (server compute, then per
client its compute, uplink and downlink), events on every track, and, for a
pipelined run, uploads that overlap the same client's forward passes."""
import argparse
import json
import sys


def check(path, clients, expect_overlap):
    with open(path, encoding="utf-8") as trace_file:
        trace = json.load(trace_file)
    events = trace["traceEvents"]
    names = {e["tid"]: e["args"]["name"] for e in events
             if e["ph"] == "M" and e["name"] == "thread_name"}
    problems = []
    expected_tracks = 1 + 3 * clients
    if len(names) != expected_tracks:
        problems.append(f"{len(names)} named tracks, expected {expected_tracks}")
    if len(set(names.values())) != len(names):
        problems.append(f"track names repeat: {sorted(names.values())}")

    spans = [e for e in events if e["ph"] == "X"]
    by_track = {}
    for span in spans:
        by_track.setdefault(span["tid"], []).append(span)
        if span["dur"] < 0:
            problems.append(f"negative duration in {span}")
    for tid, name in names.items():
        if not by_track.get(tid):
            problems.append(f"track {name!r} has no events")

    if expect_overlap:
        overlaps = 0
        for client in range(1, clients + 1):
            forwards = [s for s in by_track.get(client, []) if s["name"] == "forward"]
            uploads = by_track.get(clients + client, [])
            for upload in uploads:
                for forward in forwards:
                    if upload["ts"] < forward["ts"] + forward["dur"] and forward["ts"] < upload["ts"] + upload["dur"]:
                        overlaps += 1
                        break
        if overlaps == 0:
            problems.append("no upload overlaps a forward pass of its client")
        print(f"{path}: {len(spans)} events on {len(names)} tracks, {overlaps} uploads overlap a forward")
    else:
        print(f"{path}: {len(spans)} events on {len(names)} tracks")
    return problems


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("path")
    parser.add_argument("--clients", type=int, required=True)
    parser.add_argument("--expect-overlap", action="store_true")
    arguments = parser.parse_args()
    problems = check(arguments.path, arguments.clients, arguments.expect_overlap)
    for problem in problems:
        print(f"FAIL: {problem}", file=sys.stderr)
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
