"""The board's index.html in a real headless Chromium, loaded from a file:// URL and
driven over the Chrome DevTools protocol: it renders (not blank), every validated entry
is there, clicking a column header reorders the rows, and the page requests nothing but
itself. Skips when chromium or websocket-client is missing, except under CI=true, where
it fails."""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path

import pytest
from browser_helpers import Page, click, need_chromium, open_page, requests_made
from leaderboard_helpers import SITE_PRMS, build_world

from harness.leaderboard.render import build_site


@pytest.fixture(scope="module")
def browser_site(tmp_path_factory: pytest.TempPathFactory):
    need_chromium()
    root = tmp_path_factory.mktemp("browser")
    prms = {k: SITE_PRMS[k] for k in ("sim-oracle", "sim-noisy-4", "random")}
    world = build_world(root, prms)
    out = root / "out"
    data = build_site(world["board"], list(world["entries"].values()), out, world["pools"])
    with open_page(out / "index.html", root / "profile") as page:
        yield {"page": page, "url": (out / "index.html").resolve().as_uri(), "data": data,
               "out": out}


ROWS = "Array.from(document.querySelectorAll('#board tbody tr')).map(r => r.dataset.entry)"


def _click_header(page: Page, label: str) -> None:
    click(page, "Array.from(document.querySelectorAll('#board th'))"
                f".find(h => h.dataset.col === {json.dumps(label)})")


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
    requests = requests_made(page)
    assert requests == [browser_site["url"]], requests
    failed = [e for e in page.events if e.get("method") == "Network.loadingFailed"]
    assert not failed
    assert Path(browser_site["out"] / "index.html").is_file()
