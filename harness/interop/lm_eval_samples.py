"""Importer ``lm-eval-samples``: an lm-evaluation-harness samples log as a pool.

The file is what ``lm_eval --log_samples`` writes (``samples_<task>_<date>.jsonl``): one
line per (document, filter) with ``doc_id``, ``doc``, ``target``, ``arguments``,
``resps``, ``filtered_resps``, ``filter`` and the ``doc_hash`` / ``prompt_hash`` /
``target_hash``. A generation task run with ``repeats: N`` has one request per document
whose ``resps[0]`` holds the N responses: they become the problem's N samples (in order).
A document logged under several filters has the same responses on each line (checked);
it is read once.

The problem id is the document's ``problem_id``, ``unique_id`` or ``task_id`` field (the
first that is a string: the harness' own export, MATH-500 and HumanEval name it so), else
the ``doc_id``. lm-eval's per-document metrics score only the filtered response, not each
sample, so the log carries no per-sample grades: import it with ``--task`` to grade.
The provenance of each problem (the manifest's ``problems``) keeps lm-eval's ``doc_id``,
the three hashes, the target, the prompt and the filters it was logged under.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harness.errors import InputError
from harness.steps import split_blank_lines
from harness.store.importers import ImportedPool, Importer
from harness.store.jsonl import read_jsonl
from harness.types import Sample

ID_FIELDS = ("problem_id", "unique_id", "task_id")
HASHES = ("doc_hash", "prompt_hash", "target_hash")


def problem_id_of(doc: Any, doc_id: int) -> str:
    if isinstance(doc, dict):
        for name in ID_FIELDS:
            if isinstance(doc.get(name), str):
                return str(doc[name])
    return str(doc_id)


def _responses(row: dict[str, Any], path: Path, line: int) -> list[str]:
    resps = row.get("resps")
    if (not isinstance(resps, list) or len(resps) != 1 or not isinstance(resps[0], list)
            or not resps[0] or not all(isinstance(r, str) for r in resps[0])):
        raise InputError("expected one generation request's responses, [[text, ...]] "
                         "(a generate_until task; repeats give the N samples)",
                         path=path, line=line, field="resps")
    return list(resps[0])


def read_lm_eval_samples(path: Path) -> ImportedPool:
    pool = ImportedPool()
    seen: dict[int, tuple[int, list[str]]] = {}
    for line, row in read_jsonl(path):
        doc_id = row.get("doc_id")
        if not isinstance(doc_id, int) or isinstance(doc_id, bool):
            raise InputError("missing or not an integer", path=path, line=line,
                             field="doc_id")
        for name in HASHES:
            if not isinstance(row.get(name), str):
                raise InputError("missing or not a string", path=path, line=line, field=name)
        texts = _responses(row, path, line)
        pid = problem_id_of(row.get("doc"), doc_id)
        if doc_id in seen:
            first, before = seen[doc_id]
            if before != texts:
                raise InputError(f"doc_id {doc_id} logged again with other responses (first "
                                 f"on line {first})", path=path, line=line, field="resps")
            pool.problems[pid]["lm_eval_filters"].append(row.get("filter"))
            continue
        if pid in pool.samples:
            raise InputError(f"problem id {pid!r} names two documents", path=path, line=line,
                             field="doc")
        seen[doc_id] = (line, texts)
        arguments = row.get("arguments") or {}
        first_request = arguments.get("gen_args_0", {}) if isinstance(arguments, dict) else {}
        pool.problems[pid] = {
            "lm_eval_doc_id": doc_id, **{name: row[name] for name in HASHES},
            "target": row.get("target"), "prompt": first_request.get("arg_0"),
            "gen_kwargs": first_request.get("arg_1"), "lm_eval_filters": [row.get("filter")]}
        for j, text in enumerate(texts):
            pool.add(Sample(pid, j, text, steps=split_blank_lines(text), sample_id=str(j)))
    if not pool.samples:
        raise InputError("no documents in file", path=path)
    return pool


class LmEvalSamplesImporter(Importer):
    """Registered as importer ``lm-eval-samples``."""

    name = "lm-eval-samples"

    def read(self, path: Path, prm_id: str, transform: str) -> ImportedPool:
        return read_lm_eval_samples(path)
