"""``math500``: the 500-problem MATH test split of "Let's Verify Step by Step".

Mirror file ``math500/test.jsonl`` (byte-identical to ``openai/prm800k``'s
``prm800k/math_splits/test.jsonl``); hub copy ``HuggingFaceH4/MATH-500`` pinned below, the
same JSONL fields. Problem ids are the MATH ``unique_id`` (``test/precalculus/807.json``).
"""

from __future__ import annotations

from typing import Any

from harness.data import HubFile, fetch_file
from harness.errors import ConfigError
from harness.tasks.math_common import MathTask
from harness.tasks.records import Place, table_records, unique_id
from harness.types import Problem

MIRROR_PATH = "math500/test.jsonl"
HUB_FILE = HubFile("HuggingFaceH4/MATH-500", "test.jsonl",
                   "ff5b20257d8185524591543f8ff5993951537bb8")
FIELDS: dict[str, type | tuple[type, ...]] = {
    "problem": str, "solution": str, "answer": str, "subject": str, "level": int,
    "unique_id": str}


class Math500Task(MathTask):
    """MATH-500 (500 competition problems, answers checked with math-verify)."""

    name = "math500"

    def __init__(self, levels: str | int | list[int] | None = None, **options: Any) -> None:
        """``levels``: keep only problems of these MATH levels (``"1,2"`` or ``[1, 2]``):
        the easy slice a small policy can solve, chosen by the data, not by position."""
        super().__init__(**options)
        self.levels = _levels(levels)

    def identity(self) -> dict[str, Any]:
        # only when set, so the identity of every earlier full-set run stays as stored
        levels = {} if self.levels is None else {"levels": self.levels}
        return {**super().identity(), **levels}

    def load(self) -> list[Problem]:
        resolved = fetch_file(MIRROR_PATH, HUB_FILE, self.data_dir)
        self.sources = {"test": resolved.provenance}
        problems: list[Problem] = []
        seen: dict[str, Place] = {}
        for place, rec in table_records(resolved.path, FIELDS):
            unique_id(seen, rec["unique_id"], place, "unique_id")
            if self.levels is not None and rec["level"] not in self.levels:
                continue
            problems.append(self.make_problem(rec["unique_id"], rec["problem"], rec["answer"],
                                              rec["solution"], subject=rec["subject"],
                                              level=rec["level"]))
        return problems


def _levels(levels: str | int | list[int] | None) -> list[int] | None:
    if levels is None:
        return None
    parts = (levels.split(",") if isinstance(levels, str)
             else [levels] if isinstance(levels, int) else list(levels))
    try:
        picked = sorted({int(str(part).strip()) for part in parts})
    except ValueError:
        raise ConfigError(f"math500: levels={levels!r}: give MATH levels 1-5 as '1,2'"
                          ) from None
    if not picked or not set(picked) <= {1, 2, 3, 4, 5}:
        raise ConfigError(f"math500: levels={levels!r}: give MATH levels 1-5 as '1,2'")
    return picked
