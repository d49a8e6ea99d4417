"""Chapter 1's layer probe (``notebooks/01_utr_rnafm.ipynb``): which backbone, which layer.

A frozen backbone has one output per layer, and the last is not always the most useful: the
last layers of a masked language model specialise in predicting tokens. Before any head is
trained, every layer of every backbone is scored by a **linear probe**: a ridge regression on
the layer's mean-pooled states, fitted on the training rows of each fold and scored ($R^2$)
on its validation rows only (:func:`probe_layers`). The best layer of each backbone, and the
best ``(backbone, layer)`` overall, are chosen on validation (:func:`choose_layers`).

The pooled states of all layers come from one forward pass per UTR, kept on disk like the
per-nucleotide cache (:func:`build_layer_cache`); :class:`LayerBackbone` serves one layer's
per-nucleotide states to :func:`~course_lib.chapters.ch1_embedding_cache.build_embedding_cache`
for the heads. A ridge probe on k-mer frequencies (:func:`course_lib.ridge.kmer_features`) is
the shallow reference a backbone's layer must beat; predicting the training mean ($R^2 = 0$)
is the no-learning floor.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from course_lib.atomic import atomic_path, write_text_atomic
from course_lib.chapters.ch1_embedding_cache import FrozenBackbone, cache_key
from course_lib.paths import data_dir
from course_lib.progress import progress
from course_lib.ridge import ridge_model

#: The row name of the k-mer reference in :func:`probe_layers`'s table.
KMER_REFERENCE = "k-mer frequencies (1-3)"


@torch.no_grad()
def layer_states(backbone: Any, seqs: Sequence[str], layers: Sequence[int]) -> list[torch.Tensor]:
    """Per-nucleotide states of each of ``layers`` (0: token embeddings, before any attention).

    Parameters
    ----------
    backbone
        :class:`~course_lib.models.rnafm.RNAFMBackbone` (``model``, ``tokenize``) or
        :class:`~course_lib.models.utr_lm.UTRLMBackbone` (``model``, ``vocab``).
    seqs
        ``n`` UTRs.
    layers
        Layer numbers, 0 to the backbone's number of layers.

    Returns
    -------
    list
        One ``[n, L_max, D]`` tensor per layer, zero beyond each UTR's length (the last
        layer's equals ``backbone.embed(seqs)``).
    """
    if hasattr(backbone, "tokenize"):  # RNA-FM: <cls> seq <eos>, fairseq representations
        tokens, lengths = backbone.tokenize(seqs)
        out = backbone.model(tokens.to(backbone.device), repr_layers=list(layers))
        states = [out["representations"][k][:, 1:-1] for k in layers]
        width = states[0].shape[1]
        valid = torch.arange(width)[None, :] < torch.as_tensor(lengths)[:, None]
        return [s * valid[..., None].to(s.device, s.dtype) for s in states]
    from course_lib.models.utr_lm import encode_utrs, nucleotide_states

    tokens = encode_utrs(seqs, backbone.vocab)
    ids = torch.from_numpy(tokens.input_ids).to(backbone.device)
    mask = torch.from_numpy(tokens.attention_mask).to(backbone.device)
    hidden = backbone.model(input_ids=ids, attention_mask=mask, output_hidden_states=True)
    config = backbone.model.config
    return [nucleotide_states(hidden.hidden_states[k], ids, mask, config) for k in layers]


def num_layers(backbone: Any) -> int:
    """Transformer layers of an RNA-FM or UTR-LM backbone (its layers are 0 .. this)."""
    if hasattr(backbone, "num_layers"):
        return int(backbone.num_layers)
    return int(backbone.model.config.num_hidden_layers)


@dataclass
class LayerBackbone:
    """One layer of a frozen backbone, with the interface of
    :class:`~course_lib.chapters.ch1_embedding_cache.FrozenBackbone` (for the heads' cache).

    Attributes
    ----------
    backbone
        The RNA-FM or UTR-LM backbone.
    layer
        The layer served (0 .. ``num_layers(backbone)``).
    """

    backbone: Any
    layer: int

    def __post_init__(self) -> None:
        top = num_layers(self.backbone)
        if not 0 <= self.layer <= top:
            raise ValueError(f"layer {self.layer} is not among the backbone's layers 0..{top}")

    @property
    def checkpoint(self) -> Path:
        return self.backbone.checkpoint

    @property
    def checkpoint_sha256(self) -> str:
        return self.backbone.checkpoint_sha256

    @property
    def pretrained(self) -> bool:
        return self.backbone.pretrained

    @property
    def embed_dim(self) -> int:
        return self.backbone.embed_dim

    @property
    def label(self) -> str:
        return f"{self.backbone.label}, layer {self.layer} of {num_layers(self.backbone)}"

    def embed(self, seqs: Sequence[str]) -> torch.Tensor:
        """``[n, L_max, D]`` states of :attr:`layer`, zero beyond each UTR's length."""
        return layer_states(self.backbone, seqs, [self.layer])[0]


def _pooled_batch(backbone: Any, seqs: list[str], layers: list[int]) -> np.ndarray:
    """Mean over each UTR's nucleotides of every layer's states: ``[b, K, D]`` float32."""
    lengths = torch.tensor([len(s) for s in seqs], dtype=torch.float32)[:, None]
    states = layer_states(backbone, seqs, layers)
    pooled = [s.float().cpu().sum(1) / lengths for s in states]  # [b, D] each
    return torch.stack(pooled, 1).numpy()


def build_layer_cache(
    backbone: FrozenBackbone,
    sequences: Sequence[str],
    dataset: str,
    folder: str | Path | None = None,
    batch_size: int = 128,
    max_len: int = 100,
    show_progress: bool = True,
) -> np.ndarray:
    """Mean-pooled states of every layer, ``[n, K, D]`` float32 (``K`` = layers + 1), cached.

    One forward pass per UTR gives all layers; the result is stored as
    ``<key>__pooled_layers.npy`` beside the per-nucleotide caches (keyed like them by data
    set, checkpoint sha256 and sequences), and read back on the next run.
    """
    sequences = list(sequences)
    folder = Path(folder) if folder is not None else data_dir() / "embedding_cache"
    folder.mkdir(parents=True, exist_ok=True)
    stem = cache_key(dataset, backbone.checkpoint_sha256, sequences, max_len)
    path = folder / f"{stem}__pooled_layers.npy"
    layers = list(range(num_layers(backbone) + 1))
    shape = (len(sequences), len(layers), backbone.embed_dim)
    if path.exists():
        try:
            found = np.load(path)
            if found.shape == shape:
                return found
            raise ValueError(f"shape {found.shape} instead of {shape}")
        except (OSError, ValueError, EOFError) as err:
            warnings.warn(
                f"the pooled-layer cache {path} is unusable ({err}); pooling again", stacklevel=2
            )
    order = np.argsort([len(s) for s in sequences], kind="stable")
    out = np.zeros(shape, np.float32)
    starts = range(0, len(order), batch_size)
    desc = f"pooling all layers, {dataset}" if show_progress else None
    for start in progress(starts, desc=desc, disable=desc is None):
        rows = order[start : start + batch_size]
        out[rows] = _pooled_batch(backbone, [sequences[i] for i in rows], layers)
    with atomic_path(path) as part:
        np.save(part, out)
    write_text_atomic(
        path.with_suffix(".json"), json.dumps({"dataset": dataset, "layers": len(layers)})
    )
    return out


def ridge_probe_r2(x: np.ndarray, y: np.ndarray, fit: np.ndarray, val: np.ndarray) -> float:
    """Validation $R^2$ of a ridge probe fitted on rows ``fit`` of ``x`` ``[n, F]``, ``y`` ``[n]``.

    Features are standardised on the training rows and the penalty is chosen among
    :data:`course_lib.ridge.ALPHAS` by leave-one-out on the training rows
    (:func:`course_lib.ridge.ridge_model`), so ``val`` is only scored.
    """
    model = ridge_model()
    model.fit(x[fit], y[fit])
    return float(model.score(x[val], y[val]))


def probe_layers(
    pooled: Mapping[str, np.ndarray],
    y: np.ndarray,
    splits: Sequence[tuple[np.ndarray, np.ndarray]],
    reference: np.ndarray | None = None,
) -> pd.DataFrame:
    """Validation $R^2$ of a ridge probe on every layer of every backbone, per split.

    Parameters
    ----------
    pooled
        ``{backbone: [n, K, D]}`` from :func:`build_layer_cache`.
    y
        ``[n]`` measured MRL of the same rows.
    splits
        ``(training rows, validation rows)`` per fold; test rows are never passed.
    reference
        ``[n, F]`` features of the shallow reference (:func:`course_lib.ridge.kmer_features`),
        scored the same way as backbone :data:`KMER_REFERENCE`, layer ``-1``.

    Returns
    -------
    pandas.DataFrame
        One row per backbone, layer and fold: ``backbone``, ``layer``, ``fold``, ``val R2``.
    """
    features = {(b, k): x[:, k] for b, x in pooled.items() for k in range(x.shape[1])}
    if reference is not None:
        features[(KMER_REFERENCE, -1)] = reference
    rows = [
        {"backbone": b, "layer": k, "fold": fold, "val R2": ridge_probe_r2(x, y, fit, val)}
        for (b, k), x in features.items()
        for fold, (fit, val) in enumerate(splits)
    ]
    return pd.DataFrame(rows)


def probe_summary(probe: pd.DataFrame) -> pd.DataFrame:
    """Mean, sd, min and max over folds of :func:`probe_layers`, per backbone and layer."""
    grouped = probe.groupby(["backbone", "layer"], sort=False)["val R2"]
    return grouped.agg(["mean", "std", "min", "max"]).add_prefix("val R2 ")


def choose_layers(summary: pd.DataFrame) -> tuple[dict[str, int], tuple[str, int]]:
    """Each backbone's layer with the highest mean validation $R^2$, and the best overall.

    Parameters
    ----------
    summary
        :func:`probe_summary` (index ``(backbone, layer)``); the k-mer reference is skipped.

    Returns
    -------
    tuple
        ``({backbone: layer}, (backbone, layer))``.
    """
    table = summary.drop(index=KMER_REFERENCE, level="backbone", errors="ignore")
    means = table["val R2 mean"]
    best = {
        b: int(means.xs(b, level="backbone").idxmax())
        for b in dict.fromkeys(means.index.get_level_values(0))
    }
    overall = means.idxmax()
    return best, (str(overall[0]), int(overall[1]))


def plot_probe(summary: pd.DataFrame, ax: Any, title: str) -> None:
    """Validation $R^2$ (mean over folds, bars: min to max) against layer, one line per
    backbone; the k-mer reference as a dashed line and the no-learning floor at 0."""
    for backbone, part in summary.groupby(level="backbone", sort=False):
        mean = part["val R2 mean"]
        if backbone == KMER_REFERENCE:
            ax.axhline(mean.iloc[0], color="k", ls="--", lw=1, label=backbone)
            continue
        layers = part.index.get_level_values("layer")
        spread = [mean - part["val R2 min"], part["val R2 max"] - mean]
        ax.errorbar(layers, mean, yerr=spread, marker="o", capsize=3, label=backbone)
    ax.axhline(0, color="grey", lw=0.8)
    ax.set(xlabel="layer (0: token embeddings)", ylabel="probe R2 on validation rows", title=title)
    ax.legend(fontsize="small")


def probe_text(summary: pd.DataFrame, layers: Mapping[str, int], choice: tuple[str, int]) -> str:
    """The Markdown under the probe plot: each backbone's chosen and last layer, the k-mer
    reference and the overall choice, all as validation $R^2$ (mean over folds, min to max)."""

    def score(backbone: str, layer: int) -> str:
        row = summary.loc[(backbone, layer)]
        return f"{row['val R2 mean']:.3f} ({row['val R2 min']:.3f} to {row['val R2 max']:.3f})"

    lines = [
        f"- {b}: layer {k} is best, {score(b, k)}; the last layer {score(b, last)}."
        for b, k in layers.items()
        for last in [int(summary.xs(b, level="backbone").index.max())]
    ]
    if KMER_REFERENCE in summary.index.get_level_values("backbone"):
        lines.append(f"- Ridge on {KMER_REFERENCE}: {score(KMER_REFERENCE, -1)}.")
    lines.append(
        f"- Chosen on validation: **{choice[0]}, layer {choice[1]}**. Validation R² "
        "(mean over folds, min to max): no test row is used here."
    )
    return "\n".join(lines)
