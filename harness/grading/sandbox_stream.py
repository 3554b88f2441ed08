"""The result pipe's records, parsed as they arrive.

The zygote relays the job child's report as ``R<length>\\n<bytes>`` records and ends with
one ``H<length>\\n<header>`` record. ``ResultStream`` rebuilds the report, hands out each
report message as soon as it is complete (for a job's watcher), and at the end gives the
header and the whole report, or None when the stream is cut or malformed.
"""

from __future__ import annotations

import json
from typing import Any

from harness.grading.sandbox_child import _sbx_wire


class ResultStream:
    def __init__(self) -> None:
        self._raw = bytearray()
        self._pos = 0
        self.report = bytearray()
        self._report_pos = 0
        self.header: dict[str, Any] | None = None
        self.broken = False
        self.messages_seen: list[Any] = []

    def feed(self, data: bytes) -> list[Any]:
        """Add bytes from the pipe; the report messages completed by them."""
        self._raw += data
        while not self.broken and self.header is None:
            head_end = self._raw.find(b"\n", self._pos, self._pos + 22)
            if head_end < 0:
                self.broken = len(self._raw) - self._pos >= 22
                break
            kind, size = self._raw[self._pos:self._pos + 1], self._raw[self._pos + 1:head_end]
            if kind not in (b"R", b"H") or not size.isdigit():
                self.broken = True
                break
            end = head_end + 1 + int(size)
            if end > len(self._raw):
                break
            body = bytes(self._raw[head_end + 1:end])
            self._pos = end
            if kind == b"H":
                self.header = json.loads(body)
            else:
                self.report += body
        return self._messages()

    def _messages(self) -> list[Any]:
        out: list[Any] = []
        while True:
            head_end = self.report.find(b"\n", self._report_pos, self._report_pos + 22)
            if head_end < 0 or not self.report[self._report_pos:head_end].isdigit():
                return out
            end = head_end + 1 + int(self.report[self._report_pos:head_end])
            if end > len(self.report):
                return out
            try:
                messages = _sbx_wire.split(bytes(self.report[self._report_pos:end]))
            except _sbx_wire.Malformed:
                return out
            out.extend(messages)
            self.messages_seen.extend(messages)
            self._report_pos = end

    def finish(self) -> tuple[dict[str, Any], bytes] | None:
        """(header, report) of a complete stream, else None."""
        if self.broken or self.header is None or self._pos != len(self._raw):
            return None
        return self.header, bytes(self.report)
