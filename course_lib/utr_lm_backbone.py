"""The course's UTR-LM backbone: its pretraining recipe, cached under a hash of that recipe.

Chapter 5 pretrains UTR-LM variants with this recipe and saves each through
:func:`pretrain_variant`; chapter 1 borrows variant (c) (:data:`BACKBONE_OBJECTIVES`) as a
frozen feature extractor through :func:`backbone_checkpoint`, which reads the same folder, or
builds it with the same recipe when it is absent. Neither chapter imports the other.

The recipe (:func:`backbone_recipe`) holds every value that changes what is built: the
pretraining sizes and step count of :class:`BackboneConfig`, the objectives and their loss
weights, the kind of corpus (natural, or the negative control's composition-matched random
sequence), the seed, the token width, the provenance of the data the corpus comes from and a
``built_by`` label. Its checkpoint folder
is :func:`course_lib.weights.recipe_folder` ``("utr_lm", recipe)``, so a run with another width
or step count never reads another's backbone; the recipe is written beside the weights as
:data:`course_lib.weights.RECIPE_FILE` (``python -m data_scripts list`` shows it).

Parts of the recipe: the pretraining corpus (:func:`pretraining_corpus`: natural UTRs for
every objective, random-library UTRs for the folding objectives only, each split by shared
25-nt stretch), its ViennaRNA folds (:func:`pretraining_folds`), the encoder config
(:func:`pretraining_config`), the tokens and labels (:func:`pretraining_data`, and
:func:`control_data` for the negative control).
"""

from __future__ import annotations

import shutil
import time
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import torch
from transformers import EsmConfig

from course_lib.config import ChapterConfig, Rule, parameter
from course_lib.models.utr_lm import MAX_TOKENS, POOLINGS, UTRLMForPretraining
from course_lib.pretraining import PretrainingData, check_objectives, pretrain
from course_lib.structure import FoldedRNA
from course_lib.tokenization import KmerVocabulary
from course_lib.training import FitResult
from course_lib.utr_corpus import (
    CORPUS_SOURCES,
    NATURAL_SOURCES,
    RANDOM_SOURCES,
    CorpusSplit,
    composition_matched,
    real_corpus,
    stand_in_corpus,
)
from course_lib.utr_protocol import RealUTRProtocol

#: Variant (c), all three objectives: the frozen backbone other chapters borrow.
BACKBONE_OBJECTIVES = ("mlm", "mfe", "structure")
#: The ``built_by`` label of every recipe of this module.
BUILT_BY = "course_lib.utr_lm_backbone"
#: Parameters of :class:`BackboneConfig` that change what pretraining builds.
RECIPE_FIELDS = (
    "corpus_size",
    "val_fraction",
    "hidden_size",
    "num_layers",
    "num_heads",
    "aux_corpus_size",
    "pooling",
    "pretrain_steps",
    "pretrain_eval_every",
    "batch_size",
    "pretrain_lr",
)
#: What a backbone is pretrained on: the natural corpus (with the random libraries for the
#: folding objectives), or the negative control's composition-matched i.i.d. sequence.
CORPUS_KINDS = ("natural", "random control")
#: Registry data sets the corpus and its held-out test sets come from.
CORPUS_DATA = tuple(
    dict.fromkeys(("utr_testsets", "utr_varying_length", *(s[0] for s in CORPUS_SOURCES.values())))
)


@dataclass(frozen=True)
class BackboneConfig(ChapterConfig):
    """The backbone's pretraining parameters per profile (field defaults are ``laptop``).

    Chapter 5's configuration extends it; chapter 1 resolves it alone to find (or build) the
    backbone chapter 5 would build at the same profile.

    Attributes
    ----------
    corpus_size
        Natural UTRs in the pretraining corpus (count, >= 2; ``None``: all).
    aux_corpus_size
        Random-library UTRs added for the MFE and structure objectives of variant (c)
        (count, >= 2; ``None``: all).
    val_fraction
        Share of the stretch groups held out to monitor pretraining (fraction, 0.01-0.5).
    hidden_size
        Width of the language model (features, >= 1; UTR-LM: 128).
    num_layers
        Transformer layers (count, >= 1; UTR-LM: 6).
    num_heads
        Attention heads per layer (count, >= 1; UTR-LM: 16; divides ``hidden_size``).
    pretrain_steps
        Optimizer steps per pretrained backbone (count, >= 1).
    pretrain_eval_every
        Steps between two validations of pretraining (count, >= 1; does not change what is
        built beyond which state is kept, so it is in the recipe).
    batch_size
        UTRs per optimizer step (count, >= 1).
    pretrain_lr
        Pretraining learning rate (AdamW, > 0).
    aux_weights
        Weights of the MFE and structure losses against the masked-token loss (weight 1)
        tried for variant (c), each > 0; chapter 5 keeps the candidate best on validation,
        chapter 1 borrows the first.
    pooling
        What an ``"mlp"`` head reads: ``"cls"`` or ``"mean"``.
    fold_processes
        Processes folding UTRs with ViennaRNA (count, >= 1; does not change what is built).
    """

    PROFILES: ClassVar[dict[str, dict[str, Any]]] = {
        "smoke": {
            "corpus_size": 800,
            "aux_corpus_size": 200,
            "hidden_size": 32,
            "num_layers": 2,
            "pretrain_steps": 120,
            "pretrain_eval_every": 40,
            "batch_size": 32,
            "pretrain_lr": 3e-3,
        },
        "full": {
            "corpus_size": None,
            "aux_corpus_size": None,
            "hidden_size": 128,
            "num_layers": 6,
            "num_heads": 16,
            "pretrain_steps": 20000,
            "pretrain_eval_every": 1000,
            "batch_size": 256,
            "pretrain_lr": 5e-4,
            "aux_weights": (0.25, 0.1, 1.0),
            "pooling": "cls",
            "fold_processes": 8,
        },
    }
    TINY: ClassVar[dict[str, Any]] = {
        "corpus_size": 400,
        "aux_corpus_size": 100,
        "hidden_size": 16,
        "num_layers": 1,
        "num_heads": 2,
        "pretrain_steps": 6,
        "pretrain_eval_every": 3,
        "batch_size": 64,
    }

    corpus_size: int | None = parameter(
        20000, "natural UTRs in the pretraining corpus", minimum=2, optional=True
    )
    aux_corpus_size: int | None = parameter(
        10000, "random-library UTRs for the folding objectives", minimum=2, optional=True
    )
    val_fraction: float = parameter(
        0.1, "share of the corpus held out for monitoring", minimum=0.01, maximum=0.5
    )
    hidden_size: int = parameter(64, "width of the language model", minimum=1)
    num_layers: int = parameter(3, "transformer layers", minimum=1)
    num_heads: int = parameter(4, "attention heads per layer", minimum=1)
    pretrain_steps: int = parameter(1200, "optimizer steps per pretrained backbone", minimum=1)
    pretrain_eval_every: int = parameter(200, "steps between validations", minimum=1)
    batch_size: int = parameter(64, "UTRs per optimizer step", minimum=1)
    pretrain_lr: float = parameter(1e-3, "pretraining learning rate", minimum=1e-8)
    aux_weights: tuple[float, ...] = parameter(
        (0.25,),
        "weights of the MFE and structure losses tried for variant (c)",
        item=Rule("a loss weight", float, minimum=1e-6),
    )
    pooling: str = parameter("mean", "what the mlp head reads", choices=POOLINGS)
    fold_processes: int = parameter(2, "processes folding UTRs", minimum=1)


def corpus_data_provenance() -> dict[str, str]:
    """``{data set: "real" | "synthetic"}`` of :data:`CORPUS_DATA`, without loading them."""
    import course_lib.datasets  # noqa: F401  (registers the data sets)
    from course_lib import registry

    return {n: "real" if registry.is_real_available(n) else "synthetic" for n in CORPUS_DATA}


def objective_weights(objectives: Sequence[str], aux_weight: float) -> dict[str, float]:
    """``{objective: weight}``: masked modelling 1, the MFE and structure losses ``aux_weight``."""
    return {o: 1.0 if o == "mlm" else float(aux_weight) for o in check_objectives(objectives)}


def backbone_recipe(
    settings: Mapping[str, Any],
    objectives: Sequence[str],
    seed: int,
    *,
    corpus: str = "natural",
    aux_weight: float | None = None,
) -> dict[str, Any]:
    """Every value that changes the backbone pretrained with ``settings`` and ``objectives``.

    Parameters
    ----------
    settings
        A :class:`BackboneConfig` (or a configuration extending it).
    objectives
        Pretraining objectives (a subset of :data:`course_lib.pretraining.OBJECTIVES`).
    seed
        The seed of the model's initialisation, the corpus draw and the batches.
    corpus
        One of :data:`CORPUS_KINDS`.
    aux_weight
        Weight of the MFE and structure losses (default ``settings["aux_weights"][0]``).

    Returns
    -------
    dict
        ``built_by``, ``objectives``, ``weights``, ``corpus kind``, ``seed``, ``max_tokens``,
        ``data`` (provenance of each source data set) and the :data:`RECIPE_FIELDS` of
        ``settings``: JSON-ready.
    """
    if corpus not in CORPUS_KINDS:
        raise ValueError(f"corpus must be one of {CORPUS_KINDS}, got {corpus!r}")
    weight = settings["aux_weights"][0] if aux_weight is None else aux_weight
    return {
        "built_by": BUILT_BY,
        "objectives": list(check_objectives(objectives)),
        "weights": objective_weights(objectives, weight),
        "corpus kind": corpus,
        "seed": int(seed),
        "max_tokens": MAX_TOKENS,
        "data": corpus_data_provenance(),
        **{name: settings[name] for name in RECIPE_FIELDS},
    }


def backbone_folder(recipe: Mapping[str, Any], root: str | Path | None = None) -> Path:
    """Where ``recipe``'s checkpoint lives: ``root/<recipe hash>``, by default
    :func:`course_lib.weights.recipe_folder` ``("utr_lm", recipe)``."""
    from course_lib.weights import recipe_folder, recipe_hash

    return recipe_folder("utr_lm", recipe) if root is None else Path(root) / recipe_hash(recipe)


def pretraining_corpus(
    protocol: RealUTRProtocol, settings: Mapping[str, Any], seed: int = 0
) -> CorpusSplit:
    """The profile's pretraining UTRs: natural ones of :func:`real_corpus` (else the chapter-1
    stand-in's UTRs, :func:`stand_in_corpus`), ``settings["corpus_size"]`` drawn and split by
    stretch group (``settings["val_fraction"]``), and ``settings["aux_corpus_size"]``
    random-library UTRs split the same way for the folding objectives."""
    from course_lib import registry

    corpus, provenance = real_corpus(verbose=False), "real"
    if corpus is None:
        stand_in = registry.load("utr_varying_length")
        corpus, provenance = stand_in_corpus(stand_in.data["utr"], protocol), stand_in.provenance
        train, val = corpus.split(settings["val_fraction"], settings["corpus_size"], seed)
        return CorpusSplit(train, val, provenance, corpus.counts())
    fraction = settings["val_fraction"]
    train, val = corpus.split(fraction, settings["corpus_size"], seed, NATURAL_SOURCES)
    aux = corpus.split(fraction, settings["aux_corpus_size"], seed, RANDOM_SOURCES)
    return CorpusSplit(train, val, provenance, corpus.counts(), *aux)


def pretraining_folds(
    corpus: CorpusSplit, processes: int = 2, show_progress: bool = True
) -> dict[str, FoldedRNA]:
    """ViennaRNA folds (cached on disk) by part: ``"train"`` holds ``corpus.train`` then
    ``corpus.aux_train``, ``"val"`` ``corpus.val`` then ``corpus.aux_val``."""
    from course_lib.structure import fold_cached

    fold = partial(fold_cached, processes=processes, show_progress=show_progress)
    return {
        "train": fold(corpus.train + corpus.aux_train),
        "val": fold(corpus.val + corpus.aux_val),
    }


def pretraining_config(
    vocab: KmerVocabulary, settings: Mapping[str, Any], train_mfe: np.ndarray
) -> EsmConfig:
    """The profile's encoder config, with the MFE scale of the training corpus ``[n]``."""
    from course_lib.models.utr_lm import set_mfe_scale, utr_lm_config

    config = utr_lm_config(
        vocab,
        hidden_size=settings["hidden_size"],
        num_layers=settings["num_layers"],
        num_heads=settings["num_heads"],
        max_length=MAX_TOKENS,
        pooling=settings["pooling"],
    )
    return set_mfe_scale(config, train_mfe)


def _first(fold: FoldedRNA, n: int) -> FoldedRNA:
    return FoldedRNA(fold.sequences[:n], fold.structures[:n], fold.mfe[:n])


def pretraining_data(
    corpus: CorpusSplit,
    vocab: KmerVocabulary,
    folds: Mapping[str, FoldedRNA],
    with_aux: bool = True,
) -> dict[str, PretrainingData]:
    """Tokens (``MAX_TOKENS`` wide) with ViennaRNA labels of the training and monitoring UTRs.

    ``with_aux``: the natural UTRs then the random-library ones, masked modelling scoring
    the natural rows only (variant (c)); otherwise the natural UTRs alone.
    """
    data = {}
    for part, natural, aux in (
        ("train", corpus.train, corpus.aux_train),
        ("val", corpus.val, corpus.aux_val),
    ):
        extra = aux if with_aux else []
        rows = np.r_[np.ones(len(natural), bool), np.zeros(len(extra), bool)]
        fold = _first(folds[part], len(natural) + len(extra))
        seqs = natural + extra
        data[part] = PretrainingData.from_sequences(seqs, vocab, fold, MAX_TOKENS, rows)
    return data


def control_data(
    corpus: CorpusSplit, vocab: KmerVocabulary, seed: int = 0
) -> dict[str, PretrainingData]:
    """The negative control's tokens: :func:`~course_lib.utr_corpus.composition_matched`
    sequences of the natural training and monitoring UTRs (no folding labels)."""
    return {
        part: PretrainingData.from_sequences(
            composition_matched(seqs, seed + i), vocab, max_length=MAX_TOKENS
        )
        for i, (part, seqs) in enumerate((("train", corpus.train), ("val", corpus.val)))
    }


def pretraining_seconds(settings: Mapping[str, Any], n_backbones: int) -> float:
    """Estimated CPU seconds of ``n_backbones`` pretraining runs (``check_long_run``).

    :func:`~course_lib.pretraining.pretraining_cpu_seconds` of ``pretrain_steps`` batches.
    """
    from course_lib.pretraining import pretraining_cpu_seconds

    utrs = settings["pretrain_steps"] * settings["batch_size"]
    size = (settings["hidden_size"], settings["num_layers"])
    return pretraining_cpu_seconds(utrs, 1, *size, n_backbones=n_backbones)


def pretrain_variant(
    config: EsmConfig,
    vocab: KmerVocabulary,
    data: Mapping[str, PretrainingData],
    objectives: Sequence[str],
    settings: Mapping[str, Any],
    device: torch.device | str,
    seed: int,
    *,
    corpus: CorpusSplit,
    corpus_kind: str = "natural",
    aux_weight: float | None = None,
    root: str | Path | None = None,
    replace: bool = True,
    description: str | None = None,
    show_progress: bool = True,
) -> tuple[UTRLMForPretraining, FitResult, Path]:
    """One variant from its recipe folder (:func:`backbone_folder`), pretrained when absent.

    A folder with a complete checkpoint and its history is read (:func:`read_variant`): each
    backbone is pretrained once per recipe, whichever chapter or run asks first. Otherwise a
    fresh model from ``config`` (after ``seed_everything(seed)``) is trained by
    :func:`~course_lib.pretraining.pretrain` (``settings``, :func:`objective_weights`) on
    ``data["train"]``, validated on ``data["val"]``, and its best state saved atomically with
    its recipe (``corpus_kind``, ``aux_weight``), ``corpus`` and outcome. ``root`` replaces
    the checkpoints folder's ``utr_lm``; ``replace=False`` keeps a checkpoint another process
    wrote meanwhile. Returns model, result, folder.
    """
    from course_lib.distributed import is_main
    from course_lib.models.utr_lm import save_checkpoint
    from course_lib.training import seed_everything

    recipe = backbone_recipe(settings, objectives, seed, corpus=corpus_kind, aux_weight=aux_weight)
    folder = backbone_folder(recipe, root)
    if (found := read_variant(folder, show_progress)) is not None:
        return (*found, folder)
    seed_everything(seed)
    model = UTRLMForPretraining(config)
    result = pretrain(
        model,
        vocab,
        data["train"],
        data["val"],
        objectives=objectives,
        steps=settings["pretrain_steps"],
        eval_every=settings["pretrain_eval_every"],
        weights=recipe["weights"],
        batch_size=settings["batch_size"],
        lr=settings["pretrain_lr"],
        device=device,
        seed=seed,
        show_progress=show_progress,
        description=description or f"pretraining {' + '.join(objectives)}",
    )
    record = {**recipe, **_outcome(settings, corpus, result)}
    if not is_main():  # a torchrun rank other than 0: rank 0 alone writes
        return model, result, folder
    return model, result, save_checkpoint(model, folder, vocab, recipe=record, replace=replace)


def _outcome(settings: Mapping[str, Any], corpus: CorpusSplit, result: FitResult) -> dict:
    """Who built a backbone (profile, tiny), from which corpus, and how pretraining ended."""
    return {
        "profile": settings["profile"],
        "tiny": bool(settings["tiny"]),
        "corpus": f"{len(corpus.train):,} {corpus.provenance} UTRs",
        "corpus provenance": corpus.provenance,
        "corpus UTRs": len(corpus.train),
        "monitoring UTRs": len(corpus.val),
        "pretrain best evaluation": result.best_epoch,
        "pretrain val loss": float(result.best_value),
        "pretrain seconds": result.seconds,
        "pretrain monitor": result.monitor,
        "pretrain stopped early": bool(result.stopped_early),
        "pretrain history": result.history.to_dict("records"),
    }


def read_variant(
    folder: Path, verbose: bool = False
) -> tuple[UTRLMForPretraining, FitResult] | None:
    """The backbone saved by :func:`pretrain_variant` in ``folder`` and its pretraining
    :class:`~course_lib.training.FitResult` rebuilt from the recipe file; ``None`` when the
    folder is absent, or holds no history (written before histories were kept: it is then
    pretrained again and replaced). A folder that is incomplete or corrupted is reported with
    a warning and ``None`` returned, so that it is pretrained again. ``verbose``: say when a
    backbone is read."""
    from course_lib.models.checkpoint import CheckpointError
    from course_lib.models.utr_lm import load_pretrained, read_recipe

    if not folder.exists():
        return None
    try:
        record = read_recipe(folder)
        if "pretrain history" not in record:
            return None
        model = load_pretrained(folder)[0].eval()
    except (CheckpointError, OSError, ValueError) as err:
        warnings.warn(f"{err}; pretraining {folder.name} again", stacklevel=3)
        return None
    if verbose:
        print(f"backbone read from its recipe folder {folder}")
    history = pd.DataFrame(record["pretrain history"])
    result = FitResult(
        history,
        int(record["pretrain best evaluation"]),
        float(record["pretrain val loss"]),
        record["pretrain monitor"],
        bool(record["pretrain stopped early"]),
        float(record["pretrain seconds"]),
    )
    return model, result


def backbone_checkpoint(
    settings: Mapping[str, Any],
    device: torch.device | str,
    seed: int = 0,
    root: str | Path | None = None,
    verbose: bool = True,
) -> Path:
    """Backbone (c) of ``settings``: its recipe folder, pretrained when absent.

    Parameters
    ----------
    settings
        A :class:`BackboneConfig` (``BackboneConfig.resolve(profile, tiny=tiny)``: what chapter
        5 builds at that profile) or a configuration extending it.
    device
        Where to pretrain when the checkpoint is absent.
    seed
        The recipe's seed.
    root
        Folder of recipe folders (default: the checkpoints folder's ``utr_lm``).
    verbose
        Print what is used or built, and how long building took.

    Returns
    -------
    Path
        The checkpoint folder, checked (:func:`check_backbone_checkpoint`).

    Raises
    ------
    course_lib.models.utr_lm.CheckpointError
        The folder it just built fails its check. A folder found unreadable or incomplete (a
        killed run, a corrupted file) is reported with a warning, removed and built again; two
        processes never build the same recipe at once (:func:`course_lib.atomic.build_lock`).
    """
    from course_lib.atomic import build_lock
    from course_lib.models.checkpoint import CheckpointError

    path = backbone_folder(backbone_recipe(settings, BACKBONE_OBJECTIVES, seed), root)
    say = print if verbose else lambda *_: None
    with build_lock(path):  # a second chapter waits for the first one's build
        if path.exists():
            try:
                check_backbone_checkpoint(path, settings)
                say(f"UTR-LM backbone: using the checkpoint of its recipe, {path}")
                return path
            except CheckpointError as err:  # a cache: report it, then build it again
                warnings.warn(f"{err}; removing {path} and pretraining it again", stacklevel=2)
                shutil.rmtree(path)
        say(f"UTR-LM backbone: no checkpoint at {path}; pretraining it with its recipe")
        start = time.perf_counter()
        _build_backbone(settings, device, seed, root, verbose)
        check_backbone_checkpoint(path, settings)
    say(f"UTR-LM backbone: built {path} in {time.perf_counter() - start:.0f} s")
    return path


def _build_backbone(
    settings: Mapping[str, Any],
    device: torch.device | str,
    seed: int,
    root: str | Path | None,
    verbose: bool,
) -> Path:
    """The recipe of variant (c) at ``settings``: corpus, folds, config, pretraining."""
    from course_lib import registry
    from course_lib.models.utr_lm import utr_vocabulary
    from course_lib.profiles import check_long_run
    from course_lib.utr_protocol import real_utr_protocol

    protocol = real_utr_protocol(registry.load("utr_testsets").data.varying_length())
    corpus = pretraining_corpus(protocol, settings, seed)
    steps = settings["pretrain_steps"]
    estimate = pretraining_seconds(settings, n_backbones=1)
    check_long_run(settings, device, estimate, f"pretraining UTR-LM {steps} steps")
    if verbose:
        print(corpus.describe())
    folds = pretraining_folds(corpus, settings["fold_processes"], show_progress=verbose)
    vocab = utr_vocabulary()
    config = pretraining_config(vocab, settings, folds["train"].mfe)
    data = pretraining_data(corpus, vocab, folds)
    args = (config, vocab, data, BACKBONE_OBJECTIVES, settings, device, seed)
    built = pretrain_variant(*args, corpus=corpus, root=root, replace=False, show_progress=verbose)
    return built[2]


def check_backbone_checkpoint(path: str | Path, settings: Mapping[str, Any]) -> None:
    """Raise :class:`~course_lib.models.utr_lm.CheckpointError` unless ``path`` holds a
    complete UTR-LM pretraining checkpoint of the architecture ``settings`` asks for."""
    from course_lib.models.utr_lm import checkpoint_config, load_pretrained

    size = (settings["hidden_size"], settings["num_layers"], settings["num_heads"])
    checkpoint_config(path, size, f"profile {settings['profile']!r}")
    load_pretrained(path)
