"""The transformers backend on a CUDA GPU gives the CPU's scores (float32, to 1e-4), for
every family. Runs only where torch sees a GPU (the device machine); skipped elsewhere."""

from __future__ import annotations

import pytest
import torch
from prm_tiny import FAMILY_CASES, as_problems_samples, make_prm, max_abs_diff, tiny_root
from prm_tiny import samples_from_processbench as draw

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


@pytest.mark.parametrize("case", sorted(FAMILY_CASES))
def test_gpu_scores_equal_cpu_scores(case, tmp_path_factory, shared_data):
    root = tiny_root(tmp_path_factory)
    data = as_problems_samples(draw(shared_data, 16, seed=61))
    cpu = [r.scores for r in make_prm(case, root, shared_data).score(*data)]
    prm = make_prm(case, root, shared_data, device="cuda", padding_side="left",
                   batch_tokens=8192)
    gpu = [r.scores for r in prm.score(*data)]
    worst = max_abs_diff(gpu, cpu)
    print(f"\n[gpu-equality] {case}: max |cuda - cpu| = {worst:.2e}")
    assert prm.runners["prm"].device.startswith("cuda")
    for have, want in zip(gpu, cpu, strict=True):
        assert have == pytest.approx(want, abs=1e-4)
