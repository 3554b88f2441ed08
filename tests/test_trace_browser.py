"""The trace viewer (``prm-harness trace``) in a real headless Chromium, loaded from a
file:// URL: it renders, real clicks on its buttons collapse and expand the tree and
show the chosen path alone, clicking a node shows that node's step and prefix, and the
page requests nothing but itself. Skips without chromium, except under CI=true."""

from __future__ import annotations

import base64
import io
import json

import pytest
from browser_helpers import click, need_chromium, open_page, requests_made

from harness.cli import main
from harness.strategies.trace_html import chosen_path

OPEN_DETAILS = "document.querySelectorAll('#tree li > details[open]').length"
VISIBLE_ITEMS = ("Array.from(document.querySelectorAll('#tree li'))"
                 ".filter(li => li.checkVisibility()).map(li => li.dataset.id)")


@pytest.fixture(scope="module")
def viewer(tmp_path_factory: pytest.TempPathFactory):
    need_chromium()
    root = tmp_path_factory.mktemp("trace-browser")
    traces = root / "smc.jsonl"
    assert main(["search", "--task", "synthetic-arith", "--task-option", "length=4",
                 "--policy", "sim", "--prm", "sim-noisy", "--strategy", "smc",
                 "--strategy-option", "particles=6", "--budget", "policy_calls=40",
                 "--problems", "2", "--traces-out", str(traces), "--json"]) == 0
    trace = next(t for t in map(json.loads, traces.read_text().splitlines())
                 if t["answer"] is not None)
    page_file = root / "page.html"
    assert main(["trace", str(traces), trace["problem_id"], "--out", str(page_file)]) == 0
    with open_page(page_file, root / "profile") as page:
        yield {"page": page, "trace": trace, "url": page_file.resolve().as_uri()}


def test_the_viewer_renders_and_shows_the_answer(viewer):
    from PIL import Image

    page, trace = viewer["page"], viewer["trace"]
    shot = page.send("Page.captureScreenshot", format="png")
    image = Image.open(io.BytesIO(base64.b64decode(shot["data"]))).convert("RGB")
    colors = image.getcolors(maxcolors=1 << 20)
    assert colors is not None and len(colors) > 50, "the screenshot looks blank"
    assert sorted(page.eval("Array.from(document.querySelectorAll('#tree li'))"
                            ".map(li => li.dataset.id)")) == sorted(n["id"] for n in
                                                                    trace["nodes"])
    heading = page.eval("document.querySelector('#detail h2').textContent")
    assert heading == f"node {trace['answer']} (chosen path)"


def test_buttons_collapse_expand_and_isolate_the_chosen_path(viewer):
    page, trace = viewer["page"], viewer["trace"]
    inner = sum(1 for n in trace["nodes"]
                if any(m["parent"] == n["id"] for m in trace["nodes"]))
    assert page.eval(OPEN_DETAILS) == inner > 0
    click(page, "document.getElementById('close')")
    assert page.eval(OPEN_DETAILS) == 0
    assert page.eval(VISIBLE_ITEMS) == ["0"]  # only the root is left showing
    click(page, "document.getElementById('open')")
    assert page.eval(OPEN_DETAILS) == inner
    click(page, "document.getElementById('only')")
    assert page.eval(VISIBLE_ITEMS) == chosen_path(trace)
    click(page, "document.getElementById('only')")
    assert len(page.eval(VISIBLE_ITEMS)) == len(trace["nodes"])


def test_clicking_a_node_shows_its_step_and_prefix(viewer):
    page, trace = viewer["page"], viewer["trace"]
    nodes = {n["id"]: n for n in trace["nodes"]}
    target = next(n for n in trace["nodes"] if n["depth"] == 2 and
                  n["id"] not in chosen_path(trace))
    click(page, f"document.querySelector('.lab[data-id=\"{target['id']}\"]')")
    assert page.eval("document.querySelector('#detail h2').textContent") == \
        f"node {target['id']}"
    texts = page.eval("Array.from(document.querySelectorAll('#detail pre'))"
                      ".map(p => p.textContent)")
    assert texts[1] == target["step"]
    assert texts[2] == nodes[target["parent"]]["step"] + target["step"]
    assert json.loads(texts[0])["scores"] == target["scores"]


def test_the_viewer_requests_nothing_but_itself(viewer):
    assert requests_made(viewer["page"]) == [viewer["url"]]
