"""``prm-harness train-prm CONFIG.yaml``: train a PRM on step labels (docs/training.md)."""

from __future__ import annotations

import json
from pathlib import Path

import click


@click.command("train-prm")
@click.argument("config", type=click.Path(path_type=Path))
@click.option("--export-step", type=int, default=None,
              help="Only export the PRM of this checkpoint step (no training).")
@click.option("--export-to", type=click.Path(path_type=Path), default=None,
              help="Folder of the exported PRM (default: OUT/prm, or OUT/prm-step-N).")
def train_prm(config: Path, export_step: int | None, export_to: Path | None) -> None:
    """Train (resuming from OUT's last checkpoint) and export the PRM folder and its spec
    YAML; prints one JSON line with the summary."""
    from harness.training.config import load_train_config
    from harness.training.export import export_prm
    from harness.training.trainer import train

    cfg = load_train_config(config)
    out = cfg.resolve(cfg.out)
    if export_step is not None:
        target = export_to or out / f"prm-step-{export_step}"
        # the last step's export carries the training summary, as after training, so
        # both ways give the same folder
        done = out / "train.json"
        summary = (json.loads(done.read_text())
                   if export_step == cfg.optim.max_steps and done.is_file() else None)
        export_prm(cfg, export_step, target, summary)
        click.echo(json.dumps({"prm": str(target), "spec": str(target.with_suffix(".yaml")),
                               "step": export_step}))
        return
    summary = train(cfg)
    target = export_to or out / "prm"
    export_prm(cfg, cfg.optim.max_steps, target, summary)
    (out / "train.json").write_text(json.dumps(summary, indent=1, sort_keys=True) + "\n")
    click.echo(json.dumps({"prm": str(target), "spec": str(target.with_suffix(".yaml")),
                           **{k: summary[k] for k in ("steps", "params", "trainable_params",
                                                      "tokens", "train_s", "flops_6PT",
                                                      "final_dev")}}))
