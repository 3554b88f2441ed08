"""Generation through Ray Data's vLLM batch processor (``ray.data.llm``), for clusters.

``executor: {name: ray, options: {generation: ray_data, ray_data: {...}}}`` sends a run's
pool units here instead of to engine actors. Every sample becomes one dataset row holding
the prompt's token ids (rendered on the driver by the same chat-template code as the
``vllm`` policy) and the seed vLLM would give it inside an n-sample request (the request
seed plus j), so the texts are those of the ``vllm`` policy with the same options; greedy
asks once per problem and copies, as the policy does. The rows stream back through the
processor; each pool shard is written (atomically, with the store's writer) as soon as its
last row arrives, so a failed job leaves only whole shards and a resumed run redoes the
rest. Options under ``ray_data``: ``batch_size`` (rows per engine call, default 16),
``concurrency`` (engine replicas, default the executor's ``actors`` or what the cluster's
resources hold) and ``processor`` (further fields of ``vLLMEngineProcessorConfig``).
"""

from __future__ import annotations

import importlib.metadata
import inspect
import json
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from harness.errors import ConfigError, HarnessError
from harness.interfaces import SamplingParams
from harness.models.compute import estimate_flops
from harness.models.model_files import folder_identity, local_folder
from harness.models.policies.chat import (
    encode_prompt,
    load_tokenizer,
    read_chat_template,
    render_prompt,
)
from harness.models.policies.vllm import VllmPolicy, engine_request, engine_settings
from harness.pipeline import plugins
from harness.pipeline.stages import ShardOutcome, ShardSpec, write_unit
from harness.store.records import to_row
from harness.types import Problem

#: policy options that go to the engine (the rest: model, revision, tokenizer, template),
#: and all of the policy's: read off the signatures, so they cannot drift from the policy
_ENGINE_OPTIONS = tuple(inspect.signature(engine_settings).parameters)
_POLICY_OPTIONS = tuple(inspect.signature(VllmPolicy.__init__).parameters)[1:]
#: how a shard's wall seconds are measured on this path
WALL_RULE = "seconds of the job's elapsed time between the previous shard's last row and this one's"


@dataclass(frozen=True)
class RayDataOptions:
    """The ``ray_data`` options of the Ray executor (see the module docstring)."""

    batch_size: int = 16
    concurrency: int | None = None
    processor: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def parse(cls, raw: dict[str, Any] | None) -> RayDataOptions:
        raw = dict(raw or {})
        unknown = sorted(set(raw) - {"batch_size", "concurrency", "processor"})
        if unknown:
            raise ConfigError(f"executor ray: unknown ray_data option(s) {unknown}; "
                              "known: batch_size, concurrency, processor")
        options = cls(**raw)
        if not isinstance(options.batch_size, int) or options.batch_size < 1:
            raise ConfigError("executor ray: ray_data.batch_size must be an integer >= 1")
        if options.concurrency is not None and (not isinstance(options.concurrency, int)
                                                or options.concurrency < 1):
            raise ConfigError("executor ray: ray_data.concurrency must be an integer >= 1")
        if not isinstance(options.processor, dict):
            raise ConfigError("executor ray: ray_data.processor must be a mapping")
        return options


@dataclass
class _Shard:
    """One pool unit while its rows come back."""

    spec: ShardSpec
    problems: list[Problem]
    params: SamplingParams
    greedy: bool
    prompt_tokens: dict[str, int]
    texts: dict[tuple[str, int], tuple[str, int, str]] = field(default_factory=dict)

    @property
    def expected(self) -> int:
        return len(self.problems) * (1 if self.greedy else self.params.n)


def _policy_options(units: Sequence[ShardSpec]) -> dict[str, Any]:
    policies = {json.dumps(u.policy.model_dump(mode="json"), sort_keys=True)
                for u in units if u.policy is not None}
    first = units[0].policy
    if first is None or first.name != "vllm":
        name = None if first is None else first.name
        raise ConfigError(f"executor ray: generation ray_data runs the vllm policy only "
                          f"(Ray Data's vLLM processor), but the policy is {name!r}")
    if len(policies) != 1:
        raise ConfigError("executor ray: generation ray_data needs one policy for all units")
    options = dict(first.options)
    unknown = sorted(set(options) - set(_POLICY_OPTIONS))
    if unknown:
        raise ConfigError(f"policy vllm: unknown option(s) {unknown}")
    if not isinstance(options.get("model"), str):
        raise ConfigError("policy vllm: option 'model' (a folder or hub id) is required")
    return options


def eos_ids(model: str, revision: str | None, tokenizer: Any) -> set[int]:
    """The token ids vLLM stops at: the generation config's ``eos_token_id`` (one or a
    list) and the tokenizer's, which tell a finish by EOS from one by length."""
    ids: set[int] = set()
    if tokenizer.eos_token_id is not None:
        ids.add(int(tokenizer.eos_token_id))
    folder = local_folder(model, revision)
    config = folder / "generation_config.json" if folder is not None else None
    if config is not None and config.is_file():
        value = json.loads(config.read_text(encoding="utf-8")).get("eos_token_id")
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, int):
                ids.add(item)
    return ids


def finish_reason(text: str, tokens: Sequence[int], params: SamplingParams,
                  eos: set[int]) -> str:
    """vLLM's finish reason, which Ray Data's output rows leave out: a request that ended
    before ``max_tokens``, or on an EOS token or a stop string, stopped; else its length
    ran out."""
    if len(tokens) < params.max_tokens:
        return "stop"
    if tokens and int(tokens[-1]) in eos:
        return "stop"
    if any(text.endswith(stop) for stop in params.stop):
        return "stop"
    return "length"


def plan_rows(units: Sequence[ShardSpec], tokenizer: Any, chat_template: str | None
              ) -> tuple[list[_Shard], list[dict[str, Any]]]:
    """Each unit's shard and the dataset rows of all units (one per sample to draw)."""
    shards: list[_Shard] = []
    rows: list[dict[str, Any]] = []
    for unit_index, spec in enumerate(units):
        assert spec.sampling is not None and spec.seed is not None
        task = plugins.task(spec.task)
        by_id = plugins.problems(spec.task)
        problems = [by_id[i] for i in spec.problem_ids]
        params = SamplingParams(**{**spec.sampling.model_dump(), "seed": spec.seed})
        request = engine_request(params)
        greedy = params.temperature == 0
        shard = _Shard(spec, problems, params, greedy, {})
        for problem in problems:
            text = render_prompt(tokenizer, task.prompt(problem, spec.task.prompt_style),
                                 chat_template=chat_template)
            ids = encode_prompt(tokenizer, text)
            shard.prompt_tokens[problem.id] = len(ids)
            for j in range(1 if greedy else params.n):
                sampling = {**request, "n": 1, "seed": request["seed"] + j}
                rows.append({"unit": unit_index, "problem": problem.id, "j": j,
                             "tokenized_prompt": ids, "sampling_params": sampling})
        shards.append(shard)
    return shards, rows


def _versions() -> dict[str, str | None]:
    found: dict[str, str | None] = {}
    for name in ("ray", "vllm", "transformers", "torch"):
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            found[name] = None  # not on the driver; the workers' engine has its own
    return found


def generate_with_ray_data(units: Sequence[ShardSpec], options: RayDataOptions,
                           num_cpus: float, num_gpus: float, concurrency: int
                           ) -> Iterator[ShardOutcome]:
    """Write every unit's pool shard from Ray Data's vLLM processor; yield each outcome
    as its shard is written (in the order the shards complete)."""
    if not units:
        return
    try:
        import ray
        from ray.data.llm import build_processor, vLLMEngineProcessorConfig
    except ImportError as exc:
        raise ConfigError(f"executor ray: generation ray_data needs Ray Data "
                          f"(pip install 'prm-harness[ray]'): {exc}") from None
    policy = _policy_options(units)
    model, revision = policy["model"], policy.get("revision")
    tokenizer_source = policy.get("tokenizer") or model
    tokenizer = load_tokenizer(tokenizer_source, revision)
    chat_template = read_chat_template(policy.get("chat_template"))
    shards, rows = plan_rows(units, tokenizer, chat_template)
    eos = eos_ids(model, revision, tokenizer)
    engine = engine_settings(**{k: policy[k] for k in _ENGINE_OPTIONS if k in policy})
    engine_kwargs = {**engine, "tokenizer": tokenizer_source, "revision": revision,
                     "tokenizer_revision": revision if policy.get("tokenizer") is None
                     else None}
    bundle = {"CPU": num_cpus, **({"GPU": num_gpus} if num_gpus else {})}
    try:
        config = vLLMEngineProcessorConfig(
            model_source=model, engine_kwargs=engine_kwargs,
            batch_size=options.batch_size, concurrency=options.concurrency or concurrency,
            tokenize_stage=False, chat_template_stage=False, detokenize_stage=False,
            log_engine_metrics=False,
            placement_group_config={"bundle_per_worker": bundle}, **options.processor)
    except Exception as exc:  # pydantic names the bad field
        raise ConfigError(f"executor ray: bad ray_data processor option: {exc}") from None
    processor = build_processor(config, preprocess=_preprocess, postprocess=_postprocess)
    files = folder_identity(model, revision)
    identity = {"backend": "vllm", "via": "ray.data.llm", **files,
                "tokenizer": tokenizer_source, "engine": engine,
                "chat_template_override": chat_template is not None,
                "tokens_in_counting": "prompt tokens once per problem (its n samples share "
                                      "it)", "versions": _versions(),
                "params": files.get("params"), "device": "cuda" if num_gpus else "cpu"}
    started = last = time.perf_counter()
    done = 0
    dataset = processor(ray.data.from_items(rows))
    try:
        for row in dataset.iter_rows():
            shard = shards[int(row["unit"])]
            tokens = list(row["generated_tokens"])
            text = str(row["generated_text"])
            shard.texts[(str(row["problem"]), int(row["j"]))] = (
                text, len(tokens), finish_reason(text, tokens, shard.params, eos))
            if len(shard.texts) == shard.expected:
                now = time.perf_counter()
                yield _write(shard, now - last, identity, options)
                last, done = now, done + 1
    except HarnessError:
        raise
    except Exception as exc:  # Ray raises its own types for a failed dataset
        raise HarnessError(
            f"ray.data.llm generation failed after {done} of {len(shards)} pool shards "
            f"({time.perf_counter() - started:.0f} s); the written shards stay and a "
            f"resumed run redoes the rest: {type(exc).__name__}: "
            f"{str(exc).splitlines()[0] if str(exc) else ''}") from None
    if done != len(shards):
        raise HarnessError(f"ray.data.llm returned rows for {done} of {len(shards)} pool "
                           f"shards only")


def _preprocess(row: dict[str, Any]) -> dict[str, Any]:
    return {"tokenized_prompt": row["tokenized_prompt"], "prompt": "",
            "sampling_params": row["sampling_params"], "unit": row["unit"],
            "problem": row["problem"], "j": row["j"]}


def _postprocess(row: dict[str, Any]) -> dict[str, Any]:
    error = row.get("__inference_error__")
    if error:
        raise HarnessError(f"vLLM failed on problem {row.get('problem')!r} sample "
                           f"{row.get('j')}: {error}")
    return {"unit": row["unit"], "problem": row["problem"], "j": row["j"],
            "generated_text": row["generated_text"],
            "generated_tokens": list(row["generated_tokens"])}


def _write(shard: _Shard, wall_s: float, identity: dict[str, Any],
           options: RayDataOptions) -> ShardOutcome:
    """The shard's rows exactly as ``generate_shard`` writes them, and its meta."""
    spec, params = shard.spec, shard.params
    task = plugins.task(spec.task)
    rows = []
    tokens_in = tokens_out = 0
    for problem in shard.problems:
        prompt_tokens = shard.prompt_tokens[problem.id]
        tokens_in += prompt_tokens
        for j in range(params.n):
            text, n_tokens, finish = shard.texts[(problem.id, 0 if shard.greedy else j)]
            if not shard.greedy or j == 0:
                tokens_out += n_tokens
            sample = task.prepare(problem, j, text)
            sample.prompt_tokens = prompt_tokens
            sample.completion_tokens = n_tokens
            sample.finish_reason = finish
            rows.append(to_row(sample))
    params_count = identity.get("params")
    flops = estimate_flops(params_count, tokens_in, tokens_out)
    call = {"kind": "sample", "tokens_in": tokens_in, "tokens_out": tokens_out,
            "params": params_count, "flops": flops, "wall_s": wall_s,
            "device": identity["device"]}
    compute = {"tokens_in": tokens_in, "tokens_out": tokens_out, "params": params_count,
               "flops": flops, "wall_s": wall_s, "device": identity["device"], "calls": 1}
    meta = {"seed": params.seed, "compute": compute, "calls": [call],
            "generation": {"via": "ray.data.llm", "batch_size": options.batch_size,
                           "wall_rule": WALL_RULE}}
    return write_unit(spec, rows, meta, time.perf_counter() - wall_s, identity)

