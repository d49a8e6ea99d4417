"""Chapter 1's report, ``notebooks/01_utr_rnafm.ipynb``: its anchors and its results file.

:data:`ANCHORS` are the published figures on the real Random7600 and Human7600 (one
:class:`~course_lib.report.Anchor` per figure and test set); :func:`report` writes
``results/01_utr_rnafm.json`` through :func:`course_lib.report.chapter_report`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from course_lib.chapters.ch1_config import Ch1Config
from course_lib.chapters.ch1_utr_rnafm import FoldHead, interval_text, model_name
from course_lib.report import Anchor, Estimate, Headline, Interval, chapter_report, intervals_in
from course_lib.utr_protocol import PAPER_TRAINING_SIZE, table_metrics

SAMPLE_2019 = "Sample PJ et al., Nat Biotechnol 37, 803-809 (2019)"
DESIGN = "as listed in COURSE_DESIGN.md's anchors (real data, pretrained RNA-FM)"

#: How the chapter's intervals over test rows are obtained (the headline's: over Human7600).
BOOTSTRAP = "95 % bootstrap over the test set's UTRs within length"
HUMAN_BOOTSTRAP = "95 % bootstrap over Human7600 UTRs within length"


def _per_test_set(
    name: str, metric: str, protocol: str, source: str, random7600: float, human7600: float
) -> tuple[Anchor, Anchor]:
    """One anchor per test set of a source that gives a figure for each."""
    return (
        Anchor(f"{name}, Random7600", random7600, metric, protocol, source),
        Anchor(f"{name}, Human7600", human7600, metric, protocol, source),
    )


#: The published figures, Random7600 then Human7600 of each source.
ANCHORS = (
    *_per_test_set(
        "Optimus 5-Prime (Sample et al. 2019)", "Pearson r^2", "paper", SAMPLE_2019, 0.838, 0.778
    ),
    *_per_test_set(
        "RNA-FM embedding + ResNet head (UTR-LM benchmark notebook)",
        "R2",
        "test-selected epochs",
        f"UTR-LM benchmark notebook (Chu et al. 2024), {DESIGN}",
        0.816,
        0.787,
    ),
    *_per_test_set(
        "RNA-FM paper, embedding alone",
        "R2",
        "test-selected epochs",
        f"RNA-FM paper (Chen et al. 2022), {DESIGN}",
        0.876,
        0.816,
    ),
)

#: The anchor of the headline: RNA-FM embeddings with a ResNet head on Human7600.
HEADLINE_ANCHOR = ANCHORS[3]


def _models(fold_heads: Sequence[FoldHead], protocol: str) -> dict[str, dict[str, Any]]:
    """Every head: its inputs, padding, size and, per fold, training rows, best epoch, time."""
    models: dict[str, dict[str, Any]] = {}
    for fh in fold_heads:
        entry = models.setdefault(
            model_name(fh.name, protocol),
            {
                "input_types": list(fh.run.input_types),
                "padding": fh.run.padding,
                "parameters": sum(p.numel() for p in fh.run.model.parameters()),
                "folds": [],
            },
        )
        entry["folds"].append(
            {
                "fold": fh.fold,
                "training UTRs": fh.n_train,
                "best_epoch": fh.run.fit.best_epoch,
                "train_seconds": round(fh.run.fit.seconds, 1),
            }
        )
    return models


def _metrics(
    results: pd.DataFrame,
    spread: pd.DataFrame,
    verdicts: pd.DataFrame,
    curve: pd.DataFrame | None,
    protocol: str,
) -> dict[str, Any]:
    """Scores with intervals, spread over folds, paired verdicts and the learning curve."""
    metrics = {k: intervals_in(v, BOOTSTRAP) for k, v in table_metrics(results).items()}
    metrics |= {
        f"{model} {name} over folds": row.to_dict() for (model, name), row in spread.iterrows()
    }
    metrics |= {
        f"{row['a']} vs {row['b']} {row['test set']}": {
            "R2 a - b": row["R2 a - b"],
            "intervals overlap": row["intervals overlap"],
        }
        for row in verdicts.to_dict("records")
    }
    seq_model = model_name("seq", protocol)
    for n, row in (curve if curve is not None else pd.DataFrame()).iterrows():
        label = f"{seq_model}, {n} training UTRs (learning curve, fold 0) Random7600"
        metrics[label] = intervals_in(row.to_dict(), BOOTSTRAP)
    return metrics


def headline(
    results: pd.DataFrame, models: Sequence[str], n_human: int, provenance: str, how: str
) -> Headline:
    """R2 on Human7600 of ``models`` (the best head first) beside the RNA-FM ResNet anchor."""
    compared = {}
    for model in models:
        value, low, high = results.loc[(model, "Human7600"), ["R2", "R2 ci low", "R2 ci high"]]
        compared[model] = Estimate(value, Interval(low, high, HUMAN_BOOTSTRAP))
    data = f"{provenance} Human7600 ({n_human:,} UTRs); heads: {how}"
    return Headline("R2", data, compared, HEADLINE_ANCHOR)


def _notes(
    settings: Ch1Config,
    provenance: Mapping[str, str],
    how: str,
    sizes: Mapping[str, Any],
    backbones: Mapping[str, Any],
    twins: Mapping[str, Any],
    ceilings: Mapping[str, float],
) -> list[str]:
    """The sentences of the results file: data, protocol, backbones, twins, noise ceilings."""
    cv = settings.protocol == "cv"
    return [
        f"heads ({provenance['heads']} data): protocol {settings.protocol!r}, {how}",
        f"{'fold' if cv else 'split'} sizes: {dict(sizes)}",
        "epoch selection on the (inner) validation split; label scaler fitted on the training "
        "rows of each fold; Human7600 never trained or selected on",
        f"GEO varying-length table ({provenance['utr_varying_length']}): first look, noise "
        "ceiling, Exercise 1.2" + ("" if cv else ", heads"),
        "embeddings: " + "; ".join(f"{k}: {b.label}" for k, b in backbones.items()),
        *(b.describe() for b in backbones.values()),
        *([f"UTR-LM vs random RNA-FM twins (R2): {dict(twins)}"] if len(backbones) > 1 else []),
        f"learning curve: the paper's {PAPER_TRAINING_SIZE:,} training UTRs lie beyond the "
        "data; no value is extrapolated",
        *([f"R2 noise ceiling (synthetic): {_rounded(ceilings)}"] if ceilings else []),
    ]


def _rounded(values: Mapping[str, float]) -> dict[str, float]:
    """``values`` to 3 decimals, for a sentence."""
    return {name: round(value, 3) for name, value in values.items()}


def report(
    settings: Ch1Config,
    *,
    provenance: Mapping[str, str],
    results: pd.DataFrame,
    spread: pd.DataFrame,
    verdicts: pd.DataFrame,
    curve: pd.DataFrame | None,
    fold_heads: Sequence[FoldHead],
    best: str,
    heads: Sequence[str],
    n_human: int,
    how: str,
    sizes: Mapping[str, Any],
    backbones: Mapping[str, Any],
    twins: Mapping[str, Any],
    ceilings: Mapping[str, float],
    wall_time_s: float,
    folder: str | Path | None = None,
) -> Path:
    """Write ``results/01_utr_rnafm.json`` and return its path.

    Parameters
    ----------
    settings, provenance
        The resolved configuration; ``{"heads", "utr_varying_length", "backbone", ...}``, each
        ``real``, ``synthetic`` or ``stand-in`` (RNA-FM with random weights).
    results, spread, verdicts, curve
        :func:`course_lib.utr_protocol.scores_table` of every model and test set, the spread
        over folds, the paired comparisons and the learning curve (``None`` outside ``cv``).
    fold_heads, best, heads
        Every head on every fold; the best head and those compared (Framepool follows when
        ``results`` holds it).
    n_human, how, sizes
        Human7600's size, how the heads were trained, the folds' (or the split's) sizes.
    backbones, twins, ceilings
        ``{embedding: backbone}`` (RNA-FM, then UTR-LM if used), UTR-LM's verdicts against its
        random RNA-FM twins, the synthetic data's R2 noise ceilings (empty when not computed).
    wall_time_s, folder
        Seconds the chapter ran; where to write (default ``results/``).
    """
    protocol = settings.protocol
    shown = [model_name(best, protocol), *[model_name(h, protocol) for h in heads if h != best]]
    shown += ["Framepool combined"] if ("Framepool combined", "Human7600") in results.index else []
    return chapter_report(
        "01_utr_rnafm",
        profile=settings.profile,
        provenance=provenance,
        headline=headline(results, shown, n_human, provenance["heads"], how),
        metrics=_metrics(results, spread, verdicts, curve, protocol),
        wall_time_s=wall_time_s,
        anchors=ANCHORS,
        models=_models(fold_heads, protocol),
        notes=_notes(settings, provenance, how, sizes, backbones, twins, ceilings),
        folder=folder,
    )


def findings_markdown(
    results: pd.DataFrame,
    spread: pd.DataFrame,
    verdicts: pd.DataFrame,
    best_model: str,
    settings: Ch1Config,
    heads_provenance: str,
    same_rows: bool,
    backbone_labels: Mapping[str, str],
) -> str:
    """The chapter's findings as a Markdown list, every number from this run.

    Parameters
    ----------
    results, spread, verdicts
        Scores with intervals per model and test set, their spread over folds (``"R2 fold
        sd"``) and the paired comparisons (``a``, ``b``, ``test set``, ``R2 a - b``,
        ``verdict``).
    best_model
        The head chosen on validation loss (its model name).
    settings
        The resolved configuration (``protocol``, ``profile``).
    heads_provenance, same_rows, backbone_labels
        The heads' data provenance; whether Framepool was scored on the same rows; a label per
        backbone.
    """
    scored = "out of fold" if settings.protocol == "cv" else "test set"
    fold_sd = spread.loc[(best_model, "Random7600"), "R2 fold sd"]
    spread_text = (
        f"; its Random7600 $R^2$ varies by {fold_sd:.3f} (sd) over folds."
        if fold_sd == fold_sd
        else "."
    )
    lines = [
        f"- **{best_model}**, the head with the lowest validation loss ({heads_provenance} data): "
        f"$R^2$ {interval_text(results, best_model, 'Random7600')} on Random7600 ({scored}) and "
        f"{interval_text(results, best_model, 'Human7600')} on Human7600{spread_text}"
    ]
    if same_rows:
        lines.append(
            "- **Framepool combined** on the same real rows: "
            f"{interval_text(results, 'Framepool combined', 'Random7600')} and "
            f"{interval_text(results, 'Framepool combined', 'Human7600')}."
        )
    lines += [
        f"- {row['a']} minus {row['b']} on {row['test set']}: {row['R2 a - b']:+.3f}, "
        f"{row['verdict']}."
        for row in verdicts.to_dict("records")
    ]
    lines.append(
        f"- Embeddings: {'; '.join(backbone_labels.values())}; profile {settings.profile}."
    )
    return "\n".join(lines)
