"""The board's index.html in a real headless Chromium, loaded from a file:// URL and
driven over the Chrome DevTools protocol: it renders (not blank), every validated entry
is there, clicking a column header reorders the rows, and the page requests nothing but
itself. Skips when chromium or websocket-client is missing, except under CI=true, where
it fails."""

from __future__ import annotations

import base64
import io
import json
import os
import shutil
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from leaderboard_helpers import SITE_PRMS, build_world

from harness.leaderboard.render import build_site

CI = os.environ.get("CI", "").lower() == "true"


def _need_chromium() -> str:
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


@pytest.fixture(scope="module")
def browser_site(tmp_path_factory: pytest.TempPathFactory):
    chromium = _need_chromium()
    root = tmp_path_factory.mktemp("browser")
    prms = {k: SITE_PRMS[k] for k in ("sim-oracle", "sim-noisy-4", "random")}
    world = build_world(root, prms)
    out = root / "out"
    data = build_site(world["board"], list(world["entries"].values()), out, world["pools"])
    profile = root / "profile"
    proc = subprocess.Popen(
        [chromium, "--headless=new", "--no-sandbox", "--disable-gpu",
         "--remote-debugging-port=0", f"--user-data-dir={profile}", "--no-first-run",
         "--no-default-browser-check", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--window-size=1400,900",
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
        url = (out / "index.html").resolve().as_uri()
        page.send("Page.navigate", url=url)
        page.wait_for("Page.loadEventFired")
        yield {"page": page, "url": url, "data": data, "out": out}
        page.ws.close()
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


ROWS = "Array.from(document.querySelectorAll('#board tbody tr')).map(r => r.dataset.entry)"


def _click_header(page: Page, label: str) -> None:
    """A real mouse click (pressed, released) in the middle of the header cell."""
    box = page.eval(f"""(() => {{
        const th = Array.from(document.querySelectorAll('#board th'))
            .find(h => h.dataset.col === {json.dumps(label)});
        th.scrollIntoView({{block: 'center', inline: 'center'}});
        const r = th.getBoundingClientRect();
        return [r.left + r.width / 2, r.top + r.height / 2];
    }})()""")
    for kind in ("mousePressed", "mouseReleased"):
        page.send("Input.dispatchMouseEvent", type=kind, x=box[0], y=box[1], button="left",
                  clickCount=1)


def test_page_renders_with_every_validated_entry(browser_site):
    from PIL import Image

    page = browser_site["page"]
    shot = page.send("Page.captureScreenshot", format="png")
    image = Image.open(io.BytesIO(base64.b64decode(shot["data"]))).convert("RGB")
    assert image.size[0] > 300 and image.size[1] > 300
    colors = image.getcolors(maxcolors=1 << 20)
    assert colors is not None and len(colors) > 50, "the screenshot looks blank"
    biggest = max(count for count, _ in colors)
    assert biggest < 0.97 * image.size[0] * image.size[1]
    names = [e["name"] for e in browser_site["data"]["entries"]]
    assert sorted(page.eval(ROWS)) == sorted(names) == sorted(("sim-oracle", "sim-noisy-4",
                                                               "random"))
    assert page.eval(ROWS) == names
    text = page.eval("document.body.innerText")
    assert all(name in text for name in names) and "recomputed" in text


def test_clicking_a_header_reorders_the_rows(browser_site):
    page = browser_site["page"]
    entries = browser_site["data"]["entries"]
    by_value = [e["name"] for e in sorted(entries,
                                          key=lambda e: e["tasks"]["synthetic-arith"]
                                          ["prm@16"]["value"])]
    before = page.eval(ROWS)
    _click_header(page, "prm@16")
    ascending = page.eval(ROWS)
    assert ascending == by_value and ascending != before
    _click_header(page, "prm@16")
    assert page.eval(ROWS) == by_value[::-1]
    _click_header(page, "entry")
    assert page.eval(ROWS) == sorted(e["name"] for e in entries)


def test_no_request_but_the_file_itself(browser_site):
    page = browser_site["page"]
    page.eval("new Promise(r => setTimeout(r, 300))")
    page.send("Runtime.evaluate", expression="1")  # drain pending events
    requests = [e["params"]["request"]["url"] for e in page.events
                if e.get("method") == "Network.requestWillBeSent"]
    assert requests == [browser_site["url"]], requests
    failed = [e for e in page.events if e.get("method") == "Network.loadingFailed"]
    assert not failed
    assert Path(browser_site["out"] / "index.html").is_file()
