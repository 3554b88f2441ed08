"""Script and probe modes: run a program as ``__main__`` and report how it ended; report
the interpreter and which modules it can import (no untrusted code)."""

import os
import sys


def probe(payload, channel):
    import importlib.util
    found = {}
    for name in payload.get("modules", []):
        try:
            found[name] = importlib.util.find_spec(name) is not None
        except (ImportError, ValueError):
            found[name] = False
    channel.ready()
    return {"python": sys.version, "modules": found, "uid": os.getuid(), "cwd": os.getcwd()}


def script(payload, channel):
    namespace = {"__name__": "__main__", "__file__": "program.py"}
    channel.ready()
    try:
        exec(compile(payload["program"], "program.py", "exec"), namespace)
    except SystemExit as exc:
        return {"exit": "SystemExit", "code": str(exc.code)}
    except BaseException as exc:
        return {"exit": "exception", "error": type(exc).__name__ + ": " + str(exc)[:500]}
    return {"exit": "normal"}
