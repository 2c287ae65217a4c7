#!/usr/bin/env bash
# What dist_train.sh and dist_test.sh share: pre-flight checks, then torchrun
# with GPUS processes per machine. Called as:
#   dist_run.sh GPUS TOOL [TOOL ARGS...]
# (TOOL is train.py or test.py; its arguments already hold --launcher pytorch).
# Several machines: run the same command on each, with the environment
#   NNODES       number of machines                       (default 1)
#   NODE_RANK    this machine's index, 0..NNODES-1         (default 0)
#   MASTER_ADDR  address of the NODE_RANK=0 machine        (default 127.0.0.1)
#   PORT         free port on that machine                 (default 29500)
#   MASTER_TIMEOUT  seconds the others wait for it          (default 60)
# Elastic mode: MAX_RESTARTS=N (N > 0) restarts all processes up to N times
# when one fails, each time resuming from the work dir's last checkpoint
# (c10d rendezvous at MASTER_ADDR:PORT, TOOL --resume).
# Without CUDA the processes run on CPU with the gloo backend. torchrun
# replaces this shell (same PID); its workers end when it does, even on
# SIGKILL (fcn_mm.engine.distributed.end_with_launcher).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/python_env.sh"
GPUS=$1
TOOL=$2
shift 2
NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
MASTER_ADDR=${MASTER_ADDR:-127.0.0.1}
PORT=${PORT:-29500}
MAX_RESTARTS=${MAX_RESTARTS:-0}
if [[ ! "$MAX_RESTARTS" =~ ^[0-9]+$ ]]; then
  echo "error: MAX_RESTARTS must be an integer >= 0, got '$MAX_RESTARTS'" >&2
  exit 1
fi

# Standard library only: fails in milliseconds instead of torchrun hanging.
"$PYTHON" "$ROOT/fcn_mm/engine/launch_check.py" --nnodes "$NNODES" \
  --node-rank "$NODE_RANK" --nproc-per-node "$GPUS" \
  --master-addr "$MASTER_ADDR" --port "$PORT" \
  --timeout "${MASTER_TIMEOUT:-60}"

if (( MAX_RESTARTS > 0 )); then
  # Ranks come from the rendezvous, not NODE_RANK; each restart resumes.
  LAUNCH=(--max-restarts "$MAX_RESTARTS" --rdzv-backend c10d
          --rdzv-endpoint "$MASTER_ADDR:$PORT" --rdzv-id "${RDZV_ID:-fcn_mm}")
  set -- "$@" --resume
  # A fresh store for each restart: in the rendezvous store torchrun shares
  # by default, the keys of the killed attempt remain and the new processes
  # can read old addresses, failing or hanging (pytorch/pytorch#135712).
  export TORCH_DISABLE_SHARE_RDZV_TCP_STORE=1
else
  LAUNCH=(--node-rank "$NODE_RANK" --master-addr "$MASTER_ADDR"
          --master-port "$PORT")
fi
# exec keeps this PID: the workers compare it with their parent's.
export FCN_MM_LAUNCHER_PID=$$
exec "$PYTHON" -m torch.distributed.run --nnodes "$NNODES" \
  --nproc-per-node "$GPUS" "${LAUNCH[@]}" \
  "$ROOT/tools/$TOOL" "$@"
