"""Shared base of the evalplus tasks (HumanEval+, MBPP+): loading the release files,
prompts, reference completions and grading through the evalplus runner."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

from harness.data import UrlFile, fetch_file
from harness.errors import ConfigError, InputError
from harness.grading.runners.evalplus import EvalplusGrader, EvalplusProblem
from harness.grading.runners.verdict import Verdict
from harness.store.jsonl import open_text
from harness.tasks.code_common import CodeTask, budget_option, find_program, float_option
from harness.types import Message, Problem

_REQUIRED = ("task_id", "prompt", "entry_point", "canonical_solution", "base_input",
             "plus_input", "atol")

INSTRUCTION = ("Complete the following Python function. Reply with the complete function "
               "in one Python code block.")
#: style "reasoning": prose steps before the code, so a solution has prefixes to label by
#: Monte Carlo rollouts (a lone code block is one step: nothing to complete)
REASONING_INSTRUCTION = ("Complete the following Python function. First explain your "
                         "approach step by step in a few short paragraphs, separated by "
                         "blank lines. Then reply with the complete function in one Python "
                         "code block.")


def _read_release(path: Path) -> list[tuple[int, dict[str, Any]]]:
    """The release file's rows. Lenient where strict JSON is not: MBPP+ inputs contain
    ``Infinity``/``NaN``, which evalplus (Python's json) reads as floats."""
    rows = []
    with open_text(path) as handle:
        for number, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            try:
                row = json.loads(raw)
            except ValueError as exc:
                raise InputError(f"malformed JSON: {exc}", path=path, line=number) from None
            if not isinstance(row, dict):
                raise InputError("expected a JSON object", path=path, line=number)
            rows.append((number, row))
    return rows


# seconds a failing program may go on running after its first failure to finish its
# voting class; past it, it is stopped and abstains (docs/sandbox.md, "Voting budget")
DEFAULT_VOTE_BUDGET_S = 20.0


class EvalplusTask(CodeTask):
    """A HumanEval+-style task: functions tested on base and plus inputs."""

    dataset: ClassVar[str]  # evalplus' dataset name: "humaneval" | "mbpp"
    # evalplus.evaluate has numpy and pandas imported when it forks a program's process, so
    # a program importing them under its reliability guard works there (a fresh import of
    # pandas under the guard fails: it calls the disabled ``open``)
    preload: ClassVar[tuple[str, ...]] = ("numpy", "pandas")
    versions: ClassVar[dict[str, tuple[str, UrlFile]]]  # version -> (mirror path, release)
    default_version: ClassVar[str]

    def __init__(self, data_dir: Path | None = None, version: str | None = None,
                 workers: Any = None, python: str | None = None,
                 min_time_limit: Any = 1.0, gt_time_limit_factor: Any = 4.0,
                 timeout_per_task: Any = 60.0,
                 vote_budget_s: Any = DEFAULT_VOTE_BUDGET_S) -> None:
        super().__init__(workers=workers, python=python)
        self.version = version or self.default_version
        if self.version not in self.versions:
            raise ConfigError(f"{self.name}: unknown version {self.version!r}; known: "
                              f"{', '.join(sorted(self.versions))}")
        self.data_dir = data_dir
        self.grader = EvalplusGrader(
            self.sandbox, min_time_limit=float_option("min_time_limit", min_time_limit),
            gt_time_limit_factor=float_option("gt_time_limit_factor", gt_time_limit_factor),
            timeout_per_task=float_option("timeout_per_task", timeout_per_task),
            vote_budget_s=budget_option("vote_budget_s", vote_budget_s))
        self._problems: dict[str, EvalplusProblem] = {}
        self._provenance: dict[str, Any] = {}

    def convert_inputs(self, task_id: str, inputs: list[Any]) -> list[Any]:
        """The dataset's stored inputs as evalplus passes them (identity by default)."""
        return inputs

    def load(self) -> list[Problem]:
        mirror_path, release = self.versions[self.version]
        resolved = fetch_file(mirror_path, release, self.data_dir)
        self._provenance = resolved.provenance
        problems = []
        for line, row in _read_release(resolved.path):
            for name in _REQUIRED:
                if name not in row:
                    raise InputError("missing", path=resolved.path, line=line, field=name)
            task_id = row["task_id"]
            ep = EvalplusProblem(
                task_id=task_id, dataset=self.dataset, prompt=row["prompt"],
                entry_point=row["entry_point"], canonical_solution=row["canonical_solution"],
                base_inputs=self.convert_inputs(task_id, row["base_input"]),
                plus_inputs=self.convert_inputs(task_id, row["plus_input"]),
                atol=float(row["atol"] or 0))
            self._problems[task_id] = ep
            problems.append(Problem(
                id=task_id, task=self.name, domain="code", prompt=[],
                reference={"entry_point": ep.entry_point, "atol": ep.atol,
                           "n_base": len(ep.base_inputs), "n_plus": len(ep.plus_inputs)},
                metadata={"prompt": ep.prompt, "entry_point": ep.entry_point,
                          "version": self.version}))
        for problem in problems:
            problem.prompt = self.prompt(problem)
        return problems

    def evalplus_problem(self, problem: Problem) -> EvalplusProblem:
        return self.loaded(self._problems, problem)

    def prompt(self, problem: Problem, style: str = "default") -> list[Message]:
        code = problem.metadata["prompt"]
        if style == "raw":
            return [{"role": "user", "content": code}]
        if style not in ("default", "chat", "reasoning"):
            raise ConfigError(f"{self.name}: unknown prompt style {style!r} "
                              "(default, chat, reasoning, raw)")
        instruction = REASONING_INSTRUCTION if style == "reasoning" else INSTRUCTION
        return [{"role": "user", "content": f"{instruction}\n\n```python\n{code}```\n"}]

    def program(self, problem: Problem, text: str) -> str | None:
        return find_program(text, problem.metadata["prompt"],
                            problem.metadata["entry_point"])

    def reference_completions(self, problem: Problem) -> list[str]:
        ep = self.evalplus_problem(problem)
        return [ep.prompt + ep.canonical_solution]

    def verdicts(self, items: Sequence[tuple[Problem, Sequence[str | None]]]
                 ) -> list[list[Verdict]]:
        return self.grader.grade([(self.evalplus_problem(p), programs)
                                  for p, programs in items])

    def identity(self) -> dict[str, Any]:
        return {"task": self.name, "version": self.version, "file": self._provenance,
                "grader": self.grader.identity(),
                "sandbox": self.sandbox().identity()}
