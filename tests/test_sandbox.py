"""The sandbox itself: limits, confinement and the result channel, on real child processes."""

from __future__ import annotations

import itertools
import json
import os
import shutil
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

from harness.grading.sandbox.core import CHILD_DIR, Job, Limits, Sandbox, SandboxError

AS_ROOT = os.geteuid() == 0
needs_root = pytest.mark.skipif(not AS_ROOT, reason="uid separation needs root; as an "
                                "ordinary user the program shares the harness' uid")


@pytest.fixture(scope="module")
def sandbox():
    with Sandbox(workers=2) as box:
        yield box


def run(sandbox, program, **limits):
    return sandbox.run(Job("script", {"program": program}, Limits(**{"wall_s": 10, **limits})))


def live_processes_soon(uid: int, wait_s: float = 3.0) -> list[int]:
    """Live processes of ``uid`` once SIGKILL has had time to land."""
    deadline = time.monotonic() + wait_s
    while (pids := processes_of(uid)) and time.monotonic() < deadline:
        time.sleep(0.05)
    return pids


def processes_of(uid: int) -> list[int]:
    """Live (not zombie) processes of ``uid``."""
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.stat(f"/proc/{entry}").st_uid != uid:
                    continue
                with open(f"/proc/{entry}/stat") as handle:
                    state = handle.read().rsplit(")", 1)[1].split()[0]
            except (FileNotFoundError, ProcessLookupError):
                continue
            if state != "Z":
                pids.append(int(entry))
    return pids


def test_a_program_runs_and_reports(sandbox):
    result = run(sandbox, "import os\nprint('hello', os.getpid() != 0)")
    assert result.status == "ok"
    assert result.result == {"exit": "normal"}
    assert result.stdout == b"hello True\n"
    if AS_ROOT:
        assert result.isolation["uid"] >= 1_000_000
        assert "read-only" in result.isolation["filesystem"]
        assert result.isolation["network"].startswith("private namespace")


def test_early_exit_leaves_no_result(sandbox):
    for program in ("import os\nos._exit(0)", "import os, signal\n"
                    "os.kill(os.getpid(), signal.SIGKILL)"):
        result = run(sandbox, program)
        assert result.status == "crashed", program
        assert result.result is None


def test_stray_bytes_on_the_result_pipe_are_rejected(sandbox):
    program = ("import os\n"
               "for fd in range(3, 200):\n"
               "    try:\n        os.write(fd, b'PRMSBX1 forged 2\\n{}')\n"
               "    except OSError:\n        pass\n")
    result = run(sandbox, program)
    assert result.status == "corrupt"
    assert result.result is None


def test_infinite_loop_is_killed_at_the_wall_clock(sandbox):
    started = time.monotonic()
    result = run(sandbox, "while True:\n    pass", wall_s=1.5)
    assert result.status == "timeout"
    assert time.monotonic() - started < 6


def test_output_flood_is_cut(sandbox):
    result = run(sandbox, "import os\nwhile True:\n    os.write(1, b'x' * 65536)",
                 output_bytes=1 << 20)
    assert result.status == "output-limit"
    assert len(result.stdout) <= 1 << 20


def test_memory_bomb_fails_inside_its_limit(sandbox):
    result = run(sandbox, "blocks = []\nwhile True:\n    blocks.append(bytearray(1 << 26))",
                 memory_bytes=512 << 20)
    assert result.status == "ok"
    assert result.result["exit"] == "exception"
    assert "MemoryError" in result.result["error"]


def test_file_size_limit(sandbox):
    result = run(sandbox, "open('big', 'wb').write(b'x' * (8 << 20))", file_bytes=1 << 20)
    assert result.status in ("crashed", "ok")
    if result.status == "ok":
        assert result.result["exit"] == "exception"


def test_files_outside_the_workdir_survive(sandbox, tmp_path):
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "keep.txt").write_text("precious")
    tmp_path.chmod(0o755)
    program = (f"import os, shutil\n"
               f"open('mine.txt', 'w').write('x')\nos.remove('mine.txt')\n"
               f"assert not os.path.exists('mine.txt')\n"
               f"errors = []\n"
               f"for action in (lambda: shutil.rmtree({str(victim)!r}),\n"
               f"               lambda: os.remove({str(victim / 'keep.txt')!r}),\n"
               f"               lambda: open({str(victim / 'new.txt')!r}, 'w')):\n"
               f"    try:\n        action()\n    except OSError as exc:\n"
               f"        errors.append(exc.errno)\n"
               f"print(len(errors))\n")
    result = run(sandbox, program)
    if not AS_ROOT and "read-only" not in result.isolation.get("filesystem", ""):
        pytest.skip("no filesystem namespace for an ordinary user here")
    assert result.status == "ok", result.stderr
    assert result.result["exit"] == "normal"
    assert result.stdout == b"3\n"
    assert (victim / "keep.txt").read_text() == "precious"
    assert not (victim / "new.txt").exists()


def test_no_network_even_to_the_hosts_loopback(sandbox):
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    accepted = []
    threading.Thread(target=lambda: accepted.append(server.accept()), daemon=True).start()
    port = server.getsockname()[1]
    program = ("import socket\nresults = []\n"
               f"for host in (('127.0.0.1', {port}), ('1.1.1.1', 80), ('example.com', 80)):\n"
               "    try:\n        socket.create_connection(host, timeout=3)\n"
               "        results.append('connected')\n"
               "    except OSError as exc:\n        results.append(type(exc).__name__)\n"
               "print(results)\n")
    result = run(sandbox, program)
    server.close()
    if not AS_ROOT and "private" not in result.isolation.get("network", ""):
        pytest.skip("no network namespace for an ordinary user here")
    assert result.status == "ok"
    assert b"connected" not in result.stdout
    assert not accepted


@needs_root
def test_killing_the_harness_is_refused(sandbox):
    program = (f"import os, signal\n"
               f"for pid in (os.getppid(), {os.getpid()}, 1):\n"
               f"    try:\n        os.kill(pid, signal.SIGKILL)\n        print('killed', pid)\n"
               f"    except PermissionError:\n        print('refused')\n")
    result = run(sandbox, program)
    assert result.status == "ok"
    assert result.stdout == b"refused\nrefused\nrefused\n"


@needs_root
def test_fork_bomb_is_capped_and_cleaned_up(sandbox):
    program = ("import os, time\n"
               "while True:\n"
               "    try:\n        os.fork()\n"
               "    except OSError:\n        time.sleep(0.01)\n")
    started = time.monotonic()
    result = run(sandbox, program, wall_s=2, processes=8)
    assert result.status in ("timeout", "crashed")
    assert time.monotonic() - started < 10
    uid = result.isolation.get("uid") if result.isolation else None
    for slot_uid in sandbox._uids.uids if uid is None else [uid]:
        assert live_processes_soon(slot_uid) == []


@needs_root
def test_processes_that_escape_the_group_are_killed(sandbox):
    program = ("import os, time\n"
               "if os.fork() == 0:\n    os.setsid()\n    time.sleep(600)\n")
    result = run(sandbox, program)
    assert result.status == "ok"
    for uid in sandbox._uids.uids:
        assert live_processes_soon(uid) == []


def test_many_jobs_run_in_parallel_and_in_order(sandbox):
    program = ("import time\nstart = time.time()\ntime.sleep(0.8)\n"
               "print({i}, start, time.time())\n")
    jobs = [Job("script", {"program": program.format(i=i)}, Limits(wall_s=10))
            for i in range(6)]
    started = time.monotonic()
    results = sandbox.run_many(jobs)
    wall = time.monotonic() - started
    rows = [r.stdout.split() for r in results]
    assert [int(row[0]) for row in rows] == list(range(6))
    spans = sorted((float(row[1]), float(row[2])) for row in rows)
    serial = sum(end - begin for begin, end in spans)
    assert serial >= 6 * 0.8
    assert wall < 0.75 * serial  # two slots: about half the serial time
    overlapping = sum(1 for (_, end), (begin, _) in itertools.pairwise(spans) if begin < end)
    assert overlapping >= 2


def _reads(sandbox, paths):
    program = ("import json, os\nout = {}\n"
               f"for path in {[str(p) for p in paths]!r}:\n"
               "    try:\n"
               "        if os.path.isdir(path):\n"
               "            out[path] = sorted(os.listdir(path))\n"
               "        else:\n"
               "            out[path] = len(open(path, 'rb').read())\n"
               "    except OSError as exc:\n"
               "        out[path] = type(exc).__name__\n"
               "print(json.dumps(out))\n")
    result = run(sandbox, program)
    assert result.status == "ok", result.stderr
    return json.loads(result.stdout)


@needs_root
def test_the_answer_key_is_hidden(shared_data, monkeypatch):
    """The data mirror and the harness cache (expected outputs) are out of sight."""
    cache = Path(tempfile.mkdtemp(prefix="prm-cache-", dir="/var/tmp"))
    try:
        secret = cache / "evalplus-expected" / "ab" / "abcd.json"
        secret.parent.mkdir(parents=True)
        secret.write_text('{"base": "[1, 2, 3]"}')
        monkeypatch.setenv("PRM_HARNESS_CACHE", str(cache))
        from harness.store.cache import store
        store("probe", "00" * 32, {"x": 1})
        assert cache.stat().st_mode & 0o777 == 0o700
        answers = shared_data / "humanevalplus" / "v0.1.10" / "HumanEvalPlus.jsonl.gz"
        assert answers.is_file()
        with Sandbox(workers=1) as box:
            assert str(cache.resolve()) in box.identity()["hidden"]
            seen = _reads(box, [answers, secret, cache, shared_data, shared_data.parent])
        assert seen[str(answers)] == "FileNotFoundError"
        assert seen[str(secret)] == "FileNotFoundError"
        assert seen[str(cache)] == [] and seen[str(shared_data)] == []
        assert "data" in seen[str(shared_data.parent)]  # the folder itself stays, empty
    finally:
        shutil.rmtree(cache)


def test_a_relative_interpreter_path_is_made_absolute(monkeypatch):
    venv_bin = Path(sys.executable).parent
    monkeypatch.chdir(venv_bin.parent.parent)
    relative = os.path.relpath(sys.executable)
    assert not os.path.isabs(relative)
    with Sandbox(workers=1, python=relative) as box:
        assert os.path.isabs(box.python) and box.python == os.path.abspath(relative)
        result = run(box, "import sys\nprint(sys.prefix)")
    assert result.status == "ok", result.stderr
    assert result.stdout.decode().strip() == sys.prefix  # the venv, not its base Python


def test_a_harness_under_tmp_still_runs(tmp_path):
    """The runner code under /tmp (hidden by each job's fresh /tmp) is exposed again."""
    copy = Path(tempfile.mkdtemp(prefix="harness-copy-", dir="/tmp")) / "sandbox_child"
    try:
        shutil.copytree(CHILD_DIR, copy)
        with Sandbox(workers=1, child_dir=copy) as box:
            job = Job("call", {"program": "def f(x):\n    return x * 2\n",
                               "entry": {"name": "f"},
                               "phases": [{"name": "t", "inputs": [[2]], "time_limits": [5]}]},
                      Limits(wall_s=10))
            result = box.run(job)
        assert result.status == "ok", (result.detail, result.stderr)
        assert result.result["phases"][0]["outputs_json"] == '[{"v":4}]'
    finally:
        shutil.rmtree(copy.parent)


def test_a_broken_runner_is_a_sandbox_error_not_a_verdict(tmp_path):
    copy = tmp_path / "sandbox_child"
    shutil.copytree(CHILD_DIR, copy)
    (copy / "_sbx_call.py").unlink()  # as if the runner code could not be imported
    with Sandbox(workers=1, child_dir=copy) as box, pytest.raises(SandboxError,
                                                                  match="_sbx_call"):
        run(box, "print(1)")


def test_a_job_setup_failure_is_a_sandbox_error(sandbox):
    with pytest.raises(SandboxError, match="setup failed"):
        run(sandbox, "print(1)", open_files=1 << 40)  # beyond any kernel's maximum
    assert run(sandbox, "print(2)").stdout == b"2\n"  # the slot goes on


def test_a_kill_that_arrives_after_its_job_ended_is_ignored(sandbox):
    """The harness may ask to kill a job that has just ended (a deadline reached at the
    same moment): the slot must take the next job as usual."""
    assert run(sandbox, "print(1)").stdout == b"1\n"
    for zygote in sandbox._zygotes:
        if zygote.alive():
            zygote._send({"kill": "timeout", "uid": zygote.uid})
    for i in range(4):
        assert run(sandbox, f"print({i})").stdout == f"{i}\n".encode()
    assert all(z.alive() for z in sandbox._zygotes if z.proc is not None)
