#!/usr/bin/env bash
# Starts, stops or describes a one-node Slurm cluster that lives entirely in
# the folder DIR: its own munged (key, socket, log), slurmctld and slurmd,
# with state, spool, log and PID files under DIR. It needs root and the
# Debian packages slurm-wlm and munge, and no systemd.
#
#   local_cluster.sh start DIR   start the daemons, return when the node is idle
#   local_cluster.sh stop DIR    cancel the jobs, stop the daemons, wait for them
#   local_cluster.sh env DIR     print the export line that client commands need
#
# Every client command (sbatch, srun, squeue, sinfo, scontrol) must see
# SLURM_CONF=DIR/slurm.conf: eval "$(local_cluster.sh env DIR)".
#
# Environment:
#   PIPAR_SLURM_CPUS     CPUs the node advertises (default: 8, or the real
#                        count if higher). Slurm checks no more than this, so
#                        jobs of 5 tasks fit on a 2-core machine.
#   PIPAR_SLURM_TIMEOUT  seconds to wait for the node to become idle and for
#                        each daemon to exit (default 60)
#
# All daemons listen on 127.0.0.1 only, on ports picked free at start.
set -euo pipefail

usage() {
  echo "usage: $0 start|stop|env DIR" >&2
  exit 2
}

(($# == 2)) || usage
verb=$1
dir=$2
[[ $verb == start || $verb == stop || $verb == env ]] || usage

log() { echo "local_cluster: $*" >&2; }
die() {
  log "error: $*"
  exit 1
}

# The Slurm and munge daemons are installed in /usr/sbin.
PATH=$PATH:/usr/sbin:/sbin
timeout_s=${PIPAR_SLURM_TIMEOUT:-60}
node=$(hostname -s)

if [[ $verb == start ]]; then
  mkdir -p "$dir"
fi
[[ -d $dir ]] || die "folder '$dir' not found"
dir=$(cd "$dir" && pwd)
conf=$dir/slurm.conf
munge_socket=$dir/munge/munge.socket
export SLURM_CONF=$conf

# pid_alive PIDFILE NAME: true when PIDFILE names a running process whose
# command name is NAME, so a PID reused by another program is never
# signalled. A zombie counts as exited: in a container whose PID 1 does not
# reap orphans, a stopped daemon stays a zombie.
pid_alive() {
  local pid_file=$1 name=$2 pid stat
  [[ -s $pid_file ]] || return 1
  pid=$(<"$pid_file")
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  stat=$(cat "/proc/$pid/stat" 2>/dev/null) || return 1
  # /proc/PID/stat reads "PID (COMM) STATE ...".
  [[ $stat == "$pid ($name) "* && $stat != "$pid ($name) Z"* ]]
}

# stop_daemon PIDFILE NAME: sends SIGTERM, waits up to the timeout for the
# process to exit, then sends SIGKILL.
stop_daemon() {
  local pid_file=$1 name=$2 pid waited=0
  if ! pid_alive "$pid_file" "$name"; then
    rm -f "$pid_file"
    return 0
  fi
  pid=$(<"$pid_file")
  log "stopping $name (pid $pid)"
  kill -TERM "$pid" 2>/dev/null || true
  while pid_alive "$pid_file" "$name" && ((waited < timeout_s * 10)); do
    sleep 0.1
    waited=$((waited + 1))
  done
  if pid_alive "$pid_file" "$name"; then
    log "$name (pid $pid) did not exit within ${timeout_s} s, sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    sleep 0.5
  fi
  rm -f "$pid_file"
}

port_in_use() {
  local port=$1
  if command -v ss >/dev/null 2>&1; then
    [[ -n $(ss -Hltn "sport = :$port") ]]
  else
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null
  fi
}

# pick_port EXCLUDE: prints a free TCP port in 20000..39999 other than EXCLUDE.
# Another program can still take it before the daemon binds it. The daemon
# then fails to start and the start reports that with the daemon's log.
pick_port() {
  local exclude=$1 port attempt
  for attempt in $(seq 1 100); do
    port=$((20000 + RANDOM % 20000))
    if [[ $port != "$exclude" ]] && ! port_in_use "$port"; then
      echo "$port"
      return 0
    fi
  done
  die "found no free TCP port in 20000..39999 after 100 attempts"
}

write_config() {
  local cpus=$1 ctld_port=$2 slurmd_port=$3
  cat >"$conf" <<EOF
# Written by tests/slurm/local_cluster.sh for a one-node test cluster.
ClusterName=pipar-test
SlurmctldHost=$node(127.0.0.1)
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
SlurmUser=root
SlurmdUser=root

AuthType=auth/munge
AuthInfo=socket=$munge_socket
CredType=cred/munge

StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/run/slurmctld.pid
SlurmdPidFile=$dir/run/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info

# No cgroups: linuxproc tracks job processes through /proc, and task/none
# binds no CPUs, so the node can advertise more CPUs than it has.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
# One line per finished job with its state and exit code.
JobCompType=jobcomp/filetxt
JobCompLoc=$dir/log/jobcomp.log
MpiDefault=$mpi_default
MailProg=/bin/true

# Jobs and array tasks share the node CPU by CPU.
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
# Reject a job that can never fit at submit time instead of leaving it pending.
EnforcePartLimits=ALL
DependencyParameters=kill_invalid_depend
# The node is defined by this file, not by what slurmd detects.
SlurmdParameters=config_overrides
ReturnToService=2
# Finished jobs stay visible to scontrol for 10 minutes.
MinJobAge=600
KillWait=5
InactiveLimit=0

NodeName=$node NodeAddr=127.0.0.1 NodeHostname=$node CPUs=$cpus State=UNKNOWN
PartitionName=debug Nodes=$node Default=YES MaxTime=INFINITE State=UP
EOF
}

print_log_tail() {
  local file=$1
  if [[ -f $file ]]; then
    log "last lines of $file:"
    tail -n 20 "$file" >&2
  fi
}

# wait_for_pid_file PIDFILE NAME LOG: waits until the daemon has written its
# PID file and is alive, which is when it has started listening.
wait_for_pid_file() {
  local pid_file=$1 name=$2 log_file=$3 waited=0
  until pid_alive "$pid_file" "$name"; do
    if ((waited >= timeout_s * 10)); then
      print_log_tail "$log_file"
      die "$name did not start within ${timeout_s} s"
    fi
    sleep 0.1
    waited=$((waited + 1))
  done
}

start_munge() {
  if pid_alive "$dir/munge/munged.pid" munged; then
    return 0
  fi
  # munged requires every folder above its socket to be searchable by all
  # users and its key to be readable by its owner only.
  chmod 755 "$dir"
  mkdir -p -m 755 "$dir/munge"
  if [[ ! -s $dir/munge/munge.key ]]; then
    mungekey --create --keyfile="$dir/munge/munge.key"
  fi
  chmod 600 "$dir/munge/munge.key"
  munged --socket="$munge_socket" \
    --key-file="$dir/munge/munge.key" \
    --pid-file="$dir/munge/munged.pid" \
    --log-file="$dir/log/munged.log" \
    --seed-file="$dir/munge/munged.seed" ||
    {
      print_log_tail "$dir/log/munged.log"
      die "munged failed to start"
    }
  wait_for_pid_file "$dir/munge/munged.pid" munged "$dir/log/munged.log"
  munge -n --socket="$munge_socket" | unmunge --socket="$munge_socket" >/dev/null ||
    die "munged at $munge_socket does not decode its own credential"
}

node_state() {
  sinfo -h -n "$node" -o %T 2>/dev/null | head -n 1
}

start_cluster() {
  local missing=() program
  for program in munged mungekey slurmctld slurmd sinfo; do
    command -v "$program" >/dev/null 2>&1 || missing+=("$program")
  done
  ((${#missing[@]} == 0)) ||
    die "not found: ${missing[*]}; install slurm-wlm and munge (scripts/install-deps.sh)"
  [[ $(id -u) -eq 0 ]] || die "must run as root, because slurmd starts jobs as their owner"
  # Linux limits a Unix socket path to 107 bytes (sun_path is 108 bytes with
  # the terminating null). The sockets of munged, slurmstepd and the PMIx
  # plugin take up to 27 bytes below DIR with job 1, for example
  # spool/stepd.slurm.pmix.1.0, and about 45 with large job and step ids.
  ((${#dir} <= 60)) ||
    die "folder path '$dir' is longer than 60 bytes, too long for the Unix sockets under it"

  if pid_alive "$dir/run/slurmctld.pid" slurmctld && pid_alive "$dir/run/slurmd.pid" slurmd; then
    log "cluster in $dir is already running"
  else
    # Start from a clean slate: stale daemons of this folder go first.
    stop_daemon "$dir/run/slurmd.pid" slurmd
    stop_daemon "$dir/run/slurmctld.pid" slurmctld
    mkdir -p "$dir/state" "$dir/spool" "$dir/run" "$dir/log"
    start_munge

    # Debian's slurm-wlm-basic-plugins has the mpi/pmix plugin, which loads
    # pmix2/lib/libpmix.so from libpmix-dev. Without both, jobs get no PMI
    # unless srun is given another --mpi.
    mpi_default=none
    if compgen -G '/usr/lib/*/slurm-wlm/mpi_pmix.so' >/dev/null &&
      compgen -G '/usr/lib/*/pmix2/lib/libpmix.so' >/dev/null; then
      mpi_default=pmix
    fi

    local cpus real_cpus ctld_port slurmd_port
    real_cpus=$(nproc --all)
    cpus=${PIPAR_SLURM_CPUS:-$((real_cpus > 8 ? real_cpus : 8))}
    [[ $cpus =~ ^[1-9][0-9]*$ ]] || die "PIPAR_SLURM_CPUS must be a positive integer, got '$cpus'"
    ctld_port=$(pick_port 0)
    slurmd_port=$(pick_port "$ctld_port")
    write_config "$cpus" "$ctld_port" "$slurmd_port"
    log "node $node: $cpus CPUs advertised ($real_cpus real), MpiDefault=$mpi_default," \
      "slurmctld on 127.0.0.1:$ctld_port, slurmd on port $slurmd_port"

    slurmctld -f "$conf" -i ||
      {
        print_log_tail "$dir/log/slurmctld.log"
        die "slurmctld failed to start"
      }
    wait_for_pid_file "$dir/run/slurmctld.pid" slurmctld "$dir/log/slurmctld.log"
    slurmd -f "$conf" -N "$node" ||
      {
        print_log_tail "$dir/log/slurmd.log"
        die "slurmd failed to start"
      }
    wait_for_pid_file "$dir/run/slurmd.pid" slurmd "$dir/log/slurmd.log"
  fi

  local waited=0 state=""
  while true; do
    state=$(node_state)
    # sinfo appends * to the state of a node that does not respond and ~ to
    # one that is powered down. Only a plain idle, mixed or allocated node
    # accepts jobs.
    case $state in
      idle | mixed | allocated) break ;;
    esac
    if ((waited >= timeout_s * 2)); then
      print_log_tail "$dir/log/slurmctld.log"
      print_log_tail "$dir/log/slurmd.log"
      die "node $node is '$state', not idle, after ${timeout_s} s"
    fi
    sleep 0.5
    waited=$((waited + 1))
  done
  log "cluster in $dir is up, node $node is $state"
}

stop_cluster() {
  # Running jobs are cancelled first, because their slurmstepd processes
  # outlive slurmd.
  if pid_alive "$dir/run/slurmctld.pid" slurmctld; then
    local jobs waited=0
    jobs=$(squeue -h -o %A 2>/dev/null || true)
    if [[ -n $jobs ]]; then
      log "cancelling jobs: $(echo $jobs)"
      # shellcheck disable=SC2086 # one job id per word
      scancel $jobs 2>/dev/null || true
      while [[ -n $(squeue -h -o %A 2>/dev/null || true) ]] && ((waited < timeout_s * 2)); do
        sleep 0.5
        waited=$((waited + 1))
      done
      [[ -z $(squeue -h -o %A 2>/dev/null || true) ]] ||
        log "jobs still listed after ${timeout_s} s: $(squeue -h -o '%A %T' | tr '\n' ' ')"
    fi
  fi
  stop_daemon "$dir/run/slurmd.pid" slurmd
  stop_daemon "$dir/run/slurmctld.pid" slurmctld
  stop_daemon "$dir/munge/munged.pid" munged
  log "cluster in $dir is stopped"
}

case $verb in
  start) start_cluster ;;
  stop) stop_cluster ;;
  env) printf 'export SLURM_CONF=%q\n' "$conf" ;;
esac
