"""The typed registries: every built-in entry resolves to its kind's base, a plug-in of the
wrong base is refused in one line, entry points still plug in, and the names that used to
be separate tables (families, aggregations, importers, baselines) come from here."""

from __future__ import annotations

import re
import sys

import pytest

from harness import registry
from harness.errors import ConfigError
from harness.interfaces import PRM, Executor, Policy, Report, Strategy, Task
from harness.registry import Registry

BASES = {"task": Task, "policy": Policy, "prm": PRM, "strategy": Strategy, "report": Report,
         "executor": Executor, "baseline": PRM}
NAMED = ("report", "family", "aggregation", "importer", "step-baseline")


@pytest.mark.parametrize("kind", registry.KINDS)
def test_every_builtin_entry_resolves_to_its_kinds_base(kind):
    """All of them are imported, none skipped (vLLM-backed ones import vLLM only when
    they run)."""
    reg = registry.REGISTRIES[kind]
    assert reg.kind == kind
    base = reg.base
    if kind in BASES:
        assert base is BASES[kind]
    for name in reg.builtins:
        obj = reg.get(name)
        if reg.instances:
            assert isinstance(obj, base), (kind, name)
        else:
            assert isinstance(obj, type) and issubclass(obj, base), (kind, name)
        if kind in NAMED:  # these carry their registered name themselves
            assert obj.name == name, (kind, name, obj.name)
    assert registry.names(kind) == sorted(reg.builtins) or kind == "strategy"


def test_kinds_cover_the_former_side_tables():
    assert set(registry.KINDS) == {"task", "policy", "prm", "strategy", "report", "executor",
                                   "family", "aggregation", "importer", "baseline",
                                   "step-baseline"}
    assert registry.names("aggregation") == ["last", "mean", "min", "product"]
    assert registry.names("importer") == ["codet-humaneval", "evalplus", "evalplus-results",
                                          "flat", "lm-eval-samples", "qwen-math-eval"]
    assert len(registry.names("family")) == 8
    # the PRM baselines keep their names; the step-level ones are not called the same
    assert registry.names("baseline") == ["length", "random", "step-label"]
    assert registry.names("step-baseline") == ["step-length", "step-random"]
    assert set(registry.names("baseline")) <= set(registry.names("prm"))
    assert not set(registry.names("baseline")) & set(registry.names("step-baseline"))


class NotAReport:
    name = "not-a-report"


def test_registering_a_plug_in_of_the_wrong_base_fails_with_one_line():
    with pytest.raises(ConfigError) as info:
        registry.register("report", "not-a-report")(NotAReport)
    message = str(info.value)
    assert "\n" not in message
    assert message == (f"report 'not-a-report' is {NotAReport!r}, not a subclass of "
                       "harness.interfaces.Report")
    assert "not-a-report" not in registry.names("report")
    # a value kind checks instances: a bare function is not an Aggregation
    wrong = re.escape("not an instance of harness.aggregate.Aggregation")
    with pytest.raises(ConfigError, match=wrong):
        registry.register("aggregation", "median")(lambda scores: sorted(scores)[0])
    with pytest.raises(ConfigError, match="unknown plug-in kind 'reporter'"):
        registry.register("reporter", "x")


def test_a_builtin_entry_of_the_wrong_base_is_refused_when_resolved():
    reg: Registry[type[Report]] = Registry(
        "report", Report, {"oops": "harness.reports.best_of_n:render_best_of_n"})
    with pytest.raises(ConfigError, match="'oops' is <function render_best_of_n"):
        reg.get("oops")


def test_entry_points_plug_in_and_are_checked(tmp_path, monkeypatch):
    """A distribution declaring ``prm_harness.report`` entry points, installed on sys.path."""
    (tmp_path / "my_reports.py").write_text(
        "from harness.interfaces import Report\n"
        "class Table(Report):\n"
        "    name = 'table'\n"
        "    def render(self, runs, out_dir, title=None):\n"
        "        return []\n"
        "class Wrong:\n"
        "    pass\n")
    dist = tmp_path / "my_reports-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: my-reports\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(
        "[prm_harness.report]\ntable = my_reports:Table\nwrong = my_reports:Wrong\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    reg: Registry[type[Report]] = Registry("report", Report, {})  # a fresh entry-point scan
    assert reg.names() == ["table", "wrong"]
    assert reg.get("table").__name__ == "Table"
    assert reg.build("table").render({}, tmp_path) == []
    with pytest.raises(ConfigError, match=re.escape(
            "'wrong' is <class 'my_reports.Wrong'>, not a subclass of "
            "harness.interfaces.Report")):
        reg.get("wrong")
    sys.modules.pop("my_reports", None)


def test_build_is_the_one_constructor_path(shared_data):
    task = registry.TASKS.build("math500", {"prompt_style": "plain"}, data_dir=shared_data)
    assert isinstance(task, Task) and task.data_dir == shared_data
    assert isinstance(registry.build("policy", "sim", {"error_rate": 0.1}), Policy)
    prm = registry.PRMS.build("length", {"scale": 10})
    assert prm.identity()["scale"] == 10.0
    with pytest.raises(ConfigError, match="prm 'length'"):
        registry.PRMS.build("length", {"colour": "red"})
    with pytest.raises(ConfigError, match="unknown task 'math5000'; known: aime24"):
        registry.TASKS.build("math5000")


def test_the_aggregation_registry_decides_the_config_and_the_specs():
    from harness.config import MetricsConfig
    from harness.models.prms.specs import parse_spec

    assert MetricsConfig(aggregations=["min", "product"]).aggregations == ["min", "product"]
    with pytest.raises(ValueError, match="unknown aggregation 'median'; choose from last, "
                                         "mean, min, product"):
        MetricsConfig(aggregations=["median"])
    with pytest.raises(ConfigError, match="field 'family': 'qwen' is not a protocol family; "
                                          "known: chat-turn"):
        parse_spec({"family": "qwen", "model_id": "x"}, "x.yaml")
