"""The hub path of the math loaders, for real: a Hugging Face cache folder laid out as
``huggingface_hub`` writes it (blobs, snapshots/<revision>/<file>, refs/main), read by
``hf_hub_download`` with ``HF_HUB_OFFLINE=1`` in a fresh process (the hub library reads
its settings at import). The cached files are the mirror's records in each hub copy's own
layout (AIME 2024 as HuggingFaceH4's parquet, with ``year`` and without ``question``)."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness.store.jsonl import read_jsonl
from harness.tasks import aime24, math500, prm800k, processbench

LOAD_ALL = """
import json
from harness.registry import TASKS
from harness.tasks.processbench import SPLITS, load_split
from harness.tasks.prm800k import read_rated_steps
out = {}
for name in ("math500", "aime24", "prm800k"):
    task = TASKS.build(name)
    problems = task.load()
    out[name] = {"n": len(problems), "sources": task.sources,
                 "first": problems[0].id, "reference": problems[0].reference,
                 "metadata": sorted(problems[0].metadata)}
for split in SPLITS:
    items, source = load_split(split, None)
    out[split] = {"n": len(items), "source": source, "first": items[0].id}
steps, source = read_rated_steps(None)
out["rated_steps"] = {"n": len(steps), "source": source}
print(json.dumps(out))
"""


def _cache_file(cache: Path, repo_id: str, revision: str, filename: str, data: bytes) -> str:
    """Put ``data`` into the cache as huggingface_hub does; returns its sha256."""
    digest = hashlib.sha256(data).hexdigest()
    repo = cache / f"datasets--{repo_id.replace('/', '--')}"
    (repo / "blobs").mkdir(parents=True, exist_ok=True)
    (repo / "blobs" / digest).write_bytes(data)
    link = repo / "snapshots" / revision / filename
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(os.path.relpath(repo / "blobs" / digest, link.parent))
    (repo / "refs").mkdir(exist_ok=True)
    (repo / "refs" / "main").write_text(revision)
    return digest


def _aime_parquet(shared_data: Path) -> bytes:
    """The mirror's AIME records in the hub copy's columns, as parquet bytes."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = [rec for _, rec in read_jsonl(shared_data / "aime24" / "test.jsonl")]
    table = pa.table({"id": pa.array([r["id"] for r in rows], pa.int64()),
                      **{k: [r[k] for r in rows] for k in ("problem", "solution", "answer",
                                                           "url")},
                      "year": ["2024"] * len(rows)})
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)
    return sink.getvalue().to_pybytes()


@pytest.fixture(scope="module")
def hub_cache(shared_data, tmp_path_factory):
    cache = tmp_path_factory.mktemp("hf-cache")
    digests = {}
    for hub, relpath in [(math500.HUB_FILE, math500.MIRROR_PATH),
                         (prm800k.PARQUET_HUB, prm800k.PARQUET_PATH)]:
        digests[hub.repo_id] = _cache_file(cache, hub.repo_id, hub.revision, hub.filename,
                                           (shared_data / relpath).read_bytes())
    hub = aime24.HUB_FILE
    digests[hub.repo_id] = _cache_file(cache, hub.repo_id, hub.revision, hub.filename,
                                       _aime_parquet(shared_data))
    for split in processbench.SPLITS:
        digests[split] = _cache_file(cache, processbench.HUB_REPO, processbench.HUB_REVISION,
                                     f"{split}.json",
                                     (shared_data / "processbench" / f"{split}.json")
                                     .read_bytes())
    return cache, digests


def _offline_env(cache: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PRM_HARNESS_DATA"}
    env.update(HF_HUB_CACHE=str(cache), HF_HUB_OFFLINE="1")
    return env


def test_every_math_loader_reads_its_pinned_hub_copy(hub_cache):
    cache, digests = hub_cache
    proc = subprocess.run([sys.executable, "-c", LOAD_ALL], env=_offline_env(cache),
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)

    def hub(source, repo_id, revision, filename, digest):
        assert source == {"source": "hub", "repo_id": repo_id, "filename": filename,
                          "revision": revision, "sha256": digest}

    assert out["math500"]["n"] == 500 and out["math500"]["first"] == "test/precalculus/807.json"
    m = math500.HUB_FILE
    hub(out["math500"]["sources"]["test"], "HuggingFaceH4/MATH-500",
        "ff5b20257d8185524591543f8ff5993951537bb8", m.filename, digests[m.repo_id])
    a = aime24.HUB_FILE
    assert out["aime24"]["n"] == 30 and out["aime24"]["first"] == "aime24-60"
    assert out["aime24"]["reference"] == "204" and "year" in out["aime24"]["metadata"]
    hub(out["aime24"]["sources"]["test"], "HuggingFaceH4/aime_2024",
        "2fe88a2f1091d5048c0f36abc874fb997b3dd99a", "data/train-00000-of-00001.parquet",
        digests[a.repo_id])
    p = prm800k.PARQUET_HUB
    assert out["prm800k"]["n"] == 101 and out["rated_steps"]["n"] == 5449
    hub(out["rated_steps"]["source"], "Birchlabs/openai-prm800k-stepwise-critic",
        "3a4453bc147fa58da4113e7200314f3f1a9aab54",
        "data/phase1_test.stepwise-critic.parquet", digests[p.repo_id])
    assert out["prm800k"]["sources"]["rated_steps"] == out["rated_steps"]["source"]
    assert out["prm800k"]["sources"]["math_split"] == out["math500"]["sources"]["test"]
    for split, n in zip(processbench.SPLITS, (400, 1000, 1000, 1000), strict=True):
        assert out[split]["n"] == n and out[split]["first"] == f"{split}-0"
        hub(out[split]["source"], "Qwen/ProcessBench",
            "3bdcd5371ed567559a78f559c01c13a6deee7604", f"{split}.json", digests[split])


def test_tasks_check_runs_on_the_hub_copy(hub_cache):
    cache, _ = hub_cache
    proc = subprocess.run([sys.executable, "-m", "harness.cli", "tasks", "check", "aime24"],
                          env=_offline_env(cache), capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["identity"]["sources"]["test"]["source"] == "hub"
    assert result["pass_rate"] == 1.0


def test_a_file_missing_from_hub_and_mirror_is_a_clear_error(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "harness.cli", "tasks", "check", "aime24"],
                          env=_offline_env(tmp_path), capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 2
    assert ("HuggingFaceH4/aime_2024/data/train-00000-of-00001.parquet"
            "@2fe88a2f1091d5048c0f36abc874fb997b3dd99a is not in the local hub cache"
            ) in proc.stderr
    assert proc.stderr.count("\n") == 1 and "<input>" not in proc.stderr
    assert "--data-dir" in proc.stderr and "PRM_HARNESS_DATA" in proc.stderr
