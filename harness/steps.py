"""Step splitting shared by tasks and importers: pieces that join back to the text exactly.

A response always has at least one step: empty text is one empty step (as ``str.split``
gives the cards' own scorers), so a PRM scores what the policy wrote, even nothing, and
the number of step scores always equals the number of steps.
"""

from __future__ import annotations

import re
from itertools import pairwise

#: a line break and the blank lines after it; the next line's indentation is not part of
#: it (the card's ``split("\n\n")`` leaves it at the start of the next step)
_BLANK_LINES = re.compile(r"\n(?:[ \t]*\n)+")


def split_blank_lines(text: str) -> list[str]:
    """Split after each run of blank lines; every piece keeps its trailing separator, so
    ``"".join(pieces) == text``, and starts with its own indentation. Empty text is one
    empty step; trailing blank text belongs to the last step."""
    if not text:
        return [""]
    pieces, start = [], 0
    for match in _BLANK_LINES.finditer(text):
        if match.start() == 0:
            continue  # leading blank lines belong to the first step
        if not text[match.end():].strip():
            break
        pieces.append(text[start:match.end()])
        start = match.end()
    pieces.append(text[start:])
    return pieces


def split_after(text: str, separator: re.Pattern[str] | str) -> list[str]:
    """Split after each match of ``separator`` (the separator ends its step), exactly:
    ``"".join(pieces) == text``. A match at the very end does not start an empty step."""
    pattern = re.compile(separator) if isinstance(separator, str) else separator
    if not text:
        return [""]
    pieces, start = [], 0
    for match in pattern.finditer(text):
        if match.end() <= start or match.end() == len(text):
            continue
        pieces.append(text[start:match.end()])
        start = match.end()
    pieces.append(text[start:])
    return pieces


def split_before(text: str, marker: re.Pattern[str] | str) -> list[str]:
    """Split before each match of ``marker`` (the marker starts its step), exactly; text
    before the first marker is a step of its own (when not empty)."""
    pattern = re.compile(marker) if isinstance(marker, str) else marker
    if not text:
        return [""]
    cuts = [m.start() for m in pattern.finditer(text) if m.start() > 0]
    bounds = [0, *sorted(set(cuts)), len(text)]
    return [text[a:b] for a, b in pairwise(bounds) if b > a]
