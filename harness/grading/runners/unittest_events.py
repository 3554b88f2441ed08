"""The harness' own accounting of a unittest run from the child's event stream.

The child reports each test's start, outcome and stop as they happen; nothing it says
about itself in summary is used. A program passes only if every one of the task's tests
(in unittest's order: sorted names) started, had a passing outcome (ok, skip, expected
failure) and no failed subtest, and stopped, with no event outside that pattern except
fixture errors (which fail it), and no event made by code other than unittest's own.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

PASSING = frozenset({"ok", "skip", "xfail"})
OUTCOMES = PASSING | {"fail", "error", "xpass"}


@dataclass
class Accounting:
    passed: bool
    reason: str = ""
    failed: list[str] = field(default_factory=list)
    tampered: list[str] = field(default_factory=list)
    running: str | None = None  # the test that had started and not stopped


def account(expected: Iterable[str], events: list[dict[str, Any]]) -> Accounting:
    """Check ``events`` against the ``expected`` test names (any order given)."""
    order = sorted(expected)
    done: list[str] = []
    failed: dict[str, str] = {}
    tampered: list[str] = []
    current: str | None = None
    outcomes: list[str] = []
    fixture_skipped = False
    for event in events:
        kind, name = event.get("ev"), str(event.get("t"))
        if event.get("forged"):
            return Accounting(False, f"a {kind!r} event for {name} did not come from "
                                     "unittest's own code", running=current)
        if kind == "tampered":
            tampered.extend(str(x) for x in event.get("what", []))
            continue
        if kind == "start":
            if current is not None or len(done) >= len(order) or name != order[len(done)]:
                return Accounting(False, f"test {name} started out of order", running=current)
            current, outcomes = name, []
        elif kind in OUTCOMES or kind == "subfail":
            if current is None:  # a class or module fixture
                if kind == "skip":
                    fixture_skipped = True
                else:
                    failed[name] = f"{kind}: {event.get('detail', '')}"
                continue
            if name != current:
                return Accounting(False, f"an outcome for {name} inside test {current}",
                                  running=current)
            outcomes.append(kind)
            if kind not in PASSING:
                failed.setdefault(current, f"{kind}: {event.get('detail', '')}")
        elif kind == "stop":
            if name != current:
                return Accounting(False, f"test {name} stopped but had not started",
                                  running=current)
            if not outcomes:
                failed.setdefault(current, "no outcome recorded")
            done.append(current)
            current = None
        else:
            return Accounting(False, f"unknown event {kind!r}", running=current)
    if current is not None:
        return Accounting(False, f"the run ended inside test {current}", running=current)
    missing = order[len(done):]
    if missing and not fixture_skipped:
        return Accounting(False, f"tests that never ran: {missing[:10]}",
                          failed=sorted(failed))
    if tampered:
        return Accounting(False, "test harness tampered with", tampered=sorted(set(tampered)))
    if failed:
        first = sorted(failed)[0]
        return Accounting(False, f"{first}: {failed[first][-400:]}", failed=sorted(failed))
    return Accounting(True)
