"""Fit the ``compute-aware`` strategy's learned controller on the simulator, offline.

    python scripts/train_cats_controller.py [--out PATH] [--check]

What it fits: p = sigmoid(b + w . [std, margin, entropy, sparsity]). p is the chance that
the PRM's favourite among one tick's candidates is not the candidate of highest exact
value, the case where narrowing onto the favourite would throw away the best.

Where the data comes from: candidate sets drawn as a beam's tick would draw them, on
synthetic-arith problems of mixed length and difficulty. Each set is ``expand`` = 4
children of each of w parents (w in 1, 2, 4). The parents are prefixes one step shallower,
taken from independent rollouts. The children come from the ``sim`` policy with hashed
request seeds. The features come from ``sim-noisy`` scores at several noise levels. The
features are taken over one copy of each distinct prefix (as the strategy's ``dedupe``)
and sets with a single distinct prefix are left out (the strategy holds there). The
label comes from ``sim-oracle`` (exact values): 1 when the noisy PRM's top child's exact
value is below the best exact value in the set.

How it fits: L2-penalised logistic regression by a fixed number of Newton steps from zero
(deterministic). Parameters are rounded to 6 decimals. The JSON is written with sorted
keys, so a rerun rewrites it byte for byte. ``--check`` compares instead of writing
(exit status 1 on a difference). The controller's default thresholds are quantiles of p
over the training sets (20%: deepen below, 50%: narrow below, 80%: widen at or above), so
it deepens, narrows and widens each on a known share of the training ticks.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

import numpy as np

from harness import registry
from harness.strategies.compute_aware import DEFAULT_CONTROLLER_FILE, FEATURES, reward_features
from harness.strategies.engine import SeededParams, request_seed
from harness.synthetic.policy import SimPolicy
from harness.synthetic.prms import SimNoisyPRM, SimOraclePRM
from harness.types import Problem, Sample

SETTINGS = ({"length": 4, "difficulty": 2, "seed": 101},
            {"length": 6, "difficulty": 3, "seed": 102},
            {"length": 8, "difficulty": 3, "seed": 103},
            {"length": 10, "difficulty": 4, "seed": 104})
CONFIG = {"problems_per_setting": 12, "noises": [0.5, 1.0, 2.0], "parents": [1, 2, 4],
          "expand": 4, "softmax_temperature": 0.1, "extreme": 0.1, "l2": 1e-3,
          "newton_steps": 30, "seed": 0, "quantiles": [0.2, 0.5, 0.8]}


def _steps(text: str) -> list[str]:
    """A prefix's steps (each ends with the blank line the policy writes)."""
    parts = text.split("\n\n")
    out = [p + "\n\n" for p in parts[:-1]]
    return out + ([parts[-1]] if parts[-1] else [])


def _sample(policy: SimPolicy, problem: Problem, prefixes: list[str], keys: list[str],
            seed: int) -> list[tuple[str, bool]]:
    """One step under each prefix: (new prefix, finished)."""
    seeds = [request_seed(seed, problem.id, key, 0) for key in keys]
    out = policy.step([problem.prompt] * len(prefixes), prefixes,
                      SeededParams(n=1, stop=["\n\n"], seeds=seeds))
    return [(prefix + c.text, c.finish_reason != "step")
            for prefix, (c,) in zip(prefixes, out, strict=True)]


def _last_scores(prm: SimOraclePRM, problem: Problem, texts: list[str]) -> list[float]:
    samples = [Sample(problem_id=problem.id, index=i, text=t, steps=_steps(t))
               for i, t in enumerate(texts)]
    return [s.scores[-1] for s in prm.score([problem] * len(samples), samples)]


def candidate_sets(problem: Problem, length: int, config: dict[str, Any]
                   ) -> list[list[str]]:
    """Every candidate set of one problem: for each depth and parent count w, ``expand``
    children of each of the first w rollouts' prefixes one step shallower."""
    policy, seed = SimPolicy(), config["seed"]
    most = max(config["parents"])
    rollouts: list[list[str]] = [[""] for _ in range(most)]  # prefixes by depth
    for depth in range(length):
        live = [i for i in range(most) if not rollouts[i][-1].endswith("$.")]
        nxt = _sample(policy, problem, [rollouts[i][-1] for i in live],
                      [f"rollout-{i}-{depth}" for i in live], seed)
        for i, (text, _) in zip(live, nxt, strict=True):
            rollouts[i].append(text)
    sets = []
    for depth in range(length):
        for w in config["parents"]:
            parents = [r[depth] for r in rollouts[:w]
                       if len(r) > depth and not r[depth].endswith("$.")]
            if not parents:
                continue
            prefixes = [p for p in parents for _ in range(config["expand"])]
            keys = [f"set-{depth}-{w}-{j}" for j in range(len(prefixes))]
            sets.append([text for text, _ in _sample(policy, problem, prefixes, keys, seed)])
    return sets


def dataset(config: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """Features (rows) and labels of every candidate set under every noise level."""
    oracle = SimOraclePRM()
    noisy = [SimNoisyPRM(noise=s, seed=config["seed"]) for s in config["noises"]]
    rows, labels = [], []
    for setting in SETTINGS:
        task = registry.TASKS.build("synthetic-arith", {
            "n_problems": config["problems_per_setting"], **setting})
        for problem in task.load():
            for drawn in candidate_sets(problem, setting["length"], config):
                texts = list(dict.fromkeys(drawn))  # one copy of each prefix, as dedupe
                if len(texts) < 2:
                    continue  # the strategy holds on a single candidate
                exact = _last_scores(oracle, problem, texts)
                for prm in noisy:
                    scores = _last_scores(prm, problem, texts)
                    f = reward_features(scores, config["softmax_temperature"],
                                        config["extreme"])
                    favourite = int(np.argmax(scores))
                    rows.append(f.vector())
                    labels.append(float(exact[favourite] < max(exact) - 1e-9))
    return np.array(rows), np.array(labels)


def fit_logistic(x: np.ndarray, y: np.ndarray, l2: float, steps: int
                 ) -> tuple[np.ndarray, float]:
    """Newton's method on the mean log loss + l2/2 |w|^2 (the bias not penalised)."""
    design = np.hstack([x, np.ones((len(x), 1))])
    theta = np.zeros(design.shape[1])
    penalty = np.diag([l2] * x.shape[1] + [0.0])
    for _ in range(steps):
        p = 1.0 / (1.0 + np.exp(-(design @ theta)))
        grad = design.T @ (p - y) / len(y) + penalty @ theta
        hess = (design.T * (p * (1 - p))) @ design / len(y) + penalty
        theta = theta - np.linalg.solve(hess + 1e-9 * np.eye(len(theta)), grad)
    return theta[:-1], float(theta[-1])


def train(config: dict[str, Any]) -> dict[str, Any]:
    x, y = dataset(config)
    weights, bias = fit_logistic(x, y, config["l2"], config["newton_steps"])
    p = 1.0 / (1.0 + np.exp(-(x @ weights + bias)))
    eps = 1e-12
    loss = float(-np.mean(y * np.log(p + eps) + (1 - y) * np.log(1 - p + eps)))
    return {
        "what": "compute-aware learned controller: p = sigmoid(bias + weights . features), "
                "p = P(the PRM's top candidate is not the best by exact value)",
        "trained_by": "scripts/train_cats_controller.py",
        "features": list(FEATURES),
        "weights": [round(float(w), 6) for w in weights],
        "bias": round(bias, 6),
        "thresholds": dict(zip(("deepen_p", "narrow_p", "widen_p"),
                               (round(float(q), 6) for q in
                                np.quantile(p, config["quantiles"])), strict=True)),
        "config": config,
        "settings": list(SETTINGS),
        "fit": {"examples": len(y), "positive_rate": round(float(y.mean()), 6),
                "log_loss": round(loss, 6),
                "accuracy": round(float(np.mean((p >= 0.5) == (y == 1))), 6),
                "base_log_loss": round(_entropy(float(y.mean())), 6)},
    }


def _entropy(q: float) -> float:
    return 0.0 if q in (0.0, 1.0) else -(q * math.log(q) + (1 - q) * math.log(1 - q))


def render(doc: dict[str, Any]) -> str:
    return json.dumps(doc, indent=2, sort_keys=True) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=DEFAULT_CONTROLLER_FILE)
    ap.add_argument("--check", action="store_true",
                    help="compare with --out instead of writing it")
    args = ap.parse_args(argv)
    text = render(train(dict(CONFIG)))
    if args.check:
        same = args.out.exists() and args.out.read_text() == text
        print("same" if same else f"differs: {args.out}")
        return 0 if same else 1
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
