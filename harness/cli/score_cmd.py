"""``prm-harness score --prm SPEC [--model PATH] SAMPLES.jsonl --out OUT.jsonl``.

SPEC is a shipped spec's model id, a spec file, or a registered PRM that needs no
weights (the baselines random, length, step-label; sim-oracle; a plug-in). Every input
line is validated before any model loads; every result gets the run's checks (one score
per step, each in [0, 1]); OUT repeats each line with ``step_scores`` added and is
written atomically, next to a manifest
(``OUT.manifest.json``) holding the PRM's identity, its measured compute (the total and
one record per scoring call) and the input's hash.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

import click

from harness import __version__
from harness.cli.options import parse_key_values
from harness.progress import track
from harness.store.atomic import write_bytes, write_text
from harness.store.jsonl import render_jsonl
from harness.store.keys import file_sha256

BACKENDS = ("transformers", "vllm", "http")


def _options(pairs: tuple[str, ...]) -> dict[str, Any]:
    """KEY=VALUE options with JSON values where they parse (numbers, booleans, lists)."""
    out: dict[str, Any] = {}
    for key, value in parse_key_values(pairs).items():
        try:
            out[key] = json.loads(value)
        except ValueError:
            out[key] = value
    return out


def build_scoring_prm(prm: str, model: str | None, backend: str, labels: dict[Any, Any],
                      options: dict[str, Any]) -> Any:
    """The PRM object behind ``--prm``: a registered model-free PRM (a baseline, a
    simulated PRM, a plug-in; the names ``run`` configs use), or a spec on a backend."""
    from harness import registry

    if prm not in BACKENDS and prm in registry.names("prm"):
        if model is not None:
            raise click.UsageError(f"--model does not apply to the {prm} PRM")
        if prm == "step-label":
            options = {"labels": labels, **options}
        return registry.PRMS.build(prm, options)
    return registry.PRMS.build(backend, {"spec": prm, "model": model, **options})


@click.command("score")
@click.argument("samples", type=click.Path(path_type=Path))
@click.option("--prm", "prm_name", required=True, metavar="SPEC",
              help="Shipped spec model id, spec file, or baseline (random, length, "
                   "step-label).")
@click.option("--model", default=None, metavar="PATH",
              help="Load the weights (and tokenizer) from this local folder.")
@click.option("--out", type=click.Path(path_type=Path), required=True,
              help="Output JSONL: each input line plus step_scores.")
@click.option("--backend", type=click.Choice(BACKENDS), default="transformers",
              show_default=True)
@click.option("--device", default=None, help="transformers device (cpu, cuda, auto).")
@click.option("--dtype", type=click.Choice(["float32", "bfloat16", "float16"]), default=None,
              help="Override the spec's dtype.")
@click.option("--batch-tokens", type=int, default=None,
              help="Padded-token budget per batch (transformers, http).")
@click.option("--reference-model", default=None, metavar="PATH",
              help="Local folder of the reference model (implicit PRMs).")
@click.option("--url", default=None, help="Pooling server base URL (http backend).")
@click.option("--option", "extra", multiple=True, metavar="KEY=VALUE",
              help="Further constructor option of the PRM (value parsed as JSON if it can).")
@click.option("--chunk", type=int, default=256, show_default=True,
              help="Samples per scoring call.")
def score(samples: Path, prm_name: str, model: str | None, out: Path, backend: str,
          device: str | None, dtype: str | None, batch_tokens: int | None,
          reference_model: str | None, url: str | None, extra: tuple[str, ...],
          chunk: int) -> None:
    """Score every sample's steps with a PRM and write OUT with step_scores."""
    from harness.models.prms.score_input import read_score_input
    from harness.pipeline.stages import score_samples

    if chunk < 1:
        raise click.BadParameter("must be positive", param_hint="--chunk")
    data = read_score_input(samples)
    options = _options(extra)
    given = {"device": device, "dtype": dtype, "batch_tokens": batch_tokens,
             "reference_model": reference_model, "url": url}
    options.update({k: v for k, v in given.items() if v is not None})
    prm = build_scoring_prm(prm_name, model, backend, data.labels, options)
    scored = []
    starts = range(0, len(data.samples), chunk)
    for start in track(starts, f"scoring with {prm.prm_id}", total=len(starts)):
        scored.extend(score_samples(prm, prm.prm_id, data.problems[start:start + chunk],
                                    data.samples[start:start + chunk]))
    rows = [{**record, "step_scores": result.scores}
            for record, result in zip(data.records, scored, strict=True)]
    compute = prm.compute()
    manifest = {"harness": __version__, "command": "score", "prm": prm.identity(),
                "compute": asdict(compute), "compute_calls": prm.compute_calls(),
                "input": {"path": str(samples), "sha256": file_sha256(samples)},
                "n_samples": len(rows)}
    write_bytes(out, render_jsonl(rows))
    write_text(out.with_name(out.name + ".manifest.json"),
               json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    click.echo(json.dumps({"prm": prm.prm_id, "n_samples": len(rows),
                           "tokens_in": compute.tokens_in, "flops": compute.flops,
                           "wall_s": round(compute.wall_s, 3), "out": str(out)}))
