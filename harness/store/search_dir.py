"""A stored search run: what ``prm-harness search --out DIR`` (and ``prm-harness run`` with
a ``strategy:`` section, under ``RUN/search``) writes, and how it is read back.

Layout::

    DIR/search.json            settings (compared on resume), harness version, summary
    DIR/shards/00003.jsonl.gz  one line per problem of shard 3: id, answer, correct,
                               spent (no wall seconds) and the trace (no wall seconds);
                               gzipped with no name or time in the header (traces are
                               verbose: about 12x smaller), so its bytes are deterministic
    DIR/timings/00003.json.gz  the measured wall seconds of shard 3 (per problem, per node;
                               gzipped the same way)

Everything but ``timings/`` is a deterministic function of the settings, so a resumed run
ends with the same bytes as an uninterrupted one. A shard is finished exactly when its
``.jsonl.gz`` exists: it is written atomically after its timings file.
"""

from __future__ import annotations

import contextlib
import fcntl
import gzip
import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from harness.errors import ConfigError, InputError
from harness.store.atomic import clean_temporaries, write_bytes, write_text
from harness.store.jsonl import jsonl_records, read_json, render_jsonl
from harness.store.keys import canonical_json

SEARCH_FILE = "search.json"
SEARCH_SCHEMA = 1
#: the search.json fields that say what the run is; a resume must match them exactly
SETTINGS_FIELDS = ("strategy", "task", "policy", "prm", "budget", "seed", "problem_ids",
                   "shard_size")
SHARD_FIELDS: dict[str, type | tuple[type, ...]] = {
    "problem_id": str, "answer_text": (str, type(None)), "correct": bool, "spent": dict,
    "trace": dict}
DEFAULT_SHARD_SIZE = 16
#: the per-problem budget caps and their types (harness.types.Budget)
BUDGET_KEYS: dict[str, type] = {"policy_tokens": int, "policy_calls": int, "prm_tokens": int,
                                "flops": float, "wall_s": float, "prefill_tokens": int}
#: the wall-clock fields a trace loses in a shard (they go to timings/)
WALL = "wall_s"


def pretty_json(obj: Any) -> str:
    """Sorted keys, indented: stable bytes for the same content."""
    return json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False, allow_nan=False) + "\n"


def strip_wall(trace: dict[str, Any]) -> tuple[dict[str, Any], list[float]]:
    """The trace without wall seconds (nodes, ticks' spend, total) and the nodes' wall
    shares in node order (what timings/ keeps)."""
    nodes, walls = [], []
    for node in trace["nodes"]:
        walls.append(float(node.get(WALL, 0.0)))
        nodes.append({k: v for k, v in node.items() if k != WALL})
    ticks = [{**t, "spent": {k: v for k, v in t["spent"].items() if k != WALL}}
             if isinstance(t.get("spent"), dict) else t for t in trace["ticks"]]
    spent = {k: v for k, v in trace["spent"].items() if k != WALL}
    return {**trace, "nodes": nodes, "ticks": ticks, "spent": spent}, walls


def first_difference(stored: Any, wanted: Any, where: str = "") -> str | None:
    """The dotted path of the first field where two JSON values differ (None: equal)."""
    if isinstance(stored, dict) and isinstance(wanted, dict):
        for key in sorted(set(stored) | set(wanted)):
            path = f"{where}.{key}" if where else str(key)
            if key not in stored or key not in wanted:
                return path
            found = first_difference(stored[key], wanted[key], path)
            if found is not None:
                return found
        return None
    if isinstance(stored, list) and isinstance(wanted, list):
        if len(stored) != len(wanted):
            return f"{where} (length {len(stored)} vs {len(wanted)})"
        for i, (a, b) in enumerate(zip(stored, wanted, strict=True)):
            found = first_difference(a, b, f"{where}.{i}")
            if found is not None:
                return found
        return None
    return None if canonical_json(stored) == canonical_json(wanted) else (where or "<root>")


def summarise(strategy_name: str, rows: Sequence[dict[str, Any]], budget: dict[str, Any],
              seed: int) -> dict[str, Any]:
    """Accuracy with its 95% bootstrap CI over problems and the spend totals (no wall
    seconds), from the stored records alone."""
    import numpy as np

    from harness.metrics import bootstrap_means, percentile_ci

    correct = np.array([1.0 if r["correct"] else 0.0 for r in rows])
    lo, hi = percentile_ci(bootstrap_means(correct, seed=seed))[:, 0]
    spent = {"policy_tokens": sum(int(r["spent"]["policy_tokens"]) for r in rows),
             "policy_calls": sum(int(r["spent"]["policy_calls"]) for r in rows),
             "prm_tokens": sum(int(r["spent"]["prm_tokens"]) for r in rows),
             "flops": float(sum(float(r["spent"]["flops"]) for r in rows))}
    return {"strategy": strategy_name, "n_problems": len(rows),
            "accuracy": {"value": float(correct.mean()), "ci": [float(lo), float(hi)]},
            "spent": spent, "budget": budget}


class SearchDir:
    """One search run folder (see the module docstring)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    # -- reading ------------------------------------------------------------------------

    @classmethod
    def find(cls, path: str | Path) -> SearchDir:
        """The search run at ``path``: a search folder, or a run folder holding one in
        ``search/`` (``prm-harness run`` with a strategy section)."""
        root = Path(path)
        for candidate in (root, root / "search"):
            if (candidate / SEARCH_FILE).is_file():
                found = cls(candidate)
                found.settings()  # checks the schema
                return found
        raise InputError(f"not a search run (no {SEARCH_FILE}, nor search/{SEARCH_FILE})",
                         path=root)

    def document(self) -> dict[str, Any]:
        doc = read_json(self.path / SEARCH_FILE)
        if not isinstance(doc, dict):
            raise InputError("expected a JSON object", path=self.path / SEARCH_FILE)
        if doc.get("schema_version") != SEARCH_SCHEMA:
            raise InputError(f"unknown schema_version {doc.get('schema_version')!r} (this "
                             f"harness reads {SEARCH_SCHEMA})", path=self.path / SEARCH_FILE,
                             field="schema_version")
        for name in SETTINGS_FIELDS:
            if name not in doc:
                raise InputError("missing", path=self.path / SEARCH_FILE, field=name)
        return doc

    def settings(self) -> dict[str, Any]:
        doc = self.document()
        return {k: doc[k] for k in SETTINGS_FIELDS}

    def shard_ids(self) -> list[list[str]]:
        """The problem ids of each shard, from the settings."""
        s = self.settings()
        ids, size = s["problem_ids"], int(s["shard_size"])
        return [ids[i:i + size] for i in range(0, len(ids), size)]

    def shard_path(self, index: int) -> Path:
        return self.path / "shards" / f"{index:05d}.jsonl.gz"

    def timing_path(self, index: int) -> Path:
        return self.path / "timings" / f"{index:05d}.json.gz"

    def has_shard(self, index: int) -> bool:
        return self.shard_path(index).is_file()

    def read_shard(self, index: int, expected: list[str]) -> list[dict[str, Any]]:
        """A finished shard's records, checked against the problem ids it must hold."""
        path = self.shard_path(index)
        rows = [r for _, r in jsonl_records(path, SHARD_FIELDS)]
        got = [r["problem_id"] for r in rows]
        if got != expected:
            raise InputError(f"holds problems {got[:3]}..., the settings say "
                             f"{expected[:3]}...", path=path, field="problem_id")
        return rows

    def records(self) -> list[dict[str, Any]]:
        """Every problem's record in problem order; refuses an unfinished run."""
        out: list[dict[str, Any]] = []
        for index, ids in enumerate(self.shard_ids()):
            if not self.has_shard(index):
                raise InputError(f"shard {index} is missing (an interrupted search: "
                                 f"rerun the same command to finish it)", path=self.path)
            out += self.read_shard(index, ids)
        return out

    def read_timing(self, index: int) -> dict[str, Any]:
        """One shard's timings document."""
        doc = read_json(self.timing_path(index))
        if not isinstance(doc, dict) or not isinstance(doc.get("problems"), list):
            raise InputError("expected an object with a problems list",
                             path=self.timing_path(index), field="problems")
        return doc

    def timings(self) -> list[dict[str, Any]]:
        """Every shard's timings document, in shard order."""
        return [self.read_timing(i) for i in range(len(self.shard_ids()))]

    def wall_seconds(self) -> dict[str, float]:
        """Measured wall seconds per problem id (the engine's shares of its calls)."""
        out: dict[str, float] = {}
        for doc in self.timings():
            for row in doc["problems"]:
                out[str(row["problem_id"])] = float(row["wall_s"])
        return out

    # -- writing ------------------------------------------------------------------------

    def start(self, document: dict[str, Any]) -> None:
        """Create the run, or check that the stored one has exactly these settings."""
        target = self.path / SEARCH_FILE
        if target.is_file():
            stored = self.settings()
            wanted = {k: document[k] for k in SETTINGS_FIELDS}
            field = first_difference(stored, wanted)
            if field is not None:
                raise ConfigError(f"{target}: field '{field}': the stored search run has "
                                  f"other settings than this command; use another --out "
                                  f"or delete {self.path}")
            doc = self.document()
            harness = doc.get("harness", {})
            now = {k: v for k, v in document.get("harness", {}).items()
                   if k != "resumed_with"}
            if now and {k: harness.get(k) for k in now} != now \
                    and now not in harness.get("resumed_with", []):
                # shards of another harness revision follow: say so, keep the first one
                harness["resumed_with"] = [*harness.get("resumed_with", []), now]
                doc["harness"] = harness
                write_text(target, pretty_json(doc))
            return
        if self.path.is_dir() and any(p.name != ".lock" for p in self.path.iterdir()):
            raise ConfigError(f"{self.path}: not empty and not a search run (no "
                              f"{SEARCH_FILE}); use another --out")
        write_text(target, pretty_json(document))

    def write_shard(self, index: int, rows: list[dict[str, Any]],
                    timing: dict[str, Any]) -> None:
        """Timings first, then the shard: a shard on disk is a finished shard."""
        write_bytes(self.timing_path(index),
                    gzip.compress((canonical_json(timing) + "\n").encode("utf-8"), mtime=0))
        write_bytes(self.shard_path(index), gzip.compress(render_jsonl(rows), mtime=0))

    def finish(self, summary: dict[str, Any]) -> None:
        doc = self.document()
        doc["summary"] = summary
        write_text(self.path / SEARCH_FILE, pretty_json(doc))

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """Exclusive use while writing; released even on SIGKILL. Temporaries of a killed
        writer are removed only once the lock is held."""
        self.path.mkdir(parents=True, exist_ok=True)
        handle = open(self.path / ".lock", "w")  # noqa: SIM115 - held for the block
        try:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise ConfigError(f"search run {self.path} is in use by another "
                                  f"process") from None
            clean_temporaries(self.path)
            yield
        finally:
            handle.close()
