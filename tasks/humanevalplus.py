"""HumanEval+ (evalplus): 164 functions, the original tests' inputs plus ~750 extra
inputs each, graded by differential testing against the canonical solution."""

from __future__ import annotations

from typing import ClassVar

from harness.data import UrlFile
from harness.tasks.evalplus_base import EvalplusTask

_RELEASE = "https://github.com/evalplus/humanevalplus_release/releases/download"


class HumanEvalPlusTask(EvalplusTask):
    """HumanEval+ (evalplus v0.1.10): base + plus inputs, evalplus semantics."""

    name: ClassVar[str] = "humanevalplus"
    dataset: ClassVar[str] = "humaneval"
    default_version: ClassVar[str] = "v0.1.10"
    versions: ClassVar[dict[str, tuple[str, UrlFile]]] = {
        "v0.1.10": ("humanevalplus/v0.1.10/HumanEvalPlus.jsonl.gz",
                    UrlFile(f"{_RELEASE}/v0.1.10/HumanEvalPlus.jsonl.gz",
                            "272720b90ac375502c8ed23cd791c2a93dfb22a911641a494da74a426c09f101")),
    }
