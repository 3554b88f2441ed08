"""Entry point of a sandbox slot: ``python -I _sbx_zygote.py CONTROL_FD``.

The zygote is the trusted half of a slot and never runs untrusted code. It imports every
mode, confines itself once (network namespace, allow-list filesystem view, pid namespace:
see _sbx_isolate), makes itself non-dumpable (a process of
the same uid can neither trace it nor open its descriptors through /proc) and a child
subreaper, then serves jobs sent by the harness over the control socket.

For each job it forks a child that confines itself further (_sbx_job) and runs the
program; the child writes messages to a report pipe only the zygote reads. When the child
has exited and every process it left behind is killed, the zygote writes to the job's
result pipe (a descriptor the child never holds) the report as ``R<length>\\n<bytes>``
records, relayed as they came, then one ``H<length>\\n<header>`` record saying how the
child ended. The harness parses the report (sandbox_stream) and decides.
"""

import gc
import json
import os
import select
import signal
import socket
import sys

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, _HERE)
import _sbx_isolate  # noqa: E402
import _sbx_job  # noqa: E402
import _sbx_wire  # noqa: E402
from _sbx_syscalls import PR_SET_CHILD_SUBREAPER, PR_SET_DUMPABLE, prctl  # noqa: E402

while _HERE in sys.path:  # also the copy the interpreter put first (run as a script)
    sys.path.remove(_HERE)
_FD_BATCH = 8


class Control:
    """Messages (with descriptors attached) on the control socket."""

    def __init__(self, fd):
        self.sock = socket.socket(fileno=fd)
        self.buffer = b""
        self.fds = []

    def _fill(self):
        data, ancdata, _, _ = self.sock.recvmsg(1 << 20, socket.CMSG_SPACE(4 * _FD_BATCH))
        if not data:
            raise EOFError("harness closed the control socket")
        for level, kind, raw in ancdata:
            if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                usable = len(raw) - len(raw) % 4
                self.fds.extend(memoryview(raw[:usable]).cast("i"))
        self.buffer += data

    def read_bytes(self, size):
        while len(self.buffer) < size:
            self._fill()
        out, self.buffer = self.buffer[:size], self.buffer[size:]
        return out

    def read_message(self):
        while b"\n" not in self.buffer:
            self._fill()
        head, _, _ = self.buffer.partition(b"\n")
        size = int(head)
        raw = self.read_bytes(len(head) + 1 + size)
        return json.loads(raw[len(head) + 1:])

    def take_fds(self):
        fds, self.fds = self.fds, []
        return fds

    def send(self, obj):
        self.sock.sendall(_sbx_wire.encode(obj))


def _preload(names):
    loaded = []
    for name in names:
        try:
            __import__(name)
        except BaseException:  # a library that fails to import is the program's problem
            continue
        loaded.append(name)
    return loaded


def main():
    control = Control(int(sys.argv[1]))
    hello = control.read_message()
    spec = hello["isolation"]
    report = {}
    try:
        private_fs = _sbx_isolate.confine_slot(spec, report)
        prctl(PR_SET_DUMPABLE, 0, "prctl(SET_DUMPABLE, 0)")
        prctl(PR_SET_CHILD_SUBREAPER, 1, "prctl(SET_CHILD_SUBREAPER)")
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        report["preloaded"] = _preload(hello.get("preload", []))
        # the zygote's objects (numpy, pandas...) out of the collector's sight: a job
        # child's collections then do not touch, and so copy, the pages they live on
        gc.freeze()
    except Exception as exc:
        control.send({"error": f"{type(exc).__name__}: {exc}", "isolation": report})
        return 70
    control.send({"ready": True, "private_fs": private_fs is not None})
    while True:
        try:
            header = control.read_message()
        except EOFError:
            return 0
        if "job" not in header:  # a kill that crossed the end of the job it was for
            continue
        fds = control.take_fds()
        payload = json.loads(control.read_bytes(header["payload_len"]))
        _serve(control, header["job"], payload, fds, spec, private_fs, report)


def _serve(control, job, payload, fds, spec, private_fs, slot_report):
    stdout_w, stderr_w, result_w = fds
    report_r, report_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        _sbx_job.child(job, payload, spec, private_fs, slot_report,
                       {"stdout": stdout_w, "stderr": stderr_w, "report": report_w,
                        "close": [control.sock.fileno(), result_w, report_r]})
    for fd in (stdout_w, stderr_w, report_w):
        os.close(fd)
    control.send({"started": pid})
    relay = Relay(result_w)
    init = private_fs.get("init") if private_fs else None
    status, killed = _watch(control, pid, report_r, job["limits"]["result_bytes"], relay,
                           spec.get("uid"), init)
    os.close(report_r)
    _sbx_job.kill_leftovers(spec.get("uid"), init)
    relay.record(b"H", json.dumps({"exit": status, "killed": killed}).encode())
    os.close(result_w)
    control.send({"done": True})


class Relay:
    """The result pipe: report bytes as records, as they come."""

    def __init__(self, fd):
        self.fd = fd
        self.open = True

    def record(self, kind, data):
        if not self.open:
            return
        try:
            _sbx_wire.write_all(self.fd, kind + str(len(data)).encode() + b"\n" + data)
        except OSError:  # the harness stopped listening (timeout): nothing to deliver
            self.open = False


def _watch(control, pid, report_r, cap, relay, uid, init):
    """Relay the child's report until it exits (or the harness asks to kill it)."""
    pidfd = os.pidfd_open(pid)
    size = 0
    status = None
    killed = None
    watched = [report_r, pidfd, control.sock.fileno()]
    while status is None:
        ready, _, _ = select.select(watched, [], [])
        if report_r in ready:
            data = os.read(report_r, 1 << 16)
            if not data:
                watched.remove(report_r)
            elif size + len(data) > cap:
                killed = killed or "report-limit"
                _sbx_job.kill_job(pid, None, None)
            else:
                relay.record(b"R", data)
                size += len(data)
        if control.sock.fileno() in ready:
            message = control.read_message()
            if message.get("kill"):
                killed = killed or message["kill"]
                _sbx_job.kill_job(pid, uid, init)
        if pidfd in ready:
            status = _exit_status(os.waitpid(pid, 0)[1])
    os.close(pidfd)
    if report_r in watched:  # what the child wrote before exiting is in the pipe now
        os.set_blocking(report_r, False)
        try:
            while size <= cap:
                data = os.read(report_r, 1 << 16)
                if not data:
                    break
                relay.record(b"R", data)
                size += len(data)
        except BlockingIOError:
            pass
    return status, killed


def _exit_status(raw):
    if os.WIFSIGNALED(raw):
        return {"signal": os.WTERMSIG(raw)}
    return {"code": os.WEXITSTATUS(raw)}


if __name__ == "__main__":
    sys.exit(main())
