"""The hostile-program corpus, graded through the real tasks: every hostile program is a
fail or a timeout, the harness and the machine are unharmed, and grading goes on (an
honest program in the same batch still passes)."""

from __future__ import annotations

import os
import socket
import threading

import pytest

from harness.grading.sandbox.core import CHILD_DIR
from harness.registry import TASKS

AS_ROOT = os.geteuid() == 0
ADD = "def add(x: int, y: int):\n"
CHILD_FILE = CHILD_DIR / "_sbx_call.py"  # the harness' own runner code


@pytest.fixture(scope="module")
def humaneval(shared_data, code_cache):
    task = TASKS.build("humanevalplus", {"workers": 2}, data_dir=shared_data)
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
        "delete inside": ADD + (
            "    import posix\n"
            "    fd = posix.open('mine.txt', posix.O_WRONLY | posix.O_CREAT, 0o600)\n"
            "    posix.close(fd)\n"
            "    assert 'mine.txt' in posix.listdir('.')\n"
            "    posix.unlink('mine.txt')\n"
            "    assert 'mine.txt' not in posix.listdir('.')\n"
            "    try:\n        posix.rmdir(posix.getcwd())\n    except OSError:\n"
            "        pass\n    return None\n"),
        "delete outside": ADD + (
            "    import posix\n"
            f"    for path in ({outside!r}, {str(CHILD_FILE)!r}):\n"
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
        "per-input timer disabled": ("import signal, time\nslow = [True]\n" + ADD +
                                     "    signal.setitimer(signal.ITIMER_REAL, 0)\n"
                                     "    signal.signal(signal.SIGALRM, signal.SIG_IGN)\n"
                                     "    if slow.pop() if slow else False:\n"
                                     "        time.sleep(2.5)  # 2.5x the 1 s limit\n"
                                     "    return x + y\n"),
        "disk filler": "filled = []\n" + ADD + (
                              "    import posix\n    if filled:\n"
                              "        return x + y if filled[0] == 700 else None\n"
                              "    written = 0\n    try:\n"
                              "        for i in range(700):\n"
                              "            fd = posix.open('f%d' % i, posix.O_WRONLY | "
                              "posix.O_CREAT, 0o600)\n"
                              "            posix.write(fd, b'x' * (1 << 20))\n"
                              "            posix.close(fd)\n"
                              "            written += 1\n"
                              "    except OSError:\n        pass\n"
                              "    filled.append(written)  # 700 MB in 1 MB files: no cap\n"
                              "    return x + y if written == 700 else None\n"),
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
    server.settimeout(0.2)
    accepted: list[object] = []
    listening = threading.Event()

    def accept() -> None:  # records any connection a program makes, until the test ends
        listening.set()
        while server.fileno() != -1:
            try:
                accepted.append(server.accept())
            except TimeoutError:
                continue
            except OSError:
                return

    watcher = threading.Thread(target=accept, daemon=True)
    watcher.start()
    listening.wait(5)
    corpus = hostile_programs(str(outside), server.getsockname()[1])
    honest = ADD + "    return x + y\n"
    texts = [*corpus.values(), honest]
    samples = [task.prepare(problem, i, text) for i, text in enumerate(texts)]
    task.grader.timeout_per_task = 5.0  # keep the infinite loops short
    grades = task.grade(problem, samples)
    server.close()
    watcher.join(5)
    verdicts = {name: g for name, g in zip(corpus, grades, strict=False)}
    for name, grade in verdicts.items():
        assert not grade.correct, name
        assert grade.details["status"] in ("fail", "timeout"), (name, grade.details)
    assert grades[-1].correct, grades[-1].details
    assert outside.read_text() == "must survive"
    assert CHILD_FILE.is_file()
    # its own file was created and deleted (the asserts in it held): it failed on its answer
    assert verdicts["delete inside"].details["reason"].endswith("wrong output")
    again = task.grade(problem, [task.prepare(problem, 0, honest)])  # the harness goes on
    assert again[0].correct
    assert not accepted
    if AS_ROOT:  # without uid separation a program could reach the harness
        assert verdicts["kill the parent"].details["status"] == "fail"


BCB_TESTED_TASK = "BigCodeBench/4"


@pytest.fixture(scope="module")
def bigcodebench(shared_data):
    task = TASKS.build("bigcodebench", {"workers": 2, "timeout": 20}, data_dir=shared_data)
    problems = {p.id: p for p in task.load()}
    yield task, problems[BCB_TESTED_TASK]
    task.close()


FRAME_FORGERY = (  # the audit's attack: the driver's nonce and result fd from its frame
    "import sys, os, json, ast\n"
    "f = sys._getframe()\n"
    "while f is not None and 'nonce' not in f.f_locals:\n    f = f.f_back\n"
    "if f is not None:\n"
    "    L = f.f_locals; nonce = L['nonce']; fd = L['fd']\n"
    "    prog = L['job']['payload']['program']\n"
    "    tree = ast.parse(prog)\n"
    "    names = sorted({i.name for c in ast.walk(tree) if isinstance(c, ast.ClassDef)\n"
    "                    for i in c.body if isinstance(i, ast.FunctionDef)\n"
    "                    and i.name.startswith('test')})\n"
    "    body = json.dumps({'result': {'status': 'ran', 'tests_run': len(names),\n"
    "                                  'problems': {}, 'ran': names, 'calls': []},\n"
    "                       'isolation': {}}).encode()\n"
    "    os.write(fd, b'PRMSBX1 ' + nonce.encode() + b' ' + str(len(body)).encode()\n"
    "             + b'\\n' + body)\n"
    "    os._exit(0)\n")
FRAME_FORGERY_ANY_FD = (  # the same frame, on every descriptor, with every nonce-like local
    "import sys, os, json\n"
    "seen = set()\n"
    "f = sys._getframe()\n"
    "while f is not None:\n"
    "    seen.update(v for v in f.f_locals.values() if isinstance(v, str) and len(v) == 32)\n"
    "    f = f.f_back\n"
    "body = json.dumps({'result': {'status': 'ran', 'problems': {}, 'calls': []}}).encode()\n"
    "for nonce in seen or {'0'}:\n"
    "    for fd in range(3, 256):\n"
    "        try:\n"
    "            os.write(fd, b'PRMSBX1 ' + nonce.encode() + b' ' + str(len(body)).encode()\n"
    "                     + b'\\n' + body)\n"
    "        except OSError:\n"
    "            pass\n"
    "os._exit(0)\n")
FAKE_RUN = ("import unittest\n"
            "def run(self, result=None):\n"
            "    result.startTest(self)\n    result.addSuccess(self)\n"
            "    result.stopTest(self)\n    return result\n")


def tampering_programs(wrong: str, reference: str, entry: str) -> dict[str, str]:
    """Wrong programs that try to pass by subverting the test run (each must fail)."""
    return {
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
        "the audit's reporter patch": "import sys\nm = sys.modules['_sbx_unittest']\n"
                                      "m._Result.addFailure = lambda *a: None\n"
                                      "m._Result.addError = lambda *a: None\n" + wrong,
        "every reporter class patched": (
            "import sys\n"
            "for name, m in list(sys.modules.items()):\n"
            "    if name.startswith('_sbx'):\n"
            "        for v in list(vars(m).values()):\n"
            "            if isinstance(v, type) and hasattr(v, 'addFailure'):\n"
            "                v.addFailure = v.addSuccess = lambda *a, **k: None\n"
            "                v.addError = lambda *a, **k: None\n" + wrong),
        "reporter failures sent as successes": (
            "import sys\nm = sys.modules['_sbx_unittest']\n"
            "m._Reporter.addFailure = lambda self, t, e: m._Reporter.addSuccess(self, t)\n"
            "m._Reporter.addError = lambda self, t, e: m._Reporter.addSuccess(self, t)\n"
            + wrong),
        "tamper check neutered, then assertions": (
            "import sys, unittest\n"
            "for name in ('_sbx_unittest', '_sbx_tamper'):\n"
            "    m = sys.modules.get(name)\n"
            "    if m is not None:\n"
            "        m._changed = m.changed = lambda *a, **k: []\n"
            "for n in dir(unittest.TestCase):\n"
            "    if n.startswith('assert'):\n"
            "        setattr(unittest.TestCase, n, lambda *a, **k: None)\n" + wrong),
        "TestSuite.run does nothing": "import unittest\n"
                                      "unittest.TestSuite.run = "
                                      "lambda self, r, debug=False: r\n" + wrong,
        "TestCase.run reports success": FAKE_RUN + "unittest.TestCase.run = run\n" + wrong,
        "TestCase.run code swapped": FAKE_RUN + "unittest.TestCase.run.__code__ = "
                                                "run.__code__\n" + wrong,
        "TextTestResult rewritten": "import unittest\n"
                                    "unittest.TextTestResult.addFailure = "
                                    "unittest.TextTestResult.addSuccess\n"
                                    "unittest.TestResult.addError = lambda *a: None\n" + wrong,
        "assertions shadowed on the test": wrong.replace(
            f"def {entry}(", "def _real(", 1) + (
            f"\ndef {entry}(*args, **kwargs):\n    import sys, unittest\n"
            "    f = sys._getframe(1)\n"
            "    while f is not None:\n"
            "        test = f.f_locals.get('self')\n"
            "        if isinstance(test, unittest.TestCase):\n"
            "            for n in dir(test):\n"
            "                if n.startswith('assert'):\n"
            "                    setattr(test, n, lambda *a, **k: None)\n"
            "        f = f.f_back\n"
            "    return _real(*args, **kwargs)\n"),
        "sys.exit replaced": "import sys\nsys.exit = lambda *a, **k: None\n" + wrong,
        "atexit handler": "import atexit, os\n"
                          "atexit.register(lambda: os.write(1, b'OK\\n'))\n" + wrong,
        "the audit's frame forgery": FRAME_FORGERY + wrong,
        "frame forgery on every descriptor": FRAME_FORGERY_ANY_FD + wrong,
        "sys.exit(0) at load": "import sys\nsys.exit(0)\n" + reference,
        "SystemExit in the call": wrong.replace(f"def {entry}(", "def _real(", 1)
                                  + f"\ndef {entry}(*a, **k):\n    raise SystemExit(0)\n",
        "os._exit(0) in the call": wrong.replace(f"def {entry}(", "def _real(", 1)
                                   + f"\ndef {entry}(*a, **k):\n"
                                     "    import os\n    os._exit(0)\n",
    }


def test_unittest_tampering_never_passes(bigcodebench):
    task, problem = bigcodebench
    reference = task.reference_completions(problem)[0]
    wrong = reference.replace("return dict(count_dict)", "return {}")
    assert wrong != reference
    tampering = tampering_programs(wrong, reference, problem.metadata["entry_point"])
    exit_replaced = "import sys\nsys.exit = lambda *a, **k: None\n" + reference
    texts = [*tampering.values(), exit_replaced, wrong, reference]
    samples = [task.prepare(problem, i, text) for i, text in enumerate(texts)]
    grades = task.grade(problem, samples)
    for name, grade in zip(tampering, grades, strict=False):
        assert not grade.correct, (name, grade.details)
        assert grade.details["status"] in ("fail", "timeout"), (name, grade.details)
    shadowed = grades[list(tampering).index("assertions shadowed on the test")]
    assert any(t.startswith("test.assert") for t in shadowed.details["tampered"])
    # a correct program that changes what it must not is caught too, not only wrong ones
    assert not grades[-3].correct and "sys.exit" in grades[-3].details["tampered"]
    assert not grades[-2].correct and grades[-2].details["status"] == "fail"
    assert grades[-1].correct, grades[-1].details


NETWORK_REFERENCE = ("import urllib.request\n"
                     "def task_func(*args, **kwargs):\n"
                     "    return urllib.request.urlopen('http://example.com/', timeout=5).read()\n")


def test_programs_that_need_the_network_are_told_apart(bigcodebench):
    """A failure after the program tried to reach the network (the sandbox has none) is
    ``needs-network``; tasks check leaves such references out of its pass rate."""
    from harness.pipeline.reference_check import check_references

    task, problem = bigcodebench
    reference = task.reference_completions(problem)[0]
    wrong = reference.replace("return dict(count_dict)", "return {}")
    grades = task.grade(problem, [task.prepare(problem, 0, NETWORK_REFERENCE),
                                  task.prepare(problem, 1, wrong)])
    assert not grades[0].correct and grades[0].details["status"] == "needs-network"
    assert any("example.com" in a for a in grades[0].details["network_attempts"])
    assert grades[1].details["status"] == "fail" and "network_attempts" not in grades[1].details

    class NetworkReferences(type(task)):  # the same task, one reference needing the network
        def reference_completions(self, p):
            return [NETWORK_REFERENCE] if p.id == problem.id else super().reference_completions(p)

    checked = NetworkReferences(task.data_dir, workers=2, timeout=20)
    problems = {p.id: p for p in checked.load()}
    result = check_references(checked, [problems[problem.id], problems["BigCodeBench/5"]],
                              "network")
    checked.close()
    assert result["n"] == 1 and result["passed"] == 1 and result["pass_rate"] == 1.0
    assert [t["problem_id"] for t in result["needs_network_tasks"]] == [problem.id]
