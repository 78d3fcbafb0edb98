#!/usr/bin/env bash
# Runs a command that must fail cleanly: it must exit non-zero before the
# time limit (no hang), and its output must contain the expected error
# message exactly once (printed by one rank, not by every rank).
#
# Usage: expect_failure.sh SECONDS 'expected message' command [args...]
set -u
limit=$1
expected=$2
shift 2

output=$(timeout --kill-after=10 "$limit" "$@" 2>&1)
status=$?
printf '%s\n' "$output"

if ((status == 0)); then
  echo "FAIL: the command exited with status 0; expected a failure" >&2
  exit 1
fi
if ((status == 124 || status == 137)); then
  echo "FAIL: the command did not finish within $limit s (a rank hung)" >&2
  exit 1
fi
count=$(grep -c -F -- "$expected" <<<"$output")
if ((count != 1)); then
  echo "FAIL: expected the message '$expected' exactly once, found it $count times" >&2
  exit 1
fi
echo "ok: exit status $status, message printed once"
