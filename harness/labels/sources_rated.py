"""Label sources from human or benchmark annotations: PRM800K ratings, ProcessBench's
first wrong step."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harness.errors import ConfigError, InputError
from harness.labels.common import normalise_problem, train_or_dev
from harness.labels.config import DevSplit, Prm800kSource, ProcessBenchSource
from harness.labels.overlap import Math500Index

#: PRM800K rating -> label, per ``neutral`` option (None: the step is not trained on)
RATING_LABELS: dict[str, dict[int, float | None]] = {
    "positive": {1: 1.0, 0: 1.0, -1: 0.0},
    "negative": {1: 1.0, 0: 0.0, -1: 0.0},
    "exclude": {1: 1.0, 0: None, -1: 0.0},
}


def prm800k_records(cfg: Prm800kSource, dev: DevSplit, data_dir: Path | None,
                    math500: Math500Index) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """One record per leaf of each problem's tree of rated steps.

    The stepwise-critic file has one row per rated candidate step (its problem, the chosen
    steps before it, the candidate, the rating). The rows of a problem form a tree: a node
    is (problem, earlier steps, step), and rows that repeat a node (same problem, prefix
    and step) carry the same rating (checked). A leaf is a node no row continues; each leaf
    becomes a record whose steps are its path from the root. Every distinct node is labelled
    exactly once, in the first leaf (in file order) whose path holds it; elsewhere it is
    null (``labels: every``: in every leaf). Unrated nodes are null. A record with no label
    left is dropped (counted). ``sample_leaves`` draws that many leaves with a seeded
    generator, kept in file order.
    """
    from harness.tasks.prm800k import read_rated_steps

    rows, source = read_rated_steps(data_dir)
    mapping = RATING_LABELS[cfg.neutral]
    rating: dict[tuple[str, tuple[str, ...]], int | None] = {}
    first_row: dict[tuple[str, tuple[str, ...]], int] = {}
    prefixes: set[tuple[str, tuple[str, ...]]] = set()
    for r in rows:
        node = (r.problem, (*r.previous, r.step))
        prefixes.add((r.problem, r.previous))
        if node in rating and rating[node] != r.rating:
            raise InputError(f"row {r.row}: rating {r.rating} differs from row "
                             f"{first_row[node]}'s {rating[node]} for the same step",
                             path=source["path"], field="rating")
        rating.setdefault(node, r.rating)
        first_row.setdefault(node, r.row)
    leaves = sorted((row, node) for node, row in first_row.items() if node not in prefixes)
    all_leaves = len(leaves)
    if cfg.sample_leaves is not None:
        if cfg.sample_leaves > len(leaves):
            raise ConfigError(f"prm800k sample_leaves={cfg.sample_leaves}: the file has "
                              f"{len(leaves)} leaves")
        import numpy as np

        picked = np.random.default_rng(cfg.sample_seed).choice(
            len(leaves), size=cfg.sample_leaves, replace=False)
        leaves = [leaves[i] for i in sorted(picked)]
    claimed: set[tuple[str, tuple[str, ...]]] = set()
    records, dropped = [], 0
    for row, (problem, steps) in leaves:
        unique_id = math500.match_text(problem)
        if unique_id is None:
            raise InputError(f"row {row}: problem not found in MATH-500 (PRM800K's own "
                             f"test split)", path=source["path"], field="instruction")
        labels: list[float | None] = []
        for i in range(len(steps)):
            node = (problem, steps[:i + 1])
            value = rating[node]
            if value is None or (cfg.labels == "once" and node in claimed):
                labels.append(None)
                continue
            claimed.add(node)
            labels.append(mapping[value])
        if all(v is None for v in labels):
            dropped += 1
            continue
        records.append({
            "id": f"prm800k/{unique_id}/r{row:05d}", "source": "prm800k", "domain": "math",
            "problem_id": unique_id, "problem": problem, "steps": list(steps),
            "labels": labels, "label_kind": "hard",
            "split": train_or_dev("prm800k", unique_id, cfg.dev or dev),
            "meta": {"leaf_row": row, "ratings": [rating[(problem, steps[:i + 1])]
                                                  for i in range(len(steps))]}})
    n_rated = sum(1 for v in rating.values() if v is not None)
    problems = {r.problem for r in rows}
    info = {"file": source, "rows": len(rows), "problems": len(problems),
            "problems_in_math500": sum(1 for p in problems if math500.match_text(p)),
            "problems_with_records": len({r["problem_id"] for r in records}),
            "distinct_steps": len(rating),
            "distinct_rated_steps": n_rated, "leaves": all_leaves,
            "leaves_sampled": len(leaves) if cfg.sample_leaves is not None else None,
            "labels": cfg.labels, "sample_seed": cfg.sample_seed,
            "records_dropped_unlabelled": dropped,
            "neutral": cfg.neutral,
            "rating_to_label": {str(k): v for k, v in mapping.items()}}
    return records, info


def processbench_records(cfg: ProcessBenchSource, dev: DevSplit, data_dir: Path | None,
                         math500: Math500Index) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """One record per ProcessBench item: steps before the first error 1.0, the error 0.0,
    later steps null; an item with no error (label -1) is 1.0 throughout. Items of the
    ``holdout`` splits are ``test``; the others ``train`` or ``dev`` (by problem text)."""
    from harness.tasks.processbench import load_split

    records, files = [], {}
    for split in cfg.splits:
        items, files[split] = load_split(split, data_dir)
        for it in items:
            n = len(it.steps)
            if it.label == -1:
                labels: list[float | None] = [1.0] * n
            else:
                labels = [1.0] * it.label + [0.0] + [None] * (n - it.label - 1)
            split_name = ("test" if split in cfg.holdout else
                          train_or_dev("processbench", normalise_problem(it.problem),
                                       cfg.dev or dev))
            meta: dict[str, Any] = {"processbench_split": split, "item_id": it.id,
                                    "generator": it.generator, "first_error": it.label,
                                    "final_answer_correct": it.final_answer_correct}
            matched = math500.match_text(it.problem)
            if matched is not None:
                meta["math500_unique_id"] = matched
            records.append({
                "id": f"processbench/{it.id}/{it.generator}", "source": "processbench",
                "domain": "math", "problem_id": it.id, "problem": it.problem,
                "steps": list(it.steps), "labels": labels, "label_kind": "hard",
                "split": split_name, "meta": meta})
    info = {"files": files, "splits": list(cfg.splits), "holdout": list(cfg.holdout),
            "rule": "steps before the first error 1.0, the error 0.0, later steps null; "
                    "label -1 (no error): every step 1.0"}
    return records, info
