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
    """The harness and the zygote lie outside the job's pid namespace (no parent pid, no
    such process); its init is root's; ``kill(-1)`` reaches nothing outside."""
    program = (f"import os, signal\n"
               f"print(os.getppid())\n"
               f"for pid in ({os.getpid()}, 1):\n"
               f"    try:\n        os.kill(pid, signal.SIGKILL)\n        print('killed', pid)\n"
               f"    except (PermissionError, ProcessLookupError) as exc:\n"
               f"        print('refused', type(exc).__name__)\n"
               f"os.kill(-1, signal.SIGKILL)\n")
    result = run(sandbox, program)
    assert result.status == "ok"
    assert result.stdout == b"0\nrefused ProcessLookupError\nrefused PermissionError\n"
    assert all(z.alive() for z in sandbox._zygotes if z.proc is not None)
    assert run(sandbox, "print(1)").stdout == b"1\n"


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


UNREADABLE = ("FileNotFoundError", "PermissionError", [])  # what a program may get


def _data_copy_under_tmp(shared_data: Path) -> Path:
    """The HumanEval+ file in a data folder under /tmp (as a CI checkout there has it)."""
    top = Path(tempfile.mkdtemp(prefix="prm-data-", dir="/tmp"))
    relative = Path("humanevalplus") / "v0.1.10" / "HumanEvalPlus.jsonl.gz"
    (top / "data" / relative).parent.mkdir(parents=True)
    shutil.copy2(shared_data / relative, top / "data" / relative)
    return top


@needs_root
@pytest.mark.parametrize("where", ["as configured", "copied under /tmp"])
def test_the_answer_key_is_hidden(shared_data, monkeypatch, where):
    """The data mirror and the harness cache (expected outputs) cannot be read, wherever
    the data folder lies (a checkout under /tmp included)."""
    cache = Path(tempfile.mkdtemp(prefix="prm-cache-", dir="/var/tmp"))
    copy = _data_copy_under_tmp(shared_data) if where != "as configured" else None
    data = copy / "data" if copy else shared_data
    try:
        monkeypatch.setenv("PRM_HARNESS_DATA", str(data))
        secret = cache / "evalplus-expected" / "ab" / "abcd.json"
        secret.parent.mkdir(parents=True)
        secret.write_text('{"base": "[1, 2, 3]"}')
        monkeypatch.setenv("PRM_HARNESS_CACHE", str(cache))
        from harness.store.cache import store
        store("probe", "00" * 32, {"x": 1})
        assert cache.stat().st_mode & 0o777 == 0o700
        answers = data / "humanevalplus" / "v0.1.10" / "HumanEvalPlus.jsonl.gz"
        assert answers.is_file()
        with Sandbox(workers=1) as box:
            seen = _reads(box, [answers, answers.parent, secret, cache, data])
        for path, got in seen.items():
            assert got in UNREADABLE, (path, got)
    finally:
        shutil.rmtree(cache)
        if copy:
            shutil.rmtree(copy)


@needs_root
def test_copies_of_the_answer_key_elsewhere_are_unreadable(shared_data):
    """The view is an allow-list: a copy of the HumanEval+ file anywhere outside it (the
    checkout's parent, HOME, /var/tmp, /tmp) is not there for a program."""
    answers = shared_data / "humanevalplus" / "v0.1.10" / "HumanEvalPlus.jsonl.gz"
    homes = [Path(__file__).resolve().parents[2], Path.home(), Path("/var/tmp"),
             Path("/tmp")]
    tops = [Path(tempfile.mkdtemp(prefix="prm-copy-", dir=home)) for home in homes]
    try:
        copies = []
        for top in tops:
            top.chmod(0o755)
            shutil.copy2(answers, top / "HumanEvalPlus.jsonl.gz")
            (top / "HumanEvalPlus.jsonl.gz").chmod(0o644)
            copies.append(top / "HumanEvalPlus.jsonl.gz")
        with Sandbox(workers=1) as box:
            seen = _reads(box, [*copies, *tops])
        for path, got in seen.items():
            assert got in UNREADABLE, (path, got)
    finally:
        for top in tops:
            shutil.rmtree(top)


@needs_root
def test_other_processes_command_lines_are_unreadable(sandbox):
    """A job sees its own pid namespace only: neither the harness' command line nor that
    of any other process on the host (here one carrying a secret)."""
    import subprocess

    secret = "SECRET-" + os.urandom(8).hex()
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", secret])
    try:
        program = (f"import os\nfound, pids = [], []\n"
                   f"for entry in os.listdir('/proc'):\n"
                   f"    if entry.isdigit():\n"
                   f"        pids.append(int(entry))\n"
                   f"        try:\n"
                   f"            if {secret!r}.encode() in open(f'/proc/{{entry}}/cmdline', "
                   f"'rb').read():\n                found.append(entry)\n"
                   f"        except OSError:\n            pass\n"
                   f"try:\n    open('/proc/{os.getpid()}/cmdline', 'rb').read()\n"
                   f"    print('read', found, sorted(pids))\n"
                   f"except OSError as exc:\n    print(type(exc).__name__, found, len(pids))\n")
        result = run(sandbox, program)
    finally:
        other.kill()
        other.wait()
    assert result.status == "ok", result.stderr
    assert result.stdout.split()[0] == b"FileNotFoundError", result.stdout
    assert b"[]" in result.stdout  # the secret process was not found


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


DEEP_TREE = ("import os\n"
             "for _ in range({depth}):\n    os.mkdir('d')\n    os.chdir('d')\n"
             "open('leaf', 'w').write('x')\nprint('built')\n")


def test_a_tree_thousands_of_levels_deep_is_cleaned_up(tmp_path):
    """Cleanup after a program that built a 5,000-level tree neither raises nor leaves
    anything; the slot goes on."""
    with Sandbox(workers=1, root_dir=tmp_path) as box:
        result = run(box, DEEP_TREE.format(depth=5000), wall_s=60)
        assert result.status == "ok", (result.detail, result.stderr[-500:])
        assert result.stdout == b"built\n"
        assert run(box, "print(2)").stdout == b"2\n"
        root = box._root
    assert not root.exists()
    assert list(tmp_path.iterdir()) == []


def test_remove_tree_takes_any_depth_and_unreadable_folders(tmp_path):
    """The host-side remover (used where a job has no private tmpfs): no recursion, no
    path longer than PATH_MAX, folders their owner made unreadable."""
    from harness.grading.sandbox.cleanup import remove_tree

    top = tmp_path / "tree"
    top.mkdir()
    fd = os.open(top, os.O_RDONLY)
    for _ in range(4000):  # 4000 levels: paths of 12,000 characters
        os.mkdir("ddd", dir_fd=fd)
        child = os.open("ddd", os.O_RDONLY, dir_fd=fd)
        os.close(fd)
        fd = child
    os.close(os.open("leaf", os.O_WRONLY | os.O_CREAT, 0o600, dir_fd=fd))
    os.mkdir("locked", dir_fd=fd)
    os.chmod("locked", 0, dir_fd=fd)
    os.close(fd)
    (top / "x").symlink_to("/etc")  # a link is removed, never followed
    assert remove_tree(top) is True
    assert not top.exists() and Path("/etc/passwd").exists()
    assert remove_tree(tmp_path / "absent") is True


@needs_root
def test_all_a_job_writes_is_one_capped_tmpfs(tmp_path):
    """Workdir, HOME, TMPDIR, /tmp and /dev/shm together hold at most ``tmpfs_bytes``,
    files under the per-file limit included, and none of it reaches the host's disk."""
    marker = "fill-" + os.urandom(6).hex()
    program = (f"import os, errno\nwritten, error = 0, None\n"
               f"places = [os.getcwd(), os.environ['HOME'], os.environ['TMPDIR'], '/tmp',"
               f" '/dev/shm']\n"
               f"chunk = b'x' * (1 << 20)\n"
               f"try:\n"
               f"    for i in range(700):\n"
               f"        with open(os.path.join(places[i % 5], '{marker}-%d' % i), 'wb') as f:\n"
               f"            f.write(chunk)\n"
               f"        written += len(chunk)\n"
               f"except OSError as exc:\n    error = errno.errorcode[exc.errno]\n"
               f"print(written >> 20, error)\n")
    with Sandbox(workers=1, root_dir=tmp_path) as box:
        result = run(box, program, tmpfs_bytes=32 << 20, file_bytes=8 << 20)
        assert result.status == "ok", (result.detail, result.stderr[-500:])
        megabytes, error = result.stdout.split()
        assert error == b"ENOSPC" and int(megabytes) <= 32, result.stdout
        # os.walk, not rglob: other processes may delete their own trees under /tmp meanwhile
        host = [os.path.join(folder, name) for top in (tmp_path, "/tmp", "/dev/shm")
                for folder, dirs, files in os.walk(top)
                for name in dirs + files if name.startswith(marker)]
        assert host == []
        assert run(box, "print(2)").stdout == b"2\n"  # the grader goes on


def test_stdout_over_the_cap_stops_the_program_at_once(sandbox):
    """A stdio program that prints 200 MB per input is stopped as soon as it is past the
    capture cap, not after writing (and shipping) all of it."""
    program = "chunk = 'x' * (1 << 20)\nfor _ in range(200):\n    print(chunk)\n"
    job = Job("stdio", {"program": program, "preamble": "", "time_limit": 30,
                        "inputs": ["1", "2", "3"]}, Limits(wall_s=120))
    started = time.monotonic()
    result = sandbox.run(job)
    elapsed = time.monotonic() - started
    assert elapsed < 2.0, elapsed
    assert result.status == "ok", result.detail
    assert result.result["outputs"] == [{"exc": "OutputLimitExceeded"}]


TWO_GRADERS = """
import json, os, sys
from harness.grading.sandbox.core import Job, Limits, Sandbox
program = "import os, time\\ntime.sleep({s})\\nprint(os.getuid(), {i})"
jobs = [Job("script", {"program": program.format(s=0.2 + 0.15 * (i % 3), i=i)},
            Limits(wall_s=30)) for i in range(10)]
with Sandbox(workers=2) as box:
    results = box.run_many(jobs)
    uids = box._uids.uids
print(json.dumps({"uids": uids, "status": [r.status for r in results],
                  "out": [r.stdout.decode() for r in results]}))
"""


@needs_root
def test_two_graders_with_different_tmpdirs_do_not_share_uids(tmp_path):
    """Two harness processes at once, each with its own TMPDIR: disjoint uids, and every
    program of each runs to its end (a shared uid would kill the other's programs)."""
    import subprocess

    procs = []
    for name in ("one", "two"):
        (tmp_path / name).mkdir()
        env = {**os.environ, "TMPDIR": str(tmp_path / name)}
        procs.append(subprocess.Popen([sys.executable, "-c", TWO_GRADERS], env=env,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                      cwd=Path(__file__).resolve().parents[1]))
    reports = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err.decode()[-2000:]
        reports.append(json.loads(out))
    assert not set(reports[0]["uids"]) & set(reports[1]["uids"])
    for report in reports:
        assert report["status"] == ["ok"] * 10, report
        for i, line in enumerate(report["out"]):
            uid, index = line.split()
            assert int(index) == i and int(uid) in report["uids"]


@needs_root
def test_a_uid_with_live_processes_is_not_handed_out(tmp_path):
    import subprocess

    with Sandbox(workers=1, root_dir=tmp_path) as box:
        taken = box._uids.uids[0]
    squatter = subprocess.Popen(["sleep", "60"], user=taken, group=taken, extra_groups=[])
    try:
        with Sandbox(workers=1, root_dir=tmp_path) as box:
            assert box._uids.uids[0] != taken
            assert run(box, "print(1)").stdout == b"1\n"
        assert squatter.poll() is None  # nobody killed it
    finally:
        squatter.kill()
        squatter.wait()


def test_str_hashes_are_the_same_in_every_slot_start():
    """Set and dict order of strs follows the hash seed: programs that print a set of
    words must print it the same way in every grading, or their voting classes move."""
    program = ("import sys\nprint(sys.flags.hash_randomization, hash('voting class'), "
               "list({'a', 'bb', 'ccc', 'dddd', 'eeeee', 'f'}))")
    outputs = set()
    for _ in range(2):
        with Sandbox(workers=1) as box:
            result = run(box, program)
            assert result.status == "ok", result
            outputs.add(result.stdout)
    assert len(outputs) == 1, outputs
    assert outputs.pop().startswith(b"0 ")  # PYTHONHASHSEED=0 is in force


def test_programs_do_not_see_the_sandbox_folder_on_their_path(sandbox):
    result = run(sandbox, "import sys\nprint(any('sandbox' in p and 'child' in p "
                          "for p in sys.path), sys.flags.no_user_site)")
    assert result.status == "ok" and result.stdout == b"False 1\n", result
