#!/usr/bin/env bash
# Generate (or resume) the stored real runs of one zoo model, one after another, at the
# lowest CPU priority and on one torch thread (docs/stored-runs.md):
#   examples/real/generate.sh smollm2     # the four smollm2-* runs
#   examples/real/generate.sh gemma3      # the four gemma3-* runs
# Killing it at any point loses at most the shard in progress; run it again to resume.
set -euo pipefail
cd "$(dirname "$0")/../.."
prefix=${1:?usage: generate.sh smollm2|gemma3}
export OMP_NUM_THREADS=1 TOKENIZERS_PARALLELISM=false HF_HUB_OFFLINE=1
for task in synthetic-arith math500-easy humanevalplus mbppplus; do
  config=examples/real/${prefix}-${task}.yaml
  echo "== $(date -u +%FT%TZ) start ${config}"
  nice -n 19 .venv/bin/prm-harness run "$config" --runs-dir runs
  echo "== $(date -u +%FT%TZ) done ${config}"
done
