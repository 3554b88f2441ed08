"""The result pipe's parser: what it hands out equals a whole-report parse, at any chunking."""

from __future__ import annotations

import random

import pytest

from harness.grading.sandbox.child import _sbx_wire
from harness.grading.sandbox.stream import ResultStream

GOOD = _sbx_wire.encode({"setup": "ok"}) + _sbx_wire.encode({"event": 1}) + \
    _sbx_wire.encode({"final": [1, 2]})
REPORTS = {
    "whole": GOOD,
    "truncated": GOOD + b"40\n{\"a\"",
    "bad header": GOOD + b"x1\n{}",
    "no newline": GOOD + b"1" * 30,
    "not json": GOOD[:20] + b"5\n{oops" + GOOD[20:],
    "empty": b"",
}


def _records(report: bytes) -> bytes:
    """The zygote's records: the report in pieces of 1..50 bytes, then the header."""
    rng = random.Random(len(report))
    out, pos = b"", 0
    while pos < len(report):
        piece = report[pos:pos + rng.randint(1, 50)]
        out += b"R%d\n" % len(piece) + piece
        pos += len(piece)
    body = b'{"exit": {"code": 0}}'
    return out + b"H%d\n" % len(body) + body


@pytest.mark.parametrize("name", sorted(REPORTS))
@pytest.mark.parametrize("chunk", [1, 7, 4096])
def test_stream_equals_a_whole_report_parse(name, chunk):
    report = REPORTS[name]
    data = _records(report)
    stream = ResultStream()
    handed_out = []
    for pos in range(0, len(data), chunk):
        handed_out += stream.feed(data[pos:pos + chunk])
    result = stream.finish()
    assert result is not None and result.header == {"exit": {"code": 0}}
    assert handed_out == result.messages
    try:
        whole = _sbx_wire.split(report)
    except _sbx_wire.Malformed as exc:
        assert result.malformed == str(exc)
        assert whole_prefix(report) == result.messages
    else:
        assert result.malformed is None and result.messages == whole


def whole_prefix(report: bytes) -> list:
    """The complete messages before the first malformed one, parsed one by one."""
    out, pos = [], 0
    while True:
        try:
            head = report[pos:pos + 21].index(b"\n")
            end = pos + head + 1 + int(report[pos:pos + head])
            out += _sbx_wire.split(report[pos:end])
        except ValueError:
            return out
        pos = end


def test_a_malformed_message_is_parsed_once_and_dropped():
    """Garbage on the report pipe stops the parse there: later bytes are not kept or
    re-read, so a hostile program cannot make every later read re-decode it."""
    stream = ResultStream()
    junk = b"{" * (1 << 20)
    stream.feed(b"R%d\n" % (len(GOOD)) + GOOD)
    assert len(stream.messages_seen) == 3
    message = b"%d\n" % len(junk) + junk
    stream.feed(b"R%d\n" % len(message) + message)
    assert stream.malformed == f"message at byte {len(GOOD)} is not JSON"
    assert not stream._report
    for _ in range(100):
        assert stream.feed(b"R2\n{}") == []
    assert not stream._report
    body = b'{"exit": {"code": 0}}'
    stream.feed(b"H%d\n" % len(body) + body)
    result = stream.finish()
    assert result is not None and len(result.messages) == 3
    assert result.malformed == f"message at byte {len(GOOD)} is not JSON"


def test_a_cut_stream_has_no_result():
    stream = ResultStream()
    stream.feed(b"R10\n12345")
    assert stream.finish() is None
    broken = ResultStream()
    broken.feed(b"Z3\nabc")
    assert broken.broken and broken.finish() is None
