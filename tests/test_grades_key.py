"""The grades key holds what decides a verdict and nothing else: moving a run to another
machine (other worker count, the interpreter at another path) reuses its grades; a
different time limit or interpreter regrades."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from harness.config import RunConfig
from harness.grading.sandbox.core import Sandbox
from harness.pipeline import plugins
from harness.pipeline.plan import plan_run
from harness.pipeline.stages import generate_units, grade_units


def _grade_keys(data_dir: Path, runs: Path, **options: Any) -> list[str]:
    config = RunConfig.model_validate({
        "name": "keys",
        "task": {"name": "humanevalplus", "data_dir": str(data_dir), "options": options,
                 "problems": {"ids": ["HumanEval/0", "HumanEval/1"]}},
        "policy": {"name": "sim"}, "sampling": {"n": 2, "seed": 0},
        "metrics": {"ks": [1]}, "report": {"kinds": []}})
    with plugins.session():
        plan = plan_run(config, runs)
        try:
            return [unit.key for unit in grade_units(plan, generate_units(plan))]
        finally:
            plugins.task(config.task).close()


# the base interpreter behind this venv: a symlink to a venv's python outside the venv is
# another interpreter (no pyvenv.cfg beside it, so none of the venv's libraries)
BASE_PYTHON = os.path.realpath(sys.executable)


def test_grades_key_ignores_workers_and_interpreter_path(shared_data, tmp_path):
    linked = tmp_path / "bin" / "python3"  # the same interpreter, at another path
    linked.parent.mkdir()
    os.symlink(BASE_PYTHON, linked)
    here = _grade_keys(shared_data, tmp_path, workers=1, python=BASE_PYTHON)
    there = _grade_keys(shared_data, tmp_path, workers=2, python=str(linked))
    assert here == there
    slower = _grade_keys(shared_data, tmp_path, workers=1, python=BASE_PYTHON,
                         min_time_limit=2.0)
    assert slower != here
    # the venv's interpreter has other libraries (numpy): another verdict environment
    assert _grade_keys(shared_data, tmp_path, workers=1, python=sys.executable) != here


def test_sandbox_identity_names_the_interpreter_not_its_path(tmp_path):
    linked = tmp_path / "python3"
    os.symlink(BASE_PYTHON, linked)
    with Sandbox(workers=1, python=BASE_PYTHON) as one, \
            Sandbox(workers=3, python=str(linked), hide=[tmp_path]) as other:
        assert one.identity() == other.identity()
        facts = other.provenance()
    assert facts["python"] == str(linked) and facts["workers"] == 3
    assert str(tmp_path.resolve()) in facts["hidden"]
    interpreter = facts["interpreter"]
    assert interpreter["version"] == ".".join(map(str, sys.version_info[:3]))
    with Sandbox(workers=1) as venv:  # this venv's interpreter: its libraries recorded
        import numpy
        assert venv.provenance()["libraries"]["numpy"] == numpy.__version__
        assert venv.identity() != one.identity()
    assert str(linked) not in repr(other.identity())
