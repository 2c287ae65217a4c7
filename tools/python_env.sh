# Sourced by dist_run.sh and slurm_run.sh. Sets ROOT (this checkout), PYTHON
# (the project's venv, else the python on PATH; an exported $PYTHON wins)
# and PYTHONPATH (this checkout's fcn_mm first).
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
if [[ -z "${PYTHON:-}" ]]; then
  PYTHON=python
  [[ -x "$ROOT/.venv/bin/python" ]] && PYTHON="$ROOT/.venv/bin/python"
fi
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
