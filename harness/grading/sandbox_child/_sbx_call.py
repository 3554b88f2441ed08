"""Call mode: load a program, call one function on each input, report what it returned.

The child never sees expected outputs; the harness compares. Used for evalplus
(HumanEval+/MBPP+) and LiveCodeBench functional (LeetCode ``Solution``) tests.
"""

import faulthandler
import importlib
import json
import shutil  # noqa: F401 - imported in the zygote once, changed by the guard per child
import subprocess  # noqa: F401
import sys
import time
import types

from _sbx_io import TimeLimitExceeded, swallow_io, time_limit
from _sbx_values import decode, encode_output

_EVALPLUS_DISABLED = {
    "os": ("kill", "system", "putenv", "remove", "removedirs", "rmdir", "fchdir", "setuid",
           "fork", "forkpty", "killpg", "rename", "renames", "truncate", "replace",
           "unlink", "fchmod", "fchown", "chmod", "chown", "chroot", "lchflags", "lchmod",
           "lchown", "getcwd", "chdir"),
    "shutil": ("rmtree", "move", "chown"),
    "subprocess": ("Popen",),
    "builtins": ("exit", "quit", "open", "help"),
}
_EVALPLUS_BLOCKED_MODULES = ("ipdb", "joblib", "resource", "psutil", "tkinter")


def evalplus_guard():
    """What evalplus' reliability_guard does to the process before running a program: not
    a security measure here (the sandbox is), but part of its semantics (a program that
    calls ``open`` fails under evalplus, so it fails here too)."""
    import os

    faulthandler.disable()
    os.environ["OMP_NUM_THREADS"] = "1"
    for module_name, names in _EVALPLUS_DISABLED.items():
        module = importlib.import_module(module_name)
        for name in names:
            setattr(module, name, None)
    for name in _EVALPLUS_BLOCKED_MODULES:
        sys.modules[name] = None


def _describe(exc):
    return type(exc).__name__


def _load(payload, channel):
    """(callable, None) or (None, error) for the program's entry point."""
    entry = payload["entry"]
    code = payload["program"]
    channel.ready()
    try:
        with swallow_io():
            if entry.get("namespace") == "module":
                module = types.ModuleType(entry.get("module_name", "tmp_sol"), "")
                namespace = module.__dict__
            else:
                namespace = {}
            compiled = compile(code, payload.get("filename", "<program>"), "exec")
            limit = payload.get("load_time_limit")
            if limit:
                with time_limit(limit):
                    exec(compiled, namespace)
            else:
                exec(compiled, namespace)
            if entry.get("solution_class") and "class Solution" in code:
                target = namespace["Solution"]()
                fn = getattr(target, entry["name"])
            else:
                fn = namespace[entry["name"]]
    except TimeLimitExceeded:
        return None, "timeout while loading"
    except BaseException as exc:
        return None, f"{_describe(exc)} while loading: {str(exc)[:300]}"
    if not callable(fn):
        return None, "entry point {!r} is not callable".format(entry["name"])
    return fn, None


def _run_phase(payload, phase, channel):
    fn, error = _load(payload, channel)
    if error is not None:
        return {"load_error": error}
    outputs, times = [], []
    quiet = payload.get("swallow_io", True)
    tuple_to_list = payload.get("tuple_to_list", False)
    for args_tree, limit in zip(phase["inputs"], phase["time_limits"], strict=False):
        args = decode(args_tree)
        start = time.time()
        try:
            with time_limit(limit):
                if quiet:
                    with swallow_io():
                        out = fn(*args)
                else:
                    out = fn(*args)
        except TimeLimitExceeded:
            outputs.append({"timeout": True})
            break
        except BaseException as exc:
            times.append(time.time() - start)
            outputs.append({"exc": _describe(exc)})
            continue
        times.append(time.time() - start)
        if tuple_to_list and type(out) is tuple:
            out = list(out)
        try:
            outputs.append({"v": encode_output(out)})
        except BaseException as exc:
            outputs.append({"exc": "EncodeError:" + _describe(exc)})
    # Sent as JSON text: the harness hashes it for the voting key and decodes it at C speed.
    return {"outputs_json": json.dumps(outputs, separators=(",", ":"), allow_nan=False),
            "times": times}


def run(payload, channel):
    if payload.get("guard") == "evalplus":
        evalplus_guard()
    return {"phases": [_run_phase(payload, phase, channel) for phase in payload["phases"]]}
