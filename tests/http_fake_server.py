"""A real HTTP server on 127.0.0.1 for client tests: JSON handlers per path, plus scripted
faults (an HTTP status, a delay past the client's timeout, a malformed body, a dropped
connection) served in order before the handler answers normally.

It records every request (path, body, arrival time) and the largest number handled at
once, so tests can check retries, backoff and the concurrency limit from the server side.
``openai_handlers()`` is a small OpenAI-compatible text generator (vLLM's conventions for
seeds, stop strings and token counts); a PRM test can pass its own handlers.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Handler = Callable[[dict[str, Any]], dict[str, Any]]


@dataclass
class Status:
    """Answer with this HTTP status (and an optional Retry-After header)."""

    code: int
    body: bytes = b'{"error": {"message": "scripted failure"}}'
    retry_after: float | None = None


@dataclass
class Delay:
    """Wait this long before answering normally (longer than the client's timeout)."""

    seconds: float


@dataclass
class Raw:
    """Answer 200 with these exact bytes (e.g. not JSON, or JSON missing fields)."""

    body: bytes


@dataclass
class Drop:
    """Close the connection without an answer."""


Fault = Status | Delay | Raw | Drop


@dataclass
class Received:
    path: str
    body: Any
    at: float


@dataclass
class _State:
    handlers: dict[str, Handler]
    faults: dict[str, list[Fault]] = field(default_factory=dict)
    received: list[Received] = field(default_factory=list)
    in_flight: int = 0
    max_in_flight: int = 0
    delay_s: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)


class _RequestHandler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # quiet test output
        return

    def _reply(self, code: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def _handle(self, body: Any) -> None:
        state = self.server.state
        with state.lock:
            state.received.append(Received(self.path, body, time.monotonic()))
            queue = state.faults.get(self.path)
            fault = queue.pop(0) if queue else None
            state.in_flight += 1
            state.max_in_flight = max(state.max_in_flight, state.in_flight)
        try:
            if state.delay_s:
                time.sleep(state.delay_s)
            if isinstance(fault, Drop):
                self.close_connection = True
                self.connection.shutdown(2)
                return
            if isinstance(fault, Status):
                headers = ({} if fault.retry_after is None
                           else {"Retry-After": str(fault.retry_after)})
                self._reply(fault.code, fault.body, headers)
                return
            if isinstance(fault, Raw):
                self._reply(200, fault.body)
                return
            if isinstance(fault, Delay):
                time.sleep(fault.seconds)
            handler = state.handlers.get(self.path)
            if handler is None:
                self._reply(404, json.dumps({"error": f"no route {self.path}"}).encode())
                return
            self._reply(200, json.dumps(handler(body)).encode("utf-8"))
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (timeout); nothing to answer
        finally:
            with state.lock:
                state.in_flight -= 1

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", 0))
        raw = self.rfile.read(length)
        try:
            body = json.loads(raw)
        except json.JSONDecodeError:
            self._reply(400, b'{"error": "request body is not JSON"}')
            return
        self._handle(body)

    def do_GET(self) -> None:
        self._handle(None)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    state: _State


class FakeServer:
    """``with FakeServer(handlers) as server: server.url`` ... (port chosen by the OS)."""

    def __init__(self, handlers: dict[str, Handler]) -> None:
        self._server = _Server(("127.0.0.1", 0), _RequestHandler)
        self._server.state = _State(handlers=handlers)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def received(self) -> list[Received]:
        with self._server.state.lock:
            return list(self._server.state.received)

    @property
    def max_in_flight(self) -> int:
        return self._server.state.max_in_flight

    def script(self, path: str, *faults: Fault) -> None:
        """Serve these faults, in order, to the next requests on ``path``."""
        with self._server.state.lock:
            self._server.state.faults.setdefault(path, []).extend(faults)

    def set_delay(self, seconds: float) -> None:
        """Hold every request this long (to see concurrency from the server side)."""
        self._server.state.delay_s = seconds

    def reset(self) -> None:
        state = self._server.state
        with state.lock:
            state.faults.clear()
            state.received.clear()
            state.max_in_flight = 0
            state.delay_s = 0.0

    def __enter__(self) -> FakeServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


# -- a small OpenAI-compatible generator ------------------------------------------------

WORDS = ["We", " add", " the", " numbers", " 3", " and", " 4", ".", " so", " x", " =", " 7",
         "\n\n", " then", " \\boxed{7}", " check", ","]
EOS_PROBABILITY = 0.04


def _generate(prompt_key: str, seed: int, max_tokens: int, stops: list[str],
              keep_stop: bool, greedy: bool = False) -> dict[str, Any]:
    """Draw words until max_tokens, an end-of-sequence draw, or a stop string: a pure
    function of (prompt, seed), and of the prompt alone when greedy (temperature 0)."""
    rng = random.Random(f"greedy|{prompt_key}" if greedy else f"{seed}|{prompt_key}")
    tokens: list[str] = []
    text, finish, stop_reason = "", "length", None
    while len(tokens) < max_tokens:
        if rng.random() < EOS_PROBABILITY:
            finish = "stop"
            break
        tokens.append(rng.choice(WORDS))
        text += tokens[-1]
        hits = [(text.find(s) + len(s), s) for s in stops if s in text]
        if hits:
            end, stop_reason = min(hits)
            text = text[:end] if keep_stop else text[:end - len(stop_reason)]
            finish = "stop"
            break
    return {"text": text, "tokens": tokens, "finish_reason": finish,
            "stop_reason": stop_reason}


def _count(text: str) -> int:
    return len(text.split())


def openai_handlers(report_stop_reason: bool = True,
                    word_ids: dict[str, list[int]] | None = None,
                    cache_block: int | None = None) -> dict[str, Handler]:
    """Handlers for ``/v1/chat/completions`` and ``/v1/completions``.

    Sample j of a request with seed s is drawn with seed s + j (vLLM's rule), temperature
    0 ignores the seed; usage counts whitespace-separated words of the prompt and
    generated words of all choices. With ``report_stop_reason=False`` it behaves like a
    server that strips stop strings and says nothing about them (the OpenAI API).

    ``/v1/completions`` takes ``prompt`` as text or token ids (then usage counts the ids).
    With ``word_ids`` (each word of WORDS as a tokenizer's ids) a request asking for
    ``return_token_ids`` gets each choice's ``token_ids`` (the ids of its words) and usage
    counts those ids, as vLLM's server does.

    With ``cache_block`` (id prompts only) it keeps a prefix cache of whole blocks, as
    vLLM's: ``usage.prompt_tokens_details.cached_tokens`` is the longest prefix of whole
    blocks an earlier prompt shared, short of the prompt's last token (vLLM always
    computes at least one).
    """
    seen_blocks: set[tuple[int, ...]] = set()

    def cached_tokens(prompt: list[int]) -> int:
        assert cache_block is not None
        cached, k = 0, cache_block
        while k <= len(prompt) - 1 and tuple(prompt[:k]) in seen_blocks:
            cached, k = k, k + cache_block
        for end in range(cache_block, len(prompt) + 1, cache_block):
            seen_blocks.add(tuple(prompt[:end]))
        return cached

    def answer(body: dict[str, Any], prompt: str | list[int], chat: bool) -> dict[str, Any]:
        prompt_text = prompt if isinstance(prompt, str) else json.dumps(prompt)
        prompt_tokens = _count(prompt) if isinstance(prompt, str) else len(prompt)
        ids = word_ids is not None and bool(body.get("return_token_ids"))
        greedy = float(body.get("temperature", 1.0)) == 0
        n = int(body.get("n", 1))
        seed = body.get("seed")
        base = int(seed) if seed is not None else random.randrange(1 << 30)
        stops = body.get("stop") or []
        stops = [stops] if isinstance(stops, str) else list(stops)
        keep = bool(body.get("include_stop_str_in_output")) and report_stop_reason
        choices, generated = [], 0
        for j in range(n):
            g = _generate(prompt_text, base + j, int(body.get("max_tokens", 16)), stops, keep,
                          greedy)
            choice: dict[str, Any] = {"index": j, "finish_reason": g["finish_reason"]}
            if ids and word_ids is not None:
                choice["token_ids"] = [t for w in g["tokens"] for t in word_ids[w]]
                generated += len(choice["token_ids"])
            else:
                generated += len(g["tokens"])
            if chat:
                choice["message"] = {"role": "assistant", "content": g["text"]}
            else:
                choice["text"] = g["text"]
            if report_stop_reason:
                choice["stop_reason"] = g["stop_reason"]
            if body.get("logprobs") is True and chat:
                choice["logprobs"] = {"content": [{"token": t, "logprob": -1.0}
                                                  for t in g["tokens"]]}
            elif body.get("logprobs") is not None and not chat:
                choice["logprobs"] = {"tokens": g["tokens"],
                                      "token_logprobs": [-1.0] * len(g["tokens"])}
            choices.append(choice)
        usage: dict[str, Any] = {"prompt_tokens": prompt_tokens,
                                 "completion_tokens": generated,
                                 "total_tokens": prompt_tokens + generated}
        if cache_block is not None and isinstance(prompt, list):
            usage["prompt_tokens_details"] = {"cached_tokens": cached_tokens(prompt)}
        return {"id": "fake", "object": "chat.completion" if chat else "text_completion",
                "model": body.get("model"), "choices": choices, "usage": usage}

    def chat(body: dict[str, Any]) -> dict[str, Any]:
        text = "\n".join(f"{m['role']}: {m['content']}" for m in body["messages"])
        return answer(body, text, chat=True)

    def completions(body: dict[str, Any]) -> dict[str, Any]:
        return answer(body, body["prompt"], chat=False)

    return {"/v1/chat/completions": chat, "/v1/completions": completions}
