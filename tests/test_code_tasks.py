"""Code task adapters: loaders on the real files (and LiveCodeBench fixtures), steps,
program extraction, evalplus-style lines, voting classes, pickle-free private tests."""

from __future__ import annotations

import base64
import json
import pickle
import zlib
from pathlib import Path

import pytest

from harness.errors import ConfigError, InputError
from harness.grading.runners.safe_pickle import (
    UnsafePickle,
    decode_compressed_tests,
    pickled_string,
)
from harness.registry import TASKS
from harness.tasks.code_common import find_program, split_code_steps
from harness.tasks.livecodebench import release_files

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.mark.parametrize(("name", "options", "count", "first"), [
    ("humanevalplus", {}, 164, "HumanEval/0"),
    ("mbppplus", {}, 378, "Mbpp/2"),
    ("mbppplus", {"version": "v0.1.0"}, 399, "Mbpp/2"),
    ("bigcodebench", {}, 1140, "BigCodeBench/0"),
    ("bigcodebench-hard", {"split": "instruct"}, 148, None),
])
def test_loaders_read_the_mirror(shared_data, name, options, count, first):
    task = TASKS.build(name, options, data_dir=shared_data)
    problems = task.load()
    assert len(problems) == count
    assert len({p.id for p in problems}) == count
    if first:
        assert problems[0].id == first
    assert all(p.domain == "code" and p.prompt[0]["role"] == "user" for p in problems)
    identity = task.identity()
    assert identity["file"]["source"] == "mirror" and len(identity["file"]["sha256"]) == 64


def test_mbpp_inputs_are_converted_as_evalplus_does(shared_data):
    task = TASKS.build("mbppplus", data_dir=shared_data)
    task.load()
    problem = task._problems["Mbpp/2"]  # similar_elements takes two tuples
    assert all(isinstance(a, tuple) for a in problem.base_inputs[0])
    assert isinstance(task._problems["Mbpp/124"].base_inputs[0][1], complex)


def test_unknown_version_and_bad_rows_are_clear_errors(shared_data, tmp_path):
    with pytest.raises(ConfigError, match="unknown version 'v9'"):
        TASKS.build("mbppplus", {"version": "v9"}, data_dir=shared_data)
    bad = tmp_path / "humanevalplus" / "v0.1.10"
    bad.mkdir(parents=True)
    (bad / "HumanEvalPlus.jsonl.gz").write_bytes(b"")
    import gzip
    with gzip.open(bad / "HumanEvalPlus.jsonl.gz", "wt") as handle:
        handle.write(json.dumps({"task_id": "HumanEval/0", "prompt": "x"}) + "\n")
    with pytest.raises(InputError) as info:
        TASKS.build("humanevalplus", data_dir=tmp_path).load()
    assert info.value.line == 1 and info.value.field == "entry_point"


def test_livecodebench_releases_dates_and_both_test_kinds():
    assert release_files("release_v2") == ("test.jsonl", "test2.jsonl")
    assert release_files("v2_v4") == ("test2.jsonl", "test3.jsonl", "test4.jsonl")
    with pytest.raises(ConfigError):
        release_files("release_v9")
    task = TASKS.build("livecodebench", {"release": "release_v1"}, data_dir=FIXTURES)
    problems = {p.id: p for p in task.load()}
    assert sorted(problems) == ["9001", "fx101_a", "fx101_b"]
    stdin = task.livecodebench_problem(problems["fx101_a"])
    assert stdin.func_name is None and len(stdin.tests) == 5  # 2 public + 3 decompressed
    assert stdin.tests[2].input == "4\n10 20 30 40\n"
    functional = task.livecodebench_problem(problems["9001"])
    assert functional.func_name == "pairSum" and functional.tests[0].testtype == "functional"
    later = TASKS.build("livecodebench", {"release": "release_v2", "start_date": "2024-06-01",
                                          "end_date": "2024-12-31"}, data_dir=FIXTURES)
    assert [p.id for p in later.load()] == ["fx202_a"]


def test_livecodebench_grading(tmp_path):
    task = TASKS.build("livecodebench", {"release": "release_v1", "workers": 2}, data_dir=FIXTURES)
    problems = {p.id: p for p in task.load()}
    sums = problems["fx101_a"]
    texts = ["```python\nn = int(input())\na = list(map(int, input().split()))\n"
             "print(sum(a))\nprint(max(a))\n```",
             "import sys\n\ndef main():\n    d = sys.stdin.read().split()\n"
             "    a = list(map(int, d[1:]))\n    print(sum(a), max(a), sep='\\n')\n\n"
             "if __name__ == '__main__':\n    main()\n",
             "print(8)\nprint(5)\n",
             "Sorry, I cannot solve this."]
    grades = task.grade(sums, [task.prepare(sums, i, t) for i, t in enumerate(texts)])
    assert [g.correct for g in grades] == [True, True, False, False]
    assert grades[0].vote_key == grades[1].vote_key != grades[2].vote_key
    assert grades[3].vote_key is None and grades[3].details["status"] == "no-code"
    average = problems["fx101_b"]  # "1.500000" equals "1.5" as decimals
    text = "n = int(input())\na = list(map(int, input().split()))\nprint('%.6f' % (sum(a) / n))"
    assert task.grade(average, [task.prepare(average, 0, text)])[0].correct
    pairs = problems["9001"]
    good = ("class Solution:\n    def pairSum(self, nums, target):\n"
            "        for i in range(len(nums)):\n            for j in range(i + 1, len(nums)):\n"
            "                if nums[i] + nums[j] == target:\n                    return (i, j)\n"
            "        return [-1, -1]\n")
    bad = "class Solution:\n    def pairSum(self, nums, target):\n        return [0, 1]\n"
    grades = task.grade(pairs, [task.prepare(pairs, 0, good), task.prepare(pairs, 1, bad)])
    assert [g.correct for g in grades] == [True, False]


def test_private_tests_are_decoded_without_running_pickle(tmp_path):
    rows = [{"input": "1\n", "output": "1\n", "testtype": "stdin"}]
    packed = base64.b64encode(zlib.compress(pickle.dumps(json.dumps(rows)))).decode()
    assert json.loads(decode_compressed_tests(packed)) == rows
    marker = tmp_path / "pwned"

    class Exploit:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    for protocol in (0, 2, 4, 5):
        with pytest.raises(UnsafePickle):
            pickled_string(pickle.dumps(Exploit(), protocol=protocol))
        with pytest.raises(UnsafePickle):
            pickled_string(pickle.dumps(["a", "b"], protocol=protocol))
        assert pickled_string(pickle.dumps("plain text", protocol=protocol)) == "plain text"
    assert not marker.exists()


@pytest.mark.parametrize("text", [
    "",
    "def f(x):\n    return x\n\n\ndef g():\n    pass\n",
    "First I think.\n\nThen:\n```python\ndef f():\n\n    return 1\n```\nDone.\n\nBye",
    "```\ncode\n```",
    "Plan:\n\n1. a\n2. b\n\n```py\nx = 1\n```\n\n```python\ny = 2\n```\n",
    "not code at all (\n\nsecond paragraph",
])
def test_steps_join_back_exactly(text):
    steps = split_code_steps(text)
    assert "".join(steps) == text
    assert all(steps) if text else steps == [""]  # an empty response is one empty step


def test_code_blocks_are_single_steps():
    text = "Reasoning.\n\n```python\ndef f():\n\n    return 1\n```\nAfter.\n"
    steps = split_code_steps(text)
    assert steps == ["Reasoning.\n\n", "```python\ndef f():\n\n    return 1\n```\n", "After.\n"]
    code = "import math\n\ndef f(x):\n    y = 1\n\n    return y\n\ndef g():\n    pass\n"
    assert split_code_steps(code) == ["import math\n\n", "def f(x):\n    y = 1\n\n"
                                      "    return y\n\n", "def g():\n    pass\n"]


def test_find_program():
    assert find_program("```python\ndef f(): return 1\n```\n```python\nprint(2)\n```",
                        entry_point="f") == "def f(): return 1\n"
    assert find_program("```python\nx = 1\n```\n```\ny = 2\n```") == "y = 2\n"
    assert find_program("    return x + 1\n", "def f(x):\n") == "def f(x):\n    return x + 1\n"
    assert find_program("I don't know.") is None


def test_evalplus_lines_grade_like_evalplus(shared_data, code_cache, tmp_path, capsys):
    from helpers import run_cli, write_jsonl

    task = TASKS.build("humanevalplus", data_dir=shared_data)
    prompt = {p.id: p for p in task.load()}["HumanEval/53"].metadata["prompt"]
    samples = write_jsonl(tmp_path / "samples.jsonl", [
        {"task_id": "HumanEval/53", "completion": "    return x + y\n"},
        {"task_id": "HumanEval/53", "solution": prompt + "    return y + x\n"},
        {"task_id": "HumanEval/53", "solution": prompt + "    return x - y\n"},
        {"task_id": "HumanEval/53", "completion": "    return x +\n"},
        {"problem_id": "HumanEval/53", "completion": "```python\ndef add(x, y):\n"
                                                     "    return x + y\n```"},
        # evalplus runs these verbatim: no code-block extraction, so they fail to load
        {"task_id": "HumanEval/53", "solution": "```python\n" + prompt + "    return x + y\n```"},
        {"task_id": "HumanEval/53", "completion": "```python\n    return x + y\n```"},
        # and the verbatim text is what runs: a later definition wins, as in evalplus
        {"task_id": "HumanEval/53", "solution": prompt + "    return x + y\n\n"
                                                 "def add(x, y):\n    return 0\n"},
    ])
    out = tmp_path / "graded.jsonl"
    status, stdout, _ = run_cli(["grade", "humanevalplus", samples, "--out", out,
                                 "--data-dir", shared_data, "--option", "workers=2"], capsys)
    assert status == 0
    summary = json.loads(stdout.strip().splitlines()[-1])
    assert summary["n_samples"] == 8 and summary["n_correct"] == 3
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["correct"] for r in rows] == [True, True, False, False, True, False, False, False]
    keys = [r["vote_key"] for r in rows]
    assert keys[0] == keys[1] == keys[4] != keys[2]
    assert keys[3] is None and keys[5] is None and keys[6] is None  # no outputs: abstain
    assert "SyntaxError" in rows[5]["detail"]["reason"]


def test_livecodebench_programs_cannot_fake_their_results():
    task = TASKS.build("livecodebench", {"release": "release_v1", "workers": 2}, data_dir=FIXTURES)
    problems = {p.id: p for p in task.load()}
    sums, pairs = problems["fx101_a"], problems["9001"]
    solve = ("n = int(input())\na = list(map(int, input().split()))\n"
             "print(sum(a))\nprint(max(a))\n")
    forged_report = ("import os\nfor fd in range(3, 256):\n    try:\n"
                     "        os.write(fd, b'2\\n{}' + b'13\\n{\"final\": {}}')\n"
                     "    except OSError:\n        pass\n")
    stdio = {
        "correct": solve,
        "answer written past the captured stdout": solve.replace(
            "print(sum(a))\nprint(max(a))\n",
            "import os\nos.write(1, f'{sum(a)}\\n{max(a)}\\n'.encode())\n"),
        "forged report": forged_report + solve.replace("print(sum(a))", "print(0)"),
        "exit before printing": "import os\nos._exit(0)\n" + solve,
    }
    grades = task.grade(sums, [task.prepare(sums, i, t) for i, t in enumerate(stdio.values())])
    assert [g.correct for g in grades] == [True, False, False, False], \
        [(n, g.details) for n, g in zip(stdio, grades, strict=True)]
    lying = ("class Anything:\n    def __eq__(self, other):\n        return True\n"
             "    __hash__ = None\n\nclass Solution:\n"
             "    def pairSum(self, nums, target):\n        return Anything()\n")
    tuple_subclass = ("class T(list):\n    def __eq__(self, other):\n        return True\n"
                      "    __hash__ = None\n\nclass Solution:\n"
                      "    def pairSum(self, nums, target):\n        return T([0, 1])\n")
    grades = task.grade(pairs, [task.prepare(pairs, 0, lying),
                                task.prepare(pairs, 1, tuple_subclass),
                                task.prepare(pairs, 2, forged_report + lying)])
    assert [g.correct for g in grades] == [False, False, False]
    task.close()


def test_a_verdict_close_to_its_time_limit_is_flagged(shared_data, code_cache):
    task = TASKS.build("humanevalplus", {"workers": 1}, data_dir=shared_data)
    problem = {p.id: p for p in task.load()}["HumanEval/53"]
    slow_once = ("def add(x: int, y: int):\n    import time\n"
                 "    if not hasattr(add, 'slept'):\n        add.slept = True\n"
                 "        time.sleep(0.85)\n    return x + y\n")
    fast = "def add(x: int, y: int):\n    return x + y\n"
    slow, quick = task.grade(problem, [task.prepare(problem, 0, slow_once),
                                       task.prepare(problem, 1, fast)])
    task.close()
    assert "timing_borderline" not in quick.details
    if slow.correct:  # on a loaded machine the 1 s floor may have been crossed instead
        flag = slow.details["timing_borderline"]
        # base and plus inputs run in separate processes (wall_s is two sleeps), so the first
        # input of each phase sleeps: whichever came closer to its 1 s limit is flagged
        assert flag["phase"] in ("base", "plus") and flag["input"] == 0
        assert flag["share"] >= 0.8 and flag["limit_s"] == 1.0
    else:
        assert "time limit exceeded" in slow.details["reason"]


@pytest.mark.parametrize("name", ["humanevalplus", "mbppplus"])
def test_the_reasoning_prompt_style_asks_for_prose_steps_before_the_code(shared_data, name):
    """Style ``reasoning`` (for Monte Carlo code labels: a lone code block is one step, with
    no prefix to complete) keeps the function stub and asks for paragraphs first; an unknown
    style names the known ones."""
    task = TASKS.build(name, {}, data_dir=shared_data)
    problem = task.load()[0]
    default = task.prompt(problem)[0]["content"]
    reasoning = task.prompt(problem, "reasoning")[0]["content"]
    stub = problem.metadata["prompt"]
    assert stub in default and stub in reasoning and reasoning != default
    assert "step by step" in reasoning and "blank lines" in reasoning
    text = ("I loop over the items.\n\nI return the count.\n\n"
            "```python\ndef f():\n    return 1\n```\n")
    assert split_code_steps(text) == ["I loop over the items.\n\n", "I return the count.\n\n",
                                      "```python\ndef f():\n    return 1\n```\n"]
    with pytest.raises(ConfigError, match="default, chat, reasoning, raw"):
        task.prompt(problem, "cot")


@pytest.mark.parametrize("text, want", [
    ("Here it is.\n\n```python\ndef f(x, y):\n    total = 0\n    for i in range(\n"
     "        x):\n        total += i\n    # done\n    return total\n```\n",
     ["Here it is.\n\n", "```python\ndef f(x, y):\n", "    total = 0\n",
      "    for i in range(\n        x):\n        total += i\n    # done\n",
      "    return total\n```\n"]),
    ("```python\nimport re\n\ndef g(s):\n\treturn re.sub('a', 'b', s)\n```\n",
     ["```python\nimport re\n\n", "def g(s):\n", "\treturn re.sub('a', 'b', s)\n```\n"]),
    ("no code at all\n\nstill none\n", ["no code at all\n\n", "still none\n"]),
])
def test_code_statement_steps_cut_blocks_at_statements_and_join_back(text, want):
    """``steps: code-statements`` (Monte Carlo code labels): a block is cut before each
    top-level or body statement, never inside brackets or before a comment or the fence."""
    from harness.tasks.code_common import split_code_statements

    assert split_code_statements(text) == want
    assert "".join(split_code_statements(text)) == text
