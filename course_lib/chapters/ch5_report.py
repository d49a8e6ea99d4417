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

from course_lib.chapters.ch5_config import Ch5Config
from course_lib.chapters.ch5_structure_check import LabelAgreement
from course_lib.report import Anchor, Estimate, Headline, Interval, chapter_report
from course_lib.structure import vienna_version
from course_lib.text import as_text
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

HEADLINE_MODEL = "(b) MLM, natural UTRs"


def _interval(pair: tuple[float, float], method: str) -> Interval:
    return Interval(float(pair[0]), float(pair[1]), method)


def control_metrics(control: Mapping[str, Any], method: str) -> dict[str, Any]:
    """A control of :mod:`course_lib.chapters.ch5_controls` with its intervals as
    :class:`Interval` (method naming what was resampled)."""
    how = method.format(control["resampled"])
    return {
        k: _interval(v, how) if k.endswith(" interval") else v
        for k, v in control.items()
        if k != "resampled"
    }


def efficiency_metrics(
    table: pd.DataFrame, sentences: Sequence[str], method: str
) -> dict[str, Any]:
    """The curve as ``{"<arm>, <labels> labels, <test set>": {R2, R2 interval, fold sd,
    reference - arm, its intervals over test rows and over training runs}}`` and the computed
    conclusions."""
    from course_lib.chapters.ch5_efficiency_stats import RUN_METHOD

    rows = {}
    for _, row in table.iterrows():
        entry = {
            "R2": row["R2"],
            "R2 interval": Interval.of_row(row, method, "R2 "),
            "R2 fold sd": row["R2 fold sd"],
        }
        if pd.notna(row["reference - arm"]):
            entry["reference - arm"] = row["reference - arm"]
            entry["reference - arm interval"] = Interval.of_row(row, method, "reference - arm ")
            entry["reference - arm interval over training runs"] = Interval.of_row(
                row, RUN_METHOD, "reference - arm run "
            )
            entry["folds with the same sign"] = f"{row['folds agreeing']:.0f} of {row['folds']}"
        rows[f"{row['arm']}, {row['labels']} labels, {row['test set']}"] = entry
    return {"curve": rows, "conclusions": list(sentences)}


def negative_control(curve: Mapping[str, Any], copy: Mapping[str, Any], arm: str) -> dict[str, Any]:
    """The negative-control backbone in one place: its masked-token accuracy against the copy
    baseline and (b) minus it at every label count and test set (entries of the curve)."""
    rows = {k: v for k, v in curve.items() if k.startswith(f"{arm}, ")}
    return {"masked-token accuracy vs copy baseline": copy, "(b) minus the control": rows}


def headline(table: pd.DataFrame, data: str, method: str) -> Headline:
    """Human7600 R2 at the largest label count: (b) first, then the other arms."""
    part = table[(table["test set"] == "Human7600") & (table["labels"] == table["labels"].max())]
    part = pd.concat([part[part["arm"] == HEADLINE_MODEL], part[part["arm"] != HEADLINE_MODEL]])
    compared = {
        row["arm"]: Estimate(row["R2"], Interval.of_row(row, method, "R2 "))
        for _, row in part.iterrows()
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


def _models(
    pretraining: Mapping[str, FitResult],
    variants: Mapping[str, Sequence[str]],
    checkpoints: Mapping[str, Path],
    runs: pd.DataFrame,
) -> dict[str, Any]:
    """Each arm: its pretraining (objectives, best evaluation, validation loss, checkpoint)
    and its fine-tuning runs (learning rates, validation R2 per label count, fold mean)."""
    out = {}
    for arm, part in runs.groupby("arm", sort=False):
        entry: dict[str, Any] = {"pretraining": list(variants.get(arm, ()))}
        if arm in pretraining:
            result = pretraining[arm]
            entry["pretrain best evaluation"] = result.best_epoch
            entry["pretrain steps to best"] = int(
                result.history["step"].iloc[result.best_epoch - 1]
            )
            entry["pretrain val loss"] = float(result.best_value)
            entry["checkpoint"] = str(checkpoints[arm])
        means = part.groupby("labels")[["lr", "val R2", "best step"]].mean()
        entry["fine-tuning by label count (fold means)"] = means.to_dict("index")
        out[arm] = entry
    return out


def _notes(
    settings: Ch5Config,
    provenance: str,
    protocol: RealUTRProtocol,
    corpus: Mapping[str, Any],
    probes: Mapping[str, float],
    lr_grid: pd.DataFrame,
    recipe: pd.DataFrame,
) -> list[str]:
    """The sentences of the results file: data, corpus, encoder, fine-tuning, its
    learning-rate choices and its recipe check, labels, probes."""
    from course_lib.chapters.ch5_efficiency_stats import lr_choice_sentence
    from course_lib.chapters.ch5_recipe_check import recipe_sentence

    if settings.freeze_backbone:
        backbone = "transformer backbones (pretrained or random) frozen, their head trained"
    else:
        backbone = (
            f"transformer backbones at {settings.backbone_lr_factor}x the head's learning rate "
            f"after {settings.frozen_steps} frozen steps"
        )

    return [
        f"data provenance: {provenance}; rows of each Random7600 fold and of Human7600: "
        + as_text(protocol.fold_sizes())
        + "; fold 0's validation rows, where every learning rate is chosen for all folds, are "
        "withheld from the other folds' test rows",
        f"pretraining corpus ({corpus['provenance']}): {corpus['description']}; none shares "
        "25 nt with a test UTR",
        f"ESM-2-style encoder: {settings.num_layers} layers, {settings.num_heads} heads, "
        f"width {settings.hidden_size}, rotary positions, pre-layer-norm; "
        f"{settings.pretrain_steps} pretraining steps of {settings.batch_size} UTRs, validated "
        f"every {settings.pretrain_eval_every}",
        f"fine-tuning: {settings.head} head, {settings.loss} loss, at most "
        f"{settings.finetune_steps} steps of {settings.finetune_batch_size} UTRs, {backbone}; "
        f"every arm chooses its (head) learning rate from {list(settings.lr_grid)} on the mean "
        f"validation R2 of {settings.lr_seeds} run(s) per rate; selection on validation R2",
        lr_choice_sentence(lr_grid),
        recipe_sentence(recipe, settings),
        f"test rows: {settings.test_per_length or 'all'} UTRs per length of each test set",
        f"structure labels: ViennaRNA {vienna_version()} RNA.fold",
        "linear probe R2 of frozen embeddings (val UTRs): "
        + ", ".join(f"{k} {v:.3f}" for k, v in probes.items()),
    ]


def _control_metrics(
    controls: Mapping[str, Mapping[str, Any]],
    efficiency: pd.DataFrame,
    sentences: Sequence[str],
    control_arm: str,
) -> dict[str, Any]:
    """The controls, the negative control's summary and the sample-efficiency curve."""
    from course_lib.chapters.ch5_controls import METHOD as CONTROL_METHOD
    from course_lib.chapters.ch5_efficiency_stats import METHOD

    checks = {k: control_metrics(v, CONTROL_METHOD) for k, v in controls.items()}
    curve = efficiency_metrics(efficiency, sentences, METHOD)
    copy = next(v for k, v in checks.items() if "copy" in k and control_arm in k)
    return checks | {
        "negative control (random-sequence backbone)": negative_control(
            curve["curve"], copy, control_arm
        ),
        "sample efficiency": curve,
    }


def _recipe_metrics(recipe: pd.DataFrame) -> dict[str, dict[str, float]]:
    """``{"<recipe>, lr <lr>": {"val R2", "runs"}}`` of the recipe check."""
    return {
        f"{r.recipe}, lr {r.lr:g}": {"val R2": r["val R2"], "runs": int(r.runs)}
        for _, r in recipe.iterrows()
    }


def report(
    settings: Ch5Config,
    provenance: str,
    *,
    metrics: Mapping[str, Any],
    label_checks: Sequence[LabelAgreement],
    label_provenance: Mapping[str, str],
    controls: Mapping[str, Mapping[str, Any]],
    efficiency: pd.DataFrame,
    sentences: Sequence[str],
    pretraining: Mapping[str, FitResult],
    variants: Mapping[str, Sequence[str]],
    checkpoints: Mapping[str, Path],
    runs: pd.DataFrame,
    lr_grid: pd.DataFrame,
    recipe: pd.DataFrame,
    control_arm: str,
    protocol: RealUTRProtocol,
    corpus: Mapping[str, Any],
    probes: Mapping[str, float],
    wall_time_s: float,
    folder: str | Path | None = None,
) -> Path:
    """Write ``results/05_utr_lm.json`` and return its path.

    Parameters
    ----------
    settings, provenance, metrics
        The configuration; the test sets' provenance; fold 0's models at the largest label
        count on its test rows and Human7600.
    label_checks, label_provenance
        Structure labels checked against ``utr_mfe`` and the UTR-LM sample, and their data.
    controls, efficiency, sentences
        ``{name: control}`` of :mod:`course_lib.chapters.ch5_controls` (masked tokens against
        the copy baseline per backbone, the negative control's among them; the folding heads);
        the curve's table and conclusions (:mod:`course_lib.chapters.ch5_efficiency_stats`).
    pretraining, variants, checkpoints, runs, lr_grid, recipe, control_arm
        Pretraining runs, objectives and checkpoints by arm; the curve's runs and learning-rate
        grid; the recipe check (:mod:`~course_lib.chapters.ch5_recipe_check`); the control arm.
    protocol, corpus, probes, wall_time_s, folder
        The folds, the corpus's ``{"provenance", "description"}``, the linear probes' R2, the
        chapter's seconds, where to write (default ``results/``).
    """
    from course_lib.chapters.ch5_efficiency_stats import METHOD

    data = f"{provenance} Human7600, single-fold models fine-tuned on Random7600 folds"
    own = {**metrics, "mfe label check": _label_checks(*label_checks, label_provenance)}
    own |= {"recipe check": _recipe_metrics(recipe)}
    return chapter_report(
        "05_utr_lm",
        profile=settings.profile,
        provenance=provenance,
        metrics=own | _control_metrics(controls, efficiency, sentences, control_arm),
        wall_time_s=wall_time_s,
        anchors=ANCHORS,
        headline=headline(efficiency, data, METHOD),
        models=_models(pretraining, variants, checkpoints, runs),
        notes=_notes(settings, provenance, protocol, corpus, probes, lr_grid, recipe),
        folder=folder,
    )
