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
from course_lib.chapters.ch3_models import still_rising
from course_lib.cross_validation import CVResult
from course_lib.grids import edge_sentence
from course_lib.report import Anchor, Estimate, Headline, Interval, chapter_report
from course_lib.text import as_text

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
BOOTSTRAP_WINDOWS = "95 % paired bootstrap over held-out genome windows (same corruptions)"
BOOTSTRAP_ROWS = "95 % bootstrap over fold 0's test rows (within each class)"
PAIRED_ROWS = "95 % paired bootstrap over fold 0's test rows (within each class)"


def anchor_table() -> pd.DataFrame:
    """The anchors, one row per model: its figure per metric, its protocol and source."""
    rows: dict[str, dict[str, Any]] = {}
    for anchor in ANCHORS:
        rows.setdefault(anchor.name, {})[anchor.metric] = anchor.value
    for anchor in ANCHORS:
        rows[anchor.name] |= {"protocol": anchor.protocol, "source": anchor.source}
    return pd.DataFrame(rows).T


def _copy_metrics(copy: pd.DataFrame) -> dict[str, Any]:
    """Per backbone and token set: masked accuracy, copy baseline, their paired interval (and
    the genome backbone's margin over the random-sequence control, where the run has both)."""
    out: dict[str, Any] = {}
    for (backbone, tokens), row in copy.iterrows():
        out.setdefault(backbone, {})[tokens] = {
            "model masked accuracy": float(row["model accuracy"]),
            "copy baseline accuracy": float(row["copy baseline accuracy"]),
            "model minus copy": float(row["model minus copy"]),
            "model minus copy 95 % interval": Interval.of_row(row, BOOTSTRAP_WINDOWS),
            "above copy": bool(row["above copy"]),
            "scored tokens": int(row["scored tokens"]),
        }
        if pd.notna(row.get("minus control")):
            out[backbone][tokens] |= {
                "model minus random-sequence control": float(row["minus control"]),
                "model minus random-sequence control 95 % interval": Interval.of_row(
                    row, BOOTSTRAP_WINDOWS, "minus control "
                ),
            }
    return out


def _efficiency_metrics(table: pd.DataFrame, comparisons: pd.DataFrame) -> dict[str, Any]:
    """Per labelled-site count: each arm's test ROC AUC and the pretrained arm's differences."""
    out: dict[str, Any] = {}
    for _, row in table.iterrows():
        point = out.setdefault(f"{int(row['labelled sites'])} labelled sites", {})
        point[str(row["arm"])] = {
            "ROC AUC": float(row["ROC AUC"]),
            "ROC AUC 95 % interval": Interval.of_row(row, BOOTSTRAP_ROWS),
        }
    reference = comparisons.index.names[1]
    for (count, other), row in comparisons.iterrows():
        out[f"{int(count)} labelled sites"][f"{reference} {other}"] = {
            "difference": float(row["difference"]),
            "difference 95 % interval": Interval.of_row(row, PAIRED_ROWS),
        }
    return out


def _metrics(
    cv: Mapping[str, CVResult],
    intervals: pd.DataFrame,
    copy: pd.DataFrame | None,
    efficiency: tuple[pd.DataFrame, pd.DataFrame] | None,
) -> dict[str, Any]:
    """Each model's mean and sd over test folds with its corrected interval; the masked
    accuracy against the copy baseline (genome backbone and random-sequence control); the
    sample-efficiency curve."""
    metrics: dict[str, Any] = {
        name: {
            "CV test folds, mean": {m: v["mean"] for m, v in result.summary().items()},
            "CV test folds, sd": {m: v["sd"] for m, v in result.summary().items()},
            "ROC AUC corrected 95 % interval": Interval.of_row(intervals.loc[name], CORRECTED),
        }
        for name, result in cv.items()
    }
    if copy is not None and len(copy):
        by_backbone = _copy_metrics(copy)
        genome = [name for name in by_backbone if "control" not in name]
        control = [name for name in by_backbone if "control" in name]
        metrics["masked 3-mer accuracy vs copy baseline, held-out genome windows"] = {
            name: by_backbone[name] for name in genome
        }
        metrics["negative control (random-sequence pretraining) vs copy baseline"] = {
            name: by_backbone[name] for name in control
        }
    if efficiency is not None:
        metrics["sample efficiency, fold 0 test rows"] = _efficiency_metrics(*efficiency)
    return metrics


def headline(intervals: pd.DataFrame, models: Sequence[str], data: str) -> Headline:
    """ROC AUC over test folds of the BiLSTM first, then the other models, beside the seed's."""
    names = ["BiLSTM", *[n for n in models if n != "BiLSTM"]]
    compared = {
        n: Estimate(
            intervals.loc[n, "mean"],
            Interval.of_row(intervals.loc[n], CORRECTED),
        )
        for n in names
    }
    return Headline("ROC AUC", data, compared, ANCHORS[1])


def lr_choice_sentences(
    settings: Ch3Config, cv: Mapping[str, CVResult], efficiency: pd.DataFrame | None
) -> list[str]:
    """Whether ``settings.lr_factors`` brackets every learning rate chosen on validation.

    Each choice is written as a multiple of its arm's base rate (``lstm_lr`` for the BiLSTM,
    ``bert_lr`` for the BERT arms) and set against the factors
    (:func:`course_lib.grids.edge_sentence`, with the best rate on validation of each choice,
    since :func:`~course_lib.chapters.ch3_models.tuned_trainer` keeps one by the
    one-standard-error rule): one sentence for the cross-validation (the BERT arms, chosen on
    the first fold, naming the rates still improving at their last epoch there: those passed
    over, and a kept one when no rate within one error had stopped), one for the
    sample-efficiency curve when ``efficiency`` (its table:
    ``labelled sites``, ``arm``, ``lr`` and, where recorded, ``best lr``) is given (chosen at
    every count).
    """

    def factor(arm: str, lr: float | None) -> float | None:
        if lr is None or pd.isna(lr):
            return None
        return lr / (settings.lstm_lr if arm == "BiLSTM" else settings.bert_lr)

    what = "learning rates (multiples of the arm's base rate)"
    infos = {arm: result.folds[0].trained.info for arm, result in cv.items()}
    tuned = {arm: info for arm, info in infos.items() if info.get("lr") is not None}
    in_cv = {arm: factor(arm, info["lr"]) for arm, info in tuned.items()}
    best_cv = {arm: factor(arm, info.get("best lr")) for arm, info in tuned.items()}
    line = edge_sentence(in_cv, settings.lr_factors, what, "lr_factors", best_cv)
    line += _rising_clauses(tuned, in_cv, factor)
    out = ["cross-validation: " + line]
    if efficiency is not None:
        rows = efficiency.dropna(subset=["lr"])
        best = rows["best lr"] if "best lr" in rows else [None] * len(rows)
        curve, best_curve = {}, {}
        for n, arm, lr, top in zip(
            rows["labelled sites"], rows["arm"], rows["lr"], best, strict=True
        ):
            name = f"{arm} at {n:,} sites"
            curve[name], best_curve[name] = factor(arm, lr), factor(arm, top)
        line = edge_sentence(curve, settings.lr_factors, what, "lr_factors", best_curve)
        out.append("sample-efficiency curve: " + line)
    return out


def _rising_clauses(
    tuned: Mapping[str, Mapping[str, Any]],
    kept_factor: Mapping[str, float | None],
    factor: Any,
) -> str:
    """The clauses of :func:`lr_choice_sentences` naming, per arm (``tuned``: its first
    fold's ``info``), the rates still improving at their last epoch that were not kept, and the
    kept one when it was still improving (every rate within one error was); ``""`` if none."""
    rising = {arm: info.get("still rising by lr", {}) for arm, info in tuned.items()}
    passed = {
        arm: [factor(arm, lr) for lr, up in by_lr.items() if up and lr != tuned[arm]["lr"]]
        for arm, by_lr in rising.items()
    }
    kept = {arm: [kept_factor[arm]] for arm, by_lr in rising.items() if by_lr.get(tuned[arm]["lr"])}
    out = ""
    for what_happened, factors_by_arm in (
        ("still improving at their last epoch on the first fold, not kept", passed),
        (
            "kept although still improving at its last epoch on the first fold (no rate "
            "within one error had stopped improving)",
            kept,
        ),
    ):
        if any(factors_by_arm.values()):
            out += f"; {what_happened}: " + "; ".join(
                f"{arm} ({', '.join(f'{f:g}' for f in factors)})"
                for arm, factors in factors_by_arm.items()
                if factors
            )
    return out


def last_epoch_sentence(settings: Ch3Config, cv: Mapping[str, CVResult]) -> str:
    """How many test folds of each trained arm kept their last epoch
    (:func:`~course_lib.chapters.ch3_models.still_rising`: the validation score still improving
    when training stopped), and what it means when every fold did."""
    budgets = {"CNN": "cnn_epochs", "BiLSTM": "lstm_epochs"}
    counts, everywhere = [], []
    for arm, result in cv.items():
        histories = [fold.trained for fold in result.folds if fold.trained.history is not None]
        if not histories:
            continue
        last = sum(still_rising(trained) for trained in histories)
        counts.append(f"{arm} {last} of {len(histories)}")
        if last == len(histories):
            name = budgets.get(arm, "bert_epochs")
            everywhere.append(f"{arm} (`{name}` {getattr(settings, name)})")
    line = "test folds whose kept epoch is the last one trained (still improving): " + ", ".join(
        counts
    )
    if everywhere:
        line += (
            "; on every fold for "
            + ", ".join(everywhere)
            + ": those arms stopped while still improving, so their scores are what this "
            "epoch budget allows, not what the model can reach"
        )
    return line + "."


def _notes(
    settings: Ch3Config,
    provenance: str,
    n_sequences: int,
    bert_note: str,
    comparison: pd.DataFrame,
    explained: str,
) -> list[str]:
    """The first sentences of the results file: data and protocol, BERT, comparisons, motif."""
    tests = comparison[["mean difference", "corrected p", "Wilcoxon p"]].round(4)
    return [
        f"data provenance: {provenance}; {n_sequences} sequences, stratified "
        f"{settings.cv_design}, validation fraction {settings.val_fraction} inside the "
        "training folds; the first fold's validation rows, where the BERT arms choose the "
        "learning rate they reuse on every fold, are withheld from every test fold",
        f"BERT: {bert_note}",
        "fold comparisons vs BiLSTM (ROC AUC): " + as_text(tests.to_dict("index")),
        f"model interpreted: {explained}; motif looked for: {settings.motif}",
    ]


def report(
    settings: Ch3Config,
    provenance: str,
    *,
    cv: Mapping[str, CVResult],
    intervals: pd.DataFrame,
    copy: pd.DataFrame | None,
    efficiency: tuple[pd.DataFrame, pd.DataFrame] | None,
    conclusions: Sequence[str],
    data_name: str,
    n_sequences: int,
    bert_note: str,
    comparison: pd.DataFrame,
    explained: str,
    consensus: Mapping[str, Any],
    wall_time_s: float,
    workers: int = 1,
    folder: str | Path | None = None,
) -> Path:
    """Write ``results/03_pum2_dnabert_lstm.json`` and return its path.

    Parameters
    ----------
    settings, provenance
        The resolved configuration; the PUM2 sites' provenance.
    cv, intervals
        Every model's cross-validation result and ``fold_intervals`` of its ROC AUC.
    copy
        :func:`~course_lib.chapters.ch3_pretraining.copy_comparison` of the backbones (``None``
        when none was pretrained).
    efficiency, conclusions
        The sample-efficiency table and its paired comparisons (``None`` when not run) and
        the sentences computed from their intervals.
    data_name, n_sequences, bert_note, comparison, explained, consensus
        The data's name and size, the BERT backbone, fold comparisons against the BiLSTM,
        the model interpreted and its consensus motifs.
    wall_time_s, workers, folder
        Seconds the chapter ran; the worker processes its trainings ran in side by side (1:
        in the kernel; :class:`~course_lib.training_pool.TrainingPool`); where to write
        (default ``results/``).
    """
    data = f"{provenance} {data_name} ({n_sequences:,} sequences, {settings.cv_design})"
    return chapter_report(
        "03_pum2_dnabert_lstm",
        profile=settings.profile,
        provenance=provenance,
        metrics=_metrics(cv, intervals, copy, efficiency),
        wall_time_s=wall_time_s,
        anchors=ANCHORS,
        headline=headline(intervals, list(cv), data),
        models=_models(cv),
        notes=_notes(settings, provenance, n_sequences, bert_note, comparison, explained)
        + lr_choice_sentences(settings, cv, None if efficiency is None else efficiency[0])
        + [last_epoch_sentence(settings, cv)]
        + [*conclusions, f"interpretation of {explained}: consensus {as_text(consensus)}"]
        + [trainings_note(workers)],
        folder=folder,
    )


def trainings_note(workers: int) -> str:
    """Where the chapter's trainings ran, for the results' notes (the float rounding differs)."""
    if workers == 1:
        return "trainings: one after the other in the kernel, on all its torch threads"
    return f"trainings: side by side in {workers} worker processes of one torch thread each"


def _models(cv: Mapping[str, CVResult]) -> dict[str, Any]:
    """Per model: the epoch kept and the ROC AUC of each fold, and the learning rate chosen."""
    return {
        name: {
            "best_epochs": [f.trained.best_epoch for f in result.folds],
            "per_fold_roc_auc": [round(f.metrics["ROC AUC"], 4) for f in result.folds],
            "chosen_lr": [f.trained.info.get("lr") for f in result.folds],
        }
        for name, result in cv.items()
    }
