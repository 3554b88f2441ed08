"""``prm-harness similarity --model DIR --set-a A.jsonl --set-b B.jsonl``: the gradient
pattern similarity S of two response sets under a reference causal LM (docs/similarity.md).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from harness.diagnostics.similarity_stats import (
    DEFAULT_BOOT,
    DEFAULT_LENGTH_BIN,
    DEFAULT_SKETCH_DIM,
)

_PATH = click.Path(path_type=Path)


@click.command("similarity")
@click.option("--model", "model_dir", required=True, type=_PATH,
              help="Reference causal LM: a local Hugging Face folder.")
@click.option("--set-a", "set_a", required=True, type=_PATH,
              help="JSONL, one {\"prompt\", \"response\"} object a line.")
@click.option("--set-b", "set_b", required=True, type=_PATH, help="Same format as --set-a.")
@click.option("--f", "f_name", type=click.Choice(["resp_ll", "wang2025"]), default="resp_ll",
              show_default=True, help="F: mean response log-likelihood, or the largest "
              "last-position logit (Wang et al.'s code).")
@click.option("--layers", type=click.Choice(["deep", "all"]), default="deep",
              show_default=True, help="deep: layers [n/2, n-3]; all: every layer.")
@click.option("--pairs", type=click.Choice(["all", "aligned"]), default="all",
              show_default=True, help="all: every (a, b) pair; aligned: a_i with b_i.")
@click.option("--dtype", type=click.Choice(["float32", "float64"]), default="float32",
              show_default=True)
@click.option("--seed", default=0, show_default=True,
              help="Seed of the sketches, the bootstrap and the permutation test.")
@click.option("--boot", "n_boot", default=DEFAULT_BOOT, show_default=True,
              help="Bootstrap resamples for the 95% CI.")
@click.option("--sketch-dim", default=DEFAULT_SKETCH_DIM, show_default=True,
              help="Count-sketch width per layer.")
@click.option("--length-bin", default=DEFAULT_LENGTH_BIN, show_default=True,
              help="Response-length bin (tokens) of the length-matched control.")
@click.option("--vs-a", "vs_a", type=_PATH, default=None,
              help="With --vs-b: also S(C, D) and a permutation test of S(A,B) = S(C,D).")
@click.option("--vs-b", "vs_b", type=_PATH, default=None)
@click.option("--perm", "n_perm", default=1000, show_default=True,
              help="Permutations of that test.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def similarity(model_dir: Path, set_a: Path, set_b: Path, f_name: str, layers: str,
               pairs: str, dtype: str, seed: int, n_boot: int, sketch_dim: int,
               length_bin: int, vs_a: Path | None, vs_b: Path | None, n_perm: int,
               as_json: bool) -> None:
    """S(A, B) = 100 x mean over layers and pairs of cos(A_l(a), A_l(b)), where
    A(theta, s) = |theta * dF/dtheta| over the attention and MLP matrices."""
    from harness.diagnostics.similarity import (
        Reference,
        compute_similarity,
        read_set,
    )
    from harness.diagnostics.similarity_stats import permutation_test

    if (vs_a is None) != (vs_b is None):
        raise click.UsageError("--vs-a and --vs-b go together")
    if vs_a is not None and pairs != "all":
        raise click.UsageError("--vs-a/--vs-b need --pairs all (the test resamples the "
                               "samples of each set)")
    if min(n_boot, sketch_dim, length_bin, n_perm) < 1:
        raise click.UsageError("--boot, --sketch-dim, --length-bin and --perm must be >= 1")
    samples_a, samples_b = read_set(set_a), read_set(set_b)
    second = (read_set(vs_a), read_set(vs_b)) if vs_a is not None and vs_b is not None \
        else None
    ref = Reference.load(model_dir, dtype)
    options: dict[str, Any] = {"f": f_name, "layers": layers, "pairs": pairs,
                               "seed": seed, "n_boot": n_boot, "sketch_dim": sketch_dim,
                               "length_bin": length_bin}
    result = compute_similarity(ref, samples_a, samples_b, **options)
    doc = result.as_dict()
    doc["sets"] = {"a": str(set_a), "b": str(set_b)}
    if second is not None:
        assert vs_a is not None and vs_b is not None and result.sets is not None
        other = compute_similarity(ref, second[0], second[1], **options)
        assert other.sets is not None
        a, b = result.sets
        c, d = other.sets
        shared_c = a if vs_a.resolve() == set_a.resolve() else c
        shared_d = b if vs_b.resolve() == set_b.resolve() else d
        doc["comparison"] = {"sets": {"c": str(vs_a), "d": str(vs_b)}, "S_cd": other.S,
                             "ci_cd": list(other.ci),
                             **permutation_test((a, b), (shared_c, shared_d), n_perm, seed)}
    if as_json:
        click.echo(json.dumps(doc))
        return
    lo, hi = result.ci
    click.echo(f"S = {result.S:.3f}  95% CI [{lo:.3f}, {hi:.3f}]  f={result.f}  "
               f"layers={result.layers[0]}..{result.layers[-1]}  n_a={result.n_a}  "
               f"n_b={result.n_b}  pairs={result.pairs}")
    if result.length_matched is not None and result.length_matched["S"] is not None:
        lm = result.length_matched
        click.echo(f"length-matched (bins of {lm['bin_tokens']} tokens, "
                   f"{lm['matched_pairs']}/{lm['pairs']} pairs): S = {lm['S']:.3f} vs "
                   f"{lm['S_sketch_all_pairs']:.3f} over all pairs (both sketched)")
    if "comparison" in doc:
        comp = doc["comparison"]
        click.echo(f"S(C, D) = {comp['S_cd']:.3f}; permutation p = {comp['p_value']:.4f}")
