#!/usr/bin/env bash
# Train on a Slurm cluster, one task per GPU:
#   tools/slurm_train.sh PARTITION JOB_NAME CONFIG WORK_DIR [tools/train.py options]
# Environment: GPUS, GPUS_PER_NODE, CPUS_PER_TASK, SRUN_ARGS, PORT, as
# described in tools/slurm_run.sh.
set -euo pipefail
if (( $# < 4 )); then
  echo "usage: $0 PARTITION JOB_NAME CONFIG WORK_DIR [tools/train.py options]" >&2
  exit 2
fi
exec bash "$(dirname "${BASH_SOURCE[0]}")/slurm_run.sh" "$1" "$2" train.py \
  "$3" --work-dir="$4" --launcher=slurm "${@:5}"
