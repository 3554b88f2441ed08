"""``reports/*.yaml`` specs: each error is one line naming the file, line and field, and a
spec over a real run (the demo's) renders the same files ``prm-harness report RUN`` does."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import run_cli

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("demo")
    subprocess.run([sys.executable, "-m", "harness.cli", "demo", "--problems", "10", "--n", "8",
                    "--out", str(out)], check=True, capture_output=True, cwd=REPO)
    return out / "demo-10x8-seed0"


@pytest.fixture(scope="module")
def search_run(tmp_path_factory) -> Path:
    """A small stored search run, for the specs of kind ``compute``."""
    out = tmp_path_factory.mktemp("search") / "smc"
    subprocess.run([sys.executable, "-m", "harness.cli", "search", "--task", "synthetic-arith",
                    "--policy", "sim", "--prm", "sim-noisy", "--strategy", "smc",
                    "--budget", "policy_calls=32", "--problems", "4", "--out", str(out)],
                   check=True, capture_output=True, cwd=REPO)
    return out


def _report(args, capsys) -> tuple[int, str, str]:
    return run_cli(["report", *args], capsys)


def _spec(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "spec.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(("body", "expected"), [
    ("kind: best-of-n\nruns: {demo: RUN}\ncolour: red\n",
     ":3: field 'colour': unknown field; a report spec has kind, title, runs, out, options"),
    ("kind: best-of-m\nruns: {demo: RUN}\n",
     ":1: field 'kind': unknown report kind 'best-of-m'; known: bellman, best-of-n"),
    ("runs: {demo: RUN}\n", ": field 'kind': missing"),
    ("kind: best-of-n\nruns:\n  demo: RUN\n  gone: no-such-run\n",
     ":4: field 'runs.gone': no run at no-such-run ("),
    ("kind: best-of-n\nruns: [RUN, RUN/grades]\n",
     ":2: field 'runs.1': RUN/grades: not a run directory (no manifest.json)"),
    ("kind: best-of-n\nruns: {a: RUN, b: RUN}\n",
     ":2: field 'runs': report 'best-of-n' reads exactly 1 run, not 2"),
    ("kind: best-of-n\nruns: {demo: RUN}\noptions:\n  width: 3\n",
     ":4: field 'options.width': report 'best-of-n' takes no option 'width'; valid options: "
     "none"),
])
def test_each_spec_error_is_one_line_naming_file_and_field(body, expected, demo_run,
                                                           tmp_path, capsys):
    spec = _spec(tmp_path, body.replace("RUN", str(demo_run)))
    status, out, err = _report([spec], capsys)
    lines = err.strip().splitlines()
    assert status == 2 and out == "" and len(lines) == 1, err
    assert f"{spec}{expected.replace('RUN', str(demo_run))}" in lines[0]
    assert not (tmp_path / "out").exists()


def test_a_spec_renders_what_report_run_renders(demo_run, tmp_path, capsys):
    run = tmp_path / "runs" / "demo"
    shutil.copytree(demo_run, run)
    status, out, err = _report([run, "--out", tmp_path / "direct"], capsys)
    assert status == 0, err
    # runs are relative to the spec's folder; the output folder defaults to out/<stem>
    spec_dir = tmp_path / "reports"
    spec_dir.mkdir()
    (spec_dir / "demo_bon.yaml").write_text("kind: best-of-n\nruns:\n  demo: ../runs/demo\n")
    status, out, err = _report([spec_dir / "demo_bon.yaml"], capsys)
    assert status == 0, err
    written = sorted(Path(line).name for line in out.splitlines())
    assert written == ["best_of_n.csv", "best_of_n.html", "best_of_n.md", "best_of_n.png",
                       "best_of_n.svg"]
    rendered = spec_dir / "out" / "demo_bon"
    for name in written:
        assert (rendered / name).read_bytes() == (tmp_path / "direct" / name).read_bytes(), name
    csv = (rendered / "best_of_n.csv").read_text().splitlines()
    assert csv[0] == "selector,prm,aggregation,metric,k,value,ci_low,ci_high"
    assert any(row.startswith("pass@N,,,pass,8,") for row in csv)
    # a list of runs, a title and an output folder of its own
    (spec_dir / "titled.yaml").write_text(
        "kind: bellman\ntitle: Demo diagnostics\nruns: [../runs/demo]\nout: bellman\n")
    status, out, err = _report([spec_dir / "titled.yaml"], capsys)
    assert status == 0, err
    assert (spec_dir / "bellman" / "bellman.md").read_text().startswith("# Demo diagnostics\n")


def test_kind_does_not_go_with_a_spec(demo_run, tmp_path, capsys):
    spec = _spec(tmp_path, f"kind: best-of-n\nruns: [{demo_run}]\n")
    status, _, err = _report([spec, "--kind", "bellman"], capsys)
    assert status == 2 and "--kind applies to a RUN" in err


def test_the_shipped_specs_load_and_render(demo_run, search_run, tmp_path):
    """Each reports/*.yaml, with the demo run (a search run for ``compute``) placed where
    it expects its runs, validates and renders."""
    import yaml

    from harness.reports.spec import load_report_spec

    specs = sorted((REPO / "reports").glob("*.yaml"))
    assert specs
    for shipped in specs:
        copy = tmp_path / "reports" / shipped.name
        copy.parent.mkdir(exist_ok=True)
        copy.write_text(shipped.read_text())
        doc = yaml.safe_load(shipped.read_text())
        runs = doc["runs"]
        stand_in = search_run if doc["kind"] == "compute" else demo_run
        for folder in runs.values() if isinstance(runs, dict) else runs:
            target = (copy.parent / folder).resolve()
            if not target.exists():
                target.parent.mkdir(parents=True, exist_ok=True)
                target.symlink_to(stand_in, target_is_directory=True)
        paths = load_report_spec(copy).render()
        assert paths and all(p.is_file() and p.stat().st_size > 0 for p in paths)
