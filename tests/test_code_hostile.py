"""The hostile-program corpus, graded through the real tasks: every hostile program is a
fail or a timeout, the harness and the machine are unharmed, and grading goes on (an
honest program in the same batch still passes)."""

from __future__ import annotations

import os
import socket
import threading

import pytest

from harness.build import build_task

AS_ROOT = os.geteuid() == 0
ADD = "def add(x: int, y: int):\n"


@pytest.fixture(scope="module")
def humaneval(shared_data, code_cache):
    task = build_task("humanevalplus", shared_data, workers=2)
    problems = {p.id: p for p in task.load()}
    yield task, problems["HumanEval/53"]
    task.close()


def hostile_programs(outside: str, port: int) -> dict[str, str]:
    """Each program defines ``add`` (HumanEval/53) and misbehaves. Module ``posix`` is
    used where evalplus' guard would otherwise stop the attempt, so the sandbox is what
    is tested."""
    return {
        "infinite loop": ADD + "    while True:\n        pass\n",
        "fork bomb": "import posix\nwhile True:\n    try:\n        posix.fork()\n"
                     "    except OSError:\n        pass\n" + ADD + "    return x + y\n",
        "memory bomb": ADD + "    hog = []\n    while True:\n"
                       "        hog.append(bytearray(1 << 27))\n",
        "output flood": ADD + "    import posix\n    while True:\n"
                        "        posix.write(1, b'x' * 65536)\n",
        "delete inside and outside": ADD + (
            "    import posix\n"
            "    open('own.txt', 'w').close() if False else None\n"
            f"    for path in ('job.json', {outside!r}):\n"
            "        try:\n            posix.unlink(path)\n        except OSError:\n"
            "            pass\n    return None\n"),
        "socket": ADD + ("    import socket\n"
                         f"    socket.create_connection(('127.0.0.1', {port}), timeout=2)\n"
                         "    return x + y\n"),
        "sys.exit(0) before the asserts": "import sys\nsys.exit(0)\n" + ADD +
                                          "    return x + y\n",
        "sys.exit(0) in the call": ADD + "    import sys\n    sys.exit(0)\n",
        "os._exit(0) in the call": ADD + "    import posix\n    posix._exit(0)\n",
        "__eq__ always true": ("class Anything:\n    def __eq__(self, other):\n"
                               "        return True\n    __hash__ = None\n" + ADD +
                               "    return Anything()\n"),
        "int subclass with lying __eq__": ("class Int(int):\n    def __eq__(self, other):\n"
                                           "        return True\n    __hash__ = int.__hash__\n"
                                           + ADD + "    return Int(0)\n"),
        "kill the parent": ADD + ("    import posix\n    try:\n"
                                  f"        posix.kill(posix.getppid(), 9)\n"
                                  f"        posix.kill({os.getpid()}, 9)\n"
                                  "    except OSError:\n        pass\n    return 0\n"),
        "fake results": ("import posix\nprint('PASS: all tests passed')\n"
                         "for fd in range(3, 256):\n    try:\n"
                         "        posix.write(fd, b'PRMSBX1 0 2\\n{}')\n"
                         "    except OSError:\n        pass\n" + ADD + "    return -1\n"),
        "tamper with the driver": ("import sys\n"
                                   "for name, module in list(sys.modules.items()):\n"
                                   "    if name.startswith('_sbx'):\n"
                                   "        for attr in ('encode', 'loads', 'dumps'):\n"
                                   "            if hasattr(module, attr):\n"
                                   "                setattr(module, attr, lambda *a, **k: 0)\n"
                                   + ADD + "    return x - y\n"),
    }


def test_hostile_programs_fail_and_the_run_goes_on(humaneval, tmp_path):
    task, problem = humaneval
    outside = tmp_path / "outside.txt"
    outside.write_text("must survive")
    tmp_path.chmod(0o755)
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    accepted: list[object] = []
    threading.Thread(target=lambda: accepted.append(server.accept()), daemon=True).start()
    corpus = hostile_programs(str(outside), server.getsockname()[1])
    honest = ADD + "    return x + y\n"
    texts = [*corpus.values(), honest]
    samples = [task.prepare(problem, i, text) for i, text in enumerate(texts)]
    task.grader.timeout_per_task = 5.0  # keep the infinite loops short
    grades = task.grade(problem, samples)
    server.close()
    verdicts = {name: g for name, g in zip(corpus, grades, strict=False)}
    for name, grade in verdicts.items():
        assert not grade.correct, name
        assert grade.details["status"] in ("fail", "timeout"), (name, grade.details)
    assert grades[-1].correct, grades[-1].details
    assert outside.read_text() == "must survive"
    assert not accepted
    if AS_ROOT:  # without uid separation a program could reach the harness
        assert verdicts["kill the parent"].details["status"] == "fail"


BCB_TESTED_TASK = "BigCodeBench/4"


@pytest.fixture(scope="module")
def bigcodebench(shared_data):
    task = build_task("bigcodebench", shared_data, workers=2, timeout=20)
    problems = {p.id: p for p in task.load()}
    yield task, problems[BCB_TESTED_TASK]
    task.close()


def test_unittest_tampering_never_passes(bigcodebench):
    task, problem = bigcodebench
    reference = task.reference_completions(problem)[0]
    wrong = reference.replace("return dict(count_dict)", "return {}")
    assert wrong != reference
    tampering = {
        "patched assertions": "import unittest\nfor name in dir(unittest.TestCase):\n"
                              "    if name.startswith('assert'):\n"
                              "        setattr(unittest.TestCase, name, lambda *a, **k: None)\n"
                              + wrong,
        "empty suite": "import unittest\n"
                       "unittest.TestLoader.loadTestsFromTestCase = "
                       "lambda self, cls: unittest.TestSuite()\n" + wrong,
        "result rewritten": "import unittest\n"
                            "unittest.TestResult.addFailure = lambda *a: None\n"
                            "unittest.TestResult.addError = lambda *a: None\n" + wrong,
        "sys.exit(0) at load": "import sys\nsys.exit(0)\n" + reference,
        "os._exit(0) in the call": reference.replace("return dict(count_dict)",
                                                     "import os; os._exit(0)"),
    }
    texts = [*tampering.values(), reference]
    samples = [task.prepare(problem, i, text) for i, text in enumerate(texts)]
    grades = task.grade(problem, samples)
    for name, grade in zip(tampering, grades, strict=False):
        assert not grade.correct, (name, grade.details)
    assert grades[-1].correct, grades[-1].details
