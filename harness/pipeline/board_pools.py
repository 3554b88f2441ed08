"""Regenerate a board's pinned pools and grades from its ``build`` section, and score
PRMs on them: the pipeline runs the simulator or the importer; harness.leaderboard only
reads the result.

A task's ``build`` either names a task and a policy with their options and the sampling
settings (``n``, ``seed`` ...), or (``import``) a file of the data mirror with its sha256,
its importer format, the label of the scores it carries, how many of each problem's
samples to keep (``first_samples``: the file's own order) and the grader that grades them
(``grader``: ``math`` or ``humanevalplus``; the file's own flags are never used). The pool
run is ``<pools_dir>/<task>``; a PRM's run on a simulated pool is the same configuration
plus that PRM, so its pool has the pinned hash by construction and ``submit`` can check it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harness.config import MetricsConfig, PluginConfig, RunConfig, SamplingConfig, TaskConfig
from harness.data import resolve_data_dir
from harness.errors import ConfigError, HarnessError
from harness.leaderboard.board import Board
from harness.leaderboard.pools import TaskPool, read_task_pool
from harness.pipeline import plugins
from harness.pipeline.runner import Runner
from harness.pipeline.stages import score_samples
from harness.store.importers import ImportedPool
from harness.store.jsonl import read_json
from harness.store.keys import file_sha256
from harness.store.run_reader import read_run
from harness.store.rundir import RunDir
from harness.types import Grade, Problem


def board_run_config(board: Board, task: str, runs_root: Path, name: str,
                     prms: list[PluginConfig] | None = None) -> RunConfig:
    build = board.tasks[task].build
    if not build:
        raise ConfigError(f"board {board.name!r} task {task!r} has no 'build' section: its "
                          f"pool cannot be regenerated here")
    try:
        return RunConfig(
            name=name, runs_dir=str(runs_root),
            task=TaskConfig(name=build["task"], options=dict(build.get("task_options") or {})),
            policy=PluginConfig(name=build["policy"],
                                options=dict(build.get("policy_options") or {})),
            sampling=SamplingConfig(**dict(build.get("sampling") or {})),
            prms=list(prms or []),
            metrics=MetricsConfig(ks=board.ns, seed=board.ci["seed"],
                                  draws=board.ci["draws"], bootstrap=board.ci["bootstrap"]),
            shard_size=int(build.get("shard_size", 10)))
    except KeyError as exc:
        raise ConfigError(f"board {board.name!r} task {task!r}: build needs {exc}") from None


def _grade_math(pool: ImportedPool) -> dict[str, Any]:
    """Our math grader on our extraction of each sample's answer, against the file's gold
    answer (``problems[pid]["answer"]``); the samples' answers become ours."""
    from harness.grading.math.extraction import extract_answer
    from harness.grading.math.grader import MathGrader

    grader = MathGrader()
    ids = list(pool.samples)
    for pid in ids:
        for sample in pool.samples[pid]:
            sample.answer = extract_answer(sample.text)
    verdicts = grader.grade_many([(str(pool.problems[pid]["answer"]),
                                   [s.answer for s in pool.samples[pid]]) for pid in ids])
    tag = f"{grader.identity()['grader']} {grader.math_verify_version}"
    pool.grades = {}
    for pid, problem_verdicts in zip(ids, verdicts, strict=True):
        pool.grades[pid] = [
            Grade(pid, s.index, v.correct, v.vote_key,
                  {"status": v.status, "grader": tag, **({"reason": v.reason} if v.reason
                                                         else {})})
            for s, v in zip(pool.samples[pid], problem_verdicts, strict=True)]
    return {"grader": grader.identity()}


def _grade_task(pool: ImportedPool, task_name: str, data_dir: Path | None,
                options: dict[str, Any] | None = None) -> dict[str, Any]:
    """A registered task's own grading (e.g. HumanEval+ in its sandbox, with the board's
    ``grader_options``) of every sample, the pool's problem ids being the task's."""
    from harness.registry import TASKS

    task = TASKS.build(task_name, options or {}, data_dir=data_dir)
    try:
        problems = {p.id: p for p in task.load()}
        if any("entry_point" in meta for meta in pool.problems.values()):
            _rename_by_entry_point(pool, problems, task_name)
        unknown = [pid for pid in pool.samples if pid not in problems]
        if unknown:
            raise HarnessError(f"{len(unknown)} problems are not in task {task_name!r} "
                               f"(e.g. {unknown[0]!r})")
        prepare_record = getattr(task, "prepare_record", None)
        for pid, samples in pool.samples.items():
            if pool.problems.get(pid, {}).get("prompt") is not None and prepare_record:
                # a completion: appended to the task's own prompt, as evalplus runs it
                pool.samples[pid] = [prepare_record(problems[pid], s.index,
                                                    {"task_id": pid, "completion": s.text},
                                                    s.sample_id) for s in samples]
        batch = [(problems[pid], samples) for pid, samples in pool.samples.items()]
        pool.grades = dict(zip(pool.samples, task.grade_batch(batch), strict=True))
        return {"grader": task.identity().get("grading", {"task": task_name}),
                "task": task.identity()}
    finally:
        close = getattr(task, "close", None)
        if close is not None:
            close()


def _rename_by_entry_point(pool: ImportedPool, problems: dict[str, Problem],
                           task_name: str) -> None:
    """Key an imported pool by the task's problem ids, matching each imported problem's
    ``entry_point`` to exactly one task problem's (every task problem matched once)."""
    import difflib

    by_entry: dict[str, list[str]] = {}
    for pid, problem in problems.items():
        by_entry.setdefault(str(problem.metadata.get("entry_point")), []).append(pid)
    renamed: dict[str, list[Any]] = {}
    meta: dict[str, dict[str, Any]] = {}
    for old, samples in pool.samples.items():
        name = pool.problems[old].get("entry_point")
        candidates = by_entry.get(str(name), [])
        # two problems may share an entry point (HumanEval/56 and /61): the closest prompt
        prompt = str(pool.problems[old].get("prompt"))
        new = max(candidates, default=None, key=lambda pid: difflib.SequenceMatcher(
            None, prompt, str(problems[pid].metadata.get("prompt", ""))).ratio())
        if new is None or new in renamed:
            raise HarnessError(f"imported problem {old!r}: its entry point {name!r} matches "
                               f"{'no' if new is None else 'a second'} problem of task "
                               f"{task_name!r}")
        for sample in samples:
            sample.problem_id = new
        renamed[new] = samples
        meta[new] = {**pool.problems[old], "imported_as": old}
    missing = sorted(set(problems) - set(renamed))
    if missing:
        raise HarnessError(f"task {task_name!r}: {len(missing)} problems have no imported "
                           f"samples (e.g. {missing[0]!r})")
    order = list(problems)
    pool.samples = {pid: renamed[pid] for pid in order}
    pool.problems = {pid: meta[pid] for pid in order}


def _import_pool(board: Board, task: str, data_dir: Path | None = None) -> RunDir:
    """The board task's pool imported from the data mirror and graded by our grader."""
    from harness.pipeline.import_run import import_run

    spec = board.tasks[task].build["import"]
    where = f"board {board.name!r} task {task!r}: build.import"
    root = resolve_data_dir(data_dir)
    if root is None:
        raise HarnessError(f"{where}: needs the data mirror (set PRM_HARNESS_DATA)")
    path = root / str(spec["file"])
    if not path.is_file():
        raise HarnessError(f"{where}: {path} does not exist")
    got = file_sha256(path)
    if spec.get("sha256") and got != spec["sha256"]:
        raise HarnessError(f"{where}: {path} hashes to {got}, the board expects "
                           f"{spec['sha256']}")
    grader = str(board.tasks[task].build.get("grader", "math"))
    keep = board.tasks[task].build.get("first_samples")

    def prepare(pool: ImportedPool) -> dict[str, Any]:
        if keep is not None:
            for pid in pool.samples:
                pool.samples[pid] = pool.samples[pid][:int(keep)]
                if pool.grades is not None:
                    pool.grades[pid] = pool.grades[pid][:int(keep)]
                if pool.scores is not None:
                    pool.scores[pid] = pool.scores[pid][:int(keep)]
        done = (_grade_math(pool) if grader == "math" else
                _grade_task(pool, grader, root, board.tasks[task].build.get("grader_options")))
        identity = done["grader"]
        return {"first_samples": keep, "grader": identity,
                "grades_extra": {"source": f"board grader {grader}",
                                 "task": {"grading": identity}}}

    return import_run(path, str(spec["format"]), board.pools_dir, task,
                      str(spec.get("prm_id", "imported")),
                      str(spec.get("score_transform", "none")), prepare=prepare)


def _stored_run(board: Board, task: str) -> RunDir:
    """A board task whose pool is a stored run of the project (``build.config``: its run
    config, relative to the board's file), in ``pools_dir`` under the task's name: a
    finished stored run is read as it is (its hashes are then checked against the pins),
    an unfinished or missing one is resumed or generated by its config."""
    from harness.config import load_config

    path = (board.path.parent / str(board.tasks[task].build["config"])).resolve()
    config = load_config(path)
    if config.name != task:
        raise ConfigError(f"board {board.name!r} task {task!r}: build.config {path} makes "
                          f"run {config.name!r}; the task must carry the run's name")
    folder = board.pools_dir / task
    manifest = folder / "manifest.json"
    if manifest.is_file() and read_json(manifest).get("finished"):
        # a finished stored run is read as it is: resuming would rewrite its manifest
        # (this machine's environment over the one that generated it)
        return RunDir.open(folder)
    return Runner(config, board.pools_dir, log=lambda *a, **k: None).execute()


def build_pools(board: Board, log: Any = print, check: bool = True) -> dict[str, dict[str, Any]]:
    """Run every task's pool and grades into ``board.pools_dir``; per task the hashes got
    and whether they equal the pins. ``check``: raise on any mismatch."""
    report: dict[str, dict[str, Any]] = {}
    for task in board.tasks:
        if "import" in board.tasks[task].build:
            run = _import_pool(board, task)
        elif "config" in board.tasks[task].build:
            run = _stored_run(board, task)
        else:
            config = board_run_config(board, task, board.pools_dir, task)
            run = Runner(config, board.pools_dir, log=lambda *a, **k: None).execute()
        content = run.manifest().get("content", {})
        pinned = board.tasks[task]
        rules = (run.manifest()["stages"]["grades"].get("task", {}).get("grading", {})
                 .get("rules_version"))
        row = {"pool_sha256": content.get("pool_sha256"),
               "grades_sha256": content.get("grades_sha256"),
               "grader_rules_version": rules, "path": str(run.path)}
        row["matches"] = (row["pool_sha256"] == pinned.pool_sha256
                          and row["grades_sha256"] == pinned.grades_sha256
                          and (pinned.grader_rules_version is None
                               or rules == pinned.grader_rules_version))
        report[task] = row
        log(f"{task}: pool {row['pool_sha256']} grades {row['grades_sha256']} rules {rules}: "
            f"{'matches the pins' if row['matches'] else 'DIFFERS from the pins'}")
    if check:
        bad = [t for t, r in report.items() if not r["matches"]]
        if bad:
            raise HarnessError(f"board {board.name!r}: regenerated pools of {bad} differ "
                               f"from the pinned hashes (or grader rules version)")
    return report


def score_on_board(board: Board, task: str, prm: PluginConfig, runs_root: Path,
                   name: str | None = None) -> RunDir:
    """A run of ``prm`` on the board's pool of ``task`` (regenerated, same settings)."""
    label = prm.display()
    return Runner(board_run_config(board, task, runs_root, name or f"{task}-{label}", [prm]),
                  runs_root, log=lambda *a, **k: None).execute()


def board_problems(board: Board, task: str, run: RunDir) -> dict[str, Problem]:
    """The problems of a board task's pool run, as PRMs read them: from the task its
    configuration names, or (an imported pool) from the problems the import stored."""
    manifest = run.manifest()
    stored = (manifest.get("config") or {}).get("task")
    if stored:
        return plugins.problems(TaskConfig.model_validate(stored))
    imported = manifest.get("problems")
    if not isinstance(imported, dict) or not imported:
        raise HarnessError(f"board {board.name!r} task {task!r}: its pool run has no task "
                           f"configuration or stored problems to load the problems from")
    domain = "code" if board.tasks[task].build.get("grader", "math") != "math" else "math"
    return {pid: Problem(pid, task, domain,  # type: ignore[arg-type]
                         [{"role": "user", "content": str(p.get("question") or
                                                          p.get("prompt") or "")}],
                         p.get("answer"), dict(p))
            for pid, p in imported.items()}


def score_board(board: Board, prm: Any, label: str, chunk: int = 256
                ) -> tuple[dict[str, TaskPool], dict[str, dict[str, list[list[float]]]]]:
    """Score the board's stored pools (nothing regenerated) with ``prm``: per task its
    pinned pool (hashes checked) and problem id -> each sample's step scores (pool
    order), every result checked as a run's scoring stage checks it."""
    pools: dict[str, TaskPool] = {}
    scores: dict[str, dict[str, list[list[float]]]] = {}
    for task in board.tasks:
        pools[task] = read_task_pool(board, task)
        run = RunDir.open(board.task_dir(task))
        records = read_run(run)
        by_id = board_problems(board, task, run)
        samples = [s for pid in records.problem_ids for s in records.samples[pid]]
        per_problem: dict[str, list[list[float]]] = {pid: [] for pid in records.problem_ids}
        for start in range(0, len(samples), chunk):
            batch = samples[start:start + chunk]
            scored = score_samples(prm, label, [by_id[s.problem_id] for s in batch], batch)
            for result in scored:
                per_problem[result.problem_id].append(list(result.scores))
        scores[task] = per_problem
    return pools, scores


def pool_scores(board: Board, task: str, label: str) -> dict[str, list[list[float]]]:
    """The step scores labelled ``label`` that a board task's imported pool carries (pool
    order); an outcome score (one per sample) is repeated on each of the sample's steps,
    so every aggregation selects by it. An error when it carries none under that label."""
    records = read_run(RunDir.open(board.task_dir(task)))
    if label not in records.scores:
        raise HarnessError(f"board {board.name!r} task {task!r}: its pool carries no scores "
                           f"labelled {label!r} (it has {sorted(records.scores)})")
    out: dict[str, list[list[float]]] = {}
    for pid in records.problem_ids:
        out[pid] = []
        for sample, scored in zip(records.samples[pid], records.scores[label][pid],
                                  strict=True):
            values = list(scored.scores)
            if len(values) == 1 and len(sample.steps) > 1:  # an outcome score: every step
                values = values * len(sample.steps)
            out[pid].append(values)
    return out


def prm_spec(prm: PluginConfig) -> dict[str, Any]:
    """What an entry records of a plug-in PRM: the config that rebuilds it (an audit does)
    and its resolved identity (weights' hash, spec hash, adapter version)."""
    from harness import registry

    return {"plugin": prm.model_dump(mode="json"),
            "resolved": registry.get("prm", prm.name).resolved_identity(**prm.options)}


def make_entries(board: Board, out_root: Path, log: Any = print,
                 only: set[str] | None = None) -> list[Path]:
    """Every entry the board's ``entries`` section declares (or those named in ``only``),
    scored on its stored pools, written to ``out_root/<name>`` (validated afterwards by
    the caller)."""
    from harness import registry
    from harness.leaderboard.submit import entry_from_scores

    pools = {task: read_task_pool(board, task) for task in board.tasks}
    written = []
    for item in board.entries:
        if only is not None and str(item["name"]) not in only:
            continue
        aggregation = str(item.get("aggregation", board.aggregations[0]))
        if "pool_scores" in item:
            label = str(item["pool_scores"])
            scores = {task: pool_scores(board, task, label) for task in board.tasks}
            prm_id = str(item.get("prm_id", label))
            spec: dict[str, Any] = {"prm_id": prm_id, "source": "scores stored in the pool",
                                    "label": label}
        else:
            prm = PluginConfig.model_validate(item["prm"])
            model = registry.PRMS.build(prm.name, prm.options)
            _, scores = score_board(board, model, prm.display())
            prm_id = prm.display()
            spec = prm_spec(prm)
        out = out_root / str(item["name"])
        doc = entry_from_scores(board, pools, scores, out, prm_id, spec, aggregation,
                                str(item.get("submitter", "prm-harness")))
        ranking = board.ranking["metric"]
        for task, claim in doc["tasks"].items():
            value = claim["metrics"][ranking]
            log(f"{out}: {task} {ranking} = {value['value']:.4f} "
                f"[{value['ci'][0]:.4f}, {value['ci'][1]:.4f}]")
        written.append(out)
    return written


#: the largest difference between a stored and a re-scored step score an audit accepts
AUDIT_TOLERANCE = 0.02


def audit_entry(board: Board, verdict: Any, k: int, seed: int = 0,
                tolerance: float = AUDIT_TOLERANCE) -> dict[str, Any]:
    """Re-score a seeded random sample of ``k`` of a valid entry's samples with the PRM
    it declares (``prm.spec.plugin``, rebuilt through the registry, its resolved identity
    checked against the one declared) and compare every step score.

    ``status``: ``audited`` (every step within ``tolerance``), ``failed`` (``problems``
    names each sample that is not), or ``unavailable`` (``reason``: the entry declares no
    PRM that can be rebuilt here)."""
    import numpy as np

    from harness import registry
    from harness.leaderboard.pools import sample_key

    if k < 1:
        raise HarnessError("--audit needs a positive number of samples")
    if not verdict.ok:
        raise HarnessError(f"entry {verdict.entry} is not valid: cannot audit it")
    spec = (read_json(Path(verdict.entry) / "entry.json").get("prm") or {}).get("spec") or {}
    plugin = spec.get("plugin") if isinstance(spec, dict) else None
    if not isinstance(plugin, dict):
        return {"status": "unavailable", "k": k, "seed": seed,
                "reason": "the entry declares no PRM plug-in config to re-score with"}
    prm_config = PluginConfig.model_validate(plugin)
    if prm_config.name not in registry.names("prm"):
        return {"status": "unavailable", "k": k, "seed": seed,
                "reason": f"PRM {prm_config.name!r} is not registered here"}
    try:
        resolved = registry.get("prm", prm_config.name).resolved_identity(
            **prm_config.options)
    except (HarnessError, OSError) as exc:  # its spec or weights are not on this machine
        return {"status": "unavailable", "k": k, "seed": seed,
                "reason": f"the declared PRM cannot be resolved here: {exc}"}
    missing = [role for role, model in (resolved.get("models") or {}).items()
               if isinstance(model, dict) and model.get("unresolved")]
    if missing:
        return {"status": "unavailable", "k": k, "seed": seed,
                "reason": f"the weights of the declared PRM ({', '.join(missing)}) are not "
                          "here"}
    if "resolved" in spec and spec["resolved"] != resolved:
        return {"status": "failed", "k": k, "seed": seed, "problems": [
            f"{verdict.entry}: entry.json: field 'prm.spec.resolved': the declared PRM "
            f"resolves here to {resolved}, not {spec['resolved']} (other weights?)"]}
    everything = [(task, pid, i) for task in sorted(board.tasks)
                  for pid in sorted(verdict.scores[task])
                  for i in range(len(verdict.scores[task][pid]))]
    rng = np.random.default_rng(seed)
    chosen = sorted(rng.choice(len(everything), size=min(k, len(everything)),
                               replace=False).tolist())
    picked = [everything[j] for j in chosen]
    prm = registry.PRMS.build(prm_config.name, prm_config.options)
    problems_out: list[str] = []
    audited: list[list[Any]] = []  # [task, problem id, sample id] of each re-scored
    worst = 0.0
    for task in sorted(board.tasks):
        mine = [(pid, i) for t, pid, i in picked if t == task]
        if not mine:
            continue
        run = RunDir.open(board.task_dir(task))
        records = read_run(run)
        by_id = board_problems(board, task, run)
        samples = [records.samples[pid][i] for pid, i in mine]
        rescored = score_samples(prm, prm_config.display(), [by_id[pid] for pid, _ in mine],
                                 samples)
        for (pid, i), sample, result in zip(mine, samples, rescored, strict=True):
            audited.append([task, pid, sample_key(sample.sample_id, sample.index)])
            stored = verdict.scores[task][pid][i]
            diffs = [abs(a - b) for a, b in zip(stored, result.scores, strict=True)]
            worst = max(worst, *diffs)
            bad = [j for j, d in enumerate(diffs) if d > tolerance]
            if bad:
                j = bad[0]
                problems_out.append(
                    f"{verdict.entry}: scores/{task}.jsonl: sample "
                    f"{sample_key(sample.sample_id, sample.index)!r} of problem {pid!r}: "
                    f"field 'step_scores': step {j} stored {stored[j]!r}, re-scored "
                    f"{result.scores[j]!r} ({len(bad)} steps off by more than {tolerance})")
    return {"status": "failed" if problems_out else "audited", "k": len(picked),
            "seed": seed, "tolerance": tolerance, "max_abs_diff": worst,
            "prm": prm_config.model_dump(mode="json"), "problems": problems_out,
            "samples": audited}


def ci_cache_key(board: Board, task: str, prm: PluginConfig) -> str:
    """A candidate's cached scores on one board task: the pinned pool and the PRM as
    configured (without its label) and as resolved (weights' sha256 or commit, spec hash,
    adapter version), as the run store keys score shards (``stages.score_key``)."""
    from harness import registry
    from harness.store.keys import key_of

    return key_of({"stage": "board-scores", "board": board.name, "task": task,
                   "pool_sha256": board.tasks[task].pool_sha256,
                   "grades_sha256": board.tasks[task].grades_sha256,
                   "prm": prm.model_dump(mode="json", exclude={"label"}),
                   "prm_resolved": registry.get("prm", prm.name).resolved_identity(
                       **prm.options)})


def _read_cached(path: Path, pool: TaskPool) -> dict[str, list[list[float]]]:
    """Cached scores, checked against the pool as fresh ones are (a bad cache is an
    error, never scores)."""
    import json
    import math

    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise HarnessError(f"{path}: unreadable ci cache file ({exc}); delete it") from None
    scores = data.get("scores") if isinstance(data, dict) else None
    if not isinstance(scores, dict) or set(scores) != set(pool.problem_ids):
        raise HarnessError(f"{path}: field 'scores': not the pool's problems; delete it")
    for pid in pool.problem_ids:
        rows = scores[pid]
        if not isinstance(rows, list) or len(rows) != len(pool.n_steps[pid]) or any(
                not isinstance(r, list) or len(r) != int(n) or not all(
                    isinstance(x, (int, float)) and math.isfinite(x) and 0 <= x <= 1
                    for x in r) for r, n in zip(rows, pool.n_steps[pid], strict=True)):
            raise HarnessError(f"{path}: field 'scores.{pid}': does not fit the pool's "
                               f"samples and steps; delete it")
    return scores


def score_board_cached(board: Board, prm: PluginConfig, cache_dir: Path | None,
                       log: Any = print
                       ) -> tuple[dict[str, TaskPool], dict[str, dict[str, list[list[float]]]],
                                  dict[str, Any]]:
    """``score_board`` through a cache keyed by ``ci_cache_key``: a task whose key is
    cached costs no model call (the PRM is not even built when every task is); returns
    the pools, the scores and ``{"hits": [...], "scored": [...], "identity": ...}``."""
    import json

    from harness import registry
    from harness.store.atomic import write_text

    pools = {task: read_task_pool(board, task) for task in board.tasks}
    scores: dict[str, dict[str, list[list[float]]]] = {}
    info: dict[str, Any] = {"hits": [], "scored": [], "keys": {},
                            "identity": {"prm": prm.model_dump(mode="json"),
                                         "resolved": registry.get("prm", prm.name)
                                         .resolved_identity(**prm.options)}}
    missing = []
    for task in board.tasks:
        key = ci_cache_key(board, task, prm)
        info["keys"][task] = key
        path = cache_dir / f"{key}.json" if cache_dir is not None else None
        if path is not None and path.is_file():
            scores[task] = _read_cached(path, pools[task])
            info["hits"].append(task)
            log(f"{task}: candidate scores from the cache ({path})")
        else:
            missing.append(task)
    if missing:
        model = registry.PRMS.build(prm.name, prm.options)
        only = board.with_pools_dir(board.pools_dir)
        only.tasks = {t: board.tasks[t] for t in missing}
        _, fresh = score_board(only, model, prm.display())
        for task in missing:
            scores[task] = fresh[task]
            info["scored"].append(task)
            if cache_dir is not None:
                write_text(cache_dir / f"{info['keys'][task]}.json",
                           json.dumps({"key": info["keys"][task], "board": board.name,
                                       "task": task, "identity": info["identity"],
                                       "scores": fresh[task]}) + "\n")
    return pools, scores, info
