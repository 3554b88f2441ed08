"""LiveCodeBench code generation (``code_generation_lite``): contest problems with
stdin/stdout tests (AtCoder, Codeforces) or LeetCode-style functional tests, selected by
release version and contest-date window.

Private tests in the released files are base64(zlib(pickle(json))); they are decoded
without running pickle (see harness.grading.runners.safe_pickle). The benchmark ships no
reference solutions, so ``tasks check`` does not apply.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any, ClassVar

from harness.data import HubFile, fetch_file
from harness.errors import ConfigError, InputError
from harness.grading.runners.livecodebench import (
    LiveCodeBenchGrader,
    LiveCodeBenchProblem,
    LiveCodeBenchTest,
)
from harness.grading.runners.safe_pickle import UnsafePickle, decode_compressed_tests
from harness.grading.runners.verdict import Verdict
from harness.store.jsonl import loads_strict, read_jsonl
from harness.tasks.code_common import CodeTask, find_program, float_option
from harness.types import Message, Problem

HUB_REPO = "livecodebench/code_generation_lite"
HUB_REVISION = "503416f80ac447d31f252d8434023786ce45dd0c"  # "add v6": test.jsonl .. test6.jsonl
MIRROR_DIR = "livecodebench/code_generation_lite"
FILES = ("test.jsonl", "test2.jsonl", "test3.jsonl", "test4.jsonl", "test5.jsonl",
         "test6.jsonl")
_FIELDS = ("question_title", "question_content", "platform", "question_id", "contest_id",
           "contest_date", "starter_code", "difficulty", "public_test_cases",
           "private_test_cases", "metadata")
STDIN_INSTRUCTION = ("Read the input from standard input, solve the problem and write "
                     "the answer to standard output. Reply with the complete program in "
                     "one Python code block.")
STARTER_INSTRUCTION = ("Complete the following starter code. Reply with the complete "
                       "solution in one Python code block.")


def release_files(release: str) -> tuple[str, ...]:
    """The files a LiveCodeBench version tag covers: ``release_vN`` (files 1..N),
    ``release_latest`` (all), ``vN`` (file N) or ``vM_vN`` (files M..N)."""
    if release == "release_latest":
        return FILES
    match = re.fullmatch(r"release_v(\d)", release)
    if match and 1 <= int(match.group(1)) <= len(FILES):
        return FILES[:int(match.group(1))]
    match = re.fullmatch(r"v(\d)(?:_v(\d))?", release)
    if match:
        first = int(match.group(1))
        last = int(match.group(2) or first)
        if 1 <= first <= last <= len(FILES):
            return FILES[first - 1:last]
    raise ConfigError(f"livecodebench: unknown release {release!r} (release_v1..release_v6, "
                      "release_latest, vN, vM_vN)")


def _date_option(name: str, value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise ConfigError(f"option {name} must be a date YYYY-MM-DD, not {value!r}") from None


def _tests(text: Any, where: dict[str, Any], field: str) -> list[LiveCodeBenchTest]:
    if not isinstance(text, str):
        raise InputError("expected a string", field=field, **where)
    try:
        rows = loads_strict(text)
    except ValueError:
        if field != "private_test_cases":
            raise InputError("not JSON", field=field, **where) from None
        try:
            rows = loads_strict(decode_compressed_tests(text))
        except (UnsafePickle, ValueError) as exc:
            raise InputError(f"neither JSON nor base64+zlib+pickled JSON text: {exc}",
                             field=field, **where) from None
    if not isinstance(rows, list):
        raise InputError("expected a list of tests", field=field, **where)
    tests = []
    for row in rows:
        if not isinstance(row, dict) or not all(isinstance(row.get(k), str)
                                                for k in ("input", "output", "testtype")):
            raise InputError("each test needs string input, output and testtype",
                             field=field, **where)
        if row["testtype"] not in ("stdin", "functional"):
            raise InputError(f"unknown testtype {row['testtype']!r}", field=field, **where)
        tests.append(LiveCodeBenchTest(row["input"], row["output"], row["testtype"]))
    return tests


class LiveCodeBenchTask(CodeTask):
    """LiveCodeBench code generation (lite): stdin and LeetCode-functional tests."""

    name: ClassVar[str] = "livecodebench"

    def __init__(self, data_dir: Path | None = None, release: str = "release_v6",
                 start_date: str | None = None, end_date: str | None = None,
                 workers: Any = None, python: str | None = None,
                 timeout: Any = 6.0) -> None:
        super().__init__(workers=workers, python=python)
        self.release = release
        self.files = release_files(release)
        self.start_date = _date_option("start_date", start_date)
        self.end_date = _date_option("end_date", end_date)
        self.data_dir = data_dir
        self.grader = LiveCodeBenchGrader(self.sandbox, timeout=float_option("timeout", timeout))
        self._problems: dict[str, LiveCodeBenchProblem] = {}
        self._provenance: list[dict[str, Any]] = []

    def _in_window(self, when: datetime) -> bool:
        day = when.date()
        if self.start_date is not None and day < self.start_date:
            return False
        return not (self.end_date is not None and day > self.end_date)

    def load(self) -> list[Problem]:
        problems = []
        self._provenance = []
        for filename in self.files:
            resolved = fetch_file(f"{MIRROR_DIR}/{filename}",
                                  HubFile(HUB_REPO, filename, HUB_REVISION), self.data_dir)
            self._provenance.append(resolved.provenance)
            for line, row in read_jsonl(resolved.path):
                problem = self._problem(row, {"path": resolved.path, "line": line})
                if problem is not None:
                    problems.append(problem)
        return problems

    def _problem(self, row: dict[str, Any], where: dict[str, Any]) -> Problem | None:
        for name in _FIELDS:
            if name not in row:
                raise InputError("missing", field=name, **where)
        try:
            when = datetime.fromisoformat(str(row["contest_date"]))
        except ValueError:
            raise InputError("not an ISO date", field="contest_date", **where) from None
        if not self._in_window(when):
            return None
        try:
            metadata = loads_strict(row["metadata"]) if row["metadata"] else {}
        except (ValueError, TypeError):
            raise InputError("not JSON", field="metadata", **where) from None
        tests = (_tests(row["public_test_cases"], where, "public_test_cases")
                 + _tests(row["private_test_cases"], where, "private_test_cases"))
        func_name = metadata.get("func_name") if isinstance(metadata, dict) else None
        qid = str(row["question_id"])
        self._problems[qid] = LiveCodeBenchProblem(qid, tuple(tests), func_name)
        problem = Problem(
            id=qid, task=self.name, domain="code", prompt=[],
            reference={"func_name": func_name, "n_tests": len(tests),
                       "test_types": sorted({t.testtype for t in tests})},
            metadata={"title": row["question_title"], "content": row["question_content"],
                      "platform": row["platform"], "contest_id": row["contest_id"],
                      "contest_date": when.isoformat(), "difficulty": row["difficulty"],
                      "starter_code": row["starter_code"], "release": self.release})
        problem.prompt = self.prompt(problem)
        return problem

    def livecodebench_problem(self, problem: Problem) -> LiveCodeBenchProblem:
        return self.loaded(self._problems, problem)

    def prompt(self, problem: Problem, style: str = "default") -> list[Message]:
        if style not in ("default", "chat"):
            raise ConfigError(f"{self.name}: unknown prompt style {style!r} (default, chat)")
        meta = problem.metadata
        starter = meta["starter_code"]
        if starter:
            tail = f"{STARTER_INSTRUCTION}\n\n```python\n{starter}\n```\n"
        else:
            tail = f"{STDIN_INSTRUCTION}\n"
        return [{"role": "user", "content": f"{meta['content']}\n\n{tail}"}]

    def program(self, problem: Problem, text: str) -> str | None:
        functional = self.livecodebench_problem(problem).func_name is not None
        return find_program(text, None, "Solution" if functional else None)

    def reference_completions(self, problem: Problem) -> list[str]:
        return []  # LiveCodeBench publishes no reference solutions

    def verdicts(self, items: Sequence[tuple[Problem, Sequence[str | None]]]
                 ) -> list[list[Verdict]]:
        return self.grader.grade([(self.livecodebench_problem(p), programs)
                                  for p, programs in items])

    def identity(self) -> dict[str, Any]:
        return {"task": self.name, "release": self.release,
                "start_date": self.start_date.isoformat() if self.start_date else None,
                "end_date": self.end_date.isoformat() if self.end_date else None,
                "files": self._provenance, "grader": self.grader.identity(),
                "hub": {"repo_id": HUB_REPO, "revision": HUB_REVISION},
                "sandbox": self.sandbox().identity(), "n_problems": len(self._problems)}
