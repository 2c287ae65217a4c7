#!/usr/bin/env bash
# Set up .venv (idempotent) and run the whole test suite, slow tests included.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
bash tools/setup_env.sh
exec .venv/bin/python -m pytest tests "$@"
