"""Unittest mode: BigCodeBench's evaluation of one program against its TestCases class.

The program and the tests run together as module ``__test__`` (as BigCodeBench does),
the suite under one time limit. Nothing here decides the verdict: every test's start,
outcome and stop goes to the report pipe as an event, and the harness passes the program
only if it saw each of the task's tests start, pass and stop, in unittest's order. The
events say whether they came from unittest's own code (the caller's code object is one
unittest defined before the program ran), and the report says whether the unittest
machinery, this module, builtins or the exits were changed (see _sbx_tamper).
"""

import builtins
import os
import re
import sys
import time
import types
import unittest
import unittest.case
import unittest.suite

import _sbx_tamper
from _sbx_io import TimeLimitExceeded, swallow_io, time_limit
from _sbx_values import encode

_ADDRESS = re.compile(r"0x[0-9a-fA-F]+")
_TestLoader = unittest.TestLoader
_TestCase = unittest.TestCase
_getframe = sys._getframe


def _genuine_code():
    """Code objects of unittest's own functions and methods (its callers of a result)."""
    codes = set()
    for module in (unittest.case, unittest.suite):
        for value in list(vars(module).values()):
            members = vars(value).values() if isinstance(value, type) else [value]
            for member in members:
                if isinstance(member, (staticmethod, classmethod)):
                    member = member.__func__
                if isinstance(member, types.FunctionType):
                    codes.add(member.__code__)
    return frozenset(codes)


_GENUINE = _genuine_code()
_TESTCASE_CALLABLES = frozenset(name for name in dir(_TestCase)
                                if callable(getattr(_TestCase, name, None)))


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


def _name(test):
    if isinstance(test, _TestCase):
        return test.id().split(".")[-1]
    return str(test)[:200]  # a class or module fixture's error holder


class _Reporter(unittest.TestResult):
    """Sends every test event to the report pipe as it happens."""

    def __init__(self, emit, check):
        unittest.TestResult.__init__(self)
        self._emit = emit
        self._check = check

    def _send(self, kind, test, err=None):
        event = {"ev": kind, "t": _name(test)}
        if _getframe(2).f_code not in _GENUINE:
            event["forged"] = True
        if err is not None:
            try:
                event["detail"] = self._exc_info_to_string(err, test)[-2000:]
            except BaseException as exc:
                event["detail"] = f"<traceback failed: {type(exc).__name__}>"
        self._emit(event)

    def startTest(self, test):
        unittest.TestResult.startTest(self, test)
        self._send("start", test)

    def stopTest(self, test):
        unittest.TestResult.stopTest(self, test)
        shadowed = sorted(k for k, v in vars(test).items()
                          if k in _TESTCASE_CALLABLES and callable(v))
        changed = self._check()
        if shadowed or changed:
            self._emit({"ev": "tampered", "t": _name(test),
                        "what": ([f"test.{k}" for k in shadowed] + changed)[:20]})
        self._send("stop", test)

    def addSuccess(self, test):
        unittest.TestResult.addSuccess(self, test)
        self._send("ok", test)

    def addFailure(self, test, err):
        unittest.TestResult.addFailure(self, test, err)
        self._send("fail", test, err)

    def addError(self, test, err):
        unittest.TestResult.addError(self, test, err)
        self._send("error", test, err)

    def addSkip(self, test, reason):
        unittest.TestResult.addSkip(self, test, reason)
        self._send("skip", test)

    def addExpectedFailure(self, test, err):
        unittest.TestResult.addExpectedFailure(self, test, err)
        self._send("xfail", test)

    def addUnexpectedSuccess(self, test):
        unittest.TestResult.addUnexpectedSuccess(self, test)
        self._send("xpass", test)

    def addSubTest(self, test, subtest, err):
        unittest.TestResult.addSubTest(self, test, subtest, err)
        if err is not None:
            self._send("subfail", test, err)


_LOCAL_HOSTS = ("", "localhost", "::1", "0.0.0.0", "::")


def _is_local(host):
    if host is None:
        return True
    if isinstance(host, bytes):
        host = host.decode("ascii", "replace")
    host = str(host)
    return host in _LOCAL_HOSTS or host.startswith("127.")


def _record_network(sink):
    """Record attempts to reach anything but this host's loopback (all fail in the
    sandbox's network namespace): evidence that a task needs the network."""
    def hook(event, args):
        if len(sink) >= 20:
            return
        if event == "socket.getaddrinfo":
            if not _is_local(args[0]):
                sink.append(f"resolve {args[0]!s:.100}")
        elif event == "socket.connect":
            address = args[1]
            if isinstance(address, tuple) and not _is_local(address[0]):
                sink.append(f"connect {address[0]!s:.100}:{address[1] if len(address) > 1 else ''}")
    sys.addaudithook(hook)


def _prepare():
    """BigCodeBench's evaluator's process setup."""
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


def run(payload, channel, _checker=_sbx_tamper.checker, _Loader=_TestLoader):
    _prepare()
    final_check = _checker(True)
    reporter = _Reporter(channel.event, _checker(False))
    module = types.ModuleType("__test__")
    module.__dict__.update({"__builtins__": builtins, "__file__": "__test__.py",
                            "__package__": None, "__doc__": None, "sys": sys, "os": os,
                            "environ": os.environ})
    calls = []
    network = []
    _record_network(network)
    channel.ready()
    try:
        with swallow_io():
            exec(compile(payload["program"], "__test__.py", "exec"), module.__dict__)
            sys.modules["__test__"] = module
            entry = payload.get("entry_point")
            if entry and callable(module.__dict__.get(entry)):
                module.__dict__[entry] = _Recorder(module.__dict__[entry], calls)
            suite = _Loader().loadTestsFromTestCase(module.TestCases)
            with time_limit(payload["timeout"]):
                suite.run(reporter)
        report = {"status": "ran"}
    except TimeLimitExceeded:
        report = {"status": "timeout"}
    except BaseException as exc:
        report = {"status": "error", "error": f"{type(exc).__name__}: {str(exc)[:500]}"}
    report["calls"] = calls
    report["network"] = network[:20]
    report["tampered"] = final_check()[:20]
    return report
