"""POST JSON with retries: backoff on 429 and 5xx, a timeout per attempt, strict decoding.

Standard library only. A 429 or 5xx reply and a timed-out or refused connection are
retried with exponential backoff (honouring ``Retry-After`` when the server sends it); any
other HTTP error and a body that is not JSON fail at once. ``RequestFailed`` carries what
happened on the last attempt.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


class RequestFailed(Exception):
    """The request could not be completed; ``str`` says why (status, body, attempts)."""


@dataclass(frozen=True)
class RetryPolicy:
    retries: int = 4  # attempts after the first
    backoff_s: float = 0.5  # first wait; doubles each retry
    max_backoff_s: float = 30.0
    timeout_s: float = 60.0


def _wait_seconds(policy: RetryPolicy, attempt: int, retry_after: str | None) -> float:
    if retry_after is not None:
        try:
            return min(max(float(retry_after), 0.0), policy.max_backoff_s)
        except ValueError:
            pass
    return min(policy.backoff_s * (2 ** attempt), policy.max_backoff_s)


def post_json(url: str, body: Any, policy: RetryPolicy,
              headers: dict[str, str] | None = None) -> Any:
    """The decoded JSON reply to ``body``; RequestFailed after the retries are spent."""
    data = json.dumps(body).encode("utf-8")
    all_headers = {"Content-Type": "application/json", **(headers or {})}
    last = "no attempt made"
    for attempt in range(policy.retries + 1):
        request = urllib.request.Request(url, data=data, headers=all_headers, method="POST")
        retry_after = None
        try:
            with urllib.request.urlopen(request, timeout=policy.timeout_s) as response:
                raw = response.read()
        except urllib.error.HTTPError as exc:
            text = exc.read()[:300].decode("utf-8", "replace")
            last = f"HTTP {exc.code} from {url}: {text}"
            if exc.code not in RETRY_STATUSES:
                raise RequestFailed(last) from None
            retry_after = exc.headers.get("Retry-After")
        except TimeoutError as exc:
            last = f"no reply from {url} within {policy.timeout_s} s ({exc})"
        except urllib.error.URLError as exc:
            last = f"cannot reach {url}: {exc.reason}"
        else:
            try:
                return json.loads(raw)
            except ValueError as exc:
                snippet = raw[:200].decode("utf-8", "replace")
                raise RequestFailed(f"malformed JSON from {url} ({exc}): {snippet!r}") from None
        if attempt < policy.retries:
            time.sleep(_wait_seconds(policy, attempt, retry_after))
    raise RequestFailed(f"{last} (gave up after {policy.retries + 1} attempts)")
