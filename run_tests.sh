#!/usr/bin/env bash
# Set up (or reuse) .venv and run the whole test suite with one torch thread.
# Extra arguments go to pytest, e.g. ./run_tests.sh -k envs -x
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
source scripts/bootstrap.sh
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
exec "$OFFMARL_PY" -m pytest -q "$@"
