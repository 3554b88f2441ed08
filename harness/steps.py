"""Step splitting shared by tasks and importers: pieces that join back to the text exactly."""

from __future__ import annotations

import re

_BLANK_LINES = re.compile(r"\n[ \t]*\n\s*")


def split_blank_lines(text: str) -> list[str]:
    """Split after each run of blank lines; every piece keeps its trailing separator, so
    ``"".join(pieces) == text``. Empty text gives no steps."""
    if not text:
        return []
    pieces, start = [], 0
    for match in _BLANK_LINES.finditer(text):
        if match.start() == 0:
            continue  # leading blank lines belong to the first step
        if match.end() == len(text):
            break
        pieces.append(text[start:match.end()])
        start = match.end()
    pieces.append(text[start:])
    return pieces
