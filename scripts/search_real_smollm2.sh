#!/usr/bin/env bash
# Real models through the search engine: the zoo's SmolLM2-135M-Instruct (transformers
# back-end, per-request seeds) guided by PRM-Math (trained/prm-pb-smollm2-l4, retrained
# into train-out/ by `prm-harness train-prm examples/training/prm-pb-smollm2-l4.yaml`), on
# 8 easy synthetic-arith problems (2 steps, difficulty 1), three strategies at an equal
# budget of 24 step requests a problem. ~25 min on 2 shared CPU cores.
set -euo pipefail
PH=${PH:-prm-harness}
BUDGET=${BUDGET:-24}
declare -A OPTS=([best-of-n]="n=4" [beam]="n=4 m=2" [smc]="particles=4")
for s in best-of-n beam smc; do
  opts=(); for o in ${OPTS[$s]}; do opts+=(--strategy-option "$o"); done
  $PH search --task synthetic-arith --task-option length=2 --task-option difficulty=1 \
    --policy hf --policy-option model=zoo-models/smollm2-135m-instruct \
    --policy-option batch_size=16 \
    --prm transformers --prm-option spec=train-out/prm-pb-smollm2-l4/prm.yaml \
    --prm-option model=train-out/prm-pb-smollm2-l4/prm \
    --strategy "$s" "${opts[@]}" --strategy-option max_tokens=64 \
    --strategy-option max_steps=6 --strategy-option temperature=0.7 \
    --budget policy_calls=$BUDGET --problems 8 --seed 0 --shard-size 2 \
    --out "runs/search-real/smollm2-prm-math-$s-calls$BUDGET" --json
done
