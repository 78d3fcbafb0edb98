#!/usr/bin/env bash
# Submits the jobs/ batch scripts, scaled down, to a one-node Slurm cluster
# started for this run (tests/slurm/local_cluster.sh), and checks each job's
# state, exit code, log and results files.
#
#   run_jobs_test.sh BUILD_DIR [TEST...]
#
# TEST is one or more of client_array, client_array_mpirun, single_node,
# multi_node, oversized_job, pmi_check (default: all). The sweep jobs run
# "pipar sweep" on tests/slurm/tiny-sweep.toml. pmi_check expects pipar under
# srun --mpi=none to stop with a message that mentions PMI.
#
# Exits with 77 (skipped) when Slurm or munge is not installed or when not
# run as root, 1 when a test failed and 0 when all passed.
#
# Environment:
#   PIPAR_SLURM_JOB_TIMEOUT  seconds to wait for all jobs to finish (default 600)
#   PIPAR_SLURM_KEEP         1 keeps the temporary folder even when all pass
set -euo pipefail

if (($# < 1)); then
  echo "usage: $0 BUILD_DIR [client_array|client_array_mpirun|single_node|multi_node|oversized_job|pmi_check]..." >&2
  exit 2
fi
build_dir=$(cd "$1" && pwd)
shift
all_tests=(client_array client_array_mpirun single_node multi_node oversized_job pmi_check)
selected=("$@")
((${#selected[@]} > 0)) || selected=("${all_tests[@]}")
for name in "${selected[@]}"; do
  [[ " ${all_tests[*]} " == *" $name "* ]] || {
    echo "error: unknown test '$name'; choose from ${all_tests[*]}" >&2
    exit 2
  }
done

# The Slurm and munge daemons are installed in /usr/sbin.
PATH=$PATH:/usr/sbin:/sbin
script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$script_dir/../.." && pwd)
pipar=$build_dir/pipar
job_timeout=${PIPAR_SLURM_JOB_TIMEOUT:-600}
# Keeps each training run to a few seconds.
short_run=(--samples-per-client 200 --test-samples 500 --rounds 1)

for program in slurmctld slurmd munged sbatch; do
  if ! command -v "$program" >/dev/null 2>&1; then
    echo "skipped: $program not found; install slurm-wlm and munge (scripts/install-deps.sh)"
    exit 77
  fi
done
if [[ $(id -u) -ne 0 ]]; then
  echo "skipped: the test cluster's slurmd must run as root"
  exit 77
fi
if [[ ! -x $pipar ]]; then
  echo "error: pipar binary '$pipar' not found; build the pipar target first" >&2
  exit 1
fi

work=$(mktemp -d /tmp/pipar-slurm-test.XXXXXX)
# munged requires every folder above its socket to be searchable by all.
chmod 755 "$work"
cluster=$work/cluster
submit=$work/submit
mkdir -p "$submit"
failures=0
passes=0

cleanup() {
  local status=$?
  "$script_dir/local_cluster.sh" stop "$cluster" || true
  if ((status == 0 && failures == 0)) && [[ ${PIPAR_SLURM_KEEP:-0} != 1 ]]; then
    rm -rf "$work"
  else
    echo "logs and results kept in $work"
  fi
}
trap cleanup EXIT

# Settings of the caller that the job scripts read would change what runs.
unset PIPAR_ROOT OUTPUT OUTPUT_DIR SWEEP_FILE PIPAR_COMMAND PIPAR_ARGS LAUNCHER SRUN_MPI
export PIPAR=$pipar

"$script_dir/local_cluster.sh" start "$cluster"
eval "$("$script_dir/local_cluster.sh" env "$cluster")"
srun --mpi=list 2>&1 | sed 's/^/srun --mpi=list: /'

pass() {
  echo "PASS: $1"
  passes=$((passes + 1))
}
fail() {
  echo "FAIL: $1: $2"
  failures=$((failures + 1))
}
is_selected() { [[ " ${selected[*]} " == *" $1 "* ]]; }

# h5_attribute FILE NAME: prints the value of the root attribute NAME, with
# the quotes of a string kept.
h5_attribute() {
  h5dump -a "/$2" "$1" 2>/dev/null | sed -n 's/^ *(0): //p'
}

# check_results TEST FILE [CLIENTS]: the results file exists, h5dump reads
# its attributes, its status is completed and, if given, its clients
# attribute is CLIENTS. Records the first failed condition and returns 1.
check_results() {
  local test=$1 file=$2 clients=${3:-} value
  if [[ ! -f $file ]]; then
    fail "$test" "results file $file not found"
    return 1
  fi
  if ! h5dump -A "$file" >/dev/null 2>&1; then
    fail "$test" "h5dump -A cannot read $file"
    return 1
  fi
  value=$(h5_attribute "$file" status)
  if [[ $value != '"completed"' ]]; then
    fail "$test" "status of $file is ${value:-missing}, expected \"completed\""
    return 1
  fi
  if [[ -n $clients ]]; then
    value=$(h5_attribute "$file" clients)
    if [[ $value != "$clients" ]]; then
      fail "$test" "clients of $file is ${value:-missing}, expected $clients"
      return 1
    fi
  fi
}

# check_log TEST FILE PATTERN...: the job log exists and contains each
# fixed string PATTERN.
check_log() {
  local test=$1 file=$2 pattern
  shift 2
  if [[ ! -f $file ]]; then
    fail "$test" "job log $file not found"
    return 1
  fi
  for pattern in "$@"; do
    if ! grep -qF -- "$pattern" "$file"; then
      fail "$test" "job log $file does not contain '$pattern'; it reads:"
      sed 's/^/    /' "$file"
      return 1
    fi
  done
}

# job_records ID: prints "TASK STATE EXITCODE" for the job, or for each task
# of an array job (TASK is N/A for a job that is no array). scontrol keeps a
# finished job for MinJobAge (600 s on the test cluster).
job_records() {
  scontrol -o show job "$1" 2>/dev/null | awk '{
    task = "N/A"; state = "?"; code = "?"
    for (i = 1; i <= NF; i++) {
      if ($i ~ /^ArrayTaskId=/) task = substr($i, 13)
      if ($i ~ /^JobState=/) state = substr($i, 10)
      if ($i ~ /^ExitCode=/) code = substr($i, 10)
    }
    print task, state, code
  }' | sort
}

# check_job TEST ID EXPECTED_TASKS: the job (or each array task) completed
# with exit code 0:0. EXPECTED_TASKS is the number of records to expect.
check_job() {
  local test=$1 id=$2 expected=$3 records task state code count=0
  records=$(job_records "$id")
  while read -r task state code; do
    [[ -n $task ]] || continue
    count=$((count + 1))
    if [[ $state != COMPLETED || $code != 0:0 ]]; then
      fail "$test" "job $id task $task ended $state with exit code $code"
      return 1
    fi
  done <<<"$records"
  if ((count != expected)); then
    fail "$test" "job $id has $count records in scontrol, expected $expected"
    return 1
  fi
}

# submit TEST SBATCH_ARGS...: submits from the submit folder and stores the
# job id in job_ids[TEST], or records a failure.
submit() {
  local test=$1 output
  shift
  if output=$(cd "$submit" && sbatch --parsable "$@" 2>&1); then
    echo "submitted $test as job $output: sbatch $*"
    job_ids[$test]=$output
  else
    fail "$test" "sbatch $* failed: $output"
  fi
}

# ---- Batch jobs: all submitted first so they share the node, then checked.

declare -A job_ids=()

sweep_file=$script_dir/tiny-sweep.toml
if is_selected client_array; then
  submit client_array --array=2-3 --ntasks=4 --cpus-per-task=1 \
    "$repo/jobs/client-array.sbatch" "${short_run[@]}"
fi
if is_selected client_array_mpirun; then
  LAUNCHER=mpirun submit client_array_mpirun --array=1 --ntasks=2 --cpus-per-task=1 \
    "$repo/jobs/client-array.sbatch" "${short_run[@]}"
fi
for test in single_node multi_node; do
  is_selected "$test" || continue
  if [[ ! -f $sweep_file ]]; then
    fail "$test" "$sweep_file not found; the sweep jobs run pipar sweep on it"
    continue
  fi
  if [[ $test == single_node ]]; then
    resources=(--ntasks=3 --cpus-per-task=1)
  else
    # Scaled down to the one node; these options override the script's
    # --nodes=2 --ntasks-per-node=3.
    resources=(--nodes=1 --ntasks=3 --cpus-per-task=1)
  fi
  SWEEP_FILE=$sweep_file submit "$test" "${resources[@]}" "$repo/jobs/${test/_/-}.sbatch"
done

# Waits for every submitted job with one deadline, polling squeue, because
# sbatch --wait has no timeout.
started=$(date +%s)
for test in "${!job_ids[@]}"; do
  id=${job_ids[$test]}
  [[ -n $id ]] || continue
  while [[ -n $(squeue -h -j "$id" 2>/dev/null) ]]; do
    if (($(date +%s) - started > job_timeout)); then
      echo "job $id ($test) still queued or running after ${job_timeout} s:" >&2
      squeue -j "$id" >&2 || true
      scancel "$id" || true
      break
    fi
    sleep 2
  done
done
echo "jobs finished after $(($(date +%s) - started)) s"

if [[ -n ${job_ids[client_array]:-} ]]; then
  id=${job_ids[client_array]}
  if check_job client_array "$id" 2; then
    ok=1
    for clients in 2 3; do
      check_log client_array "$submit/pipar-client-array-$id-$clients.out" \
        "array job id: $id, task id: $clients" \
        "clients K: $clients, ranks: $((clients + 1))" \
        "threads per rank: 1 (from SLURM_CPUS_PER_TASK)" \
        "command: srun --mpi=pmix --ntasks=$((clients + 1)) --cpus-per-task=1 $pipar train" \
        "exit status: 0" || ok=0
      ((ok)) || break
      check_results client_array "$submit/pipar-clients-$id-k$clients.h5" "$clients" || ok=0
      ((ok)) || break
    done
    ((ok)) && pass client_array
  fi
fi

if [[ -n ${job_ids[client_array_mpirun]:-} ]]; then
  id=${job_ids[client_array_mpirun]}
  check_job client_array_mpirun "$id" 1 &&
    check_log client_array_mpirun "$submit/pipar-client-array-$id-1.out" \
      "launcher: mpirun" "command: mpirun -n 2 $pipar train" "exit status: 0" &&
    check_results client_array_mpirun "$submit/pipar-clients-$id-k1.h5" 1 &&
    pass client_array_mpirun
fi

for test in single_node multi_node; do
  [[ -n ${job_ids[$test]:-} ]] || continue
  id=${job_ids[$test]}
  check_job "$test" "$id" 1 &&
    check_log "$test" "$submit/pipar-${test/_/-}-$id.out" \
      "job id: $id" "tasks: 3" "threads per rank: 1 (from SLURM_CPUS_PER_TASK)" \
      "command: srun --mpi=pmix --ntasks=3 --cpus-per-task=1 $pipar sweep $sweep_file" \
      "exit status: 0" &&
    check_results "$test" "$submit/pipar-${test/_/-}-$id.h5" &&
    pass "$test"
done

# ---- A job larger than the node is rejected at submission instead of
# pending forever (EnforcePartLimits=ALL).

if is_selected oversized_job; then
  if output=$(cd "$submit" && sbatch --parsable --ntasks=1000 --cpus-per-task=1 \
    "$repo/jobs/client-array.sbatch" 2>&1); then
    fail oversized_job "sbatch accepted 1000 tasks on one node as job $output"
    scancel "$output" || true
  else
    echo "oversized_job: $output"
    pass oversized_job
  fi
fi

# ---- PMI check: under srun --mpi=none every rank starts as an MPI world of
# one, and pipar must stop with a message about PMI instead of running K+1
# separate trainings.

if is_selected pmi_check; then
  status=0
  output=$(cd "$submit" && timeout 120 srun --mpi=none --ntasks=2 --cpus-per-task=1 \
    "$pipar" train "${short_run[@]}" --output "$submit/pmi-none.h5" 2>&1) || status=$?
  if ((status == 0)); then
    fail pmi_check "srun --mpi=none -n 2 pipar train exited with status 0"
  elif ((status == 124)); then
    fail pmi_check "srun --mpi=none -n 2 pipar train timed out after 120 s"
  elif ! grep -q PMI <<<"$output"; then
    fail pmi_check "exit status $status, but the output does not mention PMI:"
    sed 's/^/    /' <<<"$output"
  else
    echo "pmi_check: exit status $status; lines mentioning PMI:"
    grep PMI <<<"$output" | sort -u | sed 's/^/    /'
    # pipar checks for a PMIx server before MPI_Init, because Debian's Open
    # MPI 4.1.4 would otherwise abort inside MPI_Init_thread with a message
    # about its build instead of the launch.
    if ! grep -q -- 'srun --mpi=pmix' <<<"$output"; then
      fail pmi_check "the PMI message does not come from pipar (no srun --mpi=pmix advice)"
    elif (($(grep -c 'srun started' <<<"$output") != 1)); then
      fail pmi_check "pipar's message is not printed exactly once"
    else
      pass pmi_check
    fi
  fi
fi

echo "$passes passed, $failures failed"
((failures == 0))
