"""Chapter 2's report, ``notebooks/02_optimus_attention.ipynb``: its anchors and results file.

:data:`ANCHORS` are the published figures on the 50-nt eGFP library; :func:`report` writes
``results/02_optimus_attention.json`` through :func:`course_lib.report.chapter_report`, with
the headline :func:`headline` (the published models' Pearson r^2 on the eGFP test UTRs).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from course_lib.chapters.ch2_config import Ch2Config
from course_lib.chapters.ch2_optimus_attention import TRAINING_ROWS
from course_lib.datasets.egfp import EgfpSplit
from course_lib.models.published import published_mrl
from course_lib.report import Anchor, Estimate, Headline, Interval, chapter_report, intervals_in
from course_lib.text import as_text
from course_lib.training import FitResult

#: The published figures on the 50-nt eGFP library.
ANCHORS = (
    Anchor(
        "Optimus 5-Prime (another model than the headline's: for scale), 50-nt eGFP library, "
        "20,000 test UTRs",
        0.934,
        "Pearson r^2",
        "paper: trained on 260,000 eGFP UTRs, tested on the 20,000 with most reads",
        "Sample et al., Nat Biotechnol 37, 803-809 (2019)",
    ),
    Anchor(
        "CNN + attention, 3 conv layers",
        0.955,
        "Pearson r",
        "course homework, eGFP library, label scaler fitted on the test set",
        "course homework (CNN+attention regressor)",
    ),
)

#: How the intervals of the published models and of the variant effects are obtained.
TEST_BOOTSTRAP = "95 % bootstrap over test UTRs"
SNV_BOOTSTRAP = "95 % bootstrap over variants"
ENDS = ("low", "high")


def headline(published: pd.DataFrame, n_rows: int, caption: str) -> Headline:
    """Pearson r^2 of the published MRL models (:data:`~course_lib.models.published.PUBLISHED_MRL`
    ``"egfp"`` roles) on the eGFP test UTRs beside Optimus 5-Prime's."""
    names = {published_mrl(role).name for role in ("egfp", "egfp, one library")}
    metric = "Pearson r^2"
    compared = {
        model: Estimate(
            float(row[metric]),
            Interval(float(row[f"{metric} low"]), float(row[f"{metric} high"]), TEST_BOOTSTRAP),
        )
        for (model, set_name), row in published.iterrows()
        if set_name == "eGFP 20k" and model in names
    }
    return Headline(metric, f"{caption}: eGFP 20k ({n_rows:,} UTRs scored)", compared, ANCHORS[0])


def _metrics(
    planted: Mapping[tuple[str, str], Mapping[str, float]],
    models: Mapping[str, Any],
    cv_summary: pd.DataFrame,
    aug_effect: pd.Series,
    published: pd.DataFrame,
    snv: Mapping[str, Mapping[str, float]],
) -> dict[str, Any]:
    """The planted-rule experiment, the cross-validation, the AUG scan and the published models."""
    return {
        "planted-rule experiment": {
            name: {part: planted[(name, part)] for part in ("val", "test")} for name in models
        },
        "own models, cross-validation within eGFP 20k (Pearson r^2 per fold)": cv_summary.to_dict(
            "index"
        ),
        f"in silico ({published_mrl('egfp').name}), mean predicted change of an inserted AUG": (
            aug_effect.to_dict()
        ),
        **{
            f"{model}, {set_name}": intervals_in(row, TEST_BOOTSTRAP, ENDS)
            for (model, set_name), row in published.to_dict("index").items()
        },
        **{
            f"snv effect, {name}": intervals_in(row, SNV_BOOTSTRAP, ENDS)
            for name, row in snv.items()
        },
    }


def _notes(
    provenance: Mapping[str, str],
    split: EgfpSplit,
    test_sizes: Mapping[str, int],
    frame_effect: pd.DataFrame,
) -> list[str]:
    """The sentences of the results file: data, split, training rows, AUG effect by frame."""
    frame_summary = {name: frame_effect.loc[name].to_dict() for name in frame_effect.index}
    training_rows = "; ".join(f"{name}: {rows}" for name, rows in TRAINING_ROWS.items())
    return [
        f"planted-rule experiment data: {next(iter(provenance.values()))}; "
        f"split sizes {as_text(split.sizes())}",
        f"published models scored on {as_text(test_sizes, 'UTRs')}",
        f"training rows of the published models: {training_rows}",
        "label scaler fitted on training MRL only (the original fitted one on the test set)",
        f"mean predicted MRL change of an inserted AUG by frame: {as_text(frame_summary)}",
        *split.notes,
    ]


def report(
    settings: Ch2Config,
    *,
    provenance: Mapping[str, str],
    planted: Mapping[tuple[str, str], Mapping[str, float]],
    models: Mapping[str, Any],
    fits: Mapping[str, FitResult],
    cv_summary: pd.DataFrame,
    aug_effect: pd.Series,
    published: pd.DataFrame,
    snv: Mapping[str, Mapping[str, float]],
    frame_effect: pd.DataFrame,
    split: EgfpSplit,
    test_sizes: Mapping[str, int],
    caption: str,
    wall_time_s: float,
    folder: str | Path | None = None,
) -> Path:
    """Write ``results/02_optimus_attention.json`` and return its path.

    Parameters
    ----------
    settings, provenance
        The resolved configuration; ``{data set: provenance}``, the planted-rule data first.
    planted, models, fits
        ``{(model, "val" or "test"): metrics}`` of the planted-rule experiment, its models
        ``{name: (module, ...)}`` and their training runs.
    cv_summary, aug_effect
        Pearson r^2 per fold within eGFP 20k; Framepool's mean AUG effect by frame.
    published, snv, frame_effect
        The published models' scores (``<metric> low``/``high``) per test set, their SNV
        effect correlations, every model's mean AUG effect by frame.
    split, test_sizes, caption
        The planted-rule split, the published test sets' sizes and their provenance caption.
    wall_time_s, folder
        Seconds the chapter ran; where to write (default ``results/``).
    """
    return chapter_report(
        "02_optimus_attention",
        profile=settings.profile,
        provenance=provenance,
        metrics=_metrics(planted, models, cv_summary, aug_effect, published, snv),
        wall_time_s=wall_time_s,
        anchors=ANCHORS,
        headline=headline(published, test_sizes["eGFP 20k"], caption),
        models={
            name: {
                "parameters": sum(p.numel() for p in m.parameters()),
                "best_epoch": fits[name].best_epoch,
                "train_seconds": round(fits[name].seconds, 1),
            }
            for name, (m, _) in models.items()
        },
        notes=_notes(provenance, split, test_sizes, frame_effect),
        folder=folder,
    )
