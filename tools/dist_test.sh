#!/usr/bin/env bash
# Test a checkpoint on GPUS processes per machine with torchrun:
#   tools/dist_test.sh CONFIG CHECKPOINT GPUS [tools/test.py options]
# Several machines: run the same command on each, with the environment
#   NNODES       number of machines                       (default 1)
#   NODE_RANK    this machine's index, 0..NNODES-1         (default 0)
#   MASTER_ADDR  address of the NODE_RANK=0 machine        (default 127.0.0.1)
#   PORT         free port on that machine                 (default 29500)
#   MASTER_TIMEOUT  seconds the others wait for it          (default 60)
# Without CUDA the processes run on CPU with the gloo backend.
set -euo pipefail
if (( $# < 3 )); then
  echo "usage: $0 CONFIG CHECKPOINT GPUS [tools/test.py options]" >&2
  exit 2
fi
CONFIG=$1
CHECKPOINT=$2
GPUS=$3
shift 3
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
if [[ -z "${PYTHON:-}" ]]; then  # the project's venv, else the one on PATH
  PYTHON=python
  [[ -x "$ROOT/.venv/bin/python" ]] && PYTHON="$ROOT/.venv/bin/python"
fi
NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
MASTER_ADDR=${MASTER_ADDR:-127.0.0.1}
PORT=${PORT:-29500}

# Standard library only: fails in milliseconds instead of torchrun hanging.
"$PYTHON" "$ROOT/fcn_mm/engine/launch_check.py" --nnodes "$NNODES" \
  --node-rank "$NODE_RANK" --nproc-per-node "$GPUS" \
  --master-addr "$MASTER_ADDR" --port "$PORT" \
  --timeout "${MASTER_TIMEOUT:-60}"

export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
exec "$PYTHON" -m torch.distributed.run --nnodes "$NNODES" \
  --nproc-per-node "$GPUS" --node-rank "$NODE_RANK" \
  --master-addr "$MASTER_ADDR" --master-port "$PORT" \
  "$ROOT/tools/test.py" "$CONFIG" "$CHECKPOINT" --launcher pytorch "$@"
