"""Find the final answer in a math completion.

The full specification: docs/math-grading.md, section ``harness.grading.math.extraction``.
"""

from __future__ import annotations

import re

_BOX_START = re.compile(r"\\(?:boxed|fbox)\b")
_FINAL_ANSWER = re.compile(
    r"final answer is[:\s]*(?:\$\$?(?P<math>.+?)\$\$?|(?P<line>[^\n]+))", re.IGNORECASE
)
_ANSWER_LINE = re.compile(
    r"(?:^[ \t]*(?:\*\*|#+\s*)?answer\s*:?\s*(?:\*\*)?\s*:?|the answer is\b:?)"
    r"[ \t]*(?:\$\$?(?P<math>.+?)\$\$?|(?P<line>[^\n]+))",
    re.IGNORECASE | re.MULTILINE,
)


_BRACE_TOKENS = re.compile(r"\\.|[{}]", re.DOTALL)


def _brace_ends(text: str, start: int) -> dict[int, int]:
    """For every ``{`` from ``start`` on that opens a group, the index just past its
    matching ``}`` (absent when it never closes). One pass over the braces, so a text of
    many unclosed boxes (a looping, truncated completion) costs linear time, not a rescan
    per box. An escaped character (``\\{``, ``\\}``, ``\\\\``) never opens or closes a
    group. ``start`` must be an unescaped ``{`` (a box's), so the scan is in step."""
    ends: dict[int, int] = {}
    stack: list[int] = []
    for token in _BRACE_TOKENS.finditer(text, start):
        ch = token.group()
        if ch == "{":
            stack.append(token.start())
        elif ch == "}" and stack:
            ends[stack.pop()] = token.end()
    return ends


def _boxes(text: str) -> list[tuple[int, int, str]]:
    """Top-level boxes as (start, end, content), in order of appearance."""
    found: list[tuple[int, int, str]] = []
    ends: dict[int, int] | None = None
    pos = 0
    while True:
        match = _BOX_START.search(text, pos)
        if match is None:
            return found
        i = match.end()
        while i < len(text) and text[i] in " \t":
            i += 1
        if i < len(text) and text[i] == "{":
            if ends is None:
                ends = _brace_ends(text, i)
            end = ends.get(i)
            if end is None:  # unclosed: truncated output, not an answer
                pos = match.end()
                continue
            found.append((match.start(), end, text[i + 1:end - 1]))
            pos = end
        else:
            token = re.match(r"[^\s$]+", text[i:]) if i > match.end() else None
            if token is None:
                pos = match.end()
                continue
            found.append((match.start(), i + token.end(), token.group(0)))
            pos = i + token.end()


def last_boxed(text: str) -> str | None:
    """The content of the last top-level box, descending into nested boxes."""
    boxes = _boxes(text)
    if not boxes:
        return None
    content = boxes[-1][2]
    inner = _boxes(content)
    while inner:
        content = inner[-1][2]
        inner = _boxes(content)
    return content


def clean_answer(raw: str) -> str | None:
    """Trim whitespace, ``$`` delimiters and a final period; None when nothing is left
    (a lone ``$``, an opening delimiter whose math is on the next line, included)."""
    answer = raw.strip()
    while len(answer) >= 2 and answer.startswith("$") and answer.endswith("$"):
        answer = answer[1:-1].strip()
    if answer.endswith(".") and not answer.endswith(("\\.", "...")):
        answer = answer[:-1].rstrip()
    return answer if answer.strip("$ ") else None


def _last_match(pattern: re.Pattern[str], text: str) -> str | None:
    last = None
    for match in pattern.finditer(text):
        last = match
    if last is None:
        return None
    return last.group("math") if last.group("math") is not None else last.group("line")


def extract_answer(text: str, fallbacks: bool = True) -> str | None:
    """The final answer of a completion by the rule in this module's docstring."""
    boxed = last_boxed(text)
    if boxed is not None:
        return clean_answer(boxed)
    if not fallbacks:
        return None
    for pattern in (_FINAL_ANSWER, _ANSWER_LINE):
        found = _last_match(pattern, text)
        if found is not None:
            cleaned = clean_answer(found)
            if cleaned is not None and not _BOX_START.search(cleaned):
                return cleaned
    return None
