"""Chapter 1's frozen backbones (``notebooks/01_utr_rnafm.ipynb``) and their embedding caches.

RNA-FM comes through the weights registry (:func:`course_lib.weights.locate_weights`): the real
``RNA-FM_pretrained.pth`` when the notebook's ``rnafm_checkpoint`` finds it, else a small
randomly initialised model of the RNA-FM architecture, labelled ``stand-in``
(:func:`load_rnafm_backbone`). Without the real weights the course's UTR-LM is a second
backbone (:func:`second_backbone`), read or built through the shared recipe of
:mod:`course_lib.utr_lm_backbone`. Each backbone embeds the UTRs once into a cache on disk,
cut into the folds the heads train on (:func:`embedding_folds`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from sklearn.preprocessing import StandardScaler

from course_lib.chapters.ch1_embedding_cache import (
    EmbeddingCache,
    FrozenBackbone,
    build_embedding_cache,
)
from course_lib.chapters.ch1_utr_rnafm import FoldData, cv_folds, original_fold_data
from course_lib.models.rnafm import RNAFMBackbone
from course_lib.models.utr_lm import UTRLMBackbone
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


def second_backbone(
    rnafm: Any, profile: str, device: torch.device | str, seed: int = 0, tiny: bool = False
) -> UTRLMBackbone | None:
    """The course's UTR-LM (variant (c), frozen) when ``rnafm`` has random weights, else ``None``.

    The backbone of ``profile``'s recipe (:class:`course_lib.utr_lm_backbone.BackboneConfig`,
    at its tiny sizes when ``tiny``): read from its recipe folder when chapter 5 (or an earlier
    run) built it, else pretrained now (:func:`course_lib.utr_lm_backbone.backbone_checkpoint`).
    """
    from course_lib.utr_lm_backbone import BackboneConfig, backbone_checkpoint

    if rnafm.pretrained:
        return None
    checkpoint = backbone_checkpoint(BackboneConfig.resolve(profile, tiny=tiny), device, seed)
    return UTRLMBackbone.from_checkpoint(checkpoint, device)


def embedding_folds(
    embedders: Mapping[str, FrozenBackbone],
    protocol: str,
    real_cv: RealUTRProtocol,
    sequences: Mapping[str, Sequence[str]],
    parts: Mapping[str, pd.DataFrame],
    scaler: StandardScaler,
    batch_size: int,
) -> tuple[dict[str, EmbeddingCache], dict[str, list[FoldData]]]:
    """Each backbone's embedding cache and the folds the heads train on.

    Parameters
    ----------
    embedders
        ``{backbone name: frozen backbone}`` (``"RNA-FM"``, and ``"UTR-LM"`` when present).
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
        if protocol == "cv":
            utrs = [*real_cv.random["utr"], *real_cv.human["utr"]]
            cache = build_embedding_cache(
                embedder, utrs, "utr_testsets/Random7600+Human7600", **embed
            )
            caches[f"{name}: Random7600 + Human7600"] = cache
            folds[name] = cv_folds(real_cv, cache)
            continue
        part_caches = {
            part: build_embedding_cache(embedder, seqs, f"utr_varying_length/{part}", **embed)
            for part, seqs in sequences.items()
        }
        caches |= {f"{name}: {part}": c for part, c in part_caches.items()}
        folds[name] = [original_fold_data(parts, part_caches, scaler)]
    return caches, folds
