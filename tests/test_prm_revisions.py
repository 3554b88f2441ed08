"""What was loaded is pinned in the provenance: the hub snapshot's commit, or a local
folder's content hash, whatever revision the spec asked for (PRM specs say null)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import yaml
from prm_tiny import build, make_prm

from harness.models.model_files import folder_sha256, resolved_revision
from harness.models.prms.specs import shipped_specs

COMMIT = "0123456789abcdef0123456789abcdef01234567"


def _independent_hash(folder: Path) -> str:
    lines = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        name = path.relative_to(folder).as_posix()
        lines.append(f"{name}\0{hashlib.sha256(path.read_bytes()).hexdigest()}\n")
    return hashlib.sha256("".join(lines).encode()).hexdigest()


def test_a_local_folder_is_pinned_by_the_hash_of_every_file(root, shared_data, tmp_path):
    tiny = build("qwen-prm", root, shared_data)
    prm = make_prm("qwen-prm", root, shared_data)
    resolved = prm.identity()["resolved_revisions"]["prm"]
    assert resolved == {"source": str(tiny.path), "requested": None, "kind": "local-folder",
                        "commit": None, "folder_sha256": _independent_hash(tiny.path)}
    # a weight change of the same shape changes the hash
    copy = tmp_path / "copy"
    shutil.copytree(tiny.path, copy)
    assert folder_sha256(copy) == resolved["folder_sha256"]
    weights = copy / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 1
    weights.write_bytes(bytes(data))
    assert folder_sha256(copy) != resolved["folder_sha256"]


def _hub_cache(tmp_path: Path, source: Path, repo: str) -> Path:
    """A hub cache holding ``source`` as the snapshot COMMIT of ``repo`` (main)."""
    cache = tmp_path / "hub"
    entry = cache / ("models--" + repo.replace("/", "--"))
    shutil.copytree(source, entry / "snapshots" / COMMIT)
    (entry / "refs").mkdir()
    (entry / "refs" / "main").write_text(COMMIT)
    return cache


def test_a_hub_model_is_pinned_by_the_snapshot_commit_it_loaded(root, shared_data, tmp_path):
    tiny = build("qwen-prm", root, shared_data)
    cache = _hub_cache(tmp_path, tiny.path, "me/tiny-prm")
    spec = shipped_specs()["Qwen/Qwen2.5-Math-PRM-7B"].model_dump(mode="json")
    spec.update(model_id="me/tiny-prm", revision=None)
    spec_path = tmp_path / "spec.yaml"
    spec_path.write_text(yaml.safe_dump(spec))
    # a fresh process: huggingface_hub reads its cache location when imported
    code = ("import json, sys; from harness.models.prms.adapter import TransformersPRM; "
            "prm = TransformersPRM(sys.argv[1], dtype='float32'); "
            "print(json.dumps(prm.identity()['resolved_revisions']))")
    env = {**os.environ, "HF_HUB_CACHE": str(cache), "HF_HUB_OFFLINE": "1"}
    done = subprocess.run([sys.executable, "-c", code, str(spec_path)], env=env,
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    resolved = json.loads(done.stdout.strip().splitlines()[-1])
    assert resolved == {"prm": {"source": "me/tiny-prm", "requested": None, "kind": "hub",
                                "commit": COMMIT}}


def test_a_folder_that_is_a_hub_snapshot_reports_its_commit(root, shared_data, tmp_path):
    tiny = build("outcome", root, shared_data)
    cache = _hub_cache(tmp_path, tiny.path, "me/tiny-rm")
    snapshot = cache / "models--me--tiny-rm" / "snapshots" / COMMIT
    resolved = resolved_revision(str(snapshot))
    assert (resolved["kind"], resolved["commit"]) == ("local-folder", COMMIT)
    assert resolved["folder_sha256"] == _independent_hash(tiny.path)


def test_an_uncached_hub_id_says_it_could_not_be_resolved(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    resolved = resolved_revision("me/never-downloaded", None)
    assert resolved["commit"] is None and "no snapshot" in resolved["unresolved"]
