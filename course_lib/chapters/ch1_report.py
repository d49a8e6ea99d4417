"""Chapter 1's report, ``notebooks/01_utr_rnafm.ipynb``: its anchors and its results file.

:data:`ANCHORS` are the published figures on the real Random7600 and Human7600 (one
:class:`~course_lib.report.Anchor` per figure and test set); :func:`report` writes
``results/01_utr_rnafm.json`` through :func:`course_lib.report.chapter_report`. The headline
sets each head beside the published model of its own input (:func:`headline_pair`): the
one-hot head beside Optimus 5-Prime, an RNA-FM-embedding head beside the RNA-FM anchors. The
anchors were trained on the paper's training set, so they set the scale; they are not a
comparison under this chapter's protocol.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from course_lib.chapters.ch1_config import Ch1Config
from course_lib.chapters.ch1_scoring import METHOD
from course_lib.chapters.ch1_utr_rnafm import FoldHead, interval_text, model_name
from course_lib.models.published import published_mrl
from course_lib.report import Anchor, Estimate, Headline, Interval, chapter_report, intervals_in
from course_lib.text import as_text
from course_lib.utr_protocol import PAPER_TRAINING_SIZE, table_metrics

SAMPLE_2019 = "Sample PJ et al., Nat Biotechnol 37, 803-809 (2019)"
#: What the two RNA-FM anchors are: real data and the pretrained RNA-FM, figures as cited by the
#: course's anchor list (the source tables were not opened here), not reproduced.
RNAFM_ANCHOR_NOTE = "real data, pretrained RNA-FM; cited, not reproduced"

#: How the chapter's intervals over test rows are obtained (the headline's: over Human7600).
BOOTSTRAP = "95 % bootstrap over the test set's UTRs within length"
HUMAN_METHOD = (
    "95 % bootstrap over Human7600 UTRs within length of the mean over single fold models"
)
PAIRED = "95 % paired bootstrap over test UTRs of the difference of fold-model means"
OVER_FOLDS = "95 % Student-t interval of the mean of the fold models' own differences"


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
        f"UTR-LM benchmark notebook (Chu et al. 2024), {RNAFM_ANCHOR_NOTE}",
        0.816,
        0.787,
    ),
    *_per_test_set(
        "RNA-FM paper, embedding alone",
        "R2",
        "test-selected epochs",
        f"RNA-FM paper (Chen et al. 2022), {RNAFM_ANCHOR_NOTE}",
        0.876,
        0.816,
    ),
)

#: The anchor of an RNA-FM-embedding head: RNA-FM embeddings with a ResNet head on Human7600.
RNAFM_ANCHOR = ANCHORS[3]
#: The anchor of the one-hot head: Optimus 5-Prime, a CNN on one-hot UTRs, on Human7600.
ONE_HOT_ANCHOR = ANCHORS[1]


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
    scores: pd.DataFrame,
    ensembles: pd.DataFrame,
    paired: pd.DataFrame,
    probe: pd.DataFrame,
    curve: pd.DataFrame | None,
    protocol: str,
) -> dict[str, Any]:
    """Fold-mean scores with intervals and spread, ensembles apart, paired differences, the
    layer probe on validation rows and the learning curve."""
    metrics = {k: intervals_in(v, METHOD) for k, v in table_metrics(scores).items()}
    metrics |= {k: intervals_in(v, BOOTSTRAP) for k, v in table_metrics(ensembles).items()}
    metrics |= {
        f"{row['a']} vs {row['b']} {row['test set']} (paired)": {
            "R2 a - b": row["R2 a - b"],
            "R2 a - b interval": Interval.of_row(row, PAIRED),
            "R2 a - b interval over fold models": Interval.of_row(row, OVER_FOLDS, "fold "),
        }
        for row in paired.to_dict("records")
    }
    metrics |= {
        f"probe validation R2, {backbone}, layer {layer}": row.to_dict()
        for (backbone, layer), row in probe.iterrows()
    }
    seq_model = model_name("seq", protocol)
    for n, row in (curve if curve is not None else pd.DataFrame()).iterrows():
        label = f"{seq_model}, {n} training UTRs (learning curve, fold 0) Random7600"
        metrics[label] = intervals_in(row.to_dict(), BOOTSTRAP)
    return metrics


def headline_pair(backbones: Mapping[str, Any], protocol: str) -> tuple[str, str, Anchor]:
    """The headline model, its metric and its anchor (the published model of the same input,
    a scale, not a comparison under this protocol): with the real RNA-FM
    weights, the RNA-FM-embedding head beside the RNA-FM + ResNet anchor ($R^2$); otherwise
    the one-hot head beside Optimus 5-Prime, a CNN on one-hot UTRs (squared Pearson $r$, its
    published metric)."""
    if "RNA-FM" in backbones:
        return model_name("emb-rnafm", protocol), "R2", RNAFM_ANCHOR
    return model_name("seq", protocol), "Pearson r^2", ONE_HOT_ANCHOR


def headline_data(provenance: str, n_human: int, how: str, folds: int) -> str:
    """What the headline was measured on: ``"real Human7600 (7,600 UTRs); heads: ..."``."""
    return (
        f"{provenance} Human7600 ({n_human:,} UTRs); heads: {how}; mean over {folds} single "
        "fold model(s)"
    )


def headline(
    scores: pd.DataFrame,
    models: Sequence[str],
    backbones: Mapping[str, Any],
    protocol: str,
    data: str,
) -> Headline:
    """The results page's row: on Human7600, :func:`headline_pair`'s model (first) and
    ``models``, each the mean over its single fold models with its interval, in the pair's
    metric, beside the pair's anchor."""
    model, metric, anchor = headline_pair(backbones, protocol)
    compared = {}
    for name in [model, *[m for m in models if m != model]]:
        row = scores.loc[(name, "Human7600")]
        compared[name] = Estimate(row[metric], Interval.of_row(row, HUMAN_METHOD, f"{metric} "))
    return Headline(metric, data, compared, anchor)


def _notes(
    settings: Ch1Config,
    provenance: Mapping[str, str],
    how: str,
    sizes: Mapping[str, Any],
    backbones: Mapping[str, Any],
    choice: tuple[str, int],
    ceilings: Mapping[str, float],
) -> list[str]:
    """The sentences of the results file: data, protocol, backbones, probe, noise ceilings."""
    cv = settings.protocol == "cv"
    return [
        f"heads ({provenance['heads']} data): protocol {settings.protocol!r}, {how}",
        f"{'fold' if cv else 'split'} sizes: {as_text(sizes)}",
        "epoch selection on the (inner) validation split; label scaler fitted on the training "
        "rows of each fold; Human7600 never trained or selected on"
        + (
            "; every fold's validation rows, where the layer probe chooses the layer all folds "
            "use, are withheld from every fold's test rows"
            if cv
            else ""
        ),
        "every test set scored the same way: the mean over single fold models with its spread; "
        "the mean of the fold models' predictions is an ensemble, reported apart",
        f"GEO varying-length table ({provenance['utr_varying_length']}): first look, noise "
        "ceiling, Exercise 1.2" + ("" if cv else ", heads"),
        "embeddings: " + "; ".join(f"{k}: {b.label}" for k, b in backbones.items()),
        "negative control: RNA-FM's architecture with random weights"
        + ("" if "RNA-FM" in backbones else " (the real RNA-FM weights are absent in this run)"),
        f"layer probe (ridge on mean-pooled states, validation rows): best {choice[0]}, "
        f"layer {choice[1]}",
        f"learning curve: the paper's {PAPER_TRAINING_SIZE:,} training UTRs lie beyond the "
        "data; no value is extrapolated",
        *([f"R2 noise ceiling (synthetic): {as_text(ceilings)}"] if ceilings else []),
    ]


def report(
    settings: Ch1Config,
    *,
    provenance: Mapping[str, str],
    scores: pd.DataFrame,
    ensembles: pd.DataFrame,
    paired: pd.DataFrame,
    probe: pd.DataFrame,
    choice: tuple[str, int],
    curve: pd.DataFrame | None,
    fold_heads: Sequence[FoldHead],
    headline_models: Sequence[str],
    data: str,
    how: str,
    sizes: Mapping[str, Any],
    backbones: Mapping[str, Any],
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
    scores, ensembles, paired
        :func:`~course_lib.chapters.ch1_scoring.fold_scores_table` of every model and test set,
        the ensembles' :func:`course_lib.utr_protocol.scores_table` and the paired
        comparisons (:func:`~course_lib.chapters.ch1_scoring.paired_comparisons`).
    probe, choice
        :func:`~course_lib.chapters.ch1_probe.probe_summary` and the ``(backbone, layer)``
        chosen on validation.
    curve
        The learning curve (``None`` outside ``cv``).
    fold_heads, headline_models, data
        Every head on every fold; the headline's models besides :func:`headline_pair`'s
        (first); what the headline was measured on (:func:`headline_data`).
    how, sizes
        How the heads were trained; ``RealUTRProtocol.fold_sizes()`` or the split's sizes.
    backbones, ceilings
        ``{name: backbone}`` of :func:`~course_lib.chapters.ch1_backbones.load_backbones`;
        the synthetic data's R2 noise ceilings (empty when not computed).
    wall_time_s, folder
        Seconds the chapter ran; where to write (default ``results/``).
    """
    protocol = settings.protocol
    return chapter_report(
        "01_utr_rnafm",
        profile=settings.profile,
        provenance=provenance,
        headline=headline(scores, headline_models, backbones, protocol, data),
        metrics=_metrics(scores, ensembles, paired, probe, curve, protocol),
        wall_time_s=wall_time_s,
        anchors=ANCHORS,
        models=_models(fold_heads, protocol),
        notes=_notes(settings, provenance, how, sizes, backbones, choice, ceilings),
        folder=folder,
    )


def findings_markdown(
    scores: pd.DataFrame,
    paired: pd.DataFrame,
    headline_model: str,
    choice: tuple[str, int],
    settings: Ch1Config,
    heads_provenance: str,
    framepool: bool,
) -> str:
    """The chapter's findings as a Markdown list, every number from this run.

    Parameters
    ----------
    scores, paired
        :func:`~course_lib.chapters.ch1_scoring.fold_scores_table` and
        :func:`~course_lib.chapters.ch1_scoring.paired_comparisons` (with ``conclusion``).
    headline_model
        The model of the headline (:func:`headline_pair`).
    choice
        The ``(backbone, layer)`` the probe chose on validation.
    settings, heads_provenance, framepool
        The resolved configuration; the heads' data provenance; whether the published model
        (``published_mrl("varying-length")``) was scored on the same rows.
    """
    folds = int(scores.loc[(headline_model, "Human7600"), "folds"])
    lines = [
        f"- **{headline_model}** ({heads_provenance} data, mean over {folds} single fold "
        f"model(s), 95 % interval): R² {interval_text(scores, headline_model, 'Random7600')} "
        f"on Random7600, {interval_text(scores, headline_model, 'Human7600')} on Human7600"
        + _spread_text(scores, headline_model)
    ]
    if framepool:
        published = published_mrl("varying-length").name
        lines.append(
            f"- **{published}** (one published model) on the same rows, scored the same "
            f"way: {interval_text(scores, published, 'Random7600')} and "
            f"{interval_text(scores, published, 'Human7600')}."
        )
    lines.append(f"- The layer probe chose **{choice[0]}, layer {choice[1]}** on validation rows.")
    lines += [f"- {text}" for text in paired["conclusion"]]
    lines.append(f"- Profile {settings.profile}.")
    return "\n".join(lines)


def _spread_text(scores: pd.DataFrame, model: str) -> str:
    """``"; fold sd 0.012 and 0.020."`` (Random7600, Human7600), or ``"."`` with one fold."""
    sd = [scores.loc[(model, name), "R2 fold sd"] for name in ("Random7600", "Human7600")]
    if any(v != v for v in sd):
        return "."
    return f"; spread over folds (sd) {sd[0]:.3f} and {sd[1]:.3f}."
