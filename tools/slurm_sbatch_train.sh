#!/usr/bin/env bash
# A preemptible training job for sbatch. Submit from the repository root with
# the resources on the command line, e.g. 2 nodes x 8 GPUs:
#   sbatch -p PARTITION -N 2 --ntasks-per-node=8 --gres=gpu:8 \
#     --cpus-per-task=5 --time=24:00:00 \
#     tools/slurm_sbatch_train.sh CONFIG WORK_DIR [tools/train.py options]
# Every start runs train.py --resume. Preemption and scancel send SIGTERM,
# and --signal below sends SIGUSR1 90 s before the time limit: the run saves
# the iteration it completed and exits 143 or 138 (PreemptionHook, in every
# config). Slurm requeues a preempted job itself (--requeue); after SIGUSR1
# this script requeues it. Environment: PORT (rendezvous port, default 29500).
#SBATCH --signal=USR1@90
#SBATCH --requeue
#SBATCH --open-mode=append
set -uo pipefail
if (( $# < 2 )); then
  echo "usage: sbatch [options] $0 CONFIG WORK_DIR [tools/train.py options]" >&2
  exit 2
fi
# sbatch runs a copy of this script: find the checkout from the submit dir.
source "${SLURM_SUBMIT_DIR:-.}/tools/python_env.sh"
export MASTER_PORT=${PORT:-${MASTER_PORT:-29500}}
# Slurm's SIGTERM also reaches this shell: wait for the run to save rather
# than end the job under it (a trap with a command is not inherited).
trap 'echo "$0: SIGTERM; waiting for the run to save" >&2' TERM
srun --kill-on-bad-exit=1 "$PYTHON" -u "$ROOT/tools/train.py" "$1" \
  --work-dir="$2" --launcher=slurm --resume "${@:3}"
rc=$?
if (( rc == 138 )); then  # SIGUSR1: out of time, saved
  scontrol requeue "$SLURM_JOB_ID"
fi
exit "$rc"
