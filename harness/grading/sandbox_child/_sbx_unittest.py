"""Unittest mode: BigCodeBench's evaluation of one program against its TestCases class.

The program and the tests are executed together as module ``__test__`` (as BigCodeBench
does), the suite runs under a time limit, and every test's outcome is reported by name.
Guards against a program that subverts the run: ``unittest.TestCase`` and ``builtins``
are snapshot before the program runs and compared after every test (a change is reported
as tampering), exits and exceptions at load time are failures, and the harness checks the
reported names against the test methods it found itself.
"""

import builtins
import os
import re
import sys
import time
import types
import unittest

from _sbx_io import TimeLimitExceeded, swallow_io, time_limit
from _sbx_values import encode

_ADDRESS = re.compile(r"0x[0-9a-fA-F]+")


def _snapshot():
    return {"TestCase": dict(unittest.TestCase.__dict__),
            "TestResult": dict(unittest.TestResult.__dict__),
            "builtins": dict(builtins.__dict__)}


def _changed(before):
    after = _snapshot()
    changed = []
    for name, items in before.items():
        now = after[name]
        keys = set(items) if name == "builtins" else set(items) | set(now)
        for key in keys:
            if name == "builtins" and key in ("exit", "quit", "_"):
                continue
            if items.get(key, _MISSING) is not now.get(key, _MISSING):
                changed.append(f"{name}.{key}")
    return sorted(changed)


_MISSING = object()


def _subprocess_output_swallowed():
    """BigCodeBench's evaluator makes subprocess.Popen/run capture output by default."""
    import subprocess
    original_popen, original_run = subprocess.Popen, subprocess.run

    def _defaults(kwargs):
        if kwargs.get("capture_output"):
            kwargs.pop("stdout", None)
            kwargs.pop("stderr", None)
        else:
            kwargs.setdefault("stdout", subprocess.PIPE)
            kwargs.setdefault("stderr", subprocess.PIPE)

    def popen(*args, **kwargs):
        _defaults(kwargs)
        return original_popen(*args, **kwargs)

    def run(*args, **kwargs):
        _defaults(kwargs)
        return original_run(*args, **kwargs)

    subprocess.Popen = popen
    subprocess.run = run


def _digest_value(value):
    """The program's return value for voting: plain values exactly, anything else by a
    repr with memory addresses blanked."""
    tree = encode(value)
    if isinstance(tree, dict) and tree.get("$") == "unsupported":
        try:
            text = repr(value)
        except BaseException as exc:
            text = f"<repr failed: {type(exc).__name__}>"
        return {"$": "repr", "type": tree["type"], "v": _ADDRESS.sub("0x?", text)[:20000]}
    return tree


class _Recorder:
    """Wraps the entry point to record what it returned on the inputs the tests use."""

    def __init__(self, fn, sink):
        self.fn = fn
        self.sink = sink

    def __call__(self, *args, **kwargs):
        try:
            out = self.fn(*args, **kwargs)
        except BaseException as exc:
            self.sink.append({"exc": type(exc).__name__})
            raise
        try:
            self.sink.append({"v": _digest_value(out)})
        except BaseException as exc:
            self.sink.append({"exc": "DigestError:" + type(exc).__name__})
        return out


class _Result(unittest.TestResult):
    def __init__(self, before, report):
        unittest.TestResult.__init__(self)
        self._before = before
        self._report = report

    def stopTest(self, test):
        unittest.TestResult.stopTest(self, test)
        changed = _changed(self._before)
        if changed and "tampered" not in self._report:
            self._report["tampered"] = {"after": test.id().split(".")[-1], "what": changed[:20]}


def run(payload):
    os.environ["TZ"] = "UTC"
    time.tzset()
    import faulthandler
    faulthandler.disable()
    builtins.exit = None
    builtins.quit = None
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        plt.close("all")
    except ImportError:
        pass
    _subprocess_output_swallowed()
    before = _snapshot()
    report = {}
    module = types.ModuleType("__test__")
    module.__dict__.update({"__builtins__": builtins, "__file__": "__test__.py",
                            "__package__": None, "__doc__": None, "sys": sys, "os": os,
                            "environ": os.environ})
    calls = []
    try:
        with swallow_io():
            exec(compile(payload["program"], "__test__.py", "exec"), module.__dict__)
            sys.modules["__test__"] = module
            entry = payload.get("entry_point")
            if entry and callable(module.__dict__.get(entry)):
                module.__dict__[entry] = _Recorder(module.__dict__[entry], calls)
            suite = unittest.TestLoader().loadTestsFromTestCase(module.TestCases)
            names = _ran_names(suite)
            result = _Result(before, report)
            with time_limit(payload["timeout"]):
                suite.run(result)
    except TimeLimitExceeded:
        report["status"] = "timeout"
        report["calls"] = calls
        return report
    except BaseException as exc:
        report["status"] = "error"
        report["error"] = f"{type(exc).__name__}: {str(exc)[:500]}"
        report["calls"] = calls
        return report
    tests = {}
    for test, trace in result.failures:
        tests[test.id().split(".")[-1]] = "failure: " + trace[-2000:]
    for test, trace in result.errors:
        tests[test.id().split(".")[-1]] = "error: " + trace[-2000:]
    for test, _reason in result.skipped:
        tests.setdefault(test.id().split(".")[-1], "skipped")
    report.update({"status": "ran", "tests_run": result.testsRun, "problems": tests,
                   "ran": sorted(names), "calls": calls})
    changed = _changed(before)
    if changed and "tampered" not in report:
        report["tampered"] = {"after": "end", "what": changed[:20]}
    return report


def _ran_names(suite):
    names = []
    for item in suite:
        if isinstance(item, unittest.TestSuite):
            names.extend(_ran_names(item))
        else:
            names.append(item.id().split(".")[-1])
    return names
