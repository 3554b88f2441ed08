"""BigCodeBench (full, 1140 tasks) and BigCodeBench-Hard (148 tasks): practical Python
tasks checked by unittest suites, in the ``complete`` or ``instruct`` prompt style.

Tasks run in the sandbox interpreter given by ``python=`` (a venv with the benchmark's
libraries, see ``scripts/setup_bigcodebench_venv.sh``); tasks whose libraries it lacks are
graded ``missing-library``. As BigCodeBench evaluates by default ("calibrated"), every
program is prefixed with the task's ``code_prompt`` and a ``pass`` body, so imports the
prompt declares are present.
"""

from __future__ import annotations

import ast
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

from harness.data import HubFile, ResolvedFile, fetch_file
from harness.errors import ConfigError, InputError
from harness.grading.runners.bigcodebench import BigCodeBenchGrader, BigCodeBenchProblem
from harness.grading.runners.verdict import Verdict
from harness.store.jsonl import read_json, read_jsonl
from harness.tasks.code_common import CodeTask, find_program, float_option
from harness.tasks.options import bool_option
from harness.types import Message, Problem

_FIELDS = ("task_id", "complete_prompt", "instruct_prompt", "canonical_solution",
           "code_prompt", "test", "entry_point", "libs")
SPLITS = ("complete", "instruct")
COMPLETE_INSTRUCTION = ("Complete the following Python function so that it is a "
                        "self-contained, runnable solution. Reply with the whole program "
                        "in one Python code block.")
INSTRUCT_SUFFIX = "\n\nReply with the whole program in one Python code block."


def _parquet_rows(path: Path) -> list[dict[str, Any]]:
    import pyarrow.parquet as pq

    return pq.read_table(path).to_pylist()


class BigCodeBenchTask(CodeTask):
    """BigCodeBench (v0.1.0_hf, 1140 tasks): unittest suites, pass only if all pass."""

    name: ClassVar[str] = "bigcodebench"
    mirror_path: ClassVar[str] = "bigcodebench/v0.1.0_hf/BigCodeBench.jsonl.gz"
    hub: ClassVar[HubFile] = HubFile("bigcode/bigcodebench",
                                     "data/v0.1.0_hf-00000-of-00001.parquet",
                                     "3fec4e22f565e1e68aa66ac91259de3d7cf5010b")

    def __init__(self, data_dir: Path | None = None, split: str = "complete",
                 workers: Any = None, python: str | None = None, timeout: Any = 240.0,
                 memory_gb: Any = 8, calibrated: Any = True) -> None:
        super().__init__(workers=workers, python=python)
        if split not in SPLITS:
            raise ConfigError(f"{self.name}: split must be one of {SPLITS}, not {split!r}")
        self.split = split
        self.data_dir = data_dir
        self.calibrated = bool_option("calibrated", calibrated)
        self.grader = BigCodeBenchGrader(
            self.sandbox, timeout=float_option("timeout", timeout),
            memory_bytes=int(float_option("memory_gb", memory_gb) * (1 << 30)))
        self._problems: dict[str, BigCodeBenchProblem] = {}
        self._rows: dict[str, dict[str, Any]] = {}
        self._provenance: dict[str, Any] = {}

    def _read_rows(self, resolved: ResolvedFile) -> list[tuple[int | None, dict[str, Any]]]:
        path = resolved.path
        if path.suffix == ".parquet":
            return [(None, row) for row in _parquet_rows(path)]
        return list(read_jsonl(path))

    def load(self) -> list[Problem]:
        resolved = fetch_file(self.mirror_path, self.hub, self.data_dir)
        self._provenance = resolved.provenance
        problems = []
        for line, row in self._read_rows(resolved):
            for name in _FIELDS:
                if not isinstance(row.get(name), str):
                    raise InputError("missing or not a string", path=resolved.path,
                                     line=line, field=name)
            try:
                libs = ast.literal_eval(row["libs"])
            except (ValueError, SyntaxError):
                raise InputError("not a list literal", path=resolved.path, line=line,
                                 field="libs") from None
            task_id = row["task_id"]
            self._rows[task_id] = row
            self._problems[task_id] = BigCodeBenchProblem(
                task_id=task_id, code_prompt=row["code_prompt"], test=row["test"],
                entry_point=row["entry_point"], libs=tuple(str(x) for x in libs))
            problem = Problem(id=task_id, task=self.name, domain="code", prompt=[],
                              reference={"entry_point": row["entry_point"],
                                         "libs": list(libs)},
                              metadata={"prompt": row["complete_prompt"],
                                        "entry_point": row["entry_point"],
                                        "split": self.split})
            problem.prompt = self.prompt(problem)
            problems.append(problem)
        return problems

    def bigcodebench_problem(self, problem: Problem) -> BigCodeBenchProblem:
        return self.loaded(self._problems, problem)

    def prompt(self, problem: Problem, style: str = "default") -> list[Message]:
        row = self._rows[problem.id]
        split = self.split if style == "default" else style
        if split == "complete":
            content = f"{COMPLETE_INSTRUCTION}\n\n```python\n{row['complete_prompt']}```\n"
        elif split == "instruct":
            content = row["instruct_prompt"] + INSTRUCT_SUFFIX
        else:
            raise ConfigError(f"{self.name}: unknown prompt style {style!r} "
                              "(default, complete, instruct)")
        return [{"role": "user", "content": content}]

    def completion_prefix(self, problem: Problem) -> str:
        return str(self._rows[problem.id]["complete_prompt"])

    def program(self, problem: Problem, text: str) -> str | None:
        code = find_program(text, self.completion_prefix(problem),
                            problem.metadata["entry_point"])
        return None if code is None else self.verbatim_program(problem, code)

    def verbatim_program(self, problem: Problem, code: str) -> str:
        if self.calibrated:
            return self._rows[problem.id]["code_prompt"] + "\n    pass\n" + code
        return code

    def reference_completions(self, problem: Problem) -> list[str]:
        row = self._rows[problem.id]
        return [row["complete_prompt"] + "\n" + row["canonical_solution"]]

    def verdicts(self, items: Sequence[tuple[Problem, Sequence[str | None]]]
                 ) -> list[list[Verdict]]:
        return self.grader.grade([(self.bigcodebench_problem(p), programs)
                                  for p, programs in items])

    def identity(self) -> dict[str, Any]:
        return {"task": self.name, "split": self.split, "calibrated": self.calibrated,
                "file": self._provenance, "grader": self.grader.identity(),
                "sandbox": self.sandbox().identity()}


class BigCodeBenchHardTask(BigCodeBenchTask):
    """BigCodeBench-Hard (148 tasks of v0.1.0_hf): unittest suites, all must pass."""

    name: ClassVar[str] = "bigcodebench-hard"
    mirror_path: ClassVar[str] = "bigcodebench/hard/bigcodebench_hard.json"
    hub: ClassVar[HubFile] = HubFile("bigcode/bigcodebench-hard",
                                     "data/v0.1.0_hf-00000-of-00001.parquet",
                                     "f536fe34dfb2448d05018a210fc2cd29e89c7e93")

    def _read_rows(self, resolved: ResolvedFile) -> list[tuple[int | None, dict[str, Any]]]:
        if resolved.path.suffix == ".parquet":
            return super()._read_rows(resolved)
        data = read_json(resolved.path)
        if not isinstance(data, dict):
            raise InputError("expected a JSON object keyed by task_id", path=resolved.path)
        return [(None, row) for row in data.values()]
