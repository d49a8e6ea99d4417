"""Masked k-mer modelling (DNABERT's pretraining objective) and its no-learning baseline.

- :func:`pretrain_masked_kmers` trains a ``BertForMaskedLM`` for a number of optimizer
  **steps** (not epochs) to restore contiguous k-mer spans masked by
  :func:`course_lib.tokenization.mask_tokens`, with a linear warm-up and decay;
- :func:`masked_hits` scores a model and the copy baseline of
  :mod:`course_lib.baselines` on the **same** corruptions of held-out sequences, one row per
  sequence, and :func:`accuracy_against_copy` turns them into both accuracies with a paired
  bootstrap interval of their difference over sequences.

A model has learned something about the sequences only when its masked-token accuracy exceeds
the copy baseline: the best one can do by copying what the 80/10/10 corruption leaves visible.
Chapter 3 uses it (:mod:`course_lib.chapters.ch3_pretraining`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from functools import partial
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from course_lib import distributed
from course_lib.baselines import _kmer_copy_hits
from course_lib.tokenization import IGNORE_INDEX, KmerVocabulary, mask_tokens
from course_lib.training import (
    FitResult,
    dnabert_optimizer,
    epoch_bar,
    select_device,
)
from course_lib.uncertainty import paired_bootstrap
from course_lib.updates import optimizer_step

if TYPE_CHECKING:
    from transformers import BertConfig


def _log_row(step: int, losses: list[float], hits: list[int], counts: list[int]) -> dict:
    """One history row: mean loss and masked accuracy over the steps since the last row."""
    n = max(sum(counts), 1)
    loss = sum(value * c for value, c in zip(losses, counts, strict=True)) / n
    return {"step": step, "mlm_loss": loss, "masked_accuracy": sum(hits) / n}


def _batches(n: int, batch_size: int, generator: torch.Generator) -> Iterator[torch.Tensor]:
    """Endless batches of row numbers ``[batch_size]``, reshuffling ``range(n)`` each pass."""
    order = torch.empty(0, dtype=torch.long)
    while True:
        if len(order) < batch_size:
            order = torch.cat([order, torch.randperm(n, generator=generator)])
        batch, order = order[:batch_size], order[batch_size:]
        yield batch


#: ``update(rows, step number) -> (loss, tokens right, tokens scored)`` or ``None`` when
#: nothing was masked: one optimizer step of :func:`pretrain_masked_kmers` on ``rows``.
Update = Callable[[torch.Tensor, int], tuple[float, int, int] | None]


def _run_steps(
    update: Update, scheduler: Any, batches: Iterable[tuple[int, torch.Tensor]], log_every: int
) -> list[dict]:
    """The loop of :func:`pretrain_masked_kmers` over ``(step number, rows)``: one history row
    every ``log_every`` steps and after the last; ``update`` is :func:`_update` (one process)
    or :func:`_sharded_update` (a ``torchrun`` rank)."""
    rows, window, number = [], ([], [], []), 0
    for number, batch in batches:
        values = update(batch, number)
        if values is None:
            scheduler.step()  # nothing masked: skip the update, keep the schedule
        else:
            for column, value in zip(window, values, strict=True):
                column.append(value)
        if number % log_every == 0:
            rows.append(_log_row(number, *window))
            window = ([], [], [])
    if window[0] or not rows or rows[-1]["step"] != number:
        rows.append(_log_row(number, *window))
    return rows


def _update(
    model: nn.Module,
    step: Callable[..., float],
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    masking: tuple,
    rows: torch.Tensor,
    number: int,
) -> tuple[float, int, int] | None:
    """One process's :data:`Update`: :func:`_mlm_step` on ``rows``, then ``step(loss, where=)``
    (:func:`~course_lib.updates.optimizer_step`); ``masking`` the trailing arguments of
    :func:`_mlm_step`."""
    found = _mlm_step(model, input_ids[rows], attention_mask[rows], *masking)
    if found is None:
        return None
    return (step(found[0], where=f"at step {number}"), *found[1:])


def _sharded_update(
    net: nn.Module,
    step: Callable[..., torch.Tensor],
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    masking: tuple,
    rows: torch.Tensor,
    number: int,
) -> tuple[float, int, int] | None:
    """A ``torchrun`` rank's :data:`Update`: every rank masks the same global batch ``rows``
    as :func:`_mlm_step` does, runs ``net`` (the model in DDP) on its micro-batches, each loss
    weighted by its share of the batch's masked tokens, and takes the synchronised ``step``
    (:func:`course_lib.distributed.sharded_step`)."""
    vocab, probability, generator, device = masking
    plan = distributed.active()
    corrupted, labels = mask_tokens(input_ids[rows], vocab, probability, generator=generator)
    total = int((labels != IGNORE_INDEX).sum())
    if not total:
        return None  # nothing masked on any rank: every rank skips alike
    mask = attention_mask[rows]

    def piece(part: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        target = labels[part].to(device)
        with plan.autocast():
            out = net(corrupted[part].to(device), mask[part].to(device), labels=target)
        scored = target != IGNORE_INDEX
        right = (out.logits.argmax(-1)[scored] == target[scored]).sum().float().reshape(1)
        zero = out.logits.sum() * 0.0
        return distributed.share(out.loss, int(scored.sum()), total, zero), right

    values = step(piece, len(rows), where=f"at step {number}")
    return float(values[0]), int(values[1]), total


def _updater(model: nn.Module, optimizer: torch.optim.Optimizer, scheduler: Any) -> Callable:
    """:func:`_update` with ``model`` and its step bound (one process), or under ``torchrun``
    (:func:`course_lib.distributed.setup`) :func:`_sharded_update` through DDP."""
    plan = distributed.active()
    if plan is None:
        step = partial(optimizer_step, model, optimizer, grad_clip=1.0, scheduler=scheduler)
        return partial(_update, model, step)
    net = distributed.wrap(model, plan)
    return partial(
        _sharded_update,
        net,
        partial(distributed.sharded_step, net, optimizer, plan, 1.0, scheduler),
    )


def _mlm_step(
    model: nn.Module,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    vocab: KmerVocabulary,
    probability: float,
    generator: torch.Generator,
    device: torch.device,
) -> tuple[torch.Tensor, int, int] | None:
    """Mask one batch ``[b, T]`` and run the model: ``(loss, tokens right, tokens scored)``."""
    corrupted, labels = mask_tokens(input_ids, vocab, probability, generator=generator)
    chosen = labels != IGNORE_INDEX
    if not chosen.any():
        return None  # nothing masked: the loss would be NaN
    labels = labels.to(device)
    out = model(corrupted.to(device), attention_mask.to(device), labels=labels)
    right = int((out.logits.argmax(-1)[chosen.to(device)] == labels[chosen.to(device)]).sum())
    return out.loss, right, int(chosen.sum())


def pretrain_masked_kmers(
    config: BertConfig,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    vocab: KmerVocabulary,
    *,
    steps: int,
    batch_size: int = 64,
    lr: float = 1e-3,
    warmup_fraction: float = 0.06,
    mask_probability: float = 0.15,
    log_every: int = 100,
    seed: int = 0,
    device: str | torch.device = "auto",
    show_progress: bool = True,
    description: str = "MLM pretraining",
) -> tuple[nn.Module, FitResult]:
    """Masked k-mer modelling: train a fresh ``BertForMaskedLM`` for ``steps`` optimizer steps.

    ``config`` is a ``BertConfig`` (e.g. :func:`course_lib.models.bert.small_bert_config`);
    ``input_ids`` and ``attention_mask`` ``[n, T]`` are the pretraining sequences (never a
    test row of the task). Each step draws ``batch_size`` of them (reshuffled every pass) and
    masks ``mask_probability`` of their tokens in spans of ``k`` (drawn afresh). DNABERT's
    AdamW (betas 0.9/0.98, eps 1e-6, weight decay 0.01), the learning rate rising linearly
    to ``lr`` over ``warmup_fraction`` of the steps then decaying linearly to 0, gradients
    clipped at 1.0; ``seed`` seeds initialisation, order and masks.

    Returns
    -------
    (model, FitResult)
        The ``BertForMaskedLM`` in eval mode after the last step; its history has ``step,
        mlm_loss, masked_accuracy`` every ``log_every`` steps (training batches since the
        previous row).
    """
    from course_lib.models.bert import masked_lm

    if steps < 1:
        raise ValueError(f"steps must be at least 1, got {steps}")
    device = select_device(device)
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    model = masked_lm(config).to(device).train()
    optimizer, scheduler = dnabert_optimizer(
        model, steps, lr=lr, warmup_fraction=warmup_fraction, betas=(0.9, 0.98), eps=1e-6
    )
    start = time.perf_counter()
    bar = epoch_bar(steps, description, show_progress and distributed.is_main(), unit="step")
    batches = zip(bar, _batches(len(input_ids), batch_size, generator), strict=False)
    masking = (vocab, mask_probability, generator, device)
    update = partial(_updater(model, optimizer, scheduler), input_ids, attention_mask, masking)
    rows = _run_steps(update, scheduler, batches, log_every)
    history = pd.DataFrame(rows)
    last = float(history["mlm_loss"].iloc[-1])
    seconds = time.perf_counter() - start
    return model.eval(), FitResult(history, steps, last, "mlm_loss", False, seconds)


@torch.no_grad()
def masked_hits(
    model: nn.Module,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    vocab: KmerVocabulary,
    *,
    repeats: int = 3,
    mask_probability: float = 0.15,
    batch_size: int = 256,
    seed: int = 0,
    device: str | torch.device = "auto",
) -> pd.DataFrame:
    """Per sequence: scored tokens, the model's right predictions and the copy baseline's.

    Each of ``repeats`` corruptions of ``input_ids`` ``[n, T]`` (seeded: the same for every
    model) is scored twice: by ``model`` (argmax of its masked-LM logits) and by the copy
    strategy of :func:`course_lib.baselines.kmer_copy_baseline` (its expected hits), so the
    two accuracies are paired token by token.

    Returns
    -------
    pandas.DataFrame
        ``[n]`` rows: ``scored``, ``model hits``, ``copy hits`` (summed over the repeats),
        and ``scored at [MASK]``, ``model hits at [MASK]``, ``copy hits at [MASK]``.
    """
    device = select_device(device)
    model.to(device).eval()
    generator = torch.Generator().manual_seed(seed)
    n = len(input_ids)
    sums = np.zeros((6, n))
    for _ in range(repeats):
        corrupted, labels = mask_tokens(input_ids, vocab, mask_probability, generator=generator)
        scored = (labels != IGNORE_INDEX).numpy()
        predicted = _predict_tokens(model, corrupted, attention_mask, batch_size, device)
        model_right = (predicted == labels).numpy()[scored]
        copy_right, at_mask = _kmer_copy_hits(corrupted.numpy(), labels.numpy(), vocab)
        rows = np.nonzero(scored)[0]
        for j, values in enumerate((1.0, model_right, copy_right)):
            weights = np.broadcast_to(np.asarray(values, dtype=float), rows.shape)
            sums[j] += np.bincount(rows, weights=weights, minlength=n)
            sums[j + 3] += np.bincount(rows, weights=weights * at_mask, minlength=n)
    names = ("scored", "model hits", "copy hits")
    columns = [*names, *(f"{c} at [MASK]" for c in names)]
    return pd.DataFrame(sums.T, columns=columns)


def _predict_tokens(
    model: nn.Module,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    batch_size: int,
    device: torch.device,
) -> torch.Tensor:
    """``[n, T]`` argmax of the masked-LM logits, in batches, on the CPU."""
    out = []
    for i in range(0, len(input_ids), batch_size):
        batch = (
            input_ids[i : i + batch_size].to(device),
            attention_mask[i : i + batch_size].to(device),
        )
        out.append(model(*batch).logits.argmax(-1).cpu())
    return torch.cat(out)


def _ratio(scored: np.ndarray, hits: np.ndarray) -> np.ndarray:
    """Accuracy of each resample: summed hits over summed scored tokens (last axis)."""
    return hits.sum(-1) / np.maximum(scored.sum(-1), 1)


def accuracy_against_copy(
    hits: pd.DataFrame, where: str = "", n_boot: int = 1000, seed: int = 0
) -> dict[str, float]:
    """Masked-token accuracy of the model and of the copy baseline, with a paired interval.

    Parameters
    ----------
    hits
        :func:`masked_hits` of held-out sequences.
    where
        ``""`` for every scored token, ``" at [MASK]"`` for the tokens shown as ``[MASK]``.
    n_boot, seed
        Bootstrap resamples over sequences (each keeps its tokens together) and their seed.

    Returns
    -------
    dict
        ``model accuracy``, ``copy baseline accuracy``, ``model minus copy`` with ``ci low``,
        ``ci high`` (95 %, paired bootstrap over sequences), ``above copy`` (the interval lies
        above 0), ``scored tokens`` and ``sequences``.
    """
    scored = hits[f"scored{where}"].to_numpy()
    model, copy = hits[f"model hits{where}"].to_numpy(), hits[f"copy hits{where}"].to_numpy()
    paired = paired_bootstrap(_ratio, scored, model, copy, n_boot=n_boot, seed=seed, batched=True)
    return {
        "model accuracy": float(_ratio(scored, model)),
        "copy baseline accuracy": float(_ratio(scored, copy)),
        "model minus copy": paired["difference"],
        "ci low": paired["ci low"],
        "ci high": paired["ci high"],
        "above copy": bool(paired["ci low"] > 0),
        "scored tokens": int(scored.sum()),
        "sequences": int(len(scored)),
    }


def accuracy_difference(
    hits_a: pd.DataFrame, hits_b: pd.DataFrame, where: str = "", n_boot: int = 1000, seed: int = 0
) -> dict[str, float]:
    """Masked-token accuracy of model a minus model b on the same corruptions, with a paired
    interval.

    Parameters
    ----------
    hits_a, hits_b
        :func:`masked_hits` of the same held-out sequences with the same ``seed`` (so the same
        tokens are scored), ``[n]`` rows each.
    where, n_boot, seed
        As in :func:`accuracy_against_copy`.

    Returns
    -------
    dict
        ``difference`` with ``ci low`` and ``ci high`` (95 %, paired bootstrap over sequences).
    """
    scored = hits_a[f"scored{where}"].to_numpy()
    if not np.array_equal(scored, hits_b[f"scored{where}"].to_numpy()):
        raise ValueError(
            "the two models were scored on different tokens: compute both masked_hits on the "
            "same sequences with the same seed"
        )
    a, b = hits_a[f"model hits{where}"].to_numpy(), hits_b[f"model hits{where}"].to_numpy()
    paired = paired_bootstrap(_ratio, scored, a, b, n_boot=n_boot, seed=seed, batched=True)
    return {key: paired[key] for key in ("difference", "ci low", "ci high")}
