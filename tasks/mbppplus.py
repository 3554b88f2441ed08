"""MBPP+ (evalplus): sanitized MBPP functions with many extra inputs, graded by
differential testing against the canonical solution."""

from __future__ import annotations

from typing import Any, ClassVar

from harness.data import UrlFile
from harness.grading.runners.evalplus_inputs import mbpp_inputs
from harness.tasks.evalplus_base import EvalplusTask

_RELEASE = "https://github.com/evalplus/mbppplus_release/releases/download"


class MbppPlusTask(EvalplusTask):
    """MBPP+ (evalplus v0.2.0, or v0.1.0 with version=v0.1.0): evalplus semantics."""

    name: ClassVar[str] = "mbppplus"
    dataset: ClassVar[str] = "mbpp"
    default_version: ClassVar[str] = "v0.2.0"
    versions: ClassVar[dict[str, tuple[str, UrlFile]]] = {
        "v0.2.0": ("mbppplus/v0.2.0/MbppPlus.jsonl.gz",
                   UrlFile(f"{_RELEASE}/v0.2.0/MbppPlus.jsonl.gz",
                           "af43697e8791c4c149bdfd6b489d8b5412507551ac20e28a439f650b8225db63")),
        "v0.1.0": ("mbppplus/v0.1.0/MbppPlus.jsonl.gz",
                   UrlFile(f"{_RELEASE}/v0.1.0/MbppPlus.jsonl.gz",
                           "57d639e77667d88930052b2b07212011c25c0bab94dfc1f19d15e1f7f558bfa9")),
    }

    def convert_inputs(self, task_id: str, inputs: list[Any]) -> list[Any]:
        return mbpp_inputs(task_id, inputs)
