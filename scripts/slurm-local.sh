#!/usr/bin/env bash
# A real single-node Slurm cluster on this machine, for the sweep tests (and for trying the Slurm
# executor by hand), from Debian's slurm-wlm and munge, following the tested recipe of
# ../shared/reference/scaleout.md: a private munged, slurmctld and slurmd, every file under WORKDIR
# (nothing in /etc, /var or /run), all running as root.
#
#   scripts/slurm-local.sh up WORKDIR     starts the daemons; prints `export SLURM_CONF=...`
#   scripts/slurm-local.sh down WORKDIR   stops them (by recorded pid, in reverse order)
#
# Bring-up failures say which daemon and show its log. Callers put `down` in an EXIT trap.
set -euo pipefail
cmd=${1:-}; WORKDIR=${2:-}
if [ -z "$cmd" ] || [ -z "$WORKDIR" ]; then
  echo "usage: $0 up|down WORKDIR" >&2; exit 2
fi
WORKDIR=$(mkdir -p "$WORKDIR" && cd "$WORKDIR" && pwd)
chmod 755 "$WORKDIR"  # munged needs execute permission for all on its socket's folders (mktemp -d: 700)
fail() { echo "slurm-local: $*" >&2; exit 1; }

down() {
  [ -f "$WORKDIR/pids" ] || return 0
  for pid in $(tac "$WORKDIR/pids"); do
    kill "$pid" 2>/dev/null || continue
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && kill -9 "$pid" 2>/dev/null || true
  done
  rm -f "$WORKDIR/pids"
}

if [ "$cmd" = down ]; then down; exit 0; fi
[ "$cmd" = up ] || fail "unknown command '$cmd' (up | down)"
for p in munged mungekey slurmctld slurmd sinfo sbatch; do
  command -v "$p" >/dev/null || fail "$p not found: install Debian's slurm-wlm and munge (scripts/deps.sh does)"
done
[ "$(id -u)" = 0 ] || fail "this recipe runs the daemons as root (SlurmUser=root); run as root"
down  # a previous cluster in the same folder
H=$(hostname -s); NCPU=$(nproc)
# Free ports, so that this cluster does not collide with another one on the machine (Slurm's
# defaults 6817/6818, or a second test run).
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
CTLD_PORT=$(free_port); SLURMD_PORT=$(free_port)
MEM=$(( $(free -m | awk '/^Mem:/{print $2}') * 9 / 10 ))   # RealMemory must be <= the reported
rm -rf "$WORKDIR"/{munge,state,spool,log}
mkdir -p "$WORKDIR"/{munge,state,spool,log,out}
chmod 755 "$WORKDIR/munge"                                  # 700 makes munged refuse to start
mungekey -c -k "$WORKDIR/munge/munge.key" >/dev/null 2>&1 || fail "mungekey failed"
munged -F -S "$WORKDIR/munge/munge.sock" --key-file="$WORKDIR/munge/munge.key" \
  --pid-file="$WORKDIR/munge/munged.pid" --seed-file="$WORKDIR/munge/munged.seed" \
  >>"$WORKDIR/log/munged.out" 2>&1 &
echo $! > "$WORKDIR/pids"
for _ in $(seq 50); do [ -S "$WORKDIR/munge/munge.sock" ] && break; sleep 0.1; done
munge -S "$WORKDIR/munge/munge.sock" -n | unmunge -S "$WORKDIR/munge/munge.sock" >/dev/null 2>&1 ||
  { tail -n 20 "$WORKDIR/log/munged.out" >&2; down; fail "munged did not start (log above)"; }

cat > "$WORKDIR/slurm.conf" <<EOF
ClusterName=unravel
SlurmctldHost=$H(127.0.0.1)
SlurmctldPort=$CTLD_PORT
SlurmdPort=$SLURMD_PORT
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$WORKDIR/munge/munge.sock
StateSaveLocation=$WORKDIR/state
SlurmdSpoolDir=$WORKDIR/spool
SlurmctldPidFile=$WORKDIR/slurmctld.pid
SlurmdPidFile=$WORKDIR/slurmd.pid
SlurmctldLogFile=$WORKDIR/log/slurmctld.log
SlurmdLogFile=$WORKDIR/log/slurmd.log
MailProg=/bin/true
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=none
ReturnToService=2
DependencyParameters=kill_invalid_depend
MinJobAge=300
NodeName=$H NodeAddr=127.0.0.1 CPUs=$NCPU RealMemory=$MEM State=UNKNOWN
PartitionName=local Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
export SLURM_CONF="$WORKDIR/slurm.conf"
slurmctld -D -f "$SLURM_CONF" >>"$WORKDIR/log/slurmctld.out" 2>&1 &
echo $! >> "$WORKDIR/pids"
for _ in $(seq 100); do scontrol ping 2>/dev/null | grep -q 'is UP' && break; sleep 0.1; done
scontrol ping 2>/dev/null | grep -q 'is UP' ||
  { tail -n 20 "$WORKDIR"/log/slurmctld.* >&2; down; fail "slurmctld did not come up (log above)"; }
slurmd -D -f "$SLURM_CONF" >>"$WORKDIR/log/slurmd.out" 2>&1 &
echo $! >> "$WORKDIR/pids"
for _ in $(seq 60); do [ "$(sinfo -h -N -o %T 2>/dev/null)" = idle ] && break; sleep 0.5; done
if [ "$(sinfo -h -N -o %T 2>/dev/null)" != idle ]; then
  sinfo -R >&2 || true; tail -n 20 "$WORKDIR"/log/slurmd.* >&2
  down; fail "the node did not become idle (state: $(sinfo -h -N -o %T 2>/dev/null); log above)"
fi
echo "export SLURM_CONF=$SLURM_CONF"
