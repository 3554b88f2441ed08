"""The result pipe's records, parsed as they arrive.

The zygote relays the job child's report as ``R<length>\\n<bytes>`` records and ends with
one ``H<length>\\n<header>`` record. ``ResultStream`` rebuilds the report, decodes each
report message once, as soon as it is complete (for a job's watcher and for the verdict),
and stops at the first malformed one: a program that writes garbage to its report pipe
costs one parse, not one per later read. Consumed bytes are dropped as they are parsed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from harness.grading.sandbox.child import _sbx_wire

_HEADER_MAX = 21  # as in _sbx_wire.split: at most 20 digits, then the newline


@dataclass
class StreamResult:
    """A complete result stream: the zygote's header and the report's messages.

    ``malformed`` says why the report is not whole messages only (the messages before that
    point are kept); None when it is.
    """

    header: dict[str, Any]
    messages: list[Any]
    malformed: str | None


class ResultStream:
    def __init__(self) -> None:
        self._raw = bytearray()
        self._report = bytearray()
        self._report_offset = 0  # bytes of the report already parsed and dropped
        self.header: dict[str, Any] | None = None
        self.broken = False
        self.malformed: str | None = None
        self.messages_seen: list[Any] = []

    def feed(self, data: bytes) -> list[Any]:
        """Add bytes from the pipe; the report messages completed by them."""
        self._raw += data
        while not self.broken and self.header is None:
            head_end = self._raw.find(b"\n", 0, 22)
            if head_end < 0:
                self.broken = len(self._raw) >= 22
                break
            kind, size = self._raw[:1], self._raw[1:head_end]
            if kind not in (b"R", b"H") or not size.isdigit():
                self.broken = True
                break
            end = head_end + 1 + int(size)
            if end > len(self._raw):
                break
            body = bytes(self._raw[head_end + 1:end])
            del self._raw[:end]
            if kind == b"H":
                self.header = json.loads(body)
            elif self.malformed is None:
                self._report += body
        return self._messages()

    def _messages(self) -> list[Any]:
        out: list[Any] = []
        while self.malformed is None and self._report:
            head_end = self._report.find(b"\n", 0, _HEADER_MAX)
            if head_end < 0 or not self._report[:head_end].isdigit():
                if head_end >= 0 or len(self._report) >= _HEADER_MAX:
                    self._stop(f"bad message header at byte {self._report_offset}")
                return out
            end = head_end + 1 + int(self._report[:head_end])
            if end > len(self._report):
                return out
            try:
                messages = _sbx_wire.split(bytes(self._report[:end]))
            except _sbx_wire.Malformed:
                self._stop(f"message at byte {self._report_offset} is not JSON")
                return out
            out.extend(messages)
            self.messages_seen.extend(messages)
            del self._report[:end]
            self._report_offset += end
        return out

    def _stop(self, reason: str) -> None:
        self.malformed = reason
        self._report = bytearray()

    def finish(self) -> StreamResult | None:
        """The header and messages of a complete stream, else None."""
        if self.broken or self.header is None or self._raw:
            return None
        malformed = self.malformed
        if malformed is None and self._report:
            head_end = self._report.find(b"\n", 0, _HEADER_MAX)
            whole_header = head_end >= 0 and self._report[:head_end].isdigit()
            malformed = (f"{'truncated message' if whole_header else 'bad message header'} "
                         f"at byte {self._report_offset}")
        return StreamResult(self.header, self.messages_seen, malformed)
