"""The math task base and the math500/aime24 loaders on the real mirror files."""

from __future__ import annotations

import json

import pytest
from helpers import run_cli, write_jsonl

from harness.errors import ConfigError, InputError
from harness.registry import TASKS
from harness.tasks.math_common import QWEN_SYSTEM


@pytest.fixture(scope="module")
def math500(shared_data):
    task = TASKS.build("math500", {"workers": 1}, data_dir=shared_data)
    return task, task.load()


def test_math500_loads_all_problems_with_provenance(math500):
    task, problems = math500
    assert len(problems) == 500
    assert problems[0].id == "test/precalculus/807.json"
    assert problems[0].metadata["level"] in range(1, 6)
    source = task.identity()["sources"]["test"]
    assert source["sha256"] == "35dc41080a3680858b27fa7e0533d2d547825316fc5dafe5d316f4ccc5a06132"
    assert task.identity()["grading"]["grader"] == "math-verify"


def test_math500_levels_keep_that_slice_in_file_order(math500, shared_data):
    _, every = math500
    task = TASKS.build("math500", {"workers": 1, "levels": "2,1"}, data_dir=shared_data)
    easy = task.load()
    assert [p.id for p in easy] == [p.id for p in every if p.metadata["level"] <= 2]
    assert len(easy) == 133 and task.identity()["levels"] == [1, 2]
    assert "levels" not in math500[0].identity()  # earlier runs' identities unchanged
    for bad in ("0,9", "easy", ""):
        with pytest.raises(ConfigError, match="give MATH levels 1-5"):
            TASKS.build("math500", {"levels": bad}, data_dir=shared_data)


def test_prompt_styles(math500):
    task, problems = math500
    p = problems[0]
    statement = p.metadata["statement"]
    assert task.prompt(p) == p.prompt == [{"role": "system", "content": QWEN_SYSTEM},
                                          {"role": "user", "content": statement}]
    assert task.prompt(p, "plain") == [{"role": "user", "content": f"{statement}\n\n{QWEN_SYSTEM}"}]
    assert task.prompt(p, "bare") == [{"role": "user", "content": statement}]
    with pytest.raises(ConfigError):
        task.prompt(p, "nope")
    plain = TASKS.build("math500", {"prompt_style": "plain"})
    assert plain.messages("Q") == [{"role": "user", "content": f"Q\n\n{QWEN_SYSTEM}"}]


def test_steps_join_back_exactly_on_every_reference_solution(math500):
    task, problems = math500
    counts = []
    for p in problems:
        steps = task.split_steps(p.metadata["solution"])
        assert "".join(steps) == p.metadata["solution"]
        counts.append(len(steps))
    assert max(counts) > 1 and min(counts) >= 1


def test_step_split_modes():
    text = "Intro.\nStep 1: add.\n**Step 2:** carry\n\n## Step 3. done \\boxed{4}"
    markers = TASKS.build("math500", {"steps": "markers"})
    assert markers.split_steps(text) == ["Intro.\n", "Step 1: add.\n", "**Step 2:** carry\n\n",
                                         "## Step 3. done \\boxed{4}"]
    regex = TASKS.build("math500", {"steps": "regex:\\n"})
    assert regex.split_steps("a\nb\n\nc\n") == ["a\n", "b\n", "\n", "c\n"]
    blank = TASKS.build("math500")
    assert blank.split_steps("a\n\nb\n \n\nc") == ["a\n\n", "b\n \n\n", "c"]
    for bad in ("regex:(", "regex:x*", "lines"):
        with pytest.raises(ConfigError):
            TASKS.build("math500", {"steps": bad})
    with pytest.raises(ConfigError, match="unknown option colour; valid options: "):
        TASKS.build("math500", {"colour": "red"})


def test_grade_pool_of_one_problem(math500):
    task, problems = math500
    p = next(q for q in problems if q.reference == "\\frac{14}{3}")
    texts = [p.metadata["solution"], "So $x = \\boxed{\\dfrac{14}{3}}$.",
             "Hence \\boxed{\\frac{28}{6}}", "I get \\boxed{5}.", "no idea", "\\boxed{14/3}"]
    samples = [task.prepare(p, i, t) for i, t in enumerate(texts)]
    grades = task.grade(p, samples)
    assert [g.correct for g in grades] == [True, True, True, False, False, True]
    assert len({g.vote_key for g in grades if g.correct}) == 1
    assert grades[4].vote_key is None and grades[4].details["status"] == "no-answer"
    assert grades[0].details["grader"].startswith("math-verify ")


def test_aime_reference_completion_without_box(shared_data):
    task = TASKS.build("aime24", {"workers": 1}, data_dir=shared_data)
    problems = {p.id: p for p in task.load()}
    assert len(problems) == 30
    p60 = problems["aime24-60"]
    assert task.extract(p60.metadata["solution"]) is None
    assert task.reference_is_synthesised(p60)
    completion = task.reference_completions(p60)[0]
    assert completion.startswith(p60.metadata["solution"].rstrip())
    assert completion.endswith("$\\boxed{204}$.")
    p61 = problems["aime24-61"]
    assert not task.reference_is_synthesised(p61)
    assert task.reference_completions(p61) == [p61.metadata["solution"]]
    assert task.extract(p61.metadata["solution"]) == "\\textbf{(113) }"


@pytest.mark.parametrize(("task_name", "n", "synthesised"), [
    ("math500", 500, []), ("aime24", 29, ["aime24-60"]), ("prm800k", 101, [])])
def test_tasks_check_reaches_100_percent(task_name, n, synthesised, capsys):
    status, out, err = run_cli(["tasks", "check", task_name], capsys)
    assert status == 0, err
    result = json.loads(out)
    assert result["pass_rate"] == 1.0 and result["failures"] == []
    # a reference built from the gold answer verifies nothing: listed, not counted
    assert result["n"] == result["passed"] == n and result["synthesised"] == synthesised
    self_test = result["grader_self_test"]
    assert self_test["passed"] and self_test["failures"] == []
    assert self_test["statuses"]["ok"] >= 5  # math-verify itself decided those pairs


def test_a_failing_grader_self_test_fails_tasks_check(monkeypatch, capsys):
    from harness.grading.math import self_test

    wrong = [*self_test.PAIRS, ("\\sqrt{4}", "2", False)]  # a wrong expectation
    monkeypatch.setattr(self_test, "PAIRS", wrong)
    status, out, err = run_cli(["tasks", "check", "math500"], capsys)
    assert status == 1
    assert json.loads(out)["pass_rate"] == 1.0  # the references still pass
    assert ("grader self-test failed: '2' against gold '\\\\sqrt{4}': expected "
            "different, graded equal (status ok)") in err


def test_tasks_list_names_every_registered_task(capsys):
    from harness import registry

    status, out, _ = run_cli(["tasks", "list"], capsys)
    rows = [line.split("\t") for line in out.splitlines()]
    assert status == 0 and [r[0] for r in rows] == registry.names("task")
    domains = {r[0]: r[1] for r in rows}
    assert {domains[t] for t in ("math500", "aime24", "prm800k", "synthetic-arith")} == {"math"}


def test_missing_and_malformed_files_name_the_file(tmp_path, shared_data):
    with pytest.raises(InputError, match=r"math500/test\.jsonl"):
        TASKS.build("math500", data_dir=tmp_path).load()
    (tmp_path / "aime24").mkdir()
    lines = (shared_data / "aime24" / "test.jsonl").read_text().splitlines()
    bad = json.loads(lines[1])
    del bad["answer"]
    (tmp_path / "aime24" / "test.jsonl").write_text(lines[0] + "\n" + json.dumps(bad) + "\n")
    with pytest.raises(InputError) as info:
        TASKS.build("aime24", data_dir=tmp_path).load()
    assert info.value.line == 2 and info.value.field == "answer"
    assert str(info.value).startswith(str(tmp_path / "aime24" / "test.jsonl"))
    (tmp_path / "aime24" / "test.jsonl").write_text(lines[0] + "\n{not json\n")
    with pytest.raises(InputError, match="malformed JSON") as info:
        TASKS.build("aime24", data_dir=tmp_path).load()
    assert info.value.line == 2


def test_grade_command_on_math500(tmp_path, capsys, shared_data):
    rows = [  # golds: (3, pi/2) in \left( \right), and \frac{3}{2}
        {"problem_id": "test/precalculus/807.json", "completion": "So \\boxed{(3, \\pi/2)}."},
        {"problem_id": "test/algebra/1265.json", "completion": "thus $\\boxed{\\dfrac{3}{2}}$"},
        {"problem_id": "test/algebra/1265.json", "completion": "no box here"},
        {"problem_id": "test/algebra/1265.json", "completion": "\\boxed{1.5}"},
        {"problem_id": "test/algebra/1265.json", "completion": "\\boxed{2/3}"},
    ]
    samples = write_jsonl(tmp_path / "samples.jsonl", rows)
    out = tmp_path / "graded.jsonl"
    status, stdout, err = run_cli(["grade", "math500", samples, "--out", out], capsys)
    assert status == 0, err
    graded = [json.loads(x) for x in out.read_text().splitlines()]
    assert [g["correct"] for g in graded] == [True, True, False, True, False]
    assert graded[2]["answer"] is None and graded[2]["vote_key"] is None
    assert graded[2]["detail"]["status"] == "no-answer"
    assert graded[1]["vote_key"] == graded[3]["vote_key"] != graded[4]["vote_key"]
    assert graded[1]["detail"]["grader"].startswith("math-verify")
    assert json.loads(stdout)["accuracy"] == 3 / 5
