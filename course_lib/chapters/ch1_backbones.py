"""Chapter 1's frozen backbones (``notebooks/01_utr_rnafm.ipynb``) and their embedding caches.

RNA-FM comes through the weights registry (:func:`course_lib.weights.locate_weights`): the real
``RNA-FM_pretrained.pth`` when the notebook's ``rnafm_checkpoint`` finds it, else a small
randomly initialised model of the RNA-FM architecture, labelled ``stand-in``
(:func:`load_rnafm_backbone`). A model of RNA-FM's architecture with random weights is the
**negative control** (:func:`control_backbone`: the stand-in itself, or random weights of the
real architecture beside the real ones); the course's UTR-LM is read or built through the
shared recipe of :mod:`course_lib.utr_lm_backbone` (:func:`utrlm_backbone`). All three come
from :func:`load_backbones`. Each backbone, at the layer its probe chose, embeds the UTRs
once into a cache on disk, cut into the folds the heads train on (:func:`embedding_folds`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from sklearn.preprocessing import StandardScaler

from course_lib.chapters.ch1_embedding_cache import EmbeddingCache, build_embedding_cache
from course_lib.chapters.ch1_probe import LayerBackbone, build_layer_cache, probe_layers
from course_lib.chapters.ch1_utr_rnafm import (
    BACKBONE_KEYS,
    LEFT_PADDED,
    SEQ_HEADS,
    FoldData,
    FoldHead,
    backbone_heads,
    cv_folds,
    model_name,
    original_fold_data,
    train_heads,
)
from course_lib.models.published import published_mrl
from course_lib.models.rnafm import RNAFMBackbone
from course_lib.models.utr_lm import UTRLMBackbone
from course_lib.ridge import kmer_features
from course_lib.utr_protocol import RealUTRProtocol
from course_lib.weights import WeightsProvenance

#: The value of ``rnafm_checkpoint`` that asks for the registered file in the checkpoints folder.
DEFAULT = "default"


def locate_rnafm(
    value: str | Path | None, tiny: bool = False
) -> tuple[Path | None, WeightsProvenance]:
    """Where the real RNA-FM weights of the notebook's ``rnafm_checkpoint`` are.

    Parameters
    ----------
    value
        ``None``: the stand-in (the checkpoints folder is not searched); ``"default"``: the
        registered ``RNA-FM_pretrained.pth`` in :func:`~course_lib.paths.checkpoints_dir`;
        otherwise a path (or a name inside the checkpoints folder).
    tiny
        A tiny run (CI) falls back to the stand-in when the weights asked for are absent.

    Returns
    -------
    tuple
        ``(path, "real")`` or ``(None, "stand-in")``.

    Raises
    ------
    FileNotFoundError
        Weights were asked for (a path, or ``"default"``) and are absent, outside a tiny run;
        the message says where to get them and where to put them.
    """
    import course_lib.datasets.pretrained_weights  # noqa: F401  (registers the entries)
    from course_lib.weights import get_weights, locate_weights

    if value is None:
        return None, "stand-in"
    try:
        path, provenance = locate_weights("rnafm", None if str(value) == DEFAULT else value)
        if provenance == "stand-in":
            raise FileNotFoundError(
                f"rnafm_checkpoint={DEFAULT!r}: {get_weights('rnafm').how_to_place()}"
            )
    except FileNotFoundError as err:
        if not tiny:
            raise
        print(f"tiny run: {err}; using the small untrained stand-in")
        return None, "stand-in"
    return path, provenance


def load_rnafm_backbone(
    settings: Mapping[str, Any], device: torch.device | str
) -> tuple[RNAFMBackbone, WeightsProvenance]:
    """Chapter 1's RNA-FM backbone with its provenance, ``"real"`` or ``"stand-in"``.

    The weights of ``settings["rnafm_checkpoint"]`` (:func:`locate_rnafm`, at ``settings["tiny"]``),
    else a small randomly initialised model of the RNA-FM architecture of size
    ``settings["small_backbone"]``, written once to the checkpoints folder.
    """
    from course_lib.models.rnafm import get_backbone
    from course_lib.paths import checkpoints_dir

    path, provenance = locate_rnafm(settings["rnafm_checkpoint"], settings["tiny"])
    backbone = get_backbone(path, checkpoints_dir(), device=device, **settings["small_backbone"])
    return backbone, provenance


def control_backbone(
    rnafm: RNAFMBackbone, settings: Mapping[str, Any], device: torch.device | str
) -> RNAFMBackbone:
    """The negative control: RNA-FM's architecture with random weights.

    When ``rnafm`` is the stand-in it already is one (returned as is); beside the real
    weights, a model of the real architecture (:data:`~course_lib.models.rnafm.RNAFM_T12`) with
    random weights, written once to the checkpoints folder (at ``settings["small_backbone"]``'s
    size in a tiny run).
    """
    from course_lib.models.rnafm import RNAFM_T12, get_backbone
    from course_lib.paths import checkpoints_dir

    if not rnafm.pretrained:
        return rnafm
    size = settings["small_backbone"] if settings["tiny"] else RNAFM_T12
    return get_backbone(None, checkpoints_dir(), device=device, **size)


def utrlm_backbone(
    profile: str, device: torch.device | str, seed: int = 0, tiny: bool = False
) -> UTRLMBackbone:
    """The course's UTR-LM (variant (c), frozen): the backbone of ``profile``'s recipe
    (:class:`course_lib.utr_lm_backbone.BackboneConfig`, at its tiny sizes when ``tiny``),
    read from its recipe folder when chapter 5 (or an earlier run) built it, else pretrained
    now (:func:`course_lib.utr_lm_backbone.backbone_checkpoint`)."""
    from course_lib.utr_lm_backbone import BackboneConfig, backbone_checkpoint

    checkpoint = backbone_checkpoint(BackboneConfig.resolve(profile, tiny=tiny), device, seed)
    return UTRLMBackbone.from_checkpoint(checkpoint, device)


def load_backbones(
    settings: Mapping[str, Any], device: torch.device | str, seed: int = 0
) -> tuple[dict[str, Any], WeightsProvenance]:
    """Every frozen backbone of the chapter and the provenance of the RNA-FM weights.

    Returns
    -------
    tuple
        ``({"RNA-FM": pretrained (only with the real weights), "RNA-FM random": the negative
        control, "UTR-LM": the course's backbone}, "real" or "stand-in")``.
    """
    rnafm, provenance = load_rnafm_backbone(settings, device)
    backbones = {"RNA-FM": rnafm} if rnafm.pretrained else {}
    backbones["RNA-FM random"] = control_backbone(rnafm, settings, device)
    backbones["UTR-LM"] = utrlm_backbone(settings["profile"], device, seed, settings["tiny"])
    return backbones, provenance


def embedding_folds(
    embedders: Mapping[str, LayerBackbone],
    protocol: str,
    real_cv: RealUTRProtocol,
    sequences: Mapping[str, Sequence[str]],
    parts: Mapping[str, pd.DataFrame],
    scaler: StandardScaler,
    batch_size: int,
) -> tuple[dict[str, EmbeddingCache], dict[str, list[FoldData]]]:
    """Each backbone's embedding cache (of its chosen layer) and the folds the heads train on.

    Parameters
    ----------
    embedders
        ``{backbone name: LayerBackbone}``: each backbone at the layer chosen by the probe.
    protocol
        ``"cv"``: one cache of Random7600 then Human7600 (``real_cv``), cut into its folds
        (:func:`~course_lib.chapters.ch1_utr_rnafm.cv_folds`); ``"original"``: one cache per
        part of the GEO split (``sequences`` ``{part: UTRs}``, ``parts`` their tables, labels
        scaled by ``scaler``) as a single fold.
    batch_size
        UTRs per embedding forward pass.

    Returns
    -------
    tuple
        ``({"<backbone>: <what>": cache}, {backbone name: [FoldData, ...]})``.
    """
    caches: dict[str, EmbeddingCache] = {}
    folds: dict[str, list[FoldData]] = {}
    embed = {"max_len": 100, "batch_size": batch_size}
    for name, embedder in embedders.items():
        layer = f"layer{embedder.layer}"
        if protocol == "cv":
            utrs = [*real_cv.random["utr"], *real_cv.human["utr"]]
            cache = build_embedding_cache(
                embedder, utrs, f"utr_testsets/Random7600+Human7600/{layer}", **embed
            )
            caches[f"{name}: Random7600 + Human7600"] = cache
            folds[name] = cv_folds(real_cv, cache)
            continue
        part_caches = {
            part: build_embedding_cache(
                embedder, seqs, f"utr_varying_length/{part}/{layer}", **embed
            )
            for part, seqs in sequences.items()
        }
        caches |= {f"{name}: {part}": c for part, c in part_caches.items()}
        folds[name] = [original_fold_data(parts, part_caches, scaler)]
    return caches, folds


def probe_protocol(real_cv: RealUTRProtocol) -> RealUTRProtocol:
    """``real_cv`` with every fold's validation rows withheld from every fold's test rows.

    The layer probe chooses each backbone's layer, and the chapter's (backbone, layer), on the
    mean validation $R^2$ over the folds, and every fold's heads read that layer; a fold's
    test rows hold other folds' validation rows, which chose it, so no fold scores them
    (:meth:`~course_lib.utr_protocol.RealUTRProtocol.withholding`).
    """
    return real_cv.withholding(np.concatenate([split.val for split in real_cv.folds]))


def probe_inputs(
    protocol: str, real_cv: RealUTRProtocol, parts: Mapping[str, pd.DataFrame]
) -> tuple[list[str], np.ndarray, list[tuple[np.ndarray, np.ndarray]], str]:
    """The rows the layer probe fits and validates on, and the cache name of their UTRs.

    Returns
    -------
    tuple
        ``(UTRs [n], measured MRL [n], [(training rows, validation rows)] per fold, data set)``:
        under ``"cv"`` Random7600 and each fold's training and inner validation rows (never
        its test rows); under ``"original"`` the GEO split's training then validation rows.

    Raises
    ------
    ValueError
        Under ``"cv"``, a fold's test rows hold validation rows (:func:`probe_protocol`).
    """
    if protocol == "cv":
        table = real_cv.random
        splits = [(split.fit, split.val) for split in real_cv.folds]
        real_cv.check_withheld(
            np.concatenate([val for _, val in splits]),
            "the layer, chosen on every fold's validation rows,",
        )
        return table["utr"].tolist(), table["rl"].to_numpy(float), splits, "utr_testsets/Random7600"
    train, val = parts["train"], parts["val"]
    table = pd.concat([train, val], ignore_index=True)
    rows = np.arange(len(table))
    splits = [(rows[: len(train)], rows[len(train) :])]
    return (
        table["utr"].tolist(),
        table["rl"].to_numpy(float),
        splits,
        "utr_varying_length/train+val",
    )


def run_probe(
    backbones: Mapping[str, Any],
    protocol: str,
    real_cv: RealUTRProtocol,
    parts: Mapping[str, pd.DataFrame],
    batch_size: int,
) -> pd.DataFrame:
    """The layer probe of every backbone (:func:`~course_lib.chapters.ch1_probe.probe_layers`),
    with the k-mer reference, on the rows of :func:`probe_inputs`; the pooled states of all
    layers come from (or go into) their cache
    (:func:`~course_lib.chapters.ch1_probe.build_layer_cache`)."""
    utrs, y, splits, dataset = probe_inputs(protocol, real_cv, parts)
    pooled = {
        name: build_layer_cache(backbone, utrs, dataset, batch_size=batch_size)
        for name, backbone in backbones.items()
    }
    return probe_layers(pooled, y, splits, kmer_features(utrs))


def train_all_heads(
    folds: Mapping[str, Sequence[FoldData]], chosen: Mapping[str, LayerBackbone], **train: Any
) -> list[FoldHead]:
    """The sequence heads (right and left padded) and each backbone's two embedding heads
    (:func:`~course_lib.chapters.ch1_utr_rnafm.backbone_heads`, at its chosen layer), a fresh
    model on every fold; ``train``: :func:`~course_lib.chapters.ch1_utr_rnafm.train_head`'s
    keyword arguments (``embed_dim`` is each backbone's)."""
    first = next(iter(folds.values()))
    runs = train_heads(first, SEQ_HEADS | LEFT_PADDED, **train)
    for name, layer in chosen.items():
        runs += train_heads(
            folds[name], backbone_heads(name), **train | {"embed_dim": layer.embed_dim}
        )
    return runs


def comparison_pairs(
    backbones: Sequence[str], choice: str, protocol: str, framepool: bool
) -> dict[str, list[tuple[str, str]]]:
    """The paired comparisons of the chapter, ``{question: [(a, b), ...]}`` of model names.

    ``"embedding"``: the chosen backbone's heads against the one-hot head and each other;
    ``"control"``: each pretrained backbone's heads against the same heads on random weights;
    ``"padding"``: left against right padding; ``"published"`` (when scored on the same
    rows): the one-hot head against the published model (``published_mrl("varying-length")``).
    """

    def name(head: str) -> str:
        return model_name(head, protocol)

    emb = {b: (f"emb-{BACKBONE_KEYS[b][0]}", f"seq+emb-{BACKBONE_KEYS[b][0]}") for b in backbones}
    control = emb["RNA-FM random"]
    pairs = {
        "embedding": [(emb[choice][0], "seq"), (emb[choice][1], "seq"), emb[choice][::-1]],
        "control": [
            (heads[i], control[i])
            for b, heads in emb.items()
            if b != "RNA-FM random"
            for i in range(2)
        ],
        "padding": [("seq (left-padded)", "seq")],
    }
    named = {q: [(name(a), name(b)) for a, b in p] for q, p in pairs.items()}
    if framepool:
        named["published"] = [(name("seq"), published_mrl("varying-length").name)]
    return named
