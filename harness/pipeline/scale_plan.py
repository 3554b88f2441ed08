"""A cluster plan from a pilot run's measured costs (``prm-harness scale-plan``).

A pilot is an ordinary run, small, on the target hardware. Its compute ledger gives the
measured seconds per generated token (pool stage) and per scored token (each model PRM's
stage), its grade shards' metas the seconds per graded sample, and its pool the tokens a
sample has (prompt and completion). ``plan_scale`` multiplies these out for a target run
(problems x n, shard size, engines): units per stage, waves, seconds per unit and wall
seconds per stage. Every number is a product of stored measurements and the arguments;
``--policy-params`` / ``--prm-params`` scale a per-token cost by the parameter ratio
(FLOPs per token are 2 x parameters, so on the pilot's device time per token grows with
them) and the output says which costs were scaled.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from harness.errors import ConfigError
from harness.pipeline.ledger import LEDGER
from harness.pipeline.stages import GRADES, POOL
from harness.store.rundir import RunDir


@dataclass(frozen=True)
class StageCost:
    """One stage's measured cost in the pilot."""

    stage: str
    wall_s: float
    tokens: int  # generated tokens (pool) or scored tokens (a PRM); samples for grading
    per_unit: str  # what ``tokens`` counts
    params: int | None
    device: str | None

    @property
    def seconds_per(self) -> float:
        return self.wall_s / self.tokens if self.tokens else math.nan


@dataclass(frozen=True)
class PilotCosts:
    """What a pilot run measured, read from its stored files."""

    run: str
    samples: int
    problems: int
    prompt_tokens_per_problem: float
    completion_tokens_per_sample: float
    generation: StageCost
    grading: StageCost
    scoring: tuple[StageCost, ...]  # one per model PRM stage (baselines have no tokens)


def _ledger(run: RunDir) -> list[dict[str, Any]]:
    path = run.path / LEDGER
    if not path.is_file():
        raise ConfigError(f"{run.path}: no {LEDGER} (a finished run writes it)")
    records = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if line.strip():
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise ConfigError(f"{path}:{number}: not JSON: {exc}") from None
    return records


def _stage_cost(records: list[dict[str, Any]], stage: str, field: str) -> StageCost:
    calls = [r for r in records if r["stage"] == stage]
    params = {int(r["params"]) for r in calls if r.get("params") is not None}
    devices = {str(r["device"]) for r in calls if r.get("device") is not None}
    return StageCost(stage=stage, wall_s=sum(float(r["wall_s"]) for r in calls),
                     tokens=sum(int(r[field]) for r in calls), per_unit=field,
                     params=max(params) if params else None,
                     device=",".join(sorted(devices)) or None)


def pilot_costs(path: Path) -> PilotCosts:
    """Read a finished pilot run's measured costs (its ledger, pool and grade metas)."""
    run = RunDir(Path(path))
    if not (run.path / "manifest.json").is_file():
        raise ConfigError(f"{path}: not a run folder (no manifest.json)")
    manifest = run.manifest()
    stages = manifest.get("stages", {})
    if POOL not in stages or GRADES not in stages:
        raise ConfigError(f"{path}: the run has no finished pool and grades stages")
    records = _ledger(run)
    generation = _stage_cost(records, POOL, "tokens_out")
    if not generation.tokens:
        raise ConfigError(f"{path}: the ledger records no generated tokens for the pool "
                          f"stage (an imported or simulated pool measures nothing)")
    prompt_tokens: dict[str, int] = {}
    completion, samples = 0, 0
    for index, key in enumerate(stages[POOL]["shards"]):
        for row in run.read_shard(POOL, index, key):
            prompt_tokens[row["problem_id"]] = int(row.get("prompt_tokens") or 0)
            completion += int(row.get("completion_tokens") or 0)
            samples += 1
    grade_wall = sum(float(run.read_meta(GRADES, i, key).get("wall_s", 0.0))
                     for i, key in enumerate(stages[GRADES]["shards"]))
    grading = StageCost(GRADES, grade_wall, samples, "samples", None, "cpu")
    scoring = tuple(cost for stage in sorted(stages) if stage.startswith("scores/")
                    if (cost := _stage_cost(records, stage, "tokens_in")).tokens)
    return PilotCosts(run=str(run.path), samples=samples, problems=len(prompt_tokens),
                      prompt_tokens_per_problem=sum(prompt_tokens.values())
                      / max(1, len(prompt_tokens)),
                      completion_tokens_per_sample=completion / max(1, samples),
                      generation=generation, grading=grading, scoring=scoring)


def _scaled(cost: StageCost, target_params: float | None) -> tuple[float, str]:
    per = cost.seconds_per
    if target_params is None:
        return per, "measured"
    if not cost.params:
        raise ConfigError(f"stage {cost.stage}: the pilot's ledger records no parameter "
                          f"count to scale from")
    return per * target_params / cost.params, (
        f"measured x {target_params:.3g} / {cost.params:.3g} params")


def _stage_plan(name: str, units: int, slots: int, work_per_unit: float, per: float,
                basis: str, what: str) -> dict[str, Any]:
    waves = math.ceil(units / slots) if units else 0
    unit_s = work_per_unit * per
    return {"stage": name, "units": units, "parallel": slots, "waves": waves,
            f"{what}_per_unit": round(work_per_unit, 1), "seconds_per": per,
            "cost_basis": basis, "unit_s": round(unit_s, 3),
            "wall_s": round(waves * unit_s, 3)}


def plan_scale(costs: PilotCosts, problems: int, n: int, shard_size: int, gpus: int,
               gpus_per_engine: int = 1, cpus: int | None = None,
               cpus_per_grading_unit: int = 1, policy_params: float | None = None,
               prm_params: float | None = None) -> dict[str, Any]:
    """The target run's units, waves and times from the pilot's per-unit costs."""
    for name, value in (("problems", problems), ("n", n), ("shard_size", shard_size),
                        ("gpus", gpus), ("gpus_per_engine", gpus_per_engine),
                        ("cpus_per_grading_unit", cpus_per_grading_unit)):
        if value < 1:
            raise ConfigError(f"scale-plan: {name} must be >= 1, got {value}")
    engines = gpus // gpus_per_engine
    if engines < 1:
        raise ConfigError(f"scale-plan: {gpus} GPUs hold no engine of {gpus_per_engine}")
    cpus = cpus if cpus is not None else 4 * gpus
    units = math.ceil(problems / shard_size)
    samples_per_unit = shard_size * n
    completion = costs.completion_tokens_per_sample
    scored_per_sample = costs.prompt_tokens_per_problem + completion
    gen_per, gen_basis = _scaled(costs.generation, policy_params)
    stages = [_stage_plan("generation", units, engines, samples_per_unit * completion,
                          gen_per, gen_basis, "tokens"),
              _stage_plan("grading", units, max(1, cpus // cpus_per_grading_unit),
                          samples_per_unit, costs.grading.seconds_per, "measured",
                          "samples")]
    for cost in costs.scoring:
        per, basis = _scaled(cost, prm_params)
        stages.append(_stage_plan(f"scoring {cost.stage}", units, engines,
                                  samples_per_unit * scored_per_sample, per, basis,
                                  "tokens"))
    samples = problems * n
    return {
        "pilot": {**asdict(costs), "seconds_per_generated_token": costs.generation.seconds_per,
                  "seconds_per_graded_sample": costs.grading.seconds_per,
                  "seconds_per_scored_token": {c.stage: c.seconds_per for c in costs.scoring}},
        "target": {"problems": problems, "n": n, "samples": samples,
                   "shard_size": shard_size, "gpus": gpus, "gpus_per_engine": gpus_per_engine,
                   "engines": engines, "cpus": cpus,
                   "cpus_per_grading_unit": cpus_per_grading_unit,
                   "policy_params": policy_params, "prm_params": prm_params,
                   "generated_tokens": round(samples * completion),
                   "scored_tokens_per_prm": round(samples * scored_per_sample)},
        "stages": stages,
        "total_wall_s": round(sum(s["wall_s"] for s in stages), 3),
        "notes": ["stages run one after another; engine start-up (model load) is not in "
                  "the pilot's per-token costs and comes on top, once per stage",
                  "a stage's wall time is its waves x the time of one full unit; units "
                  "of unequal length make the last wave longer"],
    }


def render_markdown(plan: dict[str, Any]) -> str:
    """The plan as the table docs/scale.md shows."""
    target = plan["target"]
    lines = [f"Target: {target['problems']} problems x N = {target['n']} = "
             f"{target['samples']:,} samples, shard size {target['shard_size']}, "
             f"{target['engines']} engines of {target['gpus_per_engine']} GPU(s), "
             f"{target['cpus']} CPUs for grading. Pilot: {plan['pilot']['run']} "
             f"({plan['pilot']['samples']} samples).", "",
             "| stage | units | parallel | waves | work per unit | s per token/sample "
             "| basis | unit s | wall s |",
             "|---|---|---|---|---|---|---|---|---|"]
    for s in plan["stages"]:
        work = s.get("tokens_per_unit", s.get("samples_per_unit"))
        what = "tokens" if "tokens_per_unit" in s else "samples"
        lines.append(f"| {s['stage']} | {s['units']} | {s['parallel']} | {s['waves']} | "
                     f"{work:,.0f} {what} | {s['seconds_per']:.3g} | {s['cost_basis']} | "
                     f"{s['unit_s']:,.1f} | {s['wall_s']:,.1f} |")
    lines += ["", f"Total: {plan['total_wall_s']:,.1f} s "
                  f"({plan['total_wall_s'] / 3600:.2f} h), plus engine start-up."]
    return "\n".join(lines) + "\n"
