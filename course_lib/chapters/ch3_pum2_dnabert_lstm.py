"""Chapter 3, ``notebooks/03_pum2_dnabert_lstm.ipynb``: PUM2 binding sites, DNABERT versus a BiLSTM.

The chapter's recipe (its parameters per profile in :mod:`course_lib.chapters.ch3_config`,
its anchors and results file in :mod:`course_lib.chapters.ch3_report`): the DNABERT-3 folder
or its stand-in (:func:`dnabert_folder`), how :mod:`course_lib.interpret` feeds sequences to
the BiLSTM and to BERT (:func:`bilstm_view`, :func:`bert_view`), fold intervals and
comparisons; its exercises are in :mod:`course_lib.chapters.ch3_exercises`. Its four kinds
of model and the one cross-validation loop that trains them live in
:mod:`course_lib.chapters.ch3_models`, the k-mer baseline in
:mod:`course_lib.chapters.ch3_kmer_baseline`, the masked k-mer pretraining (once per profile,
on genome windows, with its copy baseline and random-sequence control) in
:mod:`course_lib.chapters.ch3_pretraining`, the sample-efficiency curve in
:mod:`course_lib.chapters.ch3_efficiency`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from course_lib import registry
from course_lib.cross_validation import CVResult
from course_lib.datasets.pum2 import BindingSites, load_binding_sites
from course_lib.interpret.attribution import Explanation, TokenModelView, explain_token_model
from course_lib.interpret.logos import (
    aligned_windows,
    frequency_matrix,
    motif_in,
    strongest_window,
)
from course_lib.models.bert import (
    bert_logit,
)
from course_lib.models.bilstm import lstm_token_ids
from course_lib.paths import checkpoints_dir
from course_lib.tokenization import KmerVocabulary
from course_lib.training import default_forward
from course_lib.uncertainty import corrected_resampled_ttest, fold_comparison
from course_lib.weights import WeightsProvenance, get_weights, locate_weights

NOTEBOOK = "03_pum2_dnabert_lstm.ipynb"


def bert_view(vocab: KmerVocabulary) -> TokenModelView:
    """How :mod:`course_lib.interpret` feeds sequences to a BERT classifier on ``vocab``."""
    return TokenModelView(
        encode=lambda seqs: vocab.encode(seqs).to_torch(),
        forward=bert_logit,
        embedding=lambda model: model.bert.embeddings.word_embeddings,
        k=vocab.k,
        leading_specials=1,
    )


def bilstm_view(k: int = 3) -> TokenModelView:
    """How :mod:`course_lib.interpret` feeds sequences to a :class:`BiLSTMClassifier`."""
    return TokenModelView(
        encode=lambda seqs: torch.from_numpy(lstm_token_ids(seqs, k)),
        forward=default_forward,
        embedding=lambda model: model.embedding,
        k=k,
        leading_specials=0,
    )


def dnabert_folder(
    value: str | Path | None, tiny: bool = False
) -> tuple[Path | None, WeightsProvenance, str]:
    """The DNABERT-3 folder to fine-tune (``None``: the small BERT stand-in), its provenance, why.

    A thin use of :func:`course_lib.weights.locate_weights` (``"dnabert3"``): ``None`` looks in
    the registered place of the checkpoint folder; a given path must hold a complete folder.
    A tiny run (``--tiny``) whose given folder is absent takes the stand-in and says so.

    Returns
    -------
    tuple
        ``(folder or None, "real" or "stand-in", a sentence for the notebook)``.

    Raises
    ------
    FileNotFoundError
        ``value`` names no complete DNABERT-3 folder and the run is not tiny; the message
        says where to get the folder and where to put it.
    """
    try:
        path, provenance = locate_weights("dnabert3", value)
    except FileNotFoundError as error:
        if not tiny:
            raise
        return None, "stand-in", f"DNABERT-3 weights: stand-in (tiny run; {error})"
    if path is None:
        entry = get_weights("dnabert3")
        place = checkpoints_dir() / entry.location
        return None, provenance, f"DNABERT-3 weights: stand-in, {entry.stand_in} (none at {place})"
    return path, provenance, f"DNABERT-3 weights: {provenance}, fine-tuning the folder {path}"


def _train_test_sizes(result: CVResult) -> tuple[int, int]:
    """Mean training and test rows per fold (for the Nadeau-Bengio correction).

    The rows cross-validated are those tested at least once, so a repeated CV (every row
    tested once per repetition) gives the sizes of one of its k-fold splits. Rows withheld from
    every test fold (:func:`~course_lib.chapters.ch3_models.chapter_folds`) count in neither,
    which shrinks ``n_train`` a little more than ``n_test``: the interval errs wide.
    """
    n_test = int(np.mean([len(f.test_index) for f in result.folds]))
    n_total = int(np.unique(np.concatenate([f.test_index for f in result.folds])).size)
    return n_total - n_test, n_test


def fold_intervals(cv: dict[str, CVResult], metric: str = "ROC AUC") -> pd.DataFrame:
    """Mean over folds and its Nadeau-Bengio corrected 95 % interval, one row per model.

    The corrected variance ``(1/J + n_test/n_train) s^2`` accounts for the folds sharing
    training rows; the plain ``s / sqrt(J)`` interval would be too narrow.
    """
    rows = {}
    for name, result in cv.items():
        scores = np.array([f.metrics[metric] for f in result.folds])
        n_train, n_test = _train_test_sizes(result)
        test = corrected_resampled_ttest(scores, np.zeros_like(scores), n_train, n_test)
        rows[name] = {
            "mean": test["mean difference"],
            "sd": float(scores.std(ddof=1)),
            "ci low": max(test["ci low"], 0.0),
            "ci high": min(test["ci high"], 1.0),
            "folds": scores.size,
        }
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis(f"{metric} over test folds")


def fold_comparisons(
    cv: dict[str, CVResult], reference: str, metric: str = "ROC AUC"
) -> pd.DataFrame:
    """Every model minus ``reference`` on the same folds: corrected t-test, Wilcoxon, naive t.

    Raises
    ------
    ValueError
        A model was scored on other test folds than ``reference``.
    """
    ref = cv[reference]
    rows = {}
    for name, result in cv.items():
        if name == reference:
            continue
        same = len(result.folds) == len(ref.folds) and all(
            np.array_equal(a.test_index, b.test_index)
            for a, b in zip(result.folds, ref.folds, strict=True)
        )
        if not same:
            raise ValueError(f"{name} and {reference} were not scored on the same folds")
        a = np.array([f.metrics[metric] for f in result.folds])
        b = np.array([f.metrics[metric] for f in ref.folds])
        rows[name] = fold_comparison(a, b, *_train_test_sizes(ref))
    table = pd.DataFrame.from_dict(rows, orient="index")
    return table.rename_axis(f"model minus {reference} ({metric})")


def explained_positives(
    scores: np.ndarray,
    y_true: np.ndarray,
    test_index: np.ndarray,
    n_top: int,
    n_random: int,
    seed: int = 0,
) -> dict[str, np.ndarray]:
    """Rows to explain: the ``n_top`` top-scored test positives and ``n_random`` drawn at random.

    The top-scored positives are mostly motif carriers, which partly restates the selection;
    the random sample shows what the model does on a typical site.
    """
    positive = np.asarray(y_true) == 1
    index = np.asarray(test_index)[positive]
    top = index[np.argsort(-np.asarray(scores)[positive])[:n_top]]
    rng = np.random.default_rng(seed)
    random = rng.choice(index, size=min(n_random, index.size), replace=False)
    return {"top-scored": top, "random": np.sort(random)}


def load_sites(
    positives_fasta: str | Path | None, negatives_fasta: str | Path | None
) -> tuple[BindingSites, str, str, str]:
    """The chapter's binding sites: a given FASTA pair, else the registry's ``pum2`` set.

    Returns
    -------
    tuple
        ``(sites, provenance, source, data name)``: provenance ``real`` or ``synthetic``,
        where the data came from, and the name the results give the data.
    """
    if positives_fasta and negatives_fasta:
        sites = load_binding_sites(positives_fasta, negatives_fasta)
        return sites, "real", f"{positives_fasta} + {negatives_fasta}", "FASTA pair"
    loaded = registry.load("pum2")
    name = (
        "RNAProt PUM2 PAR-CLIP set" if loaded.provenance == "real" else "stand-in of the PUM2 set"
    )
    return loaded.data, loaded.provenance, str(loaded.folder), name


def explain_groups(
    model: nn.Module,
    view: TokenModelView,
    seqs: Sequence[str],
    picked: dict[str, np.ndarray],
    device: Any,
) -> dict[str, Explanation]:
    """ISM and gradient x input of ``model`` on each group of rows of :func:`explained_positives`.

    Returns ``{group: Explanation}`` (``ism`` ``[n, L, 4]``, importances ``[n, L]``).
    """
    return {
        group: explain_token_model(model, view, [seqs[i] for i in rows], device)
        for group, rows in picked.items()
    }


def explanation_sentences(
    explanations: dict[str, Explanation], model_name: str, motif: str
) -> list[str]:
    """Per group: how many positives carry ``motif`` and how ISM and gradient x input agree."""
    lines = []
    for group, found in explanations.items():
        r = np.corrcoef(found.ism_importance.ravel(), found.gradient_importance.ravel())[0, 1]
        carriers = np.mean([motif_in(s, motif) for s in found.sequences])
        lines.append(
            f"{model_name}, {len(found.sequences)} {group} held-out positives ({carriers:.0%} "
            f"carry {motif}); Pearson r between ISM and gradient x input importances: {r:.3f}"
        )
    return lines


def strongest_site(
    importance: np.ndarray, width: int = 8, before: int = 6, after: int = 14
) -> tuple[int, int, int]:
    """The sequence with the largest ISM importance and the window around its strongest site.

    ``importance`` is ``[n, L]``; returns ``(row, low, high)``, the slice ``low:high`` running
    from ``before`` nt before the strongest ``width``-nt window's start to ``after`` nt after it.
    """
    top = int(np.argmax(importance.max(1)))
    start = int(strongest_window(importance[top : top + 1], width)[0])
    return top, max(0, start - before), min(importance.shape[1], start + after)


def aligned_frequencies(
    explanations: dict[str, Explanation], width: int = 8, flank: int = 2
) -> dict[str, pd.DataFrame]:
    """Per group, base frequencies ``[width + 2 flank, 4]`` of the windows aligned on ISM."""
    return {
        group: frequency_matrix(
            aligned_windows(found.sequences, found.ism_importance, width, flank)
        )
        for group, found in explanations.items()
    }


def motif_sentence(frequency: pd.DataFrame, motif: str, provenance: str) -> str:
    """The share of positives and negatives carrying ``motif`` (a
    :func:`~course_lib.interpret.logos.motif_frequency` table), as a sentence of this run."""
    pos, neg = frequency.loc["positives", "fraction"], frequency.loc["negatives", "fraction"]
    return (
        f"In this run ({provenance} data), {pos:.1%} of the positives and {neg:.1%} of the "
        f"negatives carry {motif}: a scan for it alone finds {pos:.1%} of the sites."
    )
