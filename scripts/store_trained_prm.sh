#!/usr/bin/env bash
# Store a trained PRM's record and evaluations in trained/NAME (what trained/README.md
# shows and tests/test_trained_results.py recomputes), from train-out/NAME and its step
# scores on the ProcessBench eval items:
#   prm-harness processbench items pb-eval-items.jsonl --split gsm8k --split olympiadbench --split omnimath
#   prm-harness score pb-eval-items.jsonl --prm train-out/NAME/prm.yaml --model train-out/NAME/prm --out SCORES
#   prm-harness leaderboard build-pools math-qwen100 --pools-dir POOLS
#   bash scripts/store_trained_prm.sh NAME SCORES POOLS
# POOLS "-" stores the ProcessBench evaluation only (no prm@N gate).
# The baselines' ProcessBench scores are PRM-Math's stored ones (the same 2400 items).
set -euo pipefail
name=$1 scores=$2 pools=$3
src=train-out/$name dst=trained/$name
mkdir -p "$dst"
cp "$src/train_log.jsonl" "$src/train.json" "$src/prm.yaml" "$dst/"
cp "$src/prm/trained_prm.json" "$dst/"
python - "$scores" "$dst" <<'PY'
import gzip, json, shutil, sys
from pathlib import Path
scores, dst = Path(sys.argv[1]), Path(sys.argv[2])
lines = [json.dumps({"problem_id": r["problem_id"], "step_scores": r["step_scores"]})
         for r in map(json.loads, scores.read_text().splitlines())]
data = ("\n".join(lines) + "\n").encode()
with open(dst / "processbench_scores.jsonl.gz", "wb") as f:  # no name, no time: same bytes
    with gzip.GzipFile(fileobj=f, mode="wb", filename="", mtime=0) as z:
        z.write(data)
shutil.copyfile(f"{scores}.manifest.json", dst / "processbench_scores.manifest.json")
PY
for base in step-length step-random; do
  cp trained/prm-pb-smollm2-l4/processbench_$base.jsonl.gz "$dst/"
  gunzip -c "$dst/processbench_$base.jsonl.gz" > "/tmp/$name-$base.jsonl"
  gunzip -c "$dst/processbench_scores.jsonl.gz" > "/tmp/$name-scores.jsonl"
  prm-harness processbench eval "/tmp/$name-scores.jsonl" --split gsm8k --split olympiadbench \
    --split omnimath --bootstrap 1000 --seed 0 --against "/tmp/$name-$base.jsonl" \
    --out "$dst/processbench_eval_vs_$base.json" > /dev/null
done
if [ "$pools" = "-" ]; then echo "stored $dst (no ci)"; exit 0; fi
cache=$(mktemp -d)
for entry in random length; do
  prm-harness ci --board math-qwen100 --pools-dir "$pools" --prm "$src/prm.yaml" \
    --model "$src/prm" --against "leaderboards/math-qwen100/entries/$entry" \
    --aggregation min --cache-dir "$cache" --report "$dst/ci_math-qwen100_vs_$entry.json" \
    > /dev/null || true  # a failed gate is a result, not an error
done
found=$(find "$cache" -type f | head -1)
python - "$found" "$dst/ci_math-qwen100_candidate_scores.json.gz" <<'PY'
import gzip, sys
data = open(sys.argv[1], "rb").read()
with open(sys.argv[2], "wb") as f:
    with gzip.GzipFile(fileobj=f, mode="wb", filename="", mtime=0) as z:
        z.write(data)
PY
echo "stored $dst"
