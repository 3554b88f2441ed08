"""Stand-ins for the standard streams while untrusted code runs, and a per-call timer."""

import io
import signal


class TimeLimitExceeded(BaseException):
    """Raised by the timer inside a call that ran past its limit."""


def _on_alarm(signum, frame):
    raise TimeLimitExceeded()


class time_limit:
    """``with time_limit(seconds):`` raises TimeLimitExceeded when the wall time is up."""

    def __init__(self, seconds):
        self.seconds = seconds

    def __enter__(self):
        signal.signal(signal.SIGALRM, _on_alarm)
        signal.setitimer(signal.ITIMER_REAL, max(float(self.seconds), 0.001))

    def __exit__(self, *exc):
        signal.setitimer(signal.ITIMER_REAL, 0)
        return False


class WriteOnlySink(io.StringIO):
    """Swallows output; reading from it fails (evalplus and BigCodeBench semantics)."""

    def read(self, *args, **kwargs):
        raise OSError

    def readline(self, *args, **kwargs):
        raise OSError

    def readlines(self, *args, **kwargs):
        raise OSError

    def readable(self, *args, **kwargs):
        return False


class swallow_io:
    """stdout and stderr go nowhere and stdin cannot be read, for the block's duration."""

    def __enter__(self):
        import sys
        self.saved = (sys.stdout, sys.stderr, sys.stdin)
        sink = WriteOnlySink()
        sys.stdout, sys.stderr, sys.stdin = sink, sink, sink
        return sink

    def __exit__(self, *exc):
        import sys
        sys.stdout, sys.stderr, sys.stdin = self.saved
        return False


class LineFedStdin(io.StringIO):
    """LiveCodeBench's stdin: ``readline`` yields lines without their newline,
    ``readlines`` the split lines, ``read`` everything."""

    def __init__(self, text):
        io.StringIO.__init__(self, text)
        self._text = text
        self._lines = iter(text.split("\n"))

    def readline(self, *args):
        return next(self._lines)

    def readlines(self, *args):
        return self._text.split("\n")

    def read(self, *args):
        return self._text
