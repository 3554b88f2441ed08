#!/usr/bin/env bash
# Builds the interpreter BigCodeBench programs run in: a venv with the libraries its tasks
# import (scripts/bigcodebench-requirements.txt). Takes a few minutes and ~3 GB.
#   scripts/setup_bigcodebench_venv.sh [VENV_DIR]        (default .venv-bigcodebench)
# then: prm-harness tasks check bigcodebench-hard --option python=VENV_DIR/bin/python
# As root the sandbox runs programs as an unprivileged uid: keep the venv outside
# directories only root can enter, or rely on the sandbox exposing the interpreter's
# prefixes (it does, for the venv and its base Python).
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${1:-.venv-bigcodebench}"
PYTHON="${PYTHON:-python3}"
"$PYTHON" -m venv "$VENV"
"$VENV/bin/pip" install -q --no-cache-dir -r scripts/bigcodebench-requirements.txt
"$VENV/bin/python" -c "import pandas, sklearn, matplotlib, tensorflow; print('ok')"
