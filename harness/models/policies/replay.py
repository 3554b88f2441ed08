"""``replay``: serve an existing pool as if a policy were writing it.

The pool is a JSONL file, one sample a line: ``problem_id``, the text in ``completion`` or
``text``, and optionally ``index`` (its position in the problem's pool; else file order) or
``sample_id``. Prompts are matched to problems through the task, which renders each
problem's prompt. ``sample(n)`` returns a problem's first n samples in pool order, the same
ones on every call (as a seeded policy would); the seed is ignored. ``step`` replays stored
solutions step by step (steps from ``task.split_steps``): the next step of each of the
first n stored samples that continue the given prefix. Asking for more samples than the
pool holds, or for an unknown problem, is an error that says so.

Token counts: the stored ``prompt_tokens``/``completion_tokens`` when every line has them,
else (and always for single steps) a tokenizer-free count (words and punctuation marks);
``identity()`` says which.
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from harness.errors import ConfigError, InputError
from harness.interfaces import Completion, SamplingParams, Task
from harness.models.policies.base import LedgerPolicy, check_params, check_step_args
from harness.registry import TASKS
from harness.store.keys import canonical_json, file_sha256
from harness.store.pool_file import StoredSample, read_pool
from harness.types import Message

_TOKEN = re.compile(r"\w+|[^\w\s]")
REGEX_COUNT = "tokenizer-free: count of regex \\w+|[^\\w\\s] matches"


def regex_tokens(text: str) -> int:
    return len(_TOKEN.findall(text))


class ReplayPolicy(LedgerPolicy):
    """Registered as policy ``replay``."""

    backend = "replay"
    seed_rule = "ignored: samples are served in pool order"

    def __init__(self, pool: str | Path, task: str | Task, data_dir: str | Path | None = None,
                 task_options: dict[str, Any] | None = None, prompt_style: str = "default"
                 ) -> None:
        super().__init__(params=None, device="none")
        self.pool_path = Path(pool)
        self.samples = read_pool(self.pool_path)
        self.task = (task if isinstance(task, Task)
                     else TASKS.build(task, task_options, data_dir=data_dir))
        self.prompt_style = prompt_style
        self._by_prompt: dict[str, str] = {}
        for problem in self.task.load():
            key = canonical_json(self.task.prompt(problem, prompt_style))
            self._by_prompt.setdefault(key, problem.id)
        unknown = sorted(set(self.samples) - set(self._by_prompt.values()))
        if unknown:
            raise InputError(f"{len(unknown)} problem ids are not in task {self.task.name}: "
                             f"{unknown[:5]}", path=self.pool_path, field="problem_id")
        self.stored_counts = all(s.prompt_tokens is not None and s.completion_tokens is not None
                                 for group in self.samples.values() for s in group)

    def _problem(self, messages: list[Message]) -> str:
        problem_id = self._by_prompt.get(canonical_json(messages))
        if problem_id is None:
            raise ConfigError(f"replay: the prompt {canonical_json(messages)[:120]}... is not "
                              f"a prompt of task {self.task.name} (style "
                              f"{self.prompt_style!r})")
        if problem_id not in self.samples:
            raise ConfigError(f"replay: pool {self.pool_path} has no samples for problem "
                              f"{problem_id!r}")
        return problem_id

    def _take(self, problem_id: str, candidates: list[Any], n: int, what: str) -> list[Any]:
        if len(candidates) < n:
            raise ConfigError(f"replay: asked for {n} {what} of problem {problem_id!r}, but "
                              f"pool {self.pool_path} holds {len(candidates)}")
        return candidates[:n]

    # -- the Policy interface -----------------------------------------------------------

    def sample(self, prompts: Sequence[list[Message]], params: SamplingParams
               ) -> list[list[Completion]]:
        check_params(params)
        start = time.perf_counter()
        out = []
        for messages in prompts:
            problem_id = self._problem(messages)
            chosen = self._take(problem_id, self.samples[problem_id], params.n, "samples")
            out.append([self._completion(messages, s) for s in chosen])
        self._record(out, start, "sample")
        return out

    def step(self, prompts: Sequence[list[Message]], prefixes: Sequence[str],
             params: SamplingParams) -> list[list[Completion]]:
        check_params(params)
        check_step_args(prompts, prefixes, params)
        start = time.perf_counter()
        out = []
        for messages, prefix in zip(prompts, prefixes, strict=True):
            problem_id = self._problem(messages)
            prompt_tokens = self._prompt_tokens(messages) + regex_tokens(prefix)
            going_on = [c for c in (self._next_step(s.text, prefix, prompt_tokens)
                                    for s in self.samples[problem_id]
                                    if s.text.startswith(prefix)) if c is not None]
            out.append(self._take(problem_id, going_on, params.n, "stored samples that "
                                  f"continue a {len(prefix)}-character prefix at a step end"))
        self._record(out, start, "step")
        return out

    @classmethod
    def resolved_identity(cls, **options: Any) -> dict[str, Any]:
        """The replayed file's sha256: a new file at the same path is a new pool (None
        while the file is missing: building the policy then fails, naming it)."""
        pool = options.get("pool")
        return {"backend_version": cls.version,
                "pool_sha256": file_sha256(pool) if pool is not None and Path(pool).is_file()
                else None}

    def identity(self) -> dict[str, Any]:
        return {"backend": self.backend, "pool": str(self.pool_path),
                "pool_sha256": file_sha256(self.pool_path), "task": self.task.identity(),
                "prompt_style": self.prompt_style,
                "token_counts": "stored" if self.stored_counts else REGEX_COUNT,
                "step_token_counts": REGEX_COUNT, **self.ledger_identity()}

    # -- helpers ----------------------------------------------------------------------------

    @staticmethod
    def _prompt_tokens(messages: list[Message]) -> int:
        return sum(regex_tokens(m.get("content", "")) for m in messages)

    def _completion(self, messages: list[Message], stored: StoredSample) -> Completion:
        if self.stored_counts:
            return Completion(stored.text, stored.prompt_tokens or 0,
                              stored.completion_tokens or 0, stored.finish_reason)
        return Completion(stored.text, self._prompt_tokens(messages),
                          regex_tokens(stored.text), stored.finish_reason)

    def _next_step(self, text: str, prefix: str, prompt_tokens: int) -> Completion | None:
        """The stored step after ``prefix``; None unless ``prefix`` ends at a step end."""
        steps = self.task.split_steps(text)
        done = ""
        for k, piece in enumerate(steps):
            if done == prefix:
                finish = "step" if k + 1 < len(steps) else "stop"
                return Completion(piece, prompt_tokens, regex_tokens(piece), finish)
            done += piece
        if done == prefix:
            return Completion("", prompt_tokens, 0, "stop")
        return None

    def _record(self, out: list[list[Completion]], start: float, kind: str) -> None:
        self.ledger.record(sum(c.prompt_tokens for cs in out for c in cs),
                           sum(c.completion_tokens for cs in out for c in cs),
                           time.perf_counter() - start, kind)
