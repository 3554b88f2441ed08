"""Headless Chromium driven over the Chrome DevTools protocol, for the tests that load
a built page from a file:// URL (the leaderboard site, the trace viewer). Skips when
chromium or websocket-client is missing, except under CI=true, where it fails."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

CI = os.environ.get("CI", "").lower() == "true"


def need_chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        if CI:
            pytest.fail("chromium is not installed (CI=true: .ci/run installs it)")
        pytest.skip("chromium is not installed")
    try:
        import websocket  # noqa: F401
    except ImportError:
        if CI:
            pytest.fail("websocket-client is not installed (the dev extra has it)")
        pytest.skip("websocket-client is not installed")
    return path


class Page:
    """One page target over CDP: commands, and the events seen so far."""

    def __init__(self, url: str) -> None:
        import websocket

        self.ws = websocket.create_connection(url, timeout=20, suppress_origin=True)
        self.next_id = 0
        self.events: list[dict[str, Any]] = []

    def send(self, method: str, **params: Any) -> dict[str, Any]:
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            message = json.loads(self.ws.recv())
            if message.get("id") == self.next_id:
                if "error" in message:
                    raise AssertionError(f"{method}: {message['error']}")
                result: dict[str, Any] = message.get("result", {})
                return result
            self.events.append(message)

    def wait_for(self, method: str, timeout: float = 20.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for event in self.events:
                if event.get("method") == method:
                    return event
            self.events.append(json.loads(self.ws.recv()))
        raise AssertionError(f"no {method} within {timeout}s")

    def eval(self, expression: str) -> Any:
        out = self.send("Runtime.evaluate", expression=expression, returnByValue=True)
        return out["result"].get("value")



@contextmanager
def open_page(path: Path, profile: Path, size: str = "1400,900") -> Iterator[Page]:
    """A fresh headless Chromium with ``path`` loaded (network and page events on)."""
    chromium = need_chromium()
    proc = subprocess.Popen(
        [chromium, "--headless=new", "--no-sandbox", "--disable-gpu",
         "--remote-debugging-port=0", f"--user-data-dir={profile}", "--no-first-run",
         "--no-default-browser-check", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", f"--window-size={size}",
         "about:blank"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + 30
        while not (port_file.is_file() and port_file.read_text().count("\n") >= 1):
            assert proc.poll() is None, "chromium exited"
            assert time.monotonic() < deadline, "chromium did not open its DevTools port"
            time.sleep(0.1)
        port = int(port_file.read_text().split()[0])
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as r:
            targets = json.loads(r.read())
        target = next(t for t in targets if t["type"] == "page")
        page = Page(target["webSocketDebuggerUrl"])
        page.send("Network.enable")
        page.send("Page.enable")
        page.send("Page.navigate", url=path.resolve().as_uri())
        page.wait_for("Page.loadEventFired")
        try:
            yield page
        finally:
            page.ws.close()
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


def requests_made(page: Page) -> list[str]:
    """Every URL the page requested so far (after draining pending events)."""
    page.eval("new Promise(r => setTimeout(r, 300))")
    page.send("Runtime.evaluate", expression="1")
    return [e["params"]["request"]["url"] for e in page.events
            if e.get("method") == "Network.requestWillBeSent"]


def click(page: Page, selector_js: str) -> None:
    """A real mouse click (pressed, released) in the middle of the element that the JS
    expression ``selector_js`` evaluates to."""
    box = page.eval(f"""(() => {{
        const el = {selector_js};
        el.scrollIntoView({{block: 'center', inline: 'center'}});
        const r = el.getBoundingClientRect();
        return [r.left + r.width / 2, r.top + r.height / 2];
    }})()""")
    for kind in ("mousePressed", "mouseReleased"):
        page.send("Input.dispatchMouseEvent", type=kind, x=box[0], y=box[1], button="left",
                  clickCount=1)
