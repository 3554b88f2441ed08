"""The sandbox itself: limits, confinement and the result channel, on real child processes."""

from __future__ import annotations

import os
import socket
import threading
import time

import pytest

from harness.grading.sandbox import Job, Limits, Sandbox

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
    jobs = [Job("script", {"program": f"print({i})"}, Limits(wall_s=10)) for i in range(8)]
    results = sandbox.run_many(jobs)
    assert [r.stdout for r in results] == [f"{i}\n".encode() for i in range(8)]
