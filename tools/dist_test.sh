#!/usr/bin/env bash
# Test a checkpoint on GPUS processes per machine with torchrun:
#   tools/dist_test.sh CONFIG CHECKPOINT GPUS [tools/test.py options]
# Environment: NNODES, NODE_RANK, MASTER_ADDR, PORT, MASTER_TIMEOUT for
# several machines, as described in tools/dist_run.sh.
set -euo pipefail
if (( $# < 3 )); then
  echo "usage: $0 CONFIG CHECKPOINT GPUS [tools/test.py options]" >&2
  exit 2
fi
# A test has nothing to resume: no elastic restarts.
MAX_RESTARTS=0 exec bash "$(dirname "${BASH_SOURCE[0]}")/dist_run.sh" "$3" \
  test.py "$1" "$2" --launcher pytorch "${@:4}"
