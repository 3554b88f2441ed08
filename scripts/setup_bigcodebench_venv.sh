#!/usr/bin/env bash
# Builds the interpreter BigCodeBench programs run in: a venv with the libraries its tasks
# import (scripts/bigcodebench-requirements.txt) and the NLTK data its tasks read
# (stopwords, punkt, punkt_tab; in VENV/nltk_data, a folder NLTK searches and the sandbox
# exposes). Takes a few minutes and ~3 GB.
#   scripts/setup_bigcodebench_venv.sh [VENV_DIR]        (default .venv-bigcodebench)
# then: prm-harness tasks check bigcodebench-hard --option python=VENV_DIR/bin/python
# NLTK data comes from NLTK's own data server (no PyPI package ships it): where that server
# cannot be reached the script says so and goes on; the tasks that need the data then try
# to download it themselves, fail in the sandbox's empty network and are reported as
# needs-network, not as reference failures. Run again with network access to add it.
# As root the sandbox runs programs as an unprivileged uid: keep the venv outside
# directories only root can enter, or rely on the sandbox exposing the interpreter's
# prefixes (it does, for the venv and its base Python).
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${1:-.venv-bigcodebench}"
PYTHON="${PYTHON:-python3}"
NLTK_DATA_PACKAGES="stopwords punkt punkt_tab"
if [ ! -x "$VENV/bin/python" ]; then
    "$PYTHON" -m venv "$VENV"
fi
"$VENV/bin/pip" install -q --no-cache-dir -r scripts/bigcodebench-requirements.txt
"$VENV/bin/python" -c "import pandas, sklearn, matplotlib, tensorflow; print('ok')"
"$VENV/bin/python" - "$VENV/nltk_data" $NLTK_DATA_PACKAGES <<'PY' || true
import sys

import nltk

target, packages = sys.argv[1], sys.argv[2:]
try:
    nltk.download(packages, download_dir=target, quiet=True, raise_on_error=True)
except Exception as exc:  # no route to NLTK's data server
    print(f"NLTK data NOT installed ({exc}); tasks needing {packages} will be reported "
          "as needs-network", file=sys.stderr)
    sys.exit(1)
print(f"NLTK data installed in {target}: {packages}")
PY
