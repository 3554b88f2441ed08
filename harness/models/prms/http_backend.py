"""The HTTP backend: PRM rows from a vLLM-compatible ``/pooling`` server.

The server is started by the user with the pooling route the head needs (see
vllm_backend.py), e.g. ``vllm serve PATH --runner pooling --pooler-config
'{"step_tag_id": N}'`` for Qwen2.5-Math-PRM. The client sends token ids it built itself
(``{"model", "input": [[ids], ...], "task": "token_classify", "use_activation": false}``)
and reads ``data[i].data`` (rows) back, so input construction stays in the harness.
Requests go in token-budget batches, several at a time.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from harness.errors import ConfigError, ScoreError
from harness.models.http_client import RequestFailed, RetryPolicy, post_json
from harness.models.prms.batching import budget_batches
from harness.models.prms.protocol import Head, Segment
from harness.models.prms.vllm_backend import gather_rows, pooling_route


def _rows_from_reply(reply: Any, count: int, url: str) -> list[np.ndarray]:
    """The per-input row arrays of a /pooling reply, in input order; strict."""
    items = reply.get("data") if isinstance(reply, dict) else None
    if not isinstance(items, list) or len(items) != count:
        raise ScoreError(f"malformed reply from {url}: expected 'data' with {count} items")
    out: list[Any] = [None] * count
    for item in items:
        index = item.get("index") if isinstance(item, dict) else None
        if not isinstance(index, int) or not 0 <= index < count or out[index] is not None:
            raise ScoreError(f"malformed reply from {url}: bad or repeated 'index' {index!r}")
        try:
            rows = np.asarray(item["data"], dtype=np.float64)
        except (KeyError, TypeError, ValueError):
            raise ScoreError(f"malformed reply from {url}: item {index} has no numeric "
                             f"'data' rows") from None
        if rows.ndim == 1:
            rows = rows[:, None]
        if rows.ndim != 2:
            raise ScoreError(f"malformed reply from {url}: item {index} rows have shape "
                             f"{list(rows.shape)}")
        out[index] = rows
    return out


class HttpRunner:
    """Computes a head's rows by asking a pooling server."""

    backend = "http"

    def __init__(self, url: str, served_model: str | None, head: Head,
                 policy: RetryPolicy, batch_tokens: int = 16384, concurrency: int = 4,
                 max_length: int | None = None, params: int | None = None) -> None:
        if not url.startswith(("http://", "https://")):
            raise ConfigError(f"url must start with http:// or https://, got {url!r}")
        if concurrency < 1 or batch_tokens < 1:
            raise ConfigError("concurrency and batch_tokens must be positive")
        self.route = pooling_route(head)
        self.endpoint = url.rstrip("/") + "/pooling"
        self.served_model = served_model
        self.policy = policy
        self.batch_tokens = batch_tokens
        self.concurrency = concurrency
        self.max_length = max_length
        self.params = params
        self.device = "remote"

    def _request(self, batch: Sequence[Segment]) -> list[np.ndarray]:
        body: dict[str, Any] = {"input": [list(seg.ids) for seg in batch],
                                "task": "token_classify", "use_activation": False}
        if self.served_model is not None:
            body["model"] = self.served_model
        try:
            reply = post_json(self.endpoint, body, self.policy)
        except RequestFailed as exc:
            raise ScoreError(f"PRM server: {exc}") from None
        rows = _rows_from_reply(reply, len(batch), self.endpoint)
        return [gather_rows(r, seg, self.route, f"sequence {i} of a request to "
                                                f"{self.endpoint}")
                for i, (r, seg) in enumerate(zip(rows, batch, strict=True))]

    def rows(self, segments: Sequence[Segment]) -> list[np.ndarray]:
        batches = budget_batches([len(s.ids) for s in segments], self.batch_tokens)
        out: list[Any] = [None] * len(segments)
        with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
            replies = pool.map(lambda b: self._request([segments[i] for i in b]), batches)
            for batch, blocks in zip(batches, replies, strict=True):
                for index, block in zip(batch, blocks, strict=True):
                    out[index] = block
        return out

    def identity(self) -> dict[str, Any]:
        return {"backend": self.backend, "endpoint": self.endpoint, "route": self.route,
                "served_model": self.served_model, "batch_tokens": self.batch_tokens,
                "retries": self.policy.retries, "timeout_s": self.policy.timeout_s}
