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
@click.option("--aggregate", default=None,
              help="Aggregation both PRMs are compared under (must be in metrics.json); "
                   "default: each PRM's own, when metrics.json holds exactly one for it.")
@click.option("--bootstrap", "n_boot", default=2000, show_default=True)
@click.option("--seed", default=0, show_default=True)
@click.option("--json", "as_json", is_flag=True)
def compare(run_dir: Path, prm_a: str, prm_b: str, aggregate: str | None, n_boot: int,
            seed: int,
            as_json: bool) -> None:
    """Difference A - B of prm@k and wmaj@k over the same problems, with paired 95% CIs."""
    from harness.metrics import paired_difference
    from harness.store.metrics_file import read_run_metrics
    from harness.store.rundir import RunDir

    run = RunDir.open(run_dir)
    doc = read_run_metrics(run)
    agg_a, agg_b = (aggregate, aggregate) if aggregate else (
        _only_aggregation(doc.selectors(), prm_a, run.path / "metrics.json"),
        _only_aggregation(doc.selectors(), prm_b, run.path / "metrics.json"))
    rows: list[dict[str, Any]] = []
    for k in doc.ks:
        for kind in ("prm", "wmaj"):
            diff = paired_difference(np.array(doc.values(prm_a, agg_a, kind, k)),
                                     np.array(doc.values(prm_b, agg_b, kind, k)),
                                     n_boot=n_boot, seed=seed)
            rows.append({"metric": f"{kind}@{k}", "difference": diff.mean,
                         "ci": list(diff.ci), "p_value": diff.p_value,
                         "n_problems": diff.n_problems})
    if as_json:
        click.echo(json.dumps({"a": prm_a, "b": prm_b, "aggregation": {prm_a: agg_a,
                                                                      prm_b: agg_b},
                               "comparisons": rows}))
        return
    click.echo(f"{prm_a} ({agg_a}) - {prm_b} ({agg_b}), paired bootstrap over problems")
    for row in rows:
        lo, hi = row["ci"]
        click.echo(f"{row['metric']:>9}  {100 * row['difference']:+6.2f}  "
                   f"[{100 * lo:+6.2f}, {100 * hi:+6.2f}]  p={row['p_value']:.4f}")


def _only_aggregation(selectors: list[tuple[str | None, str | None]], prm: str,
                      path: Path) -> str:
    """The one aggregation metrics.json holds for ``prm``; several need --aggregate."""
    from harness.errors import InputError

    found = sorted({agg for name, agg in selectors if name == prm and agg is not None})
    if len(found) != 1:
        what = f"aggregations {', '.join(found)}" if found else "no aggregation"
        raise InputError(f"PRM {prm!r} has {what} here; pass --aggregate", path=path)
    return found[0]
