"""A run's compute ledger: one record per model call, kept as ``compute_ledger.jsonl``.

Every shard's ``.meta.json`` holds the calls the policy or PRM made while producing it
(tokens in/out, parameters, FLOPs estimate, wall seconds, device; see
harness/models/compute.py). The ledger gathers them over every stage the manifest lists,
in stage and shard order, so shards reused from an earlier or interrupted run keep their
records. It is written atomically, only when its content changed, and the manifest
references it with its hash; the per-stage totals in the manifest are sums of the same
calls.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from harness.models.compute import FLOPS_METHOD
from harness.store.atomic import write_bytes
from harness.store.jsonl import render_jsonl
from harness.store.rundir import RunDir

LEDGER = "compute_ledger.jsonl"
FIELDS = ("stage", "shard", "kind", "tokens_in", "tokens_out", "params", "flops", "wall_s",
          "device")


def ledger_records(run: RunDir) -> tuple[list[dict[str, Any]], list[str]]:
    """The call records of every stage's shards, and the shards whose meta has none
    (written before calls were recorded) as ``stage/index``."""
    records: list[dict[str, Any]] = []
    without: list[str] = []
    for stage, entry in sorted(run.manifest().get("stages", {}).items()):
        for index, key in enumerate(entry.get("shards", [])):
            meta = run.read_meta(stage, index, key)
            if "calls" not in meta:
                if meta.get("compute"):
                    without.append(f"{stage}/{index}")
                continue
            records.extend({"stage": stage, "shard": index, **call} for call in meta["calls"])
    return records, without


def write_ledger(run: RunDir) -> dict[str, Any]:
    """Write the ledger file (if changed) and return the manifest's entry for it."""
    records, without = ledger_records(run)
    data = render_jsonl(records)
    path: Path = run.path / LEDGER
    if not path.is_file() or path.read_bytes() != data:
        write_bytes(path, data)
    return {"file": LEDGER, "sha256": hashlib.sha256(data).hexdigest(),
            "records": len(records), "fields": list(FIELDS), "flops_method": FLOPS_METHOD,
            "shards_without_calls": without}
