"""JSON over HTTP for model servers (policies and PRMs): retries with exponential backoff
on 429, 5xx, dropped connections and timeouts; errors that name the request and say what
was wrong. Standard library only; one client is safe to share between threads."""

from __future__ import annotations

import http.client
import json
import random
import threading
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass
from typing import Any

from harness.errors import ServerError

SNIPPET = 300  # characters of a bad body quoted in an error


@dataclass(frozen=True)
class RetryPolicy:
    """Retry k (0-based) waits ``min(max_backoff_s, backoff_s * 2**k)`` seconds, or the
    server's Retry-After when that is longer (capped the same way), plus up to 10% jitter."""

    max_retries: int = 4
    backoff_s: float = 0.5
    max_backoff_s: float = 30.0
    retry_timeouts: bool = True

    def delay(self, retry: int, retry_after: float | None) -> float:
        wait = self.backoff_s * 2 ** retry
        if retry_after is not None:
            wait = max(wait, retry_after)
        return min(self.max_backoff_s, wait) * (1 + 0.1 * random.random())


def _retryable(status: int) -> bool:
    return status == 429 or status >= 500


def _retry_after(headers: Any) -> float | None:
    value = headers.get("Retry-After") if headers is not None else None
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None  # an HTTP date: fall back to our own backoff


def _snippet(raw: bytes) -> str:
    text = raw.decode("utf-8", errors="replace")
    return text if len(text) <= SNIPPET else text[:SNIPPET] + "..."


class _Attempt:
    """The outcome of one try: a status and body, or a transport failure."""

    def __init__(self, status: int | None = None, body: bytes = b"", headers: Any = None,
                 failure: str | None = None, timed_out: bool = False) -> None:
        self.status, self.body, self.headers = status, body, headers
        self.failure, self.timed_out = failure, timed_out


class JsonClient:
    """POST/GET JSON to ``base_url`` + path with retries; see RetryPolicy. ``timeout_s``
    bounds the connection and each wait for data (urllib's socket timeout)."""

    def __init__(self, base_url: str, timeout_s: float = 120.0,
                 retry: RetryPolicy | None = None, headers: dict[str, str] | None = None
                 ) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout_s = timeout_s
        self.retry = retry or RetryPolicy()
        self._headers = {"Content-Type": "application/json", "Accept": "application/json",
                         **(headers or {})}
        self._lock = threading.Lock()
        self.requests = 0
        self.retries = 0

    def settings(self) -> dict[str, Any]:
        """For the manifest (headers, which may hold a key, are left out)."""
        return {"base_url": self.base_url, "timeout_s": self.timeout_s, **asdict(self.retry)}

    def post(self, path: str, body: Any) -> Any:
        return self._call("POST", path, json.dumps(body, allow_nan=False).encode("utf-8"))

    def get(self, path: str) -> Any:
        return self._call("GET", path, None)

    def _once(self, method: str, url: str, data: bytes | None) -> _Attempt:
        request = urllib.request.Request(url, data=data, headers=self._headers, method=method)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                return _Attempt(response.status, response.read(), response.headers)
        except urllib.error.HTTPError as exc:
            with exc:
                return _Attempt(exc.code, exc.read(), exc.headers)
        except TimeoutError:
            return _Attempt(failure=f"no answer within {self.timeout_s} s", timed_out=True)
        except urllib.error.URLError as exc:
            if isinstance(exc.reason, TimeoutError):
                return _Attempt(failure=f"no answer within {self.timeout_s} s", timed_out=True)
            return _Attempt(failure=f"cannot connect: {exc.reason}")
        except (ConnectionError, http.client.HTTPException) as exc:
            return _Attempt(failure=f"connection failed: {type(exc).__name__}: {exc}")

    def _call(self, method: str, path: str, data: bytes | None) -> Any:
        url = self.base_url + path
        attempts = 0
        while True:
            attempts += 1
            with self._lock:
                self.requests += 1
            result = self._once(method, url, data)
            if result.status is not None and 200 <= result.status < 300:
                return self._parse(method, url, result.body)
            if result.status is None:
                retryable = not result.timed_out or self.retry.retry_timeouts
            else:
                retryable = _retryable(result.status)
            if not retryable or attempts > self.retry.max_retries:
                raise ServerError(self._describe(method, url, result, attempts))
            with self._lock:
                self.retries += 1
            time.sleep(self.retry.delay(attempts - 1, _retry_after(result.headers)))

    @staticmethod
    def _describe(method: str, url: str, result: _Attempt, attempts: int) -> str:
        tries = f" ({attempts} attempt{'s' if attempts > 1 else ''})"
        if result.status is None:
            return f"{method} {url}: {result.failure}{tries}"
        return (f"{method} {url}: HTTP {result.status}{tries}; body: "
                f"{_snippet(result.body)!r}")

    @staticmethod
    def _parse(method: str, url: str, raw: bytes) -> Any:
        try:
            return json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ServerError(f"{method} {url}: the response body is not JSON ({exc}); "
                              f"it starts {_snippet(raw)!r}") from None


def dig(body: Any, path: tuple[str | int, ...], kind: type | tuple[type, ...],
        where: str) -> Any:
    """``body[path...]`` checked to be of ``kind``; a ServerError names the missing or
    mistyped field (e.g. ``choices[0].message.content``) and the request."""
    node = body
    shown = ""
    for part in path:
        shown += f"[{part}]" if isinstance(part, int) else (f".{part}" if shown else part)
        if isinstance(part, int):
            ok = isinstance(node, list) and -len(node) <= part < len(node)
        else:
            ok = isinstance(node, dict) and part in node
        if not ok:
            raise ServerError(f"{where}: malformed response: field '{shown}' is missing")
        node = node[part]
    if not isinstance(node, kind) or (isinstance(node, bool) and kind is int):
        names = kind.__name__ if isinstance(kind, type) else "/".join(k.__name__ for k in kind)
        raise ServerError(f"{where}: malformed response: field '{shown}' should be {names}, "
                          f"got {type(node).__name__} {json.dumps(node)[:80]}")
    return node
