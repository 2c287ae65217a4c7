#!/usr/bin/env bash
# Test a checkpoint on a Slurm cluster, one task per GPU:
#   tools/slurm_test.sh PARTITION JOB_NAME CONFIG CHECKPOINT [tools/test.py options]
# Environment: GPUS, GPUS_PER_NODE, CPUS_PER_TASK, SRUN_ARGS, PORT, as
# described in tools/slurm_run.sh.
set -euo pipefail
if (( $# < 4 )); then
  echo "usage: $0 PARTITION JOB_NAME CONFIG CHECKPOINT [tools/test.py options]" >&2
  exit 2
fi
exec bash "$(dirname "${BASH_SOURCE[0]}")/slurm_run.sh" "$1" "$2" test.py \
  "$3" "$4" --launcher=slurm "${@:5}"
