"""Monte Carlo step labels from rollouts (Math-Shepherd style).

For a solution with steps x_1..x_T, each prefix x_1..x_t (t < T) is completed k times by
the rollout policy and every completion (prefix + continuation, the whole text) is graded
by the task's own grader (math: the answer checker; code: the program run in the sandbox).
The soft label of step t is the fraction of correct completions, the hard label 1.0 when any
is correct, else 0.0. The last step's label is the solution's own grade (it is already
complete). A completion continues step by step (``Policy.step`` with the ``stop``
delimiters) until the policy ends it (a finish reason other than ``step``, or an empty
step) or ``max_steps`` steps were written (counted as truncated, graded as it stands).

Seeds: completion j of prefix t of a solution draws step r with seed
sha256(['mc-rollout', seed, problem_id, prefix, j])[:31 bits] + r, so it does not depend on
batching or on which other solutions are labelled. A policy that takes per-request seeds
(``takes_request_seeds``: hf, vllm, the simulator) writes all of a solution's rollouts in
one seeded ``step`` call a step; others get one call a rollout. With ``cache`` set, every finished
completion is stored under the sha256 of (policy identity, prompt, prefix, j, settings) and
reused by a rerun, so an interrupted build resumes where it stopped.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from harness import registry
from harness.errors import ConfigError, InputError
from harness.interfaces import Policy, SamplingParams, Task
from harness.labels.common import problem_text, train_or_dev
from harness.labels.config import DevSplit, MonteCarloSource
from harness.pipeline.plan import select_problems
from harness.progress import track
from harness.store.atomic import write_text
from harness.store.keys import key_of
from harness.tasks.code_common import split_code_statements
from harness.types import Message, Problem


class RolloutCache:
    """Finished completions by content key, one JSON file each (written atomically)."""

    def __init__(self, folder: Path | None) -> None:
        self.folder = folder
        self.hits = 0
        self.misses = 0

    def _path(self, key: str) -> Path:
        assert self.folder is not None
        return self.folder / key[:2] / f"{key}.json"

    def get(self, key: str) -> dict[str, Any] | None:
        if self.folder is None:
            return None
        path = self._path(key)
        if not path.is_file():
            return None
        try:
            value = json.loads(path.read_text(encoding="utf-8"))
        except ValueError:
            raise InputError("malformed cache entry (delete it to redo the rollout)",
                             path=path) from None
        self.hits += 1
        return value if isinstance(value, dict) else None

    def put(self, key: str, value: dict[str, Any]) -> None:
        self.misses += 1
        if self.folder is not None:
            write_text(self._path(key), json.dumps(value, ensure_ascii=False))


def rollout_seed(seed: int, problem_id: str, prefix: str, j: int) -> int:
    return int(key_of(["mc-rollout", seed, problem_id, prefix, j])[:8], 16) & 0x7FFFFFFF


class MonteCarloLabeler:
    """Labels solutions of one task with one rollout policy."""

    def __init__(self, cfg: MonteCarloSource, task: Task, policy: Policy,
                 cache: RolloutCache) -> None:
        self.cfg = cfg
        self.task = task
        self.policy = policy
        self.cache = cache
        self.policy_identity = policy.identity()
        self.rollouts = 0
        self.truncated = 0
        self.policy_calls = 0
        #: a policy that takes per-request seeds gets every rollout of a solution in one
        #: ``step`` call a step (same seeds as one at a time; the engine seeds each request)
        self.batched = bool(getattr(policy, "takes_request_seeds", False))
        self.engine_calls = 0

    def _settings(self) -> dict[str, Any]:
        r = self.cfg.rollout
        return {"temperature": r.temperature, "top_p": r.top_p, "max_tokens": r.max_tokens,
                "stop": r.stop, "max_steps": r.max_steps, "seed": r.seed}

    def complete_batch(self, messages: list[Message], problem: Problem,
                       wanted: list[tuple[str, int]]) -> list[str]:
        """Continuations of every (prefix, j): cached ones read back, the others written
        together, one seeded ``step`` call per step of theirs."""
        from harness.strategies.engine import SeededParams

        r = self.cfg.rollout
        settings = self._settings()
        out: list[str | None] = [None] * len(wanted)
        pending: list[tuple[int, str, int, str]] = []  # (index, key, seed, prefix)
        for i, (prefix, j) in enumerate(wanted):
            key = key_of(["mc-rollout-seeded-v1", self.policy_identity, messages, prefix, j,
                          settings])
            self.rollouts += 1
            cached = self.cache.get(key)
            if cached is not None and isinstance(cached.get("text"), str):
                self.truncated += bool(cached.get("truncated"))
                out[i] = str(cached["text"])
                continue
            pending.append((i, key, rollout_seed(r.seed, problem.id, prefix, j), prefix))
        texts = {i: "" for i, *_ in pending}
        active = list(pending)
        for step in range(r.max_steps):
            if not active:
                break
            params = SeededParams(n=1, temperature=r.temperature, top_p=r.top_p,
                                  max_tokens=r.max_tokens, seed=r.seed, stop=list(r.stop),
                                  seeds=[seed + step for _, _, seed, _ in active])
            results = self.policy.step([messages] * len(active),
                                       [prefix + texts[i] for i, _, _, prefix in active],
                                       params)
            self.engine_calls += 1
            self.policy_calls += len(active)
            still: list[tuple[int, str, int, str]] = []
            for entry, (completion,) in zip(active, results, strict=True):
                i = entry[0]
                texts[i] += completion.text
                if completion.finish_reason != "step" or not completion.text:
                    self.cache.put(entry[1], {"text": texts[i], "truncated": False})
                    out[i] = texts[i]
                else:
                    still.append(entry)
            active = still
        for i, key, _, _ in active:  # ran out of steps: graded as it stands
            self.truncated += 1
            self.cache.put(key, {"text": texts[i], "truncated": True})
            out[i] = texts[i]
        assert all(t is not None for t in out)
        return [t for t in out if t is not None]

    def complete(self, messages: list[Message], problem: Problem, prefix: str, j: int
                 ) -> str:
        """Completion j of ``prefix``: the continuation text (without the prefix)."""
        r = self.cfg.rollout
        settings = self._settings()
        key = key_of(["mc-rollout-v1", self.policy_identity, messages, prefix, j, settings])
        self.rollouts += 1
        cached = self.cache.get(key)
        if cached is not None and isinstance(cached.get("text"), str):
            self.truncated += bool(cached.get("truncated"))
            return str(cached["text"])
        seed = rollout_seed(r.seed, problem.id, prefix, j)
        text, truncated = "", True
        for step in range(r.max_steps):
            params = SamplingParams(n=1, temperature=r.temperature, top_p=r.top_p,
                                    max_tokens=r.max_tokens, seed=seed + step,
                                    stop=list(r.stop))
            completion = self.policy.step([messages], [prefix + text], params)[0][0]
            self.policy_calls += 1
            text += completion.text
            if completion.finish_reason != "step" or not completion.text:
                truncated = False
                break
        self.truncated += truncated
        self.cache.put(key, {"text": text, "truncated": truncated})
        return text

    def label(self, problem: Problem, steps: list[str]
              ) -> tuple[list[float | None], dict[str, Any]]:
        """(labels, meta) of one solution."""
        k = self.cfg.rollout.k
        messages = self.task.prompt(problem, self.cfg.task.prompt_style)
        wanted = [("".join(steps[:t + 1]), j) for t in range(len(steps) - 1)
                  for j in range(k)]
        if self.batched:
            continuations = self.complete_batch(messages, problem, wanted)
        else:
            continuations = [self.complete(messages, problem, prefix, j)
                             for prefix, j in wanted]
        texts = [prefix + c for (prefix, _), c in zip(wanted, continuations, strict=True)]
        texts.append("".join(steps))
        samples = [self.task.prepare(problem, i, text) for i, text in enumerate(texts)]
        grades = self.task.grade(problem, samples)
        if len(grades) != len(samples):
            raise InputError(f"the {self.task.name} grader returned {len(grades)} grades "
                             f"for {len(samples)} samples")
        correct = [g.correct for g in grades]
        counts = [sum(correct[t * k:(t + 1) * k]) for t in range(len(steps) - 1)]
        final = bool(correct[-1])
        if self.cfg.label_kind == "soft":
            labels = [c / k for c in counts]
        else:
            labels = [1.0 if c > 0 else 0.0 for c in counts]
        labels.append(1.0 if final else 0.0)
        out: list[float | None] = list(labels)
        return out, {"correct_rollouts": counts, "k": k, "solution_correct": final}


def _solutions(cfg: MonteCarloSource, task: Task, problems: list[Problem],
               resolve: Any) -> tuple[dict[str, list[str]], dict[str, Any]]:
    """Solution texts per problem id, and where they came from."""
    s = cfg.solutions
    if s.file is not None:
        from harness.store.keys import file_sha256
        from harness.store.pool_file import read_pool

        path = resolve(s.file)
        pool = read_pool(path)
        wanted = {p.id for p in problems}
        unknown = sorted(set(pool) - {p.id for p in task.load()})
        if unknown:
            raise InputError(f"unknown problem id {unknown[0]!r} for task {task.name}",
                             path=path, field="problem_id")
        texts = {pid: [x.text for x in rows] for pid, rows in pool.items() if pid in wanted}
        return texts, {"file": str(path), "sha256": file_sha256(path)}
    assert s.policy is not None
    policy = registry.POLICIES.build(s.policy.name, s.policy.options)
    params = SamplingParams(n=s.n, temperature=s.temperature, top_p=s.top_p,
                            max_tokens=s.max_tokens, seed=s.seed, stop=list(s.stop))
    prompts = [task.prompt(p, cfg.task.prompt_style) for p in problems]
    out = policy.sample(prompts, params)
    texts = {p.id: [c.text for c in completions]
             for p, completions in zip(problems, out, strict=True)}
    return texts, {"policy": s.policy.model_dump(mode="json"), "identity": policy.identity(),
                   "n": s.n, "temperature": s.temperature, "top_p": s.top_p,
                   "max_tokens": s.max_tokens, "seed": s.seed, "stop": list(s.stop)}


def monte_carlo_records(cfg: MonteCarloSource, dev: DevSplit, data_dir: Path | None,
                        resolve: Any, where: str) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Records of one Monte Carlo source, and its provenance entry."""
    task = registry.TASKS.build(cfg.task.name, cfg.task.options,
                                data_dir=resolve(cfg.task.data_dir) if cfg.task.data_dir
                                else data_dir)
    try:
        problems = select_problems(task.load(), cfg.task.problems)
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    if cfg.steps == "code-statements" and task.domain != "code":
        raise ConfigError(f"{where}: steps: code-statements needs a code task, not "
                          f"{task.name} ({task.domain})")
    texts, solutions_info = _solutions(cfg, task, problems, resolve)
    policy = registry.POLICIES.build(cfg.rollout.policy.name, cfg.rollout.policy.options)
    cache = RolloutCache(resolve(cfg.cache) if cfg.cache else None)
    labeler = MonteCarloLabeler(cfg, task, policy, cache)
    name = cfg.labeler or cfg.rollout.policy.display()
    records: list[dict[str, Any]] = []
    skipped_empty = 0
    jobs = [(p, i, text) for p in problems for i, text in enumerate(texts.get(p.id, []))]
    for problem, index, text in track(jobs, f"monte-carlo {name}", total=len(jobs)):
        steps = (split_code_statements(text) if cfg.steps == "code-statements"
                 else task.split_steps(text))
        if not steps or not text.strip():
            skipped_empty += 1
            continue
        labels, meta = labeler.label(problem, steps)
        key = f"{cfg.labeler}.s{index:03d}" if cfg.labeler else f"s{index:03d}"
        record_meta: dict[str, Any] = {"labeler": name, "task": task.name,
                                       "solution_index": index, **meta}
        records.append({
            "id": f"monte-carlo/{problem.id}/{key}", "source": "monte-carlo",
            "domain": task.domain, "problem_id": problem.id,
            "problem": problem_text(problem), "steps": steps, "labels": labels,
            "label_kind": cfg.label_kind,
            "split": train_or_dev("monte-carlo", problem.id, cfg.dev or dev),
            "meta": record_meta})
    info: dict[str, Any] = {
            "task": task.identity(), "problems": len(problems), "solutions": solutions_info,
            "rollout": {"policy": cfg.rollout.policy.model_dump(mode="json"),
                        "identity": labeler.policy_identity,
                        **cfg.rollout.model_dump(mode="json", exclude={"policy"}),
                        "seed_rule": "completion j of a prefix: sha256(['mc-rollout', seed, "
                                     "problem_id, prefix, j]) first 31 bits, + step number"},
            "labeler": name, "label_kind": cfg.label_kind, "steps": cfg.steps,
            "rollouts": labeler.rollouts, "rollouts_truncated": labeler.truncated,
            "policy_step_calls": labeler.policy_calls,
            "rollout_batching": ("one seeded step call a step for all of a solution's "
                                 "rollouts" if labeler.batched else "one rollout a call"),
            "policy_engine_calls": labeler.engine_calls if labeler.batched
            else labeler.policy_calls,
            "cache": {"folder": str(cache.folder) if cache.folder else None,
                      "hits": cache.hits, "misses": cache.misses},
            "skipped_empty_solutions": skipped_empty,
            "compute": _compute(policy)}
    return records, info


def _compute(policy: Policy) -> dict[str, Any]:
    from dataclasses import asdict, is_dataclass

    value = policy.compute()
    return asdict(value) if is_dataclass(value) and not isinstance(value, type) else {}
