#!/usr/bin/env bash
# Create or update .venv with the stack fcn_mm runs on: torch 2.13 (CPU wheel
# here; an existing torch, e.g. a CUDA build, is kept), mmengine 0.10.7,
# mmcv 2.1.0 compiled with its ops, mmsegmentation 1.2.2 and fcn_mm itself
# with its deploy extra (onnx, onnxscript, onnxruntime), which tests use.
# Idempotent: a second run checks the stamp and an import, then exits.
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV="$ROOT/.venv"
PY="$VENV/bin/python"
LOG="$VENV/setup.log"
# The stamp changes whenever this script or the package metadata changes.
STAMP_VALUE=$(cat "$ROOT/tools/setup_env.sh" "$ROOT/setup.py" | sha256sum | cut -c1-16)
STAMP="$VENV/.fcn_mm_setup_$STAMP_VALUE"
IMPORT_CHECK='import mmcv.ops, mmseg, fcn_mm, onnxruntime, onnxscript'

fail() {  # one line: what failed and what to do
  echo "setup_env: FAILED while $1 - $2 (full log: $LOG)" >&2
  exit 1
}

step() {  # step DESCRIPTION HINT CMD...
  local what=$1 hint=$2
  shift 2
  echo "setup_env: $what"
  "$@" >>"$LOG" 2>&1 || fail "$what" "$hint"
}

if [ -f "$STAMP" ] && "$PY" -c "$IMPORT_CHECK" >/dev/null 2>&1; then
  echo "setup_env: .venv is up to date ($("$PY" -c 'import torch, mmcv, mmseg; print("torch", torch.__version__, "mmcv", mmcv.__version__, "mmseg", mmseg.__version__)'))"
  exit 0
fi

if [ ! -x "$PY" ]; then
  python3 -c 'import sys; sys.exit(sys.version_info < (3, 9))' \
    || fail "checking python3" "fcn_mm needs Python >= 3.9 as python3"
  python3 -m venv "$VENV" || fail "creating $VENV" "install the venv module (apt-get install python3-venv)"
fi
: >"$LOG"
PIP=("$PY" -m pip install --disable-pip-version-check)

# mmcv's build and mmengine's `mmseg::` config inheritance import pkg_resources,
# which setuptools 81 removed; torch 2.13 needs setuptools >= 77.0.3.
step "installing build tools" "check that PyPI is reachable" \
  "${PIP[@]}" "setuptools>=77.0.3,<81" wheel ninja
if "$PY" -c 'import torch' >/dev/null 2>&1; then
  echo "setup_env: keeping installed torch $("$PY" -c 'import torch; print(torch.__version__)')"
else
  # Pinned: an unpinned torch pulls several GB of CUDA packages on a CPU box.
  step "installing torch 2.13.0" "check that PyPI is reachable and 3 GB of disk is free" \
    "${PIP[@]}" torch==2.13.0
fi
step "installing numpy 2, mmengine (with opencv), scipy, pytest" "check that PyPI is reachable" \
  "${PIP[@]}" "numpy>=2" mmengine==0.10.7 ftfy regex scipy pytest
if ! "$PY" -c 'import mmcv.ops' >/dev/null 2>&1; then
  # mmseg 1.2.2 imports mmcv.ops, so mmcv-lite is not enough, and it asserts
  # mmcv < 2.2.0; no wheel exists for this torch, so compile the ops (about
  # 6 minutes on 2 cores the first time; pip's wheel cache makes it seconds).
  MMCV_ENV=(MAX_JOBS="${MAX_JOBS:-$(nproc)}")
  MMCV_PIP=()
  if "$PY" -c 'import sys, torch; sys.exit(torch.version.cuda is None)' >/dev/null 2>&1; then
    # A CUDA torch: build the CUDA ops too, and bypass pip's wheel cache,
    # which is keyed by the sdist and may hold an earlier CPU-only build.
    MMCV_ENV+=(FORCE_CUDA=1)
    MMCV_PIP=(--no-cache-dir)
  fi
  step "building mmcv 2.1.0 with its compiled ops (first time 6-12 min)" \
    "install gcc/g++ and the Python headers (apt-get install build-essential python3-dev); for CUDA ops also nvcc" \
    env "${MMCV_ENV[@]}" "${PIP[@]}" --no-build-isolation "${MMCV_PIP[@]}" mmcv==2.1.0
fi
step "installing mmsegmentation 1.2.2 and fcn_mm[deploy]" "check that PyPI is reachable" \
  "${PIP[@]}" mmsegmentation==1.2.2 -e "$ROOT[deploy]" --no-build-isolation
# mmengine imports torchvision whenever it is present; a CUDA torchvision
# next to CPU torch fails at import (torchvision::nms), so keep it out.
if "$PY" -c 'import torch, sys; sys.exit(torch.cuda.is_available())' >/dev/null 2>&1 \
   && "$PY" -m pip show torchvision >/dev/null 2>&1 \
   && ! "$PY" -c 'import torchvision' >/dev/null 2>&1; then
  step "removing a torchvision that cannot import here" "run: $PY -m pip uninstall torchvision" \
    "$PY" -m pip uninstall -y torchvision
fi
"$PY" -c "$IMPORT_CHECK" >>"$LOG" 2>&1 \
  || fail "importing mmcv.ops, mmseg, fcn_mm and onnxruntime" "delete .venv and run this script again"
rm -f "$VENV"/.fcn_mm_setup_*
touch "$STAMP"
echo "setup_env: ready ($("$PY" -c 'import torch, mmcv, mmseg; print("torch", torch.__version__, "mmcv", mmcv.__version__, "mmseg", mmseg.__version__)'))"
