"""``prm-harness scale-plan PILOT_RUN``: units, waves and times of a large run on a
cluster, from a pilot run's measured per-token costs (harness.pipeline.scale_plan)."""

from __future__ import annotations

import json
from pathlib import Path

import click


@click.command("scale-plan")
@click.argument("pilot", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--problems", type=int, required=True, help="Problems in the target run.")
@click.option("-n", "--n", "n", type=int, required=True, help="Samples per problem.")
@click.option("--shard-size", type=int, required=True, help="Problems per unit.")
@click.option("--gpus", type=int, required=True, help="GPUs in the cluster.")
@click.option("--gpus-per-engine", type=int, default=1, show_default=True,
              help="GPUs of one engine (tensor x pipeline parallel size).")
@click.option("--cpus", type=int, default=None,
              help="CPUs for grading units (default 4 per GPU).")
@click.option("--cpus-per-grading-unit", type=int, default=1, show_default=True)
@click.option("--policy-params", type=float, default=None,
              help="Scale the pilot's generation cost to a policy of this many parameters.")
@click.option("--prm-params", type=float, default=None,
              help="Scale the pilot's scoring cost to a PRM of this many parameters.")
@click.option("--json", "as_json", is_flag=True, help="Print the plan as one JSON line.")
def scale_plan(pilot: Path, problems: int, n: int, shard_size: int, gpus: int,
               gpus_per_engine: int, cpus: int | None, cpus_per_grading_unit: int,
               policy_params: float | None, prm_params: float | None,
               as_json: bool) -> None:
    """Plan a run of PROBLEMS x N on a cluster from the PILOT run's compute ledger."""
    from harness.pipeline.scale_plan import pilot_costs, plan_scale, render_markdown

    plan = plan_scale(pilot_costs(pilot), problems, n, shard_size, gpus, gpus_per_engine,
                      cpus, cpus_per_grading_unit, policy_params, prm_params)
    click.echo(json.dumps(plan, sort_keys=True) if as_json else render_markdown(plan),
               nl=as_json)
