# Shared part of the jobs/*.sbatch scripts, sourced once PIPAR_ROOT is set.
# It loads scripts/mpi-env.sh, prints what Slurm allocated and starts pipar
# with the launcher chosen by LAUNCHER.
#
# Environment read here:
#   PIPAR       the pipar binary (default: $PIPAR_ROOT/build/pipar)
#   LAUNCHER    srun (default) or mpirun
#   SRUN_MPI    the PMI plugin that srun loads (default: pmix). Open MPI 4.1
#               finds its rank and world size through PMIx, so with
#               --mpi=none every rank starts as a world of one.
#   PIPAR_ARGS  extra pipar arguments, split on whitespace. They come before
#               the script's own arguments, so "$@" wins where both set an
#               option.

PIPAR=${PIPAR:-$PIPAR_ROOT/build/pipar}
LAUNCHER=${LAUNCHER:-srun}
SRUN_MPI=${SRUN_MPI:-pmix}

# scripts/mpi-env.sh sets the two variables without which Open MPI's mpirun
# rejects running as root, and allows more ranks than cores.
if [[ -f $PIPAR_ROOT/scripts/mpi-env.sh ]]; then
  # shellcheck source=../scripts/mpi-env.sh
  source "$PIPAR_ROOT/scripts/mpi-env.sh"
fi

# Prints the job id, the node list and the task counts of this allocation.
pipar_print_job() {
  echo "job id: $SLURM_JOB_ID"
  if [[ -n ${SLURM_ARRAY_JOB_ID:-} ]]; then
    echo "array job id: $SLURM_ARRAY_JOB_ID, task id: $SLURM_ARRAY_TASK_ID"
  fi
  echo "nodes: $SLURM_JOB_NUM_NODES ($SLURM_JOB_NODELIST)"
  echo "tasks: $SLURM_NTASKS, tasks per node: $SLURM_TASKS_PER_NODE"
  echo "threads per rank: $SLURM_CPUS_PER_TASK (from SLURM_CPUS_PER_TASK)"
  echo "launcher: $LAUNCHER"
}

# Checks that pipar exists and that the allocation set SLURM_CPUS_PER_TASK,
# which each script requests with --cpus-per-task.
pipar_check_setup() {
  if [[ ! -x $PIPAR ]]; then
    echo "error: pipar binary '$PIPAR' not found or not executable;" \
      "build it (scripts/build.sh) or set PIPAR" >&2
    exit 2
  fi
  if [[ -z ${SLURM_CPUS_PER_TASK:-} ]]; then
    echo "error: SLURM_CPUS_PER_TASK is not set; submit with --cpus-per-task" >&2
    exit 2
  fi
}

# Sets the array pipar_args to the pipar command that PIPAR_COMMAND names:
# "sweep SWEEP_FILE" (the default) or "train".
pipar_select_command() {
  case ${PIPAR_COMMAND:-sweep} in
    sweep)
      if [[ ! -f $SWEEP_FILE ]]; then
        echo "error: sweep file '$SWEEP_FILE' not found; set SWEEP_FILE" >&2
        exit 2
      fi
      pipar_args=(sweep "$SWEEP_FILE")
      ;;
    train) pipar_args=(train) ;;
    *)
      echo "error: PIPAR_COMMAND must be sweep or train, got '$PIPAR_COMMAND'" >&2
      exit 2
      ;;
  esac
}

# pipar_launch NTASKS ARGS...: starts NTASKS ranks of "$PIPAR" ARGS... and
# returns pipar's exit status, printing the exact command first.
pipar_launch() {
  local ntasks=$1
  shift
  local command
  case $LAUNCHER in
    srun)
      # Since Slurm 22.05, srun does not inherit --cpus-per-task from sbatch
      # (sbatch(1)), so it is passed again for each rank to get its CPUs.
      command=(srun --mpi="$SRUN_MPI" --ntasks="$ntasks"
        --cpus-per-task="$SLURM_CPUS_PER_TASK" "$PIPAR" "$@")
      ;;
    mpirun)
      # Open MPI's mpirun reads the node list and slots of the allocation
      # from Slurm and starts its daemons on the other nodes through srun.
      command=(mpirun -n "$ntasks" "$PIPAR" "$@")
      ;;
    *)
      echo "error: LAUNCHER must be srun or mpirun, got '$LAUNCHER'" >&2
      return 2
      ;;
  esac

  local shown started status=0
  printf -v shown '%q ' "${command[@]}"
  echo "command: ${shown% }"
  started=$(date +%s)
  "${command[@]}" || status=$?
  echo "exit status: $status after $(($(date +%s) - started)) s"
  return "$status"
}

# Splits PIPAR_ARGS on whitespace into the array pipar_extra_args.
read -r -a pipar_extra_args <<<"${PIPAR_ARGS:-}"
