"""Chapter 5's pretrained backbones (notebook ``05_utr_lm.ipynb``): labels checked, arms built.

Two steps of the chapter that were cells of logic in the notebook:

- :func:`check_labels`: the course's ViennaRNA labels against two published sets of labels
  (``utr_mfe`` and ``utrlm_sample``, read through the registry), and :func:`class_shares`, the
  share of each structure class in the pretraining corpus;
- :func:`pretrain_backbones`: the pretraining arms of the chapter, (b) masked modelling on
  natural UTRs, (c) masked modelling with the folding objectives (one candidate per folding
  weight, the weight chosen on validation) and the negative control (masked modelling on
  composition-matched random sequence), each pretrained and saved in its recipe folder;
- :func:`curve_arms`: the arms of the sample-efficiency curve built from them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from transformers import EsmConfig

from course_lib.chapters.ch5_efficiency import KMER_RIDGE, Arm, choose_by_validation
from course_lib.chapters.ch5_structure_check import (
    LabelAgreement,
    check_utr_mfe,
    check_utrlm_sample,
)
from course_lib.distributed import barrier
from course_lib.models.utr_lm import UTRLMForPretraining
from course_lib.pretraining import PretrainingData
from course_lib.profiles import check_long_run
from course_lib.registry import Loaded
from course_lib.structure import STRUCTURE_CLASSES, FoldedRNA
from course_lib.tokenization import KmerVocabulary
from course_lib.training import FitResult
from course_lib.utr_corpus import CorpusSplit
from course_lib.utr_lm_backbone import (
    control_data,
    pretrain_variant,
    pretraining_data,
    pretraining_seconds,
)
from course_lib.utr_protocol import RealUTRProtocol

#: The arms' names: (b) masked modelling, (c) with the folding objectives, the control.
NAME_B = "(b) MLM, natural UTRs"
NAME_C = "(c) MLM + MFE + structure"
NAME_CONTROL = "negative control: MLM on random sequence"
#: The curve's arms without pretraining: the transformer with random weights (the pretrained
#: arms' recipe, only the weights differ) and the one-hot ResNet.
NAME_SCRATCH = "(a) no pretraining: random weights"
NAME_ONEHOT = "one-hot ResNet"
#: The shallow reference: no network, a ridge on k-mer frequencies.
NAME_KMER = "k-mer ridge (no network)"


@dataclass(frozen=True)
class LabelChecks:
    """The course's ViennaRNA labels against ``utr_mfe`` and ``utrlm_sample``.

    Attributes
    ----------
    mfe, utrlm
        Agreement with ``utr_mfe``'s energies and with ``utrlm_sample``'s header labels.
    provenance
        ``{"utr_mfe": "real" | "synthetic", "utrlm_sample": ...}``.
    """

    mfe: LabelAgreement
    utrlm: LabelAgreement
    provenance: dict[str, str]

    def describe(self) -> str:
        """Two lines: correlation and agreement with each reference."""
        mfe, utrlm = self.mfe, self.utrlm
        return (
            f"labels vs utr_mfe ({self.provenance['utr_mfe']}, {mfe.n:,} UTRs): Pearson r "
            f"{mfe.pearson_r:.4f}, {mfe.fraction_mfe_within:.1%} within "
            f"{mfe.tolerance} kcal/mol\n"
            f"labels vs utrlm_sample ({self.provenance['utrlm_sample']}, {utrlm.n} records): "
            f"MFE equal {utrlm.fraction_mfe_within:.1%}, dot-brackets equal "
            f"{utrlm.fraction_structure_equal:.1%}"
        )


def check_labels(
    utr_mfe: Loaded, utrlm: Loaded, settings: Mapping[str, Any], seed: int = 0
) -> LabelChecks:
    """Fold ``utr_mfe``'s and ``utrlm_sample``'s UTRs with the course's code and compare.

    ``utr_mfe`` and ``utrlm`` are ``registry.load("utr_mfe")`` and
    ``registry.load("utrlm_sample")``; ``settings`` gives ``n_mfe_check`` (rows of ``utr_mfe``,
    ``None``: all), ``utrlm_check_max_length`` (longest ``utrlm_sample`` record, nt) and
    ``fold_processes``.
    """
    processes = settings["fold_processes"]
    mfe = check_utr_mfe(utr_mfe.data, size=settings["n_mfe_check"], seed=seed, processes=processes)
    utrlm_check = check_utrlm_sample(
        utrlm.data, max_length=settings["utrlm_check_max_length"], processes=processes
    )
    provenance = {"utr_mfe": utr_mfe.provenance, "utrlm_sample": utrlm.provenance}
    return LabelChecks(mfe, utrlm_check, provenance)


def class_shares(fold: FoldedRNA) -> dict[str, float]:
    """``{structure class: share of all positions}`` of ``fold`` (rounded to 3 decimals)."""
    classes = np.bincount(np.concatenate([fold.labels(i) for i in range(len(fold))]))
    return {
        c: round(float(n / classes.sum()), 3)
        for c, n in zip(STRUCTURE_CLASSES, classes, strict=True)
    }


@dataclass
class Backbones:
    """The pretrained arms by name (:data:`NAME_B`, :data:`NAME_C`, :data:`NAME_CONTROL`).

    Attributes
    ----------
    backbones, pretraining, checkpoints
        Model, pretraining result and checkpoint folder of each arm.
    variants
        Each arm's objectives, e.g. ``("mlm", "mfe", "structure")``.
    data
        Each arm's training and monitoring tokens, ``{"train": ..., "val": ...}``.
    chosen_weight
        (c)'s folding weight; ``weight_choice`` the validation R² of each candidate weight
        (``None`` when there was one candidate).
    """

    backbones: dict[str, UTRLMForPretraining]
    pretraining: dict[str, FitResult]
    checkpoints: dict[str, Path]
    variants: dict[str, tuple[str, ...]]
    data: dict[str, dict[str, PretrainingData]]
    chosen_weight: float
    weight_choice: pd.DataFrame | None


def _arms(
    corpus: CorpusSplit,
    vocab: KmerVocabulary,
    folds: Mapping[str, FoldedRNA],
    weights: tuple[float, ...],
    seed: int,
) -> tuple[dict[float, str], dict[str, tuple[str, ...]], dict[str, dict[str, PretrainingData]]]:
    """(c)'s candidates by folding weight, every arm's objectives, and the arms' tokens."""
    candidates = {w: f"{NAME_C}, folding weight {w:g}" for w in weights}
    variants = {NAME_B: ("mlm",), NAME_CONTROL: ("mlm",)}
    variants |= {name: ("mlm", "mfe", "structure") for name in candidates.values()}
    data = {
        NAME_B: pretraining_data(corpus, vocab, folds, with_aux=False),
        NAME_CONTROL: control_data(corpus, vocab, seed),
        NAME_C: pretraining_data(corpus, vocab, folds, with_aux=True),
    }
    return candidates, variants, data


def pretrain_backbones(
    config: EsmConfig,
    vocab: KmerVocabulary,
    corpus: CorpusSplit,
    folds: Mapping[str, FoldedRNA],
    protocol: RealUTRProtocol,
    settings: Mapping[str, Any],
    device: torch.device | str,
    seed: int,
    root: str | Path | None = None,
) -> Backbones:
    """Pretrain (b), the control and each candidate of (c); keep (c) at the weight chosen on
    validation (:func:`~course_lib.chapters.ch5_efficiency.choose_by_validation`, fold 0 of
    ``protocol``, when ``settings["aux_weights"]`` holds more than one weight).

    Each arm is :func:`~course_lib.utr_lm_backbone.pretrain_variant` of ``config`` with the
    same ``seed``, saved under ``root`` (default the checkpoints folder). Raises before
    training when the estimated time exceeds the profile's budget
    (:func:`~course_lib.profiles.check_long_run`).
    """
    candidates, variants, data = _arms(corpus, vocab, folds, settings["aux_weights"], seed)
    what = (
        f"pretraining {len(variants)} backbones, {settings['pretrain_steps']} steps of "
        f"{settings['batch_size']} UTRs at learning rate {settings['pretrain_lr']}"
    )
    check_long_run(settings, device, pretraining_seconds(settings, len(variants)), what)
    backbones, pretraining, checkpoints = {}, {}, {}
    for name, objectives in variants.items():
        weight = next((w for w, n in candidates.items() if n == name), None)
        backbones[name], pretraining[name], checkpoints[name] = pretrain_variant(
            config,
            vocab,
            data[NAME_C if weight is not None else name],
            objectives,
            settings,
            device,
            seed,
            corpus=corpus,
            corpus_kind="random control" if name == NAME_CONTROL else "natural",
            aux_weight=weight,
            root=root,
            description=f"pretraining {name}",
        )
    barrier()  # under torchrun: every rank reads the folders rank 0 has just written
    chosen_weight, weight_choice = settings["aux_weights"][0], None
    if len(candidates) > 1:
        arms_c = {w: Arm(n, checkpoints[n]) for w, n in candidates.items()}
        chosen_weight, weight_choice = choose_by_validation(
            arms_c, protocol, settings, device, seed
        )
    for store in (backbones, pretraining, checkpoints, variants):
        store[NAME_C] = store[candidates[chosen_weight]]
        for candidate in candidates.values():
            del store[candidate]
    return Backbones(
        backbones, pretraining, checkpoints, variants, data, chosen_weight, weight_choice
    )


def curve_arms(
    checkpoints: Mapping[str, Path], config: EsmConfig, settings: Mapping[str, Any]
) -> list[Arm]:
    """The arms of the sample-efficiency curve: (b), the negative control, (c) when
    ``settings["curve_with_c"]``, the transformer of ``config`` with random weights (the same
    recipe as the pretrained arms: frozen with ``freeze_backbone``), the one-hot ResNet (one
    learning rate for all weights) and the ridge on k-mer frequencies
    (:data:`~course_lib.chapters.ch5_efficiency.KMER_RIDGE`)."""
    with_c = [Arm(NAME_C, checkpoints[NAME_C])] if settings["curve_with_c"] else []
    return [
        Arm(NAME_B, checkpoints[NAME_B]),
        Arm(NAME_CONTROL, checkpoints[NAME_CONTROL]),
        *with_c,
        Arm(NAME_SCRATCH, config),
        Arm(NAME_ONEHOT, None, from_scratch=True),
        Arm(NAME_KMER, KMER_RIDGE),
    ]


def best_steps(backbones: Backbones) -> dict[str, float]:
    """``{arm: step of its best evaluation}``."""
    return {
        name: float(result.history.iloc[result.best_epoch - 1]["step"])
        for name, result in backbones.pretraining.items()
    }
