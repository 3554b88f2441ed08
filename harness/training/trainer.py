"""The training loop: seeded data order, AdamW with warmup, BCE at the read positions,
evaluation on dev and a checkpoint every K steps, resume from the last checkpoint.

Dropout is off (the model runs in eval mode while it trains): with it off, a step's result
depends only on the weights, the optimizer state and the step number, which is what makes
a killed and resumed run end bitwise equal to an uninterrupted one. With no trainable
layers (a head on frozen features), the backbone runs once per example and the head trains
on the stored features at the read positions.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from harness.errors import ConfigError
from harness.training import checkpoint
from harness.training.backbone import build_model, count_params, head_module, position_limit
from harness.training.config import TrainConfig
from harness.training.examples import Example, family_for, load_examples

LOG = "train_log.jsonl"


def _order(n: int, seed: int, epoch: int) -> np.ndarray:
    return np.random.default_rng([seed, epoch, 7]).permutation(n)


def batch_indices(step: int, batch: int, n: int, seed: int) -> list[int]:
    """Examples of optimizer step ``step`` (0-based): a seeded permutation per epoch, so the
    order depends on nothing but the seed and the step."""
    out = []
    for i in range(step * batch, (step + 1) * batch):
        epoch, k = divmod(i, n)
        out.append(int(_order(n, seed, epoch)[k]))
    return out


class Scorer:
    """Margins l1 − l0 at an example's read positions, with or without stored features."""

    def __init__(self, model: Any, frozen: bool) -> None:
        self.model = model
        self.frozen = frozen
        self.head = head_module(model)
        self._features: dict[str, Any] = {}

    def features(self, ex: Example) -> Any:
        import torch

        if ex.id not in self._features:
            with torch.no_grad():
                ids = torch.tensor([ex.ids])
                hidden = self.model.base_model(input_ids=ids).last_hidden_state[0]
                self._features[ex.id] = hidden[list(ex.read)].clone()
        return self._features[ex.id]

    def margins(self, ex: Example) -> Any:
        import torch

        if self.frozen:
            logits = self.head(self.features(ex))
        else:
            logits = self.model(input_ids=torch.tensor([ex.ids])).logits[0, list(ex.read)]
        return logits[:, 1] - logits[:, 0]


def _loss(margins: Any, targets: Any, negative_weight: float) -> tuple[Any, int]:
    import torch

    mask = ~torch.isnan(targets)
    t = targets[mask]
    weight = 1.0 + (negative_weight - 1.0) * (1.0 - t)
    loss = torch.nn.functional.binary_cross_entropy_with_logits(
        margins[mask], t, weight=weight, reduction="sum")
    return loss, int(mask.sum())


def auc(scores: np.ndarray, labels: np.ndarray) -> float | None:
    """Area under the ROC curve (ties count half); None without both classes."""
    pos, neg = scores[labels], scores[~labels]
    if not pos.size or not neg.size:
        return None
    order = np.argsort(np.concatenate([pos, neg]), kind="stable")
    values = np.concatenate([pos, neg])[order]
    ranks = np.empty(len(values))
    i = 0
    while i < len(values):  # average ranks over ties
        j = i
        while j + 1 < len(values) and values[j + 1] == values[i]:
            j += 1
        ranks[i:j + 1] = (i + j) / 2 + 1
        i = j + 1
    r = np.empty(len(values))
    r[order] = ranks
    return float((r[:pos.size].sum() - pos.size * (pos.size + 1) / 2) / (pos.size * neg.size))


def evaluate(scorer: Scorer, examples: list[Example], negative_weight: float) -> dict[str, Any]:
    import torch

    if not examples:
        return {}
    total, count, probs, labels = 0.0, 0, [], []
    with torch.no_grad():
        for ex in examples:
            m = scorer.margins(ex)
            t = torch.tensor(ex.targets, dtype=torch.float32)
            loss, n = _loss(m, t, negative_weight)
            total, count = total + float(loss), count + n
            keep = ~torch.isnan(t)
            probs.extend(torch.sigmoid(m[keep]).tolist())
            labels.extend((t[keep] >= 0.5).tolist())
    p, y = np.array(probs), np.array(labels, dtype=bool)
    area = auc(p, y)
    accuracy = float(((p >= 0.5) == y).mean())
    return {"dev_loss": round(total / count, 6), "dev_accuracy": round(accuracy, 4),
            "dev_auc": None if area is None else round(area, 4), "dev_steps": count}


class Progress:
    """A bar with the loss and tokens/s (rich, on stderr, when it is a terminal)."""

    def __init__(self, total: int, start: int) -> None:
        from harness.progress import _enabled

        self._bar: Any = None
        if _enabled():
            from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

            self._bar = Progress(TextColumn("train-prm"), BarColumn(),
                                 TextColumn("{task.completed}/{task.total}"),
                                 TextColumn("{task.fields[info]}"), TimeRemainingColumn())
            self._bar.start()
            self._task = self._bar.add_task("train", total=total, completed=start, info="")

    def update(self, step: int, info: str) -> None:
        if self._bar is not None:
            self._bar.update(self._task, completed=step, info=info)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()


def _log_lines(out: Path, upto: int) -> None:
    """Keep the log's lines up to the checkpoint a run resumes from (the rest is redone)."""
    path = out / LOG
    if not path.is_file():
        return
    kept = [line for line in path.read_text().splitlines()
            if line and json.loads(line)["step"] <= upto]
    path.write_text("".join(line + "\n" for line in kept))


def train(config: TrainConfig, *, on_step: Callable[[int], None] | None = None
          ) -> dict[str, Any]:
    """Train (or resume) to ``optim.max_steps``; returns the summary ``train.json`` holds."""
    import torch
    from transformers import AutoTokenizer

    if config.threads:
        torch.set_num_threads(config.threads)
    out = config.resolve(config.out)
    out.mkdir(parents=True, exist_ok=True)
    key_file = out / "training_key"
    key = config.training_key()
    if key_file.is_file() and key_file.read_text().strip() != key:
        raise ConfigError(f"{out} holds checkpoints of a different training config; "
                          f"give another out: or delete the folder")
    key_file.write_text(key + "\n")
    folder = config.resolve(config.backbone.path)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = build_model(folder, config.backbone, config.seed)
    model.eval()  # no dropout: see the module docstring
    limit = position_limit(model)
    family = family_for(config, tokenizer, limit)
    train_ex, dev_ex, data_info = load_examples(config, family, limit)
    if not train_ex:
        raise ConfigError(f"{config._path}: no training examples in splits "
                          f"{config.data.train_splits} of {config.data.files}")
    frozen = config.backbone.trainable_layers == 0
    scorer = Scorer(model, frozen)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = config.optim
    optimizer = torch.optim.AdamW(params, lr=opt.lr, weight_decay=opt.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min(1.0, (s + 1) / opt.warmup_steps) if opt.warmup_steps else 1.0)
    total_params, trainable = count_params(model)
    state: dict[str, Any] = {"tokens": 0, "flops_6PT": 0.0, "flops_estimated": 0.0,
                             "train_s": 0.0}
    start = 0
    last = checkpoint.latest(out)
    if last is not None:
        checkpoint.load_weights(last, model)
        checkpoint.load_optimizer(last, optimizer, scheduler)
        state = {k: v for k, v in checkpoint.read_state(last).items() if k != "step"}
        start = checkpoint.read_state(last)["step"]
        _log_lines(out, start)
    elif (out / LOG).exists():
        (out / LOG).unlink()
    bar = Progress(opt.max_steps, start)
    total: Any = None
    window: list[tuple[float, int, float]] = []
    try:
        for step in range(start, opt.max_steps):
            began = time.perf_counter()
            batch = [train_ex[i] for i in batch_indices(step, opt.batch_size, len(train_ex),
                                                        config.seed)]
            optimizer.zero_grad(set_to_none=True)
            losses, labelled = [], 0
            for ex in batch:
                loss, n = _loss(scorer.margins(ex), torch.tensor(ex.targets, dtype=torch.float32),
                                opt.negative_weight)
                losses.append(loss)
                labelled += n
            total = torch.stack(losses).sum() / max(labelled, 1)
            total.backward()
            value = float(total.detach())
            optimizer.step()
            scheduler.step()
            tokens = sum(len(ex.ids) for ex in batch)
            reads = sum(len(ex.read) for ex in batch)
            state["tokens"] += tokens
            state["flops_6PT"] += 6.0 * total_params * tokens
            # frozen: the head's work (the backbone's one pass is counted at the end);
            # else a full forward and the backward of the trainable part
            state["flops_estimated"] += (
                6.0 * trainable * reads if frozen
                else 2.0 * total_params * tokens + 4.0 * trainable * tokens)
            spent = time.perf_counter() - began
            state["train_s"] += spent
            window = [*window[-19:], (value, tokens, spent)]
            done = step + 1
            rate = sum(w[1] for w in window) / max(sum(w[2] for w in window), 1e-9)
            bar.update(done, f"loss {np.mean([w[0] for w in window]):.4f}  {rate:,.0f} tok/s")
            record: dict[str, Any] | None = None
            if done % config.eval_every == 0 or done == opt.max_steps:
                record = {"step": done, "train_loss": round(value, 6),
                          "lr": scheduler.get_last_lr()[0], "tokens": state["tokens"],
                          **evaluate(scorer, dev_ex, opt.negative_weight)}
            if done % config.save_every == 0 or done == opt.max_steps:
                checkpoint.save(out, done, model, optimizer, scheduler, state)
                record = record or {"step": done, "train_loss": round(value, 6)}
                record["checkpoint"] = True
                record["flops_6PT"] = state["flops_6PT"]
            if record is not None:
                with (out / LOG).open("a") as log:
                    log.write(json.dumps(record, sort_keys=True) + "\n")
            if on_step is not None:
                on_step(done)
    finally:
        bar.close()
    if frozen and data_info["train_tokens"]:
        # the one pass of the frozen backbone over every example, counted once
        state["flops_estimated_features"] = 2.0 * total_params * (
            data_info["train_tokens"] + sum(len(e.ids) for e in dev_ex))
    summary = {"name": config.name, "steps": opt.max_steps, "params": total_params,
               "trainable_params": trainable, "resumed_from": start or None, **state,
               "data": data_info, "position_limit": limit,
               "final_dev": evaluate(scorer, dev_ex, opt.negative_weight)}
    if total is not None and not math.isfinite(value):
        raise ConfigError(f"train-prm {config.name}: the loss is not finite ({value})")
    return summary
