#!/usr/bin/env bash
# What slurm_train.sh and slurm_test.sh share: run a tool under srun, one task
# per GPU. Called as: slurm_run.sh PARTITION JOB_NAME TOOL [TOOL ARGS...]
# (TOOL is train.py or test.py; its arguments already hold --launcher=slurm).
# Environment (mmseg's names):
#   GPUS           tasks in all                     (default 4)
#   GPUS_PER_NODE  tasks and GPUs per node; 0 for CPU-only nodes (default 4)
#   CPUS_PER_TASK  CPU cores per task               (default 5)
#   SRUN_ARGS      more srun options, e.g. "--quotatype=spot" (default none)
#   PORT           port of the rendezvous on the first node (default 29500)
set -euo pipefail
PARTITION=$1
JOB_NAME=$2
TOOL=$3
shift 3
source "$(dirname "${BASH_SOURCE[0]}")/python_env.sh"
GPUS=${GPUS:-4}
GPUS_PER_NODE=${GPUS_PER_NODE:-4}
CPUS_PER_TASK=${CPUS_PER_TASK:-5}
read -ra EXTRA <<< "${SRUN_ARGS:-}"
PER_NODE=()
if (( GPUS_PER_NODE > 0 )); then
  PER_NODE=(--gres="gpu:$GPUS_PER_NODE" --ntasks-per-node="$GPUS_PER_NODE")
fi

export MASTER_PORT=${PORT:-${MASTER_PORT:-29500}}
exec srun -p "$PARTITION" --job-name="$JOB_NAME" --ntasks="$GPUS" \
  "${PER_NODE[@]}" --cpus-per-task="$CPUS_PER_TASK" --kill-on-bad-exit=1 \
  "${EXTRA[@]}" \
  "$PYTHON" -u "$ROOT/tools/$TOOL" "$@"
