"""Self-supervised pretraining objectives: UTR-LM's three.

- :func:`pretrain` (chapter 5) combines three switchable objectives on one forward pass of
  :class:`~course_lib.models.utr_lm.UTRLMForPretraining`:

  - ``"mlm"``: masked nucleotide modelling (15 % of nucleotides, BERT's 80/10/10 recipe);
  - ``"mfe"``: regression of the ViennaRNA minimum free energy from the ``<cls>`` embedding;
  - ``"structure"``: per-nucleotide classification as paired-left ``(``, paired-right ``)`` or
    unpaired ``.`` in the ViennaRNA MFE structure (labels from :mod:`course_lib.structure`).

DNABERT's masked k-mer modelling (chapter 3) lives in :mod:`course_lib.kmer_pretraining`.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from functools import partial
from types import SimpleNamespace
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset
from transformers import EsmConfig

from course_lib import distributed
from course_lib.encoding import to_rna
from course_lib.models.utr_lm import PretrainingOutput, UTRLMForPretraining, encode_utrs
from course_lib.structure import FoldedRNA, structure_labels
from course_lib.token_batches import LengthBucketSampler, collate_trimmed
from course_lib.tokenization import IGNORE_INDEX, KmerVocabulary, TokenBatch, mask_tokens
from course_lib.training import (
    BestState,
    FitResult,
    run_epochs,
    select_device,
    to_device,
    warmup_linear_schedule,
)
from course_lib.updates import optimizer_step

OBJECTIVES = ("mlm", "mfe", "structure")


def check_objectives(objectives: Iterable[str]) -> tuple[str, ...]:
    """Validated, de-duplicated objectives in canonical order; at least one."""
    objectives = tuple(objectives)
    unknown = [o for o in objectives if o not in OBJECTIVES]
    if unknown or not objectives:
        raise ValueError(f"objectives must be a non-empty subset of {OBJECTIVES}, got {objectives}")
    return tuple(o for o in OBJECTIVES if o in objectives)


def structure_targets(structures: Sequence[str], width: int) -> np.ndarray:
    """Per-token structure labels aligned with :func:`encode_utrs` output of width ``T``.

    Position 0 is ``<cls>``, so nucleotide ``i`` sits at token ``i + 1``. Special and padding
    positions get ``-100`` (ignored by the loss).

    Returns
    -------
    numpy.ndarray
        ``int64`` ``[n, width]`` with values 0 ``(``, 1 ``)``, 2 ``.`` or ``-100``.
    """
    out = np.full((len(structures), width), IGNORE_INDEX, dtype=np.int64)
    for i, structure in enumerate(structures):
        if len(structure) + 2 > width:
            raise ValueError(
                f"structure #{i} has {len(structure)} nt but tokens are only {width} wide "
                "(<cls> and <eos> take two); encode with a larger max_length"
            )
        out[i, 1 : 1 + len(structure)] = structure_labels(structure)
    return out


class PretrainingData(Dataset):
    """Tokens of a UTR corpus with optional ViennaRNA labels, for :func:`pretrain`.

    Items are dicts of tensors: ``input_ids`` and ``attention_mask`` ``[T]``, ``mlm_row``
    (bool: whether masked modelling scores this row; ``False`` for random-library rows that
    only teach folding), and when folds are given ``mfe`` (kcal/mol, scalar) and
    ``structure`` ``[T]`` (``-100`` off nucleotides).
    """

    def __init__(
        self,
        tokens: TokenBatch,
        fold: FoldedRNA | None = None,
        mlm_rows: np.ndarray | None = None,
    ):
        self.input_ids = torch.from_numpy(tokens.input_ids)
        self.attention_mask = torch.from_numpy(tokens.attention_mask)
        rows = np.ones(len(tokens), bool) if mlm_rows is None else np.asarray(mlm_rows, bool)
        if rows.shape != (len(tokens),):
            raise ValueError(f"mlm_rows has shape {rows.shape}, expected ({len(tokens)},)")
        self.mlm_rows = torch.from_numpy(rows)
        self.mfe: torch.Tensor | None = None
        self.structure: torch.Tensor | None = None
        if fold is not None:
            if len(fold) != len(tokens):
                raise ValueError(f"{len(fold)} folds for {len(tokens)} token rows; fold the corpus")
            width = tokens.input_ids.shape[1]
            self.mfe = torch.from_numpy(np.asarray(fold.mfe, dtype=np.float32))
            self.structure = torch.from_numpy(structure_targets(fold.structures, width))

    @classmethod
    def from_sequences(
        cls,
        seqs: Sequence[str],
        vocab: KmerVocabulary,
        fold: FoldedRNA | None = None,
        max_length: int | None = None,
        mlm_rows: np.ndarray | None = None,
    ) -> PretrainingData:
        """Tokenize ``seqs`` (``fold`` must hold the same sequences in the same order);
        ``mlm_rows`` ``[n]`` bool marks the rows masked modelling scores (default all)."""
        if fold is not None:
            rna = [to_rna(s.upper()) for s in seqs]
            if rna != fold.sequences:
                raise ValueError("fold does not match seqs; pass fold_cached(seqs) for this corpus")
        return cls(encode_utrs(seqs, vocab, max_length), fold, mlm_rows)

    @property
    def has_labels(self) -> bool:
        """Whether MFE and structure labels are present."""
        return self.mfe is not None

    def __len__(self) -> int:
        return len(self.input_ids)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        item = {
            "input_ids": self.input_ids[index],
            "attention_mask": self.attention_mask[index],
            "mlm_row": self.mlm_rows[index],
        }
        if self.mfe is not None:
            item["mfe"] = self.mfe[index]
            item["structure"] = self.structure[index]
        return item


def pretraining_losses(
    output: PretrainingOutput,
    batch: Mapping[str, torch.Tensor],
    objectives: Sequence[str],
    config: EsmConfig,
) -> dict[str, torch.Tensor]:
    """One scalar loss per objective.

    ``batch`` holds ``mlm_labels`` (``[n, T]``, ``-100`` where not masked) for ``"mlm"``,
    ``mfe`` (kcal/mol, standardised here with the config's scale) for ``"mfe"`` and
    ``structure`` (``[n, T]``) for ``"structure"``.
    """
    losses = {}
    if "mlm" in objectives:
        labels = batch["mlm_labels"]
        if (labels != IGNORE_INDEX).any():
            losses["mlm"] = F.cross_entropy(
                output.mlm_logits.flatten(0, 1), labels.flatten(), ignore_index=IGNORE_INDEX
            )
        else:  # nothing masked in this batch (tiny batches only)
            losses["mlm"] = output.mlm_logits.sum() * 0.0
    if "mfe" in objectives:
        target = (batch["mfe"] - config.mfe_mean) / config.mfe_std
        losses["mfe"] = F.mse_loss(output.mfe, target)
    if "structure" in objectives:
        losses["structure"] = F.cross_entropy(
            output.structure_logits.flatten(0, 1),
            batch["structure"].flatten(),
            ignore_index=IGNORE_INDEX,
        )
    return losses


def _masked_batch(
    batch: dict[str, torch.Tensor],
    vocab: KmerVocabulary,
    use_mlm: bool,
    probability: float,
    generator: torch.Generator,
) -> dict[str, torch.Tensor]:
    if not use_mlm:
        return dict(batch)
    corrupted, labels = mask_tokens(batch["input_ids"], vocab, probability, generator=generator)
    if "mlm_row" in batch:  # random-library rows: seen masked, never scored
        labels[~batch["mlm_row"]] = IGNORE_INDEX
    return {**batch, "input_ids": corrupted, "mlm_labels": labels}


def pretrain(
    model: UTRLMForPretraining,
    vocab: KmerVocabulary,
    train: PretrainingData,
    val: PretrainingData,
    *,
    objectives: Iterable[str] = OBJECTIVES,
    epochs: int = 5,
    steps: int | None = None,
    eval_every: int | None = None,
    batch_size: int = 64,
    lr: float = 1e-3,
    weight_decay: float = 0.01,
    mask_probability: float = 0.15,
    weights: Mapping[str, float] | None = None,
    grad_clip: float | None = 1.0,
    device: torch.device | str = "auto",
    seed: int = 0,
    show_progress: bool = True,
    description: str = "pretraining",
) -> FitResult:
    """Pretrain ``model`` on ``train`` with the chosen objectives; validate on ``val``.

    ``objectives`` of :data:`OBJECTIVES`; with ``"mlm"`` all heads see the masked input (BERT's
    80/10/10) and only ``mlm_row`` rows are scored by it. ``steps`` updates (default ``epochs``
    passes), validated every ``eval_every`` (default a pass), losses weighted by ``weights``
    (default 1). Keeps the state with the lowest weighted validation loss; a history row per
    validation (``epoch`` its number, ``step``, losses, ``val_*_accuracy``, ``lr``). Under
    ``torchrun``, each rank trains on its slice of each global batch (:func:`_loop_parts`).
    """
    objectives = check_objectives(objectives)
    check_labels(objectives, train=train, val=val)
    weights = {o: float((weights or {}).get(o, 1.0)) for o in objectives}
    device = select_device(device)
    model.to(device)
    loader, val_loader = pretraining_loaders(train, val, batch_size, seed)
    steps, eval_every = _step_plan(epochs, steps, eval_every, len(loader))
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    scheduler = warmup_linear_schedule(optimizer, steps)
    epoch, step = _loop_parts(model, objectives, optimizer, grad_clip, scheduler)
    generator = torch.Generator().manual_seed(seed)
    masks = {"vocab": vocab, "probability": mask_probability, "generator": generator}
    show_progress = show_progress and distributed.is_main()

    batches = endless(loader)

    def one_block(block: int) -> dict[str, float]:
        n_steps = min(eval_every, steps - (block - 1) * eval_every)
        means = epoch(model, batches, step, objectives, weights, device, n_steps=n_steps, **masks)
        scores = evaluate_pretraining(
            model, vocab, val_loader, objectives, weights, mask_probability, device, seed
        )
        done = {"step": min(block * eval_every, steps), "lr": optimizer.param_groups[0]["lr"]}
        return _history_row(block, means, scores, objectives) | done

    blocks = math.ceil(steps / eval_every)
    return run_epochs(
        model, one_block, BestState(), blocks, "val_loss", None, None, description, show_progress
    )


def _loop_parts(
    model: UTRLMForPretraining,
    objectives: Sequence[str],
    optimizer: torch.optim.Optimizer,
    grad_clip: float | None,
    scheduler: Any,
) -> tuple[Callable[..., dict[str, float]], Callable[..., Any]]:
    """``(epoch, step)`` of :func:`pretrain`: :func:`pretraining_epoch` and
    :func:`~course_lib.updates.optimizer_step` in one process; under ``torchrun``
    (:func:`course_lib.distributed.setup`) :func:`sharded_pretraining_epoch` and
    :func:`course_lib.distributed.sharded_step` through ``DistributedDataParallel``."""
    plan = distributed.active()
    if plan is None:
        options = {"grad_clip": grad_clip, "scheduler": scheduler}
        return pretraining_epoch, partial(optimizer_step, model, optimizer, **options)
    net = distributed.wrap(ScoredOutputs(model, objectives), plan, find_unused=True)
    step = partial(distributed.sharded_step, net, optimizer, plan, grad_clip, scheduler)
    return partial(sharded_pretraining_epoch, net=net, plan=plan), step


def _history_row(
    block: int, means: Mapping[str, float], scores: Mapping[str, float], objectives: Sequence[str]
) -> dict[str, float]:
    """One history row of :func:`pretrain`: training means and validation scores."""
    row = {"epoch": block, "train_loss": means["total"], "val_loss": scores["loss"]}
    for o in objectives:
        row[f"train_{o}"], row[f"val_{o}"] = means[o], scores[o]
    return row | {f"val_{k}": v for k, v in scores.items() if k.endswith("accuracy")}


def _step_plan(
    epochs: int, steps: int | None, eval_every: int | None, per_epoch: int
) -> tuple[int, int]:
    """``(steps, eval_every)``: explicit values, else ``epochs`` passes of ``per_epoch``."""
    if epochs < 1:
        raise ValueError(f"epochs must be at least 1, got {epochs}")
    steps = epochs * per_epoch if steps is None else steps
    eval_every = per_epoch if eval_every is None else eval_every
    if steps < 1 or eval_every < 1:
        raise ValueError(f"steps and eval_every must be at least 1, got {steps}, {eval_every}")
    return steps, min(eval_every, steps)


def endless(loader: DataLoader) -> Iterator[Any]:
    """Batches of ``loader``, pass after pass (a shuffling sampler reshuffles each pass)."""
    while True:
        yield from loader


def masked_forward(
    model: UTRLMForPretraining,
    raw: dict[str, torch.Tensor],
    vocab: KmerVocabulary,
    objectives: Sequence[str],
    probability: float,
    generator: torch.Generator,
    device: torch.device,
) -> tuple[dict[str, torch.Tensor], PretrainingOutput, dict[str, torch.Tensor]]:
    """Mask a batch (with ``"mlm"``), run all heads, score the objectives.

    Returns the batch on ``device``, the model's outputs and one loss per objective.
    """
    batch = to_device(
        _masked_batch(raw, vocab, "mlm" in objectives, probability, generator), device
    )
    out = model(batch["input_ids"], batch["attention_mask"])
    return batch, out, pretraining_losses(out, batch, objectives, model.config)


def pretraining_loaders(
    train: PretrainingData, val: PretrainingData, batch_size: int, seed: int
) -> tuple[DataLoader, DataLoader]:
    """Length-bucketed, shuffled training batches and ordered validation batches, trimmed."""
    sampler = LengthBucketSampler(train.attention_mask.sum(1).numpy(), batch_size, seed=seed)
    loader = DataLoader(train, batch_sampler=sampler, collate_fn=collate_trimmed)
    return loader, DataLoader(val, batch_size=batch_size, collate_fn=collate_trimmed)


def pretraining_epoch(
    model: UTRLMForPretraining,
    loader: Iterable[dict[str, torch.Tensor]],
    step: Callable[..., float],
    objectives: Sequence[str],
    weights: Mapping[str, float],
    device: torch.device,
    *,
    vocab: KmerVocabulary,
    probability: float,
    generator: torch.Generator,
    n_steps: int | None = None,
) -> dict[str, float]:
    """``n_steps`` updates of :func:`pretrain` from ``loader`` (default: one pass over it):
    mean weighted ``"total"`` and per-objective training losses. ``step(loss, where=)`` is
    :func:`course_lib.updates.optimizer_step`."""
    model.train()
    sums = dict.fromkeys(("total", *objectives), 0.0)
    count = 0
    for raw in itertools.islice(loader, n_steps):
        batch, _, losses = masked_forward(
            model, raw, vocab, objectives, probability, generator, device
        )
        total = sum(weights[o] * losses[o] for o in objectives)
        n = len(batch["input_ids"])
        count += n
        sums["total"] += step(total, where="in pretraining") * n
        for o in objectives:
            sums[o] += losses[o].item() * n
    return {key: value / count for key, value in sums.items()}


#: The output each objective's loss reads (a zero multiple of it keeps a graph).
_HEADS = {"mlm": "mlm_logits", "mfe": "mfe", "structure": "structure_logits"}


class ScoredOutputs(torch.nn.Module):
    """``model`` returning only the outputs its ``objectives`` score, as a dict by field name.

    DDP looks for the parameters a step uses from the outputs of ``forward``: a head computed
    but left out of the loss (masked modelling alone) must not be among them, or DDP waits for
    its gradient; left out, it keeps no gradient, as in one process.
    """

    def __init__(self, model: UTRLMForPretraining, objectives: Sequence[str]):
        super().__init__()
        self.model, self.fields = model, [_HEADS[o] for o in objectives]

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> dict:
        out = self.model(input_ids, attention_mask)
        return {name: getattr(out, name) for name in self.fields}


def scored_counts(batch: Mapping[str, torch.Tensor], objectives: Sequence[str]) -> dict[str, int]:
    """Items each objective's mean loss of :func:`pretraining_losses` runs over in ``batch``:
    masked tokens (``"mlm"``), rows (``"mfe"``), labelled nucleotides (``"structure"``)."""
    counts = {}
    for o in objectives:
        if o == "mfe":
            counts[o] = len(batch["input_ids"])
        else:
            labels = batch["mlm_labels" if o == "mlm" else "structure"]
            counts[o] = int((labels != IGNORE_INDEX).sum())
    return counts


def sharded_pretraining_epoch(
    model: UTRLMForPretraining,
    loader: Iterable[dict[str, torch.Tensor]],
    step: Callable[..., torch.Tensor],
    objectives: Sequence[str],
    weights: Mapping[str, float],
    device: torch.device,
    *,
    vocab: KmerVocabulary,
    probability: float,
    generator: torch.Generator,
    net: torch.nn.Module,
    plan: distributed.Plan,
    n_steps: int | None = None,
) -> dict[str, float]:
    """:func:`pretraining_epoch` of one ``torchrun`` rank: every rank masks the same global
    batch, runs ``net`` (:class:`ScoredOutputs` of ``model`` in DDP) on its rows, each loss
    weighted by its share of the batch's scored items, and takes the synchronised step
    ``step(piece, n, where=)``
    (:func:`course_lib.distributed.sharded_step`); returns the global batch's means, as one
    process would."""
    model.train()
    sums = dict.fromkeys(("total", *objectives), 0.0)
    count = 0
    for raw in itertools.islice(loader, n_steps):
        batch = _masked_batch(raw, vocab, "mlm" in objectives, probability, generator)
        totals = scored_counts(batch, objectives)

        def piece(rows: torch.Tensor, batch=batch, totals=totals) -> tuple[torch.Tensor, ...]:
            part = to_device({key: value[rows] for key, value in batch.items()}, device)
            with plan.autocast():
                out = SimpleNamespace(**net(part["input_ids"], part["attention_mask"]))
                losses = pretraining_losses(out, part, objectives, model.config)
            local = scored_counts(part, objectives)
            shares = [
                distributed.share(
                    losses[o], local[o], totals[o], getattr(out, _HEADS[o]).sum() * 0.0
                )
                for o in objectives
            ]
            total = sum(weights[o] * s for o, s in zip(objectives, shares, strict=True))
            return total, torch.stack([s.detach().float() for s in shares])

        values = step(piece, len(batch["input_ids"]), where="in pretraining")
        n = len(batch["input_ids"])
        count += n
        for key, value in zip(("total", *objectives), values.tolist(), strict=True):
            sums[key] += value * n
    return {key: value / count for key, value in sums.items()}


def check_labels(objectives: Sequence[str], **data: PretrainingData) -> None:
    """Raise when an objective needs ViennaRNA labels that one of the named data sets lacks."""
    needs_labels = {"mfe", "structure"} & set(objectives)
    for name, part in data.items():
        if needs_labels and not part.has_labels:
            raise ValueError(
                f"objectives {sorted(needs_labels)} need ViennaRNA labels but the {name} data "
                "has none; build it with PretrainingData.from_sequences(seqs, vocab, fold=...)"
            )


@torch.no_grad()
def evaluate_pretraining(
    model: UTRLMForPretraining,
    vocab: KmerVocabulary,
    loader: DataLoader,
    objectives: Sequence[str],
    weights: Mapping[str, float] | None = None,
    mask_probability: float = 0.15,
    device: torch.device | str = "auto",
    seed: int = 0,
) -> dict[str, float]:
    """Mean loss per objective, weighted total (``"loss"``) and accuracies on ``loader``.

    Each objective's loss is the mean over the items it scores (masked tokens, labelled
    UTRs, labelled nucleotides; :func:`scored_counts`): batches where it scores nothing, such
    as random-library rows that masked modelling never scores, do not dilute it (``0.0`` when
    it scores nothing at all).

    Masks come from a generator seeded with ``seed`` so that repeated calls are comparable.
    ``mlm_accuracy`` is the fraction of masked nucleotides recovered; ``structure_accuracy``
    the fraction of nucleotides whose ``(``/``)``/``.`` class is right.
    """
    objectives = check_objectives(objectives)
    weights = {o: float((weights or {}).get(o, 1.0)) for o in objectives}
    device = select_device(device)
    model.to(device).eval()
    generator = torch.Generator().manual_seed(seed + 1)
    sums = dict.fromkeys(objectives, 0.0)
    items = dict.fromkeys(objectives, 0)
    hits = {"mlm": [0, 0], "structure": [0, 0]}
    count = 0
    for raw in loader:
        batch, out, losses = masked_forward(
            model, raw, vocab, objectives, mask_probability, generator, device
        )
        count += len(batch["input_ids"])
        for o, k in scored_counts(batch, objectives).items():
            if k:  # a batch with nothing to score for o (say no masked rows) does not count
                sums[o] += losses[o].item() * k
                items[o] += k
        for name, logits, key in (
            ("mlm", out.mlm_logits, "mlm_labels"),
            ("structure", out.structure_logits, "structure"),
        ):
            if name in objectives:
                labels = batch[key]
                scored = labels != IGNORE_INDEX
                hits[name][0] += int((logits.argmax(-1)[scored] == labels[scored]).sum())
                hits[name][1] += int(scored.sum())
    if count == 0:
        raise ValueError("the validation loader is empty")
    scores = {o: sums[o] / max(items[o], 1) for o in objectives}
    scores["loss"] = sum(weights[o] * scores[o] for o in objectives)
    for name in ("mlm", "structure"):
        if name in objectives:
            scores[f"{name}_accuracy"] = hits[name][0] / max(hits[name][1], 1)
    return scores


@torch.no_grad()
def predict_mfe(
    model: UTRLMForPretraining,
    data: PretrainingData,
    batch_size: int = 256,
    device: torch.device | str = "auto",
) -> np.ndarray:
    """MFE predictions in kcal/mol ``[n]`` from unmasked input."""
    device = select_device(device)
    model.to(device).eval()
    out = []
    for batch in DataLoader(data, batch_size=batch_size, collate_fn=collate_trimmed):
        batch = to_device(batch, device)
        out.append(model(batch["input_ids"], batch["attention_mask"]).mfe.cpu())
    return model.mfe_kcal(torch.cat(out))


#: Measured pretraining time, seconds per corpus UTR per epoch, at laptop width (64, 3 layers)
#: on one idle CPU core (about 50 s per epoch at 20,000 UTRs).
CPU_SECONDS_PER_UTR_EPOCH = 50 / 20_000


def pretraining_cpu_seconds(
    n_corpus: int, epochs: int, hidden_size: int, num_layers: int, n_backbones: int = 2
) -> float:
    """Estimated CPU seconds to pretrain ``n_backbones`` backbones (for ``check_long_run``).

    Scales :data:`CPU_SECONDS_PER_UTR_EPOCH` by the corpus size, the epochs, the number of
    layers and the square of the width (the cost of a block on short sequences).
    """
    scale = (hidden_size / 64) ** 2 * num_layers / 3
    return CPU_SECONDS_PER_UTR_EPOCH * n_corpus * epochs * scale * n_backbones
