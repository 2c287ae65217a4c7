#!/usr/bin/env bash
# Train on GPUS processes per machine with torchrun:
#   tools/dist_train.sh CONFIG GPUS [tools/train.py options]
# Environment: NNODES, NODE_RANK, MASTER_ADDR, PORT, MASTER_TIMEOUT for
# several machines and MAX_RESTARTS for elastic mode, as described in
# tools/dist_run.sh.
set -euo pipefail
if (( $# < 2 )); then
  echo "usage: $0 CONFIG GPUS [tools/train.py options]" >&2
  exit 2
fi
exec bash "$(dirname "${BASH_SOURCE[0]}")/dist_run.sh" "$2" train.py \
  "$1" --launcher pytorch "${@:3}"
