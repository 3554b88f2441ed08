"""``prm-harness search --traces-out`` then ``prm-harness trace``: the page is written,
self-contained, holds every node of the trace, marks exactly the chosen path, carries the
step texts and scores; a bad problem id or a bad traces file is one line and exit 2."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser

import pytest

from harness.cli import main
from harness.strategies.trace_html import chosen_path, colour, particles_at_end


class Items(HTMLParser):
    """Every tree item: id -> (classes, the label's title = the step text)."""

    def __init__(self):
        super().__init__()
        self.items, self.current, self.scripts, self.refs = {}, None, [], []
        self._in_script = False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        for name in ("src", "href"):
            if name in a:
                self.refs.append(a[name])
        if tag == "li":
            self.current = a["data-id"]
            self.items[self.current] = [set((a.get("class") or "").split()), None]
        elif tag == "span" and "lab" in (a.get("class") or "") and self.current:
            assert a["data-id"] == self.current
            if self.items[self.current][1] is None:
                self.items[self.current][1] = a["title"]
        elif tag == "script":
            self._in_script = True
            self.scripts.append("")

    def handle_endtag(self, tag):
        if tag == "script":
            self._in_script = False

    def handle_data(self, data):
        if self._in_script:
            self.scripts[-1] += data


def _search(tmp_path, strategy, options):
    traces = tmp_path / f"{strategy}.jsonl"
    argv = ["search", "--task", "synthetic-arith", "--task-option", "length=4", "--policy",
            "sim", "--prm", "sim-noisy", "--strategy", strategy, "--budget",
            "policy_calls=40", "--problems", "3", "--traces-out", str(traces), "--json"]
    for option in options:
        argv += ["--strategy-option", option]
    assert main(argv) == 0
    return traces, [json.loads(line) for line in traces.read_text().splitlines()]


@pytest.mark.parametrize(("strategy", "options"), [
    ("smc", ["particles=6"]), ("mcts", ["width=3"]), ("beam", ["n=6", "m=3"]),
    ("weighted-majority", ["n=5"]),
])
def test_the_page_holds_every_node_and_marks_the_chosen_path(strategy, options, tmp_path,
                                                            capsys):
    traces, docs = _search(tmp_path, strategy, options)
    assert len(docs) == 3  # one trace per problem
    trace = next(t for t in docs if t["answer"] is not None)
    out = tmp_path / "view" / "page.html"
    assert main(["trace", str(traces), trace["problem_id"], "--out", str(out)]) == 0
    page = out.read_text(encoding="utf-8")
    parser = Items()
    parser.feed(page)
    nodes = {n["id"]: n for n in trace["nodes"]}
    assert set(parser.items) == set(nodes)
    chosen = set(chosen_path(trace))
    assert trace["answer"] in chosen and "0" in chosen and len(chosen) > 2
    marked = {i for i, (classes, _) in parser.items.items() if "chosen" in classes}
    assert marked == chosen
    for node_id, (classes, title) in parser.items.items():
        assert nodes[node_id]["status"] in classes
        if nodes[node_id]["parent"] is not None:
            assert title == nodes[node_id]["step"]  # the step text on hover
    # self-contained: nothing fetched, the data the script reads is the trace's
    assert parser.refs == [] and "http" not in page.replace("http-equiv", "")
    data = json.loads(parser.scripts[0])
    assert [n["id"] for n in data["nodes"]] == list(nodes)
    assert data["chosen"] == chosen_path(trace) and data["answer"] == trace["answer"]
    assert "</script>" not in parser.scripts[0]
    scored = [n for n in nodes.values() if n["scores"]]
    assert any(colour(n["scores"][-1], 0.0, 1.0) in page for n in scored)
    alive = particles_at_end(trace)
    if strategy == "smc":  # the genealogy's last generation: every particle on its node
        assert sum(alive.values()) == 6 and set(alive) <= set(nodes)
        assert page.count("&times;") == len(alive)
    else:
        assert alive == {} and "&times;" not in page


def test_scores_become_colours_red_to_green():
    assert colour(0.0, 0.0, 1.0) == "hsl(0,70%,45%)"
    assert colour(1.0, 0.0, 1.0) == "hsl(120,70%,45%)"
    assert colour(0.5, 0.0, 1.0) == "hsl(60,70%,45%)"
    assert colour(3.0, -1.0, 3.0) == "hsl(120,70%,45%)"  # logits: the trace's own range
    assert colour(None, 0.0, 1.0) == "#bbb"


def test_a_step_with_markup_is_escaped(tmp_path):
    _, docs = _search(tmp_path, "best-of-n", ["n=2"])
    trace = docs[0]
    trace["nodes"][1]["step"] = "x </script><b>y</b> & \"z\""
    bad = tmp_path / "markup.jsonl"
    bad.write_text(json.dumps(trace) + "\n")
    out = tmp_path / "markup.html"
    assert main(["trace", str(bad), trace["problem_id"], "--out", str(out)]) == 0
    parser = Items()
    parser.feed(out.read_text())
    assert parser.items[trace["nodes"][1]["id"]][1] == trace["nodes"][1]["step"]
    assert json.loads(parser.scripts[0])["nodes"][1]["step"] == trace["nodes"][1]["step"]


def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys):
    traces, docs = _search(tmp_path, "smc", ["particles=4"])
    capsys.readouterr()
    out = tmp_path / "x.html"
    assert main(["trace", str(traces), "no-such-problem", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "no trace of problem 'no-such-problem'" in err
    assert docs[0]["problem_id"] in err and not out.exists()
    broken = tmp_path / "broken.jsonl"
    broken.write_text(traces.read_text().splitlines()[0] + "\n{oops\n")
    assert main(["trace", str(broken), "nope", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and re.search(r"broken\.jsonl:2: not JSON", err)
    node_less = dict(docs[0])
    node_less["nodes"] = [{"id": "0"}]
    lacking = tmp_path / "lacking.jsonl"
    lacking.write_text(json.dumps(node_less) + "\n")
    assert main(["trace", str(lacking), docs[0]["problem_id"], "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "lacking.jsonl:1: field nodes[0].parent missing" in err


def test_the_viewer_reads_a_stored_search_run(tmp_path, capsys):
    """``trace RUN PROBLEM`` on a ``search --out`` folder draws the same page as on the
    same search's traces file (the stored trace with its wall seconds put back)."""
    run, traces = tmp_path / "run", tmp_path / "traces.jsonl"
    argv = ["search", "--task", "synthetic-arith", "--task-option", "length=4", "--policy",
            "sim", "--prm", "sim-noisy", "--strategy", "beam", "--strategy-option", "n=6",
            "--strategy-option", "m=3", "--budget", "policy_calls=40", "--problems", "5",
            "--shard-size", "2", "--out", str(run), "--traces-out", str(traces), "--json"]
    assert main(argv) == 0
    docs = [json.loads(line) for line in traces.read_text().splitlines()]
    last = docs[-1]["problem_id"]  # in the third shard
    from_run, from_file = tmp_path / "run.html", tmp_path / "file.html"
    assert main(["trace", str(run), last, "--out", str(from_run)]) == 0
    assert main(["trace", str(traces), last, "--out", str(from_file)]) == 0
    assert from_run.read_text() == from_file.read_text()
    capsys.readouterr()
    assert main(["trace", str(run), "nope", "--out", str(tmp_path / "x.html")]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "no problem 'nope'" in err and docs[0]["problem_id"] in err
