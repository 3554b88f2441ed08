"""``prm-harness compare RUN A B``: paired bootstrap of two PRMs scored on the same pool."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
import numpy as np


@click.command("compare")
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.argument("prm_a")
@click.argument("prm_b")
@click.option("--aggregate", default="last", show_default=True,
              help="Aggregation both PRMs are compared under (must be in metrics.json).")
@click.option("--bootstrap", "n_boot", default=2000, show_default=True)
@click.option("--seed", default=0, show_default=True)
@click.option("--json", "as_json", is_flag=True)
def compare(run_dir: Path, prm_a: str, prm_b: str, aggregate: str, n_boot: int, seed: int,
            as_json: bool) -> None:
    """Difference A - B of prm@k and wmaj@k over the same problems, with paired 95% CIs."""
    from harness.errors import HarnessError
    from harness.metrics import paired_difference
    from harness.store.rundir import RunDir

    run = RunDir.open(run_dir)
    if not (run.path / "metrics.json").exists():
        raise HarnessError(f"{run.path} has no metrics.json; run `prm-harness metrics "
                           f"{run.path} --save` first")
    doc = run.read_json("metrics.json")
    values = doc["per_problem"]["values"]
    rows: list[dict[str, Any]] = []
    for k in doc["ks"]:
        for kind in ("prm", "wmaj"):
            key_a, key_b = (f"{p}|{aggregate}|{kind}@{k}" for p in (prm_a, prm_b))
            missing = [key for key in (key_a, key_b) if key not in values]
            if missing:
                known = sorted({key.split("|")[0] for key in values if "|" in key})
                raise HarnessError(f"no per-problem values for {missing[0]!r}; PRMs in this "
                                   f"run: {known}")
            diff = paired_difference(np.array(values[key_a]), np.array(values[key_b]),
                                     n_boot=n_boot, seed=seed)
            rows.append({"metric": f"{kind}@{k}", "difference": diff.mean,
                         "ci": list(diff.ci), "p_value": diff.p_value,
                         "n_problems": diff.n_problems})
    if as_json:
        click.echo(json.dumps({"a": prm_a, "b": prm_b, "aggregation": aggregate,
                               "comparisons": rows}))
        return
    click.echo(f"{prm_a} - {prm_b} ({aggregate}), paired bootstrap over problems")
    for row in rows:
        lo, hi = row["ci"]
        click.echo(f"{row['metric']:>9}  {100 * row['difference']:+6.2f}  "
                   f"[{100 * lo:+6.2f}, {100 * hi:+6.2f}]  p={row['p_value']:.4f}")
