"""Chapter 5's report, ``notebooks/05_utr_lm.ipynb``: its anchors and its results file.

:data:`ANCHORS` are the published figures on the real Random7600 and Human7600 (one
:class:`~course_lib.report.Anchor` per figure and test set); :func:`report` writes
``results/05_utr_lm.json`` through :func:`course_lib.report.chapter_report`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
from torch import nn

from course_lib.chapters.ch5_config import Ch5Config
from course_lib.chapters.ch5_structure_check import LabelAgreement
from course_lib.report import Anchor, Estimate, Headline, Interval, chapter_report, intervals_in
from course_lib.structure import vienna_version
from course_lib.training import FitResult
from course_lib.utr_protocol import RealUTRProtocol

CHU_2024 = "Chu Y et al., Nat Mach Intell 6, 449-460 (2024); sklearn R2"
SAMPLE_2019 = "Sample PJ et al., Nat Biotechnol 37, 803-809 (2019); squared Pearson r, not R2"
UTR_LM = "UTR-LM + ResNet head, fine-tuned (Chu et al. 2024)"
OPTIMUS = "Optimus 5-Prime, varying length 25-100 (Sample et al. 2019)"

#: The published figures, Random7600 then Human7600 of each source.
ANCHORS = (
    Anchor(f"{UTR_LM}, Random7600", 0.859, "R2", "paper", CHU_2024),
    Anchor(f"{UTR_LM}, Human7600", 0.806, "R2", "paper", CHU_2024),
    Anchor(f"{OPTIMUS}, Random7600", 0.838, "Pearson r^2", "paper", SAMPLE_2019),
    Anchor(f"{OPTIMUS}, Human7600", 0.778, "Pearson r^2", "paper", SAMPLE_2019),
)

#: What the Human7600 intervals are.
BOOTSTRAP = "95 % bootstrap over Human7600 UTRs within length, fold-averaged predictions"
HEADLINE_MODEL = "(c) MLM + MFE + structure"


def headline(human: Mapping[str, Mapping[str, Mapping[str, float]]], data: str) -> Headline:
    """Human7600 R2 of variant (c) first, then the others, beside UTR-LM's published one."""
    order = [HEADLINE_MODEL, *[n for n in human if n != HEADLINE_MODEL]]
    compared = {
        n: Estimate(
            human[n]["R2"]["estimate"],
            Interval(human[n]["R2"]["ci low"], human[n]["R2"]["ci high"], BOOTSTRAP),
        )
        for n in order
    }
    return Headline("R2", data, compared, ANCHORS[1])


def _label_checks(
    mfe: LabelAgreement, sample: LabelAgreement, provenances: Mapping[str, str]
) -> dict[str, Any]:
    """The structure labels checked against ``utr_mfe`` and the UTR-LM sample."""
    return {
        "utr_mfe Pearson r": mfe.pearson_r,
        "utr_mfe fraction within 0.05 kcal/mol": mfe.fraction_mfe_within,
        "utr_mfe n": mfe.n,
        "utr_mfe provenance": provenances["utr_mfe"],
        "utrlm_sample MFE equal": sample.fraction_mfe_within,
        "utrlm_sample dot-brackets equal": sample.fraction_structure_equal,
        "utrlm_sample n": sample.n,
        "utrlm_sample provenance": provenances["utrlm_sample"],
    }


def _real_folds(
    human: Mapping[str, Mapping[str, Mapping[str, float]]], spread: pd.DataFrame
) -> dict[str, Any]:
    """Each variant's Human7600 scores with intervals and its spread over Random7600 folds."""
    columns = ("Random7600 fold R2", "Random7600 fold Pearson r^2")
    return {
        name: {
            "Human7600": {m: intervals_in(row, BOOTSTRAP) for m, row in human[name].items()},
            "Random7600 folds": {
                f"{col} {stat}": float(spread.loc[name, (col, stat)])
                for col in columns
                for stat in ("mean", "std")
            },
        }
        for name in human
    }


def _models(
    regressors: Mapping[str, nn.Module],
    fits: Mapping[str, FitResult],
    pretraining: Mapping[str, FitResult],
    variants: Mapping[str, Sequence[str]],
    checkpoints: Mapping[str, Path],
) -> dict[str, Any]:
    """Each fine-tuned model: its pretraining, best epochs, validation R2, checkpoint, size."""
    best = {name: r.history.iloc[r.best_epoch - 1] for name, r in pretraining.items()}
    return {
        name: {
            "pretraining": list(variants[name]) if name in pretraining else [],
            "pretrain_best_epoch": pretraining[name].best_epoch if name in pretraining else None,
            "pretrain_val_loss": float(best[name]["val_loss"]) if name in best else None,
            "finetune_best_epoch": fits[name].best_epoch,
            "val_R2": fits[name].best_value,
            "checkpoint": str(checkpoints[name]) if name in checkpoints else None,
            "parameters": sum(p.numel() for p in regressors[name].parameters()),
        }
        for name in regressors
    }


def _notes(
    settings: Ch5Config,
    provenance: str,
    protocol: RealUTRProtocol,
    corpus: Mapping[str, Any],
    mfe_r: float,
    probes: Mapping[str, float],
) -> list[str]:
    """The sentences of the results file: data, corpus, encoder, fine-tuning, labels, probes."""
    return [
        f"data provenance: {provenance}; Random7600 folds (fit/val/test) and Human7600: "
        f"{protocol.summary().to_dict(orient='index')}",
        f"pretraining corpus ({corpus['provenance']}): {corpus['size']} UTRs, none sharing 25 nt "
        "with a test UTR",
        f"ESM-2-style encoder: {settings.num_layers} layers, {settings.num_heads} heads, "
        f"width {settings.hidden_size}, rotary positions, pre-layer-norm",
        f"fine-tuning: {settings.pooling} pooling, {settings.loss} loss, "
        f"backbone {'frozen' if settings.freeze_backbone else 'updated'}, selection on val R2",
        f"structure labels: ViennaRNA {vienna_version()} RNA.fold",
        f"MFE head (c) on validation UTRs: Pearson r {mfe_r:.3f}",
        "linear probe R2 of frozen embeddings (val UTRs): "
        + ", ".join(f"{k} {v:.3f}" for k, v in probes.items()),
    ]


def report(
    settings: Ch5Config,
    provenance: str,
    *,
    metrics: Mapping[str, Any],
    label_checks: Sequence[LabelAgreement],
    label_provenance: Mapping[str, str],
    copy: Mapping[str, float],
    human: Mapping[str, Mapping[str, Mapping[str, float]]],
    spread: pd.DataFrame,
    regressors: Mapping[str, nn.Module],
    fits: Mapping[str, FitResult],
    pretraining: Mapping[str, FitResult],
    variants: Mapping[str, Sequence[str]],
    checkpoints: Mapping[str, Path],
    protocol: RealUTRProtocol,
    corpus: Mapping[str, Any],
    mfe_r: float,
    probes: Mapping[str, float],
    wall_time_s: float,
    folder: str | Path | None = None,
) -> Path:
    """Write ``results/05_utr_lm.json`` and return its path.

    Parameters
    ----------
    settings, provenance
        The resolved configuration; the real test sets' provenance.
    metrics, copy
        The fine-tuned models on fold 0's test rows and Human7600; the MLM copy baseline.
    label_checks, label_provenance
        Structure labels checked against ``utr_mfe`` and the UTR-LM sample, and their data.
    human, spread
        Each variant's Human7600 ``{metric: {"estimate", "ci low", ...}}``; fold spread.
    regressors, fits, pretraining, variants, checkpoints
        Fold 0's fine-tuned models and runs, the pretraining runs, objectives and checkpoints.
    protocol, corpus, mfe_r, probes
        The folds, the corpus's ``{"provenance", "size"}``, the MFE head's validation Pearson
        r and the linear probes' R2, for the notes.
    wall_time_s, folder
        Seconds the chapter ran; where to write (default ``results/``).
    """
    data = f"{provenance} Human7600 ({len(protocol.human):,} UTRs), fine-tuned on Random7600 folds"
    return chapter_report(
        "05_utr_lm",
        profile=settings.profile,
        provenance=provenance,
        metrics={
            **metrics,
            "mfe label check": _label_checks(*label_checks, label_provenance),
            "MLM vs copy baseline": copy,
            "real folds": _real_folds(human, spread),
        },
        wall_time_s=wall_time_s,
        anchors=ANCHORS,
        headline=headline(human, data),
        models=_models(regressors, fits, pretraining, variants, checkpoints),
        notes=_notes(settings, provenance, protocol, corpus, mfe_r, probes),
        folder=folder,
    )
