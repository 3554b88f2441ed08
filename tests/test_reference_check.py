"""A run checks its task's grader on the run's own reference solutions first: the result
goes into the manifest, and a grader that fails its references stops the run (by default)."""

from __future__ import annotations

import json
from pathlib import Path

from helpers import run_cli


def _broken_mirror(shared_data: Path, tmp_path: Path) -> tuple[Path, str]:
    """A mirror folder whose second MATH-500 problem carries a wrong gold answer."""
    rows = [json.loads(line) for line in
            (shared_data / "math500" / "test.jsonl").read_text().splitlines()]
    rows[1]["answer"] = "\\pi^{17}"
    (tmp_path / "math500").mkdir(parents=True)
    (tmp_path / "math500" / "test.jsonl").write_text(
        "".join(json.dumps(r) + "\n" for r in rows))
    return tmp_path, rows[1]["unique_id"]


def _config(tmp_path: Path, data_dir: Path) -> Path:
    """A replay run over the first five problems, each answered twice with its gold."""
    rows = [json.loads(line) for line in
            (data_dir / "math500" / "test.jsonl").read_text().splitlines()[:5]]
    pool = tmp_path / "pool.jsonl"
    pool.write_text("".join(
        json.dumps({"problem_id": r["unique_id"], "completion": f"So \\boxed{{{r['answer']}}}."})
        + "\n" for r in rows for _ in range(2)))
    path = tmp_path / "run.yaml"
    path.write_text(
        f"task: {{name: math500, data_dir: '{data_dir}', problems: {{slice: '0:5'}}}}\n"
        f"policy: {{name: replay, options: {{pool: '{pool}', task: math500, "
        f"data_dir: '{data_dir}'}}}}\n"
        "sampling: {n: 2}\n")
    return path


def test_failing_references_stop_the_run_and_are_recorded(shared_data, tmp_path, capsys):
    mirror, broken_id = _broken_mirror(shared_data, tmp_path / "mirror")
    config = _config(tmp_path, mirror)
    runs = tmp_path / "runs"
    status, _, err = run_cli(["run", config, "--runs-dir", runs], capsys)
    assert status != 0
    assert broken_id in err and "80.0%" in err and "reference_check=record" in err
    (run_dir,) = [p for p in runs.iterdir() if not p.name.startswith(".")]
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["reference_check"]["passed"] == 4 and manifest["reference_check"]["n"] == 5
    assert [f["problem_id"] for f in manifest["reference_check"]["failures"]] == [broken_id]
    assert not (run_dir / "pool").exists() or not any((run_dir / "pool").iterdir())


def test_reference_check_skip_is_recorded_and_skips_grading(shared_data, tmp_path, capsys):
    mirror, _ = _broken_mirror(shared_data, tmp_path / "mirror")
    config = _config(tmp_path, mirror)
    runs = tmp_path / "runs"
    status, _, err = run_cli(["run", config, "--runs-dir", runs,
                              "--set", "task.reference_check=skip"], capsys)
    assert status == 0, err  # no check: the run goes on past the broken reference
    (run_dir,) = [p for p in runs.iterdir() if not p.name.startswith(".")]
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["reference_check"] == {"mode": "skip"}
