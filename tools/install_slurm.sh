#!/bin/sh
# Make sure Slurm (slurmctld, slurmd) and MUNGE are installed, for the test that grades on a real one-node
# Slurm cluster (tests/test_distributed.py): `make env` runs this. As root with apt-get (CI, a fresh
# Debian/Ubuntu machine) it installs the Debian packages; otherwise it only says what the test needs.
# It never fails the set-up and starts no daemon: the test starts its own, on its own ports, and stops them.
command -v slurmctld >/dev/null 2>&1 && command -v slurmd >/dev/null 2>&1 && command -v munged >/dev/null 2>&1 && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing slurmctld, slurmd and munge (the Slurm test's one-node cluster) with apt-get"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -qq --no-install-recommends slurmctld slurmd munge >/dev/null 2>&1 ||
        { apt-get update -qq >/dev/null 2>&1 &&
          apt-get install -y -qq --no-install-recommends slurmctld slurmd munge >/dev/null 2>&1; } ||
        echo "warning: apt-get could not install Slurm; the real-Slurm test will be skipped" >&2
else
    echo "note: Slurm is not installed; the real-Slurm grading test is skipped (as root:" \
         "apt-get install slurmctld slurmd munge)" >&2
fi
exit 0
