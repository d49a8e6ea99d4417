"""Chapter 5's no-learning controls of pretraining, computed in the run.

Each pretraining head is set against what needs no learning from context, on the same
monitoring rows, with a paired 95 % bootstrap interval of the difference:

- :func:`copy_control`: masked-token accuracy against the copy baseline (predict the visible
  nucleotide, the most frequent base at ``<mask>``: the best context-free strategy under the
  80/10/10 corruption), over the same masked tokens;
- :func:`structure_control`: the structure head's per-nucleotide accuracy against always
  predicting the training labels' majority class;
- :func:`mfe_control`: the MFE head's R² against a linear regression on GC fraction, length
  and their product fitted on the training UTRs.

The negative-control backbone (pretrained on composition-matched random sequence) goes
through :func:`copy_control` too: it can only reach the copy floor.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader

from course_lib.baselines import copy_posterior, token_frequencies
from course_lib.models.utr_lm import UTRLMForPretraining
from course_lib.pretraining import PretrainingData
from course_lib.structure import FoldedRNA
from course_lib.token_batches import collate_trimmed
from course_lib.tokenization import IGNORE_INDEX, KmerVocabulary, mask_tokens
from course_lib.uncertainty import bootstrap_ci, paired_bootstrap
from course_lib.utr_protocol import BATCHED_METRICS

#: How the controls' intervals are obtained.
METHOD = "95 % percentile bootstrap over {}, paired (same resampled rows for both)"


def _mean_hits(_: np.ndarray, hits: np.ndarray) -> np.ndarray:
    """Accuracy of each resample: ``[..., n]`` hits -> ``[...]``."""
    return hits.mean(-1)


def _compare(a: np.ndarray, b: np.ndarray, y: np.ndarray | None, metric, n_boot: int, seed: int):
    """``{a, a ci, b, b ci, a - b, a - b ci, n}`` of a batched ``metric(y, pred)``."""
    y = np.zeros(len(a)) if y is None else y
    one = {
        k: bootstrap_ci(metric, y, x, n_boot=n_boot, seed=seed, batched=True)
        for k, x in (("a", a), ("b", b))
    }
    both = paired_bootstrap(metric, y, a, b, n_boot=n_boot, seed=seed, batched=True)
    return {
        "a": one["a"]["estimate"],
        "a ci": (one["a"]["ci low"], one["a"]["ci high"]),
        "b": one["b"]["estimate"],
        "b ci": (one["b"]["ci low"], one["b"]["ci high"]),
        "a - b": both["difference"],
        "a - b ci": (both["ci low"], both["ci high"]),
        "n": int(len(a)),
    }


def _named(result: dict[str, Any], a: str, b: str, unit: str) -> dict[str, Any]:
    """Rename ``a``/``b`` of :func:`_compare` and say what was resampled."""
    names = {"a": a, "b": b, "a - b": f"{a} - {b}"}
    out = {}
    for key, value in result.items():
        base, suffix = (key[:-3], " interval") if key.endswith(" ci") else (key, "")
        out[f"{names.get(base, base)}{suffix}"] = value
    out["resampled"] = unit
    return out


@torch.no_grad()
def masked_token_hits(
    model: UTRLMForPretraining,
    vocab: KmerVocabulary,
    data: PretrainingData,
    frequencies: np.ndarray,
    probability: float = 0.15,
    seed: int = 0,
    device: torch.device | str = "cpu",
) -> tuple[np.ndarray, np.ndarray]:
    """Per masked token of the ``mlm_row`` rows of ``data``: whether the model and whether the
    copy strategy (:func:`~course_lib.baselines.copy_posterior` with ``frequencies`` ``[4]``,
    fitted on training rows) recover the true nucleotide. Two ``[m]`` bool arrays; the masks
    come from a generator seeded with ``seed``."""
    lookup = np.asarray(vocab.kmer_lookup)
    rank = np.full(len(vocab), -1)
    rank[lookup] = np.arange(lookup.size)
    best_visible = lookup[copy_posterior(frequencies).argmax(1)]
    at_mask = lookup[int(np.argmax(frequencies))]
    generator = torch.Generator().manual_seed(seed)
    model.to(device).eval()
    model_hits, copy_hits = [], []
    for batch in DataLoader(data, batch_size=256, collate_fn=collate_trimmed):
        corrupted, labels = mask_tokens(batch["input_ids"], vocab, probability, generator=generator)
        labels[~batch["mlm_row"]] = IGNORE_INDEX
        logits = model(corrupted.to(device), batch["attention_mask"].to(device)).mlm_logits.cpu()
        scored = (labels != IGNORE_INDEX).numpy()
        truth, seen = labels.numpy()[scored], corrupted.numpy()[scored]
        guess = np.where(rank[seen] >= 0, best_visible[np.maximum(rank[seen], 0)], at_mask)
        model_hits.append(logits.argmax(-1).numpy()[scored] == truth)
        copy_hits.append(guess == truth)
    return np.concatenate(model_hits), np.concatenate(copy_hits)


def copy_control(
    model: UTRLMForPretraining,
    vocab: KmerVocabulary,
    train_ids: np.ndarray,
    val: PretrainingData,
    *,
    seed: int = 0,
    n_boot: int = 1000,
    device: torch.device | str = "cpu",
) -> dict[str, Any]:
    """Masked-token accuracy of ``model`` and of the copy baseline on the same masked tokens
    of ``val`` (base frequencies from ``train_ids`` ``[n, T]``), with intervals over tokens."""
    frequencies = token_frequencies(train_ids, vocab)
    model_hits, copy_hits = masked_token_hits(
        model, vocab, val, frequencies, seed=seed, device=device
    )
    result = _compare(
        model_hits.astype(float), copy_hits.astype(float), None, _mean_hits, n_boot, seed
    )
    return _named(result, "model accuracy", "copy accuracy", "masked tokens")


@torch.no_grad()
def structure_control(
    model: UTRLMForPretraining,
    val: PretrainingData,
    train_fold: FoldedRNA,
    *,
    seed: int = 0,
    n_boot: int = 1000,
    device: torch.device | str = "cpu",
) -> dict[str, Any]:
    """The structure head's accuracy (unmasked input) against the majority class of the
    training labels ``train_fold``, on the same nucleotides of ``val``."""
    majority = int(
        np.bincount(np.concatenate([train_fold.labels(i) for i in range(len(train_fold))])).argmax()
    )
    model.to(device).eval()
    hits, floor = [], []
    for batch in DataLoader(val, batch_size=256, collate_fn=collate_trimmed):
        out = model(batch["input_ids"].to(device), batch["attention_mask"].to(device))
        labels = batch["structure"].numpy()
        scored = labels != IGNORE_INDEX
        hits.append(out.structure_logits.argmax(-1).cpu().numpy()[scored] == labels[scored])
        floor.append(labels[scored] == majority)
    a, b = np.concatenate(hits).astype(float), np.concatenate(floor).astype(float)
    result = _compare(a, b, None, _mean_hits, n_boot, seed)
    return _named(result, "head accuracy", "majority-class accuracy", "nucleotides")


def composition_features(seqs: Sequence[str]) -> np.ndarray:
    """``[n, 3]``: GC fraction, length (nt) and their product."""
    from course_lib.encoding import gc_content

    gc, length = gc_content(list(seqs)), np.array([len(s) for s in seqs], dtype=float)
    return np.c_[gc, length, gc * length]


def mfe_control(
    model: UTRLMForPretraining,
    val: PretrainingData,
    folds: dict[str, FoldedRNA],
    *,
    seed: int = 0,
    n_boot: int = 1000,
    device: torch.device | str = "cpu",
) -> dict[str, Any]:
    """The MFE head's R² on the monitoring UTRs (``folds["val"]``) against a GC/length linear
    regression fitted on ``folds["train"]``, over the same UTRs."""
    from sklearn.linear_model import LinearRegression

    from course_lib.pretraining import predict_mfe

    train, held = folds["train"], folds["val"]
    regression = LinearRegression().fit(composition_features(train.sequences), train.mfe)
    baseline = regression.predict(composition_features(held.sequences))
    head = predict_mfe(model, val, device=device)
    y = np.asarray(held.mfe, dtype=float)
    result = _compare(head, baseline, y, BATCHED_METRICS["R2"], n_boot, seed)
    return _named(result, "head R2", "GC/length regression R2", "monitoring UTRs")
