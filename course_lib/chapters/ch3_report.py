"""Chapter 3's report, ``notebooks/03_pum2_dnabert_lstm.ipynb``: its anchors and results file.

:data:`ANCHORS` are the PUM2 figures the chapter sets its models against (one
:class:`~course_lib.report.Anchor` per model and metric); :func:`report` writes
``results/03_pum2_dnabert_lstm.json`` through :func:`course_lib.report.chapter_report`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from course_lib.chapters.ch3_config import Ch3Config
from course_lib.cross_validation import CVResult
from course_lib.report import Anchor, Estimate, Headline, Interval, chapter_report

SEED_SOURCE = (
    "original course notebook: 3,101/3,101 PUM2 course set, one split, the model picked on the "
    "test split (a clean protocol is expected to score lower)"
)
TEST_SELECTED = "one split, test-selected"

#: Published figures chapter 3 prints beside its own (real data), each with its protocol label.
ANCHORS = (
    Anchor("BiLSTM on 3-mers, PUM2", 0.895, "accuracy", TEST_SELECTED, SEED_SOURCE),
    Anchor("BiLSTM on 3-mers, PUM2", 0.941, "ROC AUC", TEST_SELECTED, SEED_SOURCE),
    Anchor("DNABERT-3 fine-tuned, PUM2", 0.926, "accuracy", TEST_SELECTED, SEED_SOURCE),
    Anchor("DNABERT-3 fine-tuned, PUM2", 0.969, "ROC AUC", TEST_SELECTED, SEED_SOURCE),
    Anchor(
        "3-5-mer count logistic regression, RNAProt PUM2",
        0.907,
        "ROC AUC",
        "stratified 5-fold CV, mean over folds (sd 0.006)",
        "measured on the RNAProt PUM2 files, stratified 5-fold CV (data README)",
    ),
)

#: What the chapter's intervals are.
CORRECTED = "95 % Nadeau-Bengio corrected interval of the mean over test folds"


def anchor_table() -> pd.DataFrame:
    """The anchors, one row per model: its figure per metric, its protocol and source."""
    rows: dict[str, dict[str, Any]] = {}
    for anchor in ANCHORS:
        rows.setdefault(anchor.name, {})[anchor.metric] = anchor.value
    for anchor in ANCHORS:
        rows[anchor.name] |= {"protocol": anchor.protocol, "source": anchor.source}
    return pd.DataFrame(rows).T


def _metrics(
    cv: Mapping[str, CVResult],
    intervals: pd.DataFrame,
    copy: Mapping[str, float],
    mlm: pd.DataFrame | None,
) -> dict[str, Any]:
    """Each model's mean and sd over test folds with its corrected interval; the copy baseline."""
    metrics: dict[str, Any] = {
        name: {
            "CV test folds, mean": {m: v["mean"] for m, v in result.summary().items()},
            "CV test folds, sd": {m: v["sd"] for m, v in result.summary().items()},
            "ROC AUC corrected 95 % interval": Interval(
                float(intervals.loc[name, "ci low"]),
                float(intervals.loc[name, "ci high"]),
                CORRECTED,
            ),
        }
        for name, result in cv.items()
    }
    if copy and mlm is not None:
        metrics["masked 3-mer accuracy vs copy baseline, fold 0"] = {
            "copy baseline accuracy": copy["copy accuracy"],
            "copy baseline accuracy at [MASK]": copy["copy accuracy at [MASK]"],
            "model masked accuracy, last epoch": float(mlm["masked_accuracy"].iloc[-1]),
            "chance accuracy 4^-k": copy["chance accuracy"],
        }
    return metrics


def headline(intervals: pd.DataFrame, models: Sequence[str], data: str) -> Headline:
    """ROC AUC over test folds of the BiLSTM first, then the other models, beside the seed's."""
    names = ["BiLSTM", *[n for n in models if n != "BiLSTM"]]
    compared = {
        n: Estimate(
            intervals.loc[n, "mean"],
            Interval(intervals.loc[n, "ci low"], intervals.loc[n, "ci high"], CORRECTED),
        )
        for n in names
    }
    return Headline("ROC AUC", data, compared, ANCHORS[1])


def _notes(
    settings: Ch3Config,
    provenance: str,
    n_sequences: int,
    bert_note: str,
    comparison: pd.DataFrame,
    explained: str,
    consensus: Mapping[str, Any],
) -> list[str]:
    """The sentences of the results file: data and protocol, BERT, comparisons, motifs."""
    tests = comparison[["mean difference", "corrected p", "Wilcoxon p"]].round(4)
    return [
        f"data provenance: {provenance}; {n_sequences} sequences, {settings.n_folds}-fold "
        f"stratified CV, validation fraction {settings.val_fraction} inside the training folds",
        f"BERT: {bert_note}",
        "fold comparisons vs BiLSTM (ROC AUC): " + str(tests.to_dict("index")),
        f"interpretation of {explained}: consensus {dict(consensus)}, motif {settings.motif}",
    ]


def report(
    settings: Ch3Config,
    provenance: str,
    *,
    cv: Mapping[str, CVResult],
    intervals: pd.DataFrame,
    copy: Mapping[str, float],
    mlm: pd.DataFrame | None,
    data_name: str,
    n_sequences: int,
    bert_note: str,
    comparison: pd.DataFrame,
    explained: str,
    consensus: Mapping[str, Any],
    wall_time_s: float,
    folder: str | Path | None = None,
) -> Path:
    """Write ``results/03_pum2_dnabert_lstm.json`` and return its path.

    Parameters
    ----------
    settings, provenance
        The resolved configuration; the PUM2 sites' provenance.
    cv, intervals
        Every model's cross-validation result and ``fold_intervals`` of its ROC AUC.
    copy, mlm
        The masked 3-mer copy baseline and fold 0's masked-modelling history (empty and
        ``None`` when no BERT was pretrained).
    data_name, n_sequences, bert_note
        The data set's name and size, what the BERT backbone is.
    comparison, explained, consensus
        Fold comparisons against the BiLSTM, the model interpreted and its consensus motifs.
    wall_time_s, folder
        Seconds the chapter ran; where to write (default ``results/``).
    """
    data = f"{provenance} {data_name} ({n_sequences:,} sequences, {settings.n_folds}-fold CV)"
    return chapter_report(
        "03_pum2_dnabert_lstm",
        profile=settings.profile,
        provenance=provenance,
        metrics=_metrics(cv, intervals, copy, mlm),
        wall_time_s=wall_time_s,
        anchors=ANCHORS,
        headline=headline(intervals, list(cv), data),
        models={
            name: {
                "best_epochs": [f.trained.best_epoch for f in result.folds],
                "per_fold_roc_auc": [round(f.metrics["ROC AUC"], 4) for f in result.folds],
            }
            for name, result in cv.items()
        },
        notes=_notes(
            settings, provenance, n_sequences, bert_note, comparison, explained, consensus
        ),
        folder=folder,
    )
