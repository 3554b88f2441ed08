"""A real HTTP server on 127.0.0.1 speaking vLLM's ``/pooling`` protocol for the tests.

Rows are computed by a real tiny model (a callable from token ids to rows); a script of
actions makes chosen requests fail the way servers do (429, 500, no reply in time, a
body that is not JSON), so the client's retry and error paths run for real.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Rows = Callable[[list[int]], list[list[float]]]


class PoolingServer:
    """Start with ``with PoolingServer(rows) as server:``; ``server.url`` is its base URL."""

    def __init__(self, rows: Rows) -> None:
        self.rows = rows
        self.script: list[tuple[Any, ...]] = []  # actions for the next requests, in order
        self.requests: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # keep test output clean
                pass

            def _send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
                self.send_response(status)
                for key, value in {"Content-Type": "application/json", **headers}.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(length))
                with server._lock:
                    server.requests.append({"path": self.path, "body": body})
                    action = server.script.pop(0) if server.script else ("ok",)
                if self.path != "/pooling":
                    self._send(404, b'{"error": "not found"}', {})
                    return
                kind = action[0]
                if kind == "status":
                    self._send(action[1], json.dumps({"error": "scripted"}).encode(),
                               action[2] if len(action) > 2 else {})
                    return
                if kind == "raw":
                    self._send(200, action[1], {})
                    return
                if kind == "sleep":
                    time.sleep(action[1])
                data = [{"index": i, "object": "pooling", "data": server.rows(ids)}
                        for i, ids in enumerate(body["input"])]
                reply = {"id": "pool-test", "object": "list", "model": body.get("model"),
                         "data": data,
                         "usage": {"prompt_tokens": sum(map(len, body["input"]))}}
                self._send(200, json.dumps(reply).encode(), {})

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = False  # server_close waits for every handler
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> PoolingServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._server.shutdown()
        self._server.server_close()
