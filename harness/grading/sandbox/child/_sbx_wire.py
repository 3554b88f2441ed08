"""Length-prefixed JSON messages, the one format on every sandbox channel.

A message is ``<decimal length>\\n<JSON body>``. The job child writes a stream of them
to its report pipe (read by the zygote, parsed by the harness), and the harness and the
zygote speak them over their control socket.
"""

import json
import os

_dumps = json.dumps
_write = os.write


def encode(obj):
    body = _dumps(obj, separators=(",", ":"), allow_nan=False).encode("utf-8")
    return str(len(body)).encode("ascii") + b"\n" + body


def write_all(fd, data):
    view = memoryview(data)
    while view:
        written = _write(fd, view)
        view = view[written:]


class Malformed(ValueError):
    """Bytes that are not a sequence of complete messages."""


def split(data):
    """The decoded messages of ``data``; Malformed unless it is whole messages only."""
    out = []
    pos = 0
    end = len(data)
    while pos < end:
        newline = data.find(b"\n", pos, pos + 21)
        if newline < 0 or not data[pos:newline].isdigit():
            raise Malformed(f"bad message header at byte {pos}")
        size = int(data[pos:newline])
        body_end = newline + 1 + size
        if body_end > end:
            raise Malformed(f"truncated message at byte {pos}")
        try:
            out.append(json.loads(data[newline + 1:body_end]))
        except (ValueError, RecursionError):
            raise Malformed(f"message at byte {pos} is not JSON") from None
        pos = body_end
    return out
