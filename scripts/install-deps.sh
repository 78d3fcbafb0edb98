#!/usr/bin/env bash
# Installs the Debian 12 packages that pipar builds, runs and tests with.
# Idempotent: packages already present are skipped, and nothing is printed
# when all of them are there. Runs apt-get as root, or through sudo.
set -euo pipefail

packages=(
  build-essential cmake ninja-build ccache pkg-config git
  libtorch-dev libopenblas0-pthread
  libopenmpi-dev openmpi-bin
  libhdf5-dev hdf5-tools
  libcli11-dev libgtest-dev zlib1g-dev
  libmatio-dev  # reads the MATLAB .mat files of SVHN
  libtomlplusplus-dev nlohmann-json3-dev
  dataset-fashion-mnist
  python3 python3-h5py python3-matplotlib
  # Slurm for the jobs/ scripts and the one-node test cluster. The mpi/pmix
  # plugin (mpi_pmix_v4.so) is in slurm-wlm-basic-plugins and loads
  # pmix2/lib/libpmix.so, a file that only libpmix-dev ships.
  slurm-wlm slurm-wlm-basic-plugins munge libpmix-dev
)

missing=()
for package in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$package" 2>/dev/null || true)
  if [[ "$status" != "install ok installed" ]]; then
    missing+=("$package")
  fi
done

if ((${#missing[@]} == 0)); then
  exit 0
fi

if [[ $(id -u) -eq 0 ]]; then
  sudo_cmd=()
elif command -v sudo >/dev/null 2>&1; then
  sudo_cmd=(sudo)
else
  echo "install-deps: missing packages: ${missing[*]}" >&2
  echo "install-deps: run this script as root or install sudo" >&2
  exit 1
fi

echo "install-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
# The munge, slurmctld and slurmd packages start their services on install,
# which cannot work in a container without an init system. Without systemd,
# and when no policy-rc.d is there already, a policy-rc.d that denies every
# start (exit status 101, see invoke-rc.d(8)) is in place for this install only.
policy_rc_d=/usr/sbin/policy-rc.d
if [[ ! -d /run/systemd/system && ! -e $policy_rc_d ]]; then
  printf '#!/bin/sh\nexit 101\n' | "${sudo_cmd[@]}" tee "$policy_rc_d" >/dev/null
  "${sudo_cmd[@]}" chmod 755 "$policy_rc_d"
  trap '"${sudo_cmd[@]}" rm -f "$policy_rc_d"' EXIT
fi
"${sudo_cmd[@]}" apt-get update -qq
"${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
