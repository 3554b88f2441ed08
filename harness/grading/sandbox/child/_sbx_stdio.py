"""Stdio mode: run a stdin/stdout program on each input the way LiveCodeBench's runner
does, and report the text it printed (the harness normalises and compares).

LiveCodeBench strips a trailing ``if __name__ == '__main__':`` guard (keeping its body),
moves every import to the top and wraps the remaining statements in a function that is
called once per test with ``sys.stdin``/``open`` fed the input and ``sys.stdout``
captured; the program also gets a fixed preamble of imports.
"""

import ast
import builtins
import contextlib
import io
import os
import sys
import types

from _sbx_io import LineFedStdin, TimeLimitExceeded, time_limit


def _strip_main_guard(code):
    try:
        tree = ast.parse(code)
        last = tree.body[-1]
        if isinstance(last, ast.If) and \
                ast.unparse(last.test).strip() == "__name__ == '__main__'":
            return ast.unparse(tree.body[:-1]) + "\n" + ast.unparse(last.body)
    except Exception:
        pass
    return code


def wrap_program(code, preamble):
    """The module text LiveCodeBench executes for a stdin/stdout program."""
    code = _strip_main_guard(code)
    try:
        tree = ast.parse(code)
        imports = [s for s in tree.body if isinstance(s, (ast.Import, ast.ImportFrom))]
        others = [s for s in tree.body if not isinstance(s, (ast.Import, ast.ImportFrom))]
        function = ast.FunctionDef(
            name="wrapped_function",
            args=ast.arguments(posonlyargs=[], args=[], kwonlyargs=[], kw_defaults=[],
                               defaults=[]),
            body=others, decorator_list=[], lineno=-1)
        return preamble + "\n" + ast.unparse(imports) + "\n" + ast.unparse(function)
    except Exception:
        return code


def _fake_open(text):
    """``open(...)`` reads the test input, as LiveCodeBench's mocked ``open`` does."""
    return lambda *args, **kwargs: io.StringIO(text)


class _CappedCapture(io.StringIO):
    """The captured stdout of one input; past ``room`` characters the job ends at once
    (``stop``), whatever the program does with exceptions."""

    def __init__(self, room, stop):
        io.StringIO.__init__(self)
        self._room = room
        self._stop = stop

    def write(self, text):
        self._room -= len(text)
        if self._room < 0:
            self._stop()
        return io.StringIO.write(self, text)


def _stopper(channel, outputs):
    def stop():
        channel.event({"final": {"outputs": [*outputs, {"exc": "OutputLimitExceeded"}]}})
        os._exit(0)
    return stop


def run(payload, channel):
    channel.ready()
    code = wrap_program(payload["program"], payload["preamble"])
    limit = payload["time_limit"]
    module = types.ModuleType("tmp_sol", "")
    try:
        with time_limit(limit):
            exec(compile(code, "<program>", "exec"), module.__dict__)
        fn = module.__dict__["wrapped_function"]
    except TimeLimitExceeded:
        return {"load_error": "timeout while loading"}
    except BaseException as exc:
        return {"load_error": f"{type(exc).__name__} while loading: {str(exc)[:300]}"}
    outputs = []
    real_open = builtins.open
    room = channel.limits["capture_bytes"]
    stop = _stopper(channel, outputs)
    for text in payload["inputs"]:
        saved = sys.stdin, sys.stdout
        captured = _CappedCapture(room, stop)
        sys.stdin = LineFedStdin(text)
        sys.stdout = captured
        builtins.open = _fake_open(text)
        outcome = None
        try:
            with time_limit(limit), contextlib.suppress(SystemExit):
                fn()
        except TimeLimitExceeded:
            outcome = {"timeout": True}
        except BaseException as exc:
            outcome = {"exc": type(exc).__name__}
        finally:
            sys.stdin, sys.stdout = saved
            builtins.open = real_open
        if outcome is None:
            outcome = {"stdout": captured.getvalue()}
        outputs.append(outcome)
        if "timeout" in outcome:
            break
    return {"outputs": outputs}
