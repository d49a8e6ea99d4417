"""Chapter 5, ``notebooks/05_utr_lm.ipynb``: pretrain and fine-tune a 5' UTR language model.

The chapter's recipe (its parameters per profile in :mod:`course_lib.chapters.ch5_config`,
its anchors and results file in :mod:`course_lib.chapters.ch5_report`): the MLM loss against
the closed-form copy baseline (:func:`mlm_against_copy`), the loss curves of pretraining
(:func:`plot_pretraining_losses`); its exercises are in
:mod:`course_lib.chapters.ch5_exercises`. Pretraining (corpus, folds,
config, one variant pretrained and saved in the folder of its recipe) is the shared recipe of
:mod:`course_lib.utr_lm_backbone`, through which chapter 1 reads backbone (c). The controls
of the pretraining heads are :mod:`course_lib.chapters.ch5_controls`; fine-tuning is
:mod:`course_lib.chapters.ch5_mrl_finetuning`; the sample-efficiency curve over real
Random7600 folds is :mod:`course_lib.chapters.ch5_efficiency` (read by
:mod:`course_lib.chapters.ch5_efficiency_stats`); embedding projections, linear probes and the
comparison table are in :mod:`course_lib.plotting`, :mod:`course_lib.metrics` and
:mod:`course_lib.results`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from course_lib.baselines import (
    nucleotide_copy_baseline,
    simulate_nucleotide_copy_baseline,
    token_frequencies,
)
from course_lib.tokenization import KmerVocabulary
from course_lib.training import FitResult

if TYPE_CHECKING:
    from matplotlib.axes import Axes

NOTEBOOK = "05_utr_lm.ipynb"

#: Title of each objective's pretraining loss panel (:func:`plot_pretraining_losses`).
LOSS_TITLES = {
    "mlm": "masked nucleotides (cross-entropy)",
    "mfe": "MFE (MSE, standardised)",
    "structure": "structure ( ) . (cross-entropy)",
}


def plot_pretraining_losses(
    axes: Sequence[Axes],
    pretraining: Mapping[str, FitResult],
    variants: Mapping[str, Sequence[str]],
    caption: str,
) -> None:
    """One panel per objective of :data:`LOSS_TITLES`: each variant's training (dashed) and
    validation (solid) loss of that objective over the optimizer steps.

    Parameters
    ----------
    axes
        Three matplotlib axes, in the order of :data:`LOSS_TITLES`.
    pretraining
        ``{variant: FitResult}`` of the pretraining runs; ``history`` has ``step``,
        ``train_<objective>`` and ``val_<objective>`` columns (one row per validation).
    variants
        ``{variant: objectives}``: a variant is drawn only in the panels of its objectives.
    caption
        The data's provenance caption, added to each title.
    """
    for ax, (objective, title) in zip(axes, LOSS_TITLES.items(), strict=True):
        for i, (name, result) in enumerate(pretraining.items()):
            if objective not in variants[name]:
                continue
            history = result.history
            for part, style in (("train", "--"), ("val", "-")):
                label = f"{name} {'train' if part == 'train' else 'validation'}"
                column = history[f"{part}_{objective}"]
                ax.plot(history["step"], column, style, color=f"C{i}", label=label)
        ax.set(xlabel="optimizer step", ylabel="loss", title=f"Pretraining: {title}\n{caption}")
        ax.legend(fontsize="x-small")


def mlm_against_copy(
    history: pd.DataFrame,
    best_epoch: int,
    train_ids: np.ndarray,
    val_ids: np.ndarray,
    vocab: KmerVocabulary,
    repeats: int = 3,
    seed: int = 0,
) -> dict[str, float]:
    """The model's validation MLM loss and accuracy beside the copy baseline (issue 16).

    The copy baseline is the best score without using the context under the exact 80/10/10
    corruption: closed form (:func:`course_lib.baselines.nucleotide_copy_baseline`) with base
    frequencies fitted on the training rows ``train_ids`` ``[n, T]``, and the same strategy
    played on ``repeats`` mask draws of the validation rows ``val_ids``
    (:func:`~course_lib.baselines.simulate_nucleotide_copy_baseline`).
    """
    frequencies = token_frequencies(train_ids, vocab)
    closed = nucleotide_copy_baseline(frequencies)
    played = simulate_nucleotide_copy_baseline(
        val_ids, vocab, frequencies, repeats=repeats, seed=seed
    )
    row = history.iloc[best_epoch - 1]
    return {
        "model MLM loss": float(row["val_mlm"]),
        "model MLM accuracy": float(row["val_mlm_accuracy"]),
        "copy loss (closed form)": closed["copy loss"],
        "copy accuracy (closed form)": closed["copy accuracy"],
        "copy loss (simulated)": played["copy loss"],
        "copy accuracy (simulated)": played["copy accuracy"],
        "uniform loss ln 4": closed["uniform loss"],
    }
