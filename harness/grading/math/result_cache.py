"""A content-addressed cache of JSON values: in memory, optionally backed by SQLite.

Keys are sha256 digests of everything a result depends on (see ``harness.store.keys``), so
an entry can never be stale; a new grader version simply produces new keys. SQLite makes
concurrent writers (several runs on one machine) safe without a lock file.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any


class ResultCache:
    """``get``/``put`` by key; ``path=None`` keeps everything in memory only."""

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path is not None else None
        self._memory: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, check_same_thread=False, timeout=60)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("CREATE TABLE IF NOT EXISTS results "
                             "(key TEXT PRIMARY KEY, value TEXT NOT NULL)")
            self._db.commit()

    def get(self, key: str) -> Any | None:
        with self._lock:
            if key in self._memory:
                return self._memory[key]
            if self._db is None:
                return None
            row = self._db.execute("SELECT value FROM results WHERE key = ?", (key,)).fetchone()
            if row is None:
                return None
            value = json.loads(row[0])
            self._memory[key] = value
            return value

    def put_many(self, items: Iterable[tuple[str, Any]]) -> None:
        items = list(items)
        with self._lock:
            for key, value in items:
                self._memory[key] = value
            if self._db is not None and items:
                self._db.executemany(
                    "INSERT OR REPLACE INTO results (key, value) VALUES (?, ?)",
                    [(k, json.dumps(v, separators=(",", ":"))) for k, v in items])
                self._db.commit()

    def clear_memory(self) -> None:
        """Forget the in-memory copy (the SQLite file, if any, stays)."""
        with self._lock:
            self._memory.clear()

    def __len__(self) -> int:
        return len(self._memory)
