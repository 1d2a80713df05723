#!/usr/bin/env bash
# make test-slurm: a single-node SLURM cluster on this machine (Debian's slurm-wlm and
# munge, a generated slurm.conf, slurmctld and slurmd as local daemons, no accounting),
# workflow/Snakefile run on the demo world through Snakemake's SLURM executor plugin
# (every job submitted with sbatch), its products compared with `make demo`'s, and the
# daemons it started stopped again.
#
#   workflow/slurm/test-slurm.sh VENV DEMO_DIR OUT
#
# Needs root (the daemons run as root; a cluster's admins run them for real) and, where
# the packages are missing, apt. Job states come from squeue (no slurmdbd for sacct):
# MinJobAge keeps finished jobs visible to it.
set -euo pipefail
VENV=$(cd "$1" && pwd)
DEMO_DIR=$2
OUT=$3
export PATH="$VENV/bin:$PATH"
if [ "$(id -u)" != 0 ]; then
  echo "test-slurm: starts slurmctld, slurmd and munged as root; run it as root (or in a container)" >&2
  exit 2
fi
if ! command -v slurmctld > /dev/null || ! command -v munged > /dev/null; then
  echo "== installing Debian's slurm-wlm and munge" >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q slurm-wlm munge > /dev/null
fi
"$VENV/bin/python" -c "import snakemake_executor_plugin_slurm" 2> /dev/null || \
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check "snakemake-executor-plugin-slurm>=2.0"

CLUSTER=$(mktemp -d /tmp/rts-slurm.XXXXXX)
mkdir -p "$CLUSTER"/{state,spool,log}
HOST=$(hostname -s)
CPUS=$(nproc)
MEMORY_MB=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 * 8 / 10 ))
export SLURM_CONF="$CLUSTER/slurm.conf"
cat > "$SLURM_CONF" << EOF
ClusterName=rtsmap-test
SlurmctldHost=$HOST
SlurmUser=root
SlurmdUser=root
SlurmctldPort=16817
SlurmdPort=16818
StateSaveLocation=$CLUSTER/state
SlurmdSpoolDir=$CLUSTER/spool
SlurmctldPidFile=$CLUSTER/slurmctld.pid
SlurmdPidFile=$CLUSTER/slurmd.pid
SlurmctldLogFile=$CLUSTER/log/slurmctld.log
SlurmdLogFile=$CLUSTER/log/slurmd.log
AuthType=auth/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
MinJobAge=3600
ReturnToService=2
MpiDefault=none
NodeName=$HOST CPUs=$CPUS RealMemory=$MEMORY_MB State=UNKNOWN
PartitionName=rtsmap Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF

# job steps (srun inside each sbatch job) read the default path: link it there unless a
# cluster is configured on this machine already
LINKED_CONF=""
if [ ! -e /etc/slurm/slurm.conf ]; then
  mkdir -p /etc/slurm && ln -s "$SLURM_CONF" /etc/slurm/slurm.conf && LINKED_CONF=/etc/slurm/slurm.conf
fi
STARTED_MUNGE=""
stop() {
  scancel --user=root 2> /dev/null || true
  for pid in "$CLUSTER/slurmd.pid" "$CLUSTER/slurmctld.pid"; do
    [ -f "$pid" ] && kill "$(cat "$pid")" 2> /dev/null || true
  done
  [ -n "$STARTED_MUNGE" ] && kill "$STARTED_MUNGE" 2> /dev/null || true
  [ -n "$LINKED_CONF" ] && rm -f "$LINKED_CONF" || true
  echo "== stopped the daemons this test started (logs in $CLUSTER/log)" >&2
}
trap stop EXIT

if ! munge -n > /dev/null 2>&1; then
  mkdir -p /run/munge && chown munge:munge /run/munge 2> /dev/null || true
  munged --force --pid-file="$CLUSTER/munged.pid" 2> /dev/null
  sleep 1
  STARTED_MUNGE=$(cat "$CLUSTER/munged.pid")
fi
slurmctld
slurmd
for _ in $(seq 30); do sinfo -h -o %t 2> /dev/null | grep -q idle && break; sleep 1; done
echo "== SLURM $(sinfo -V | cut -d' ' -f2): $(sinfo -h -o '%P %D node(s) %c CPUs %t')" >&2

echo "== workflow/Snakefile through the SLURM executor -> $OUT" >&2
rm -rf "$OUT"
snakemake -s workflow/Snakefile --configfile workflow/config.demo.yaml --config out="$OUT" \
  scenes="$DEMO_DIR/scenes.txt" dem="$DEMO_DIR/world/aux/dem.tif" tcvis="$DEMO_DIR/world/aux/tcvis.tif" \
  landcover="$DEMO_DIR/world/aux/landcover.tif" water="$DEMO_DIR/world/aux/landcover.tif" \
  truth="$DEMO_DIR/world/truth/rts.parquet" scenes_csv="$DEMO_DIR/world/scenes.csv" \
  --executor slurm --jobs 8 --slurm-status-command squeue --latency-wait 10 \
  --default-resources slurm_partition=rtsmap mem_mb=2000 runtime=30 cpus_per_task=1 \
  --set-resources infer:gpu=0 2>&1 | tee "$CLUSTER/snakemake.log" | grep -E "SLURM|sbatch|jobid|steps \(" >&2
echo "== jobs the cluster ran (squeue, finished jobs kept for MinJobAge):" >&2
squeue -t all -h -o '%i %j %T %M' | sort -n | sed 's/^/   /' >&2
jobs=$(squeue -t all -h -o '%T' | grep -c COMPLETED || true)
echo "== $jobs jobs completed through sbatch" >&2
python -m tests.e2e.compare_products "$DEMO_DIR" "$OUT"
