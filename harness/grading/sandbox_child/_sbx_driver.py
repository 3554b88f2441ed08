"""Entry point of the sandbox child: ``python -I _sbx_driver.py JOB.json``.

Reads its job (then deletes the file), confines itself (see _sbx_isolate), runs the
requested mode and writes ONE framed result to a pipe only it was given:
``PRMSBX1 <nonce> <length>\\n<json>``. The harness accepts nothing else: a program that
exits early, prints to stdout or writes stray bytes to that pipe leaves no valid frame.
"""

import contextlib
import json
import os
import random
import sys

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, _HERE)
import _sbx_isolate  # noqa: E402

_write = os.write
_close = os.close
_exit = os._exit
_dumps = json.dumps


def _relocate(fd):
    """Move the result pipe to an unpredictable descriptor number."""
    for _ in range(50):
        target = random.randint(20, 199)
        try:
            os.fstat(target)
        except OSError:
            os.dup2(fd, target, inheritable=False)
            os.close(fd)
            return target
    return fd


def _send(fd, nonce, payload):
    body = _dumps(payload, separators=(",", ":"), allow_nan=False).encode("utf-8")
    data = b"PRMSBX1 " + nonce.encode("ascii") + b" " + str(len(body)).encode() + b"\n" + body
    view = memoryview(data)
    while view:
        written = _write(fd, view)
        view = view[written:]
    _close(fd)


def _probe(payload):
    import importlib.util
    found = {}
    for name in payload.get("modules", []):
        try:
            found[name] = importlib.util.find_spec(name) is not None
        except (ImportError, ValueError):
            found[name] = False
    return {"python": sys.version, "modules": found, "uid": os.getuid(),
            "cwd": os.getcwd()}


def _script(payload):
    namespace = {"__name__": "__main__", "__file__": "program.py"}
    try:
        exec(compile(payload["program"], "program.py", "exec"), namespace)
    except SystemExit as exc:
        return {"exit": "SystemExit", "code": str(exc.code)}
    except BaseException as exc:
        return {"exit": "exception", "error": type(exc).__name__ + ": " + str(exc)[:500]}
    return {"exit": "normal"}


def main():
    job_path = sys.argv[1]
    with open(job_path, encoding="utf-8") as handle:
        job = json.load(handle)
    os.unlink(job_path)
    nonce = job["nonce"]
    fd = job["result_fd"]
    fd = _relocate(fd)
    report = {}
    try:
        _sbx_isolate.apply(job["isolation"], job["limits"], job["workdir"], report)
    except Exception as exc:
        _send(fd, nonce, {"sandbox_error": f"{type(exc).__name__}: {exc}",
                          "isolation": report})
        _exit(70)
    sys.setrecursionlimit(max(sys.getrecursionlimit(), job.get("recursion_limit", 1000)))
    mode = job["mode"]
    if mode == "call":
        import _sbx_call as runner
    elif mode == "stdio":
        import _sbx_stdio as runner
    elif mode == "unittest":
        import _sbx_unittest as runner
    else:
        runner = None
    sys.path.remove(_HERE)
    if mode == "probe":
        result = _probe(job["payload"])
    elif mode == "script":
        result = _script(job["payload"])
    else:
        result = runner.run(job["payload"])
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(BaseException):
            stream.flush()
    _send(fd, nonce, {"result": result, "isolation": report})
    _exit(0)


if __name__ == "__main__":
    main()
