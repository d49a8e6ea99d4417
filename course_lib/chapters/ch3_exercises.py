"""Chapter 3's exercises and predict-then-run question (``notebooks/03_pum2_dnabert_lstm.ipynb``).

- Exercise 3.1: which 6-mers carry the binding signal in this run's sequences, and how many
  of DNABERT-6's 4,096 k-mer tokens the positives never show (:func:`kmer_enrichment`).
- Exercise 3.2: the BiLSTM's out-of-fold probability by motif (:func:`motif_means`).
- Exercise 3.3: how far re-drawing the folds alone moves one model's mean ROC AUC
  (:func:`fold_shift`), to set beside the gap between two models.
- Exercise 3.4: the original BiLSTM readout on fold 0.
- Exercise 3.5: the BiLSTM's and the BERT's averaged ISM profiles.
- Prediction 3.6: before the sample-efficiency curve, how much ROC AUC genome pretraining adds
  over the same BERT from random weights at the smallest label count.

Every check computes its expected answer from the run's data (see :mod:`course_lib.exercises`).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score
from torch import nn

from course_lib.chapters.ch3_pum2_dnabert_lstm import bert_view
from course_lib.cross_validation import CVResult
from course_lib.encoding import kmer_counts, kmer_vocabulary
from course_lib.exercises import (
    Comparison,
    Exercise,
    Measured,
    Prediction,
    Verdict,
    check,
    check_prediction,
    compare_arrays,
    compare_number,
)
from course_lib.interpret.attribution import Explanation, explain_token_model
from course_lib.interpret.logos import motif_in
from course_lib.tokenization import KmerVocabulary

#: The arm Prediction 3.6 sets the genome-pretrained BERT against.
SCRATCH_ARM = "BERT (no pretraining)"

#: The chapter's exercises (issue 17, 29), numbered as on the site.
EXERCISES: dict[int, Exercise | Prediction] = {
    1: Exercise(
        "3.1",
        "which 6-mers carry the signal?",
        (
            "kmer_counts(seqs, 6) gives [n, 4096] counts in the order of kmer_vocabulary(6); "
            "sum its rows over the positives and over the negatives.",
            "Enrichment = log2((pos + 1) / (pos total + 4096)) - log2((neg + 1) / (neg total + "
            "4096)); the answer is the 6-mer with the largest, and the share of the 4,096 "
            "6-mers whose count in the positives is 0.",
            "See the k-mer tokens section and the k-mer baseline (course_lib.encoding).",
        ),
    ),
    2: Exercise(
        "3.2",
        "does the BiLSTM depend on the motif?",
        (
            "Pool the out-of-fold predictions with cv['BiLSTM'].pooled().",
            "The pooled rows follow the folds' test_index in order; look up each sequence's "
            "motif there.",
            "Three means: positives with the motif, positives without it, all negatives.",
        ),
    ),
    3: Exercise(
        "3.3",
        "how much do the folds alone move a score?",
        (
            "Cross-validate the k-mer regression again on stratified_folds(labels, n_folds, "
            "seed + settings.cv_repeats), a split the chapter's repetitions did not use, and "
            "average its test-fold ROC AUC.",
            "fold_shift is that mean minus the mean ROC AUC of cv['k-mer LR'] over its folds.",
            "Compare its size with the mean difference in the paired comparison table.",
        ),
    ),
    4: Exercise(
        "3.4",
        "the original BiLSTM readout",
        (
            "Cross-validate on folds[:1] with ch3_models.bilstm_trainer(..., readout=other).",
            "other_fold is the FoldResult of that run (single.folds[0]).",
            "It must be scored on the same test rows as cv['BiLSTM'].folds[0].",
        ),
    ),
    5: Exercise(
        "3.5",
        "what does the transformer look at?",
        (
            "explain_token_model with bert_view(vocab) on explanation.sequences.",
            "Average each model's ism_importance over sequences, one value per position.",
            "profiles_r is the Pearson r of the two averaged profiles (np.corrcoef).",
        ),
    ),
    6: Prediction(
        "3.6",
        "does pretraining help when labels are scarce?",
        "the ROC AUC of the genome-pretrained BERT minus the BERT from random weights at the "
        "smallest label count",
    ),
}


def kmer_enrichment(
    seqs: Sequence[str], labels: np.ndarray, k: int = 6
) -> tuple[np.ndarray, float]:
    """``[4**k]`` log2 enrichment of each k-mer in the positives over the negatives (one
    pseudocount per k-mer) and the share of k-mers absent from the positives."""
    counts = kmer_counts(list(seqs), k).astype(np.float64)
    positive = np.asarray(labels) == 1
    pos, neg = counts[positive].sum(0), counts[~positive].sum(0)
    size = counts.shape[1]
    enrichment = np.log2((pos + 1) / (pos.sum() + size)) - np.log2((neg + 1) / (neg.sum() + size))
    return enrichment, float((pos == 0).mean())


def check_exercise_1(
    enriched: Any, unseen: Any, seqs: Sequence[str], labels: np.ndarray
) -> Verdict:
    """Exercise 3.1: ``enriched`` is a most enriched 6-mer of this run's sequences (any of a
    tie), ``unseen`` the share of the 4,096 6-mers absent from the positives."""
    enrichment, absent = kmer_enrichment(seqs, labels)
    names = kmer_vocabulary(6)

    def compare(answer: tuple[Any, Any]) -> Comparison:
        kmer = str(answer[0]).strip().upper().replace("U", "T")
        if kmer not in names:
            return Comparison(False, f"{answer[0]!r} is not a 6-mer of A, C, G, T")
        if enrichment[names.index(kmer)] < enrichment.max() - 1e-9:
            return Comparison(False, "that 6-mer is enriched, but another one is more so")
        share = compare_number(answer[1], absent, rtol=0, atol=1e-6)
        return share if share.ok else Comparison(False, f"the unseen share: {share.detail}")

    answer = None if enriched is None or unseen is None else (enriched, unseen)
    return check(EXERCISES[1], answer, compare)


def motif_means(result: CVResult, seqs: list[str], motif: str) -> np.ndarray:
    """``[1, 3]`` mean out-of-fold probability: positives with / without ``motif``, negatives."""
    y, p = result.pooled()
    index = np.concatenate([f.test_index for f in result.folds])
    has = np.array([motif_in(seqs[i], motif) for i in index], dtype=bool)
    groups = ((y == 1) & has, (y == 1) & ~has, y == 0)
    return np.array([[p[g].mean() if g.any() else np.nan for g in groups]])


def check_exercise_2(by_motif: Any, result: CVResult, seqs: list[str], motif: str) -> Verdict:
    """Exercise 3.2: the three means of :func:`motif_means` (a ``[1, 3]`` table)."""
    expected = motif_means(result, seqs, motif)
    return check(
        EXERCISES[2], by_motif, partial(compare_arrays, expected=expected, rtol=1e-6, atol=1e-9)
    )


def mean_auc(result: CVResult) -> float:
    """Mean test-fold ROC AUC of ``result``, recomputed from each fold's labels and scores."""
    return float(np.mean([roc_auc_score(f.y_true, f.scores) for f in result.folds]))


def fold_shift(other: CVResult, reference: CVResult) -> float:
    """Mean ROC AUC of ``other`` (the same model on other folds) minus that of ``reference``."""
    return mean_auc(other) - mean_auc(reference)


def check_exercise_3(
    shift: Any, other: Any, reference: CVResult, other_folds: Sequence[tuple]
) -> Verdict:
    """Exercise 3.3: ``shift`` is :func:`fold_shift` of ``other`` (cross-validated on
    ``other_folds``) against the chapter's ``reference`` result of the same model."""

    def compare(answer: Any) -> Comparison:
        if not isinstance(other, CVResult):
            return Comparison(False, f"expected `other` as a CVResult, got {type(other).__name__}")
        tested = [np.sort(f.test_index) for f in other.folds]
        wanted = [np.sort(test) for _, test in other_folds]
        if len(tested) != len(wanted) or any(
            not np.array_equal(a, b) for a, b in zip(tested, wanted, strict=False)
        ):
            return Comparison(False, "`other` was not cross-validated on the other seed's folds")
        return compare_number(answer, fold_shift(other, reference), rtol=0, atol=1e-9)

    return check(EXERCISES[3], shift, compare)


def check_exercise_4(other_fold: Any, reference: CVResult) -> Verdict:
    """Exercise 3.4: the other readout's fold is fold 0's test rows, its ROC AUC as scored."""

    def compare(answer: Any) -> Comparison:
        if not hasattr(answer, "test_index"):
            return Comparison(False, f"expected a FoldResult, got {type(answer).__name__}")
        if not np.array_equal(answer.test_index, reference.folds[0].test_index):
            return Comparison(False, "your model was not tested on fold 0's test rows")
        auc = roc_auc_score(answer.y_true, answer.scores)
        return compare_number(answer.metrics["ROC AUC"], auc, rtol=0, atol=1e-9)

    return check(EXERCISES[4], other_fold, compare)


def check_exercise_5(
    profiles_r: Any, bilstm: Explanation, bert: nn.Module, vocab: KmerVocabulary, device: Any
) -> Verdict:
    """Exercise 3.5: Pearson r of the averaged ISM profiles of the BiLSTM and ``bert``."""
    other = explain_token_model(bert, bert_view(vocab), bilstm.sequences, device)
    expected = np.corrcoef(bilstm.ism_importance.mean(0), other.ism_importance.mean(0))[0, 1]
    return check(
        EXERCISES[5], profiles_r, partial(compare_number, expected=expected, rtol=0, atol=1e-4)
    )


def scarce_label_measurement(comparisons: pd.DataFrame | None, provenance: str) -> Measured:
    """The genome BERT minus :data:`SCRATCH_ARM` at the smallest count of ``comparisons``
    (:func:`course_lib.chapters.ch3_efficiency.efficiency_comparisons`), with its meaning and
    the difference at every count."""
    if comparisons is None:
        return Measured(float("nan"), meaning="This run pretrained no backbone.")
    rows = comparisons.xs(SCRATCH_ARM, level=1)
    count = int(rows.index.min())
    row = rows.loc[count]
    low, high = float(row["ci low"]), float(row["ci high"])
    if low > 0 or high < 0:
        verdict = "the interval excludes 0: " + ("pretraining helps" if low > 0 else "it hurts")
    else:
        verdict = "the interval spans 0: this run cannot tell the two arms apart"
    every = ", ".join(
        f"{int(n):,} sites {float(r['difference']):+.3f} "
        f"[{float(r['ci low']):+.3f}, {float(r['ci high']):+.3f}]"
        for n, r in rows.sort_index().iterrows()
    )
    meaning = (
        f"At {count:,} labelled sites ({provenance} data), {verdict}. At every count: {every} "
        "(the sentences under the curve say what each interval allows)."
    )
    return Measured(float(row["difference"]), low, high, meaning)


def check_exercise_6(prediction: Any, comparisons: pd.DataFrame | None, provenance: str) -> Verdict:
    """Prediction 3.6: ``prediction`` beside :func:`scarce_label_measurement`."""
    return check_prediction(
        EXERCISES[6], prediction, scarce_label_measurement(comparisons, provenance)
    )
