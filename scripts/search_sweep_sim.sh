#!/usr/bin/env bash
# The stored search sweep behind reports/compute-sim.yaml: every strategy at width 4 on
# 40 synthetic-arith problems (8 steps), at 32, 64, 128 and 256 step requests a problem,
# with the exact-value PRM and two noisy ones. Run from the repository root (~6 min).
set -euo pipefail
PH=${PH:-prm-harness}
declare -A OPTS=(
  [best-of-n]="n=4" [majority]="n=4" [weighted-majority]="n=4"
  [beam]="n=4 m=2" [dvts]="n=4 m=2" [smc]="particles=4"
  [mcts]="width=3 rule=puct backup=max output=value" [compute-aware]="initial_width=4"
)
declare -A PRMS=([oracle]="sim-oracle" [noisy1]="sim-noisy --prm-option noise=1"
                 [noisy2]="sim-noisy --prm-option noise=2")
for s in best-of-n majority weighted-majority beam dvts smc mcts compute-aware; do
  opts=(); for o in ${OPTS[$s]}; do opts+=(--strategy-option "$o"); done
  for p in oracle noisy1 noisy2; do
    for b in 32 64 128 256; do
      # shellcheck disable=SC2086
      $PH search --task synthetic-arith --task-option length=8 --policy sim \
        --prm ${PRMS[$p]} --strategy "$s" "${opts[@]}" --budget policy_calls=$b \
        --problems 40 --seed 0 --out "runs/search/$s-$p-calls$b" --json > /dev/null
    done
  done
done
