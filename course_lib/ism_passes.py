"""Saturation mutagenesis with ``3L + 1`` teacher passes per window instead of ``4L + 1``.

:func:`~course_lib.interpret.variant_mutagenesis.ism_log_odds` runs the teacher on all ``4L`` variants of a window,
``L`` of which are the reference itself (effect exactly zero), plus the reference: ``4L + 1``
passes. Only the ``3L`` alternative bases need a pass, plus one for the reference, so the
cost of the teacher baseline is ``3L + 1`` passes (chapter 4); at positions whose reference
is N (an all-zero column) all four bases are alternatives. Variant numbering and map layout
are those of :mod:`course_lib.interpret.variant_mutagenesis`
(``v = 4 * position + base``, maps ``[n, F, 4, L]``).
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch import nn

from course_lib.interpret.variant_mutagenesis import log_odds, variants_to_map


def teacher_passes(length: int, windows: int = 1) -> int:
    """Teacher forward passes (one per sequence) for ISM of ``windows`` clean windows of ``length``.

    ``windows * (3 * length + 1)``: three alternative bases per position plus the reference.
    """
    if length < 1 or windows < 0:
        raise ValueError(f"need length >= 1 and windows >= 0, got {length}, {windows}")
    return windows * (3 * length + 1)


def _check_references(references: torch.Tensor) -> None:
    if references.dim() != 3 or references.shape[1] != 4:
        raise ValueError(f"references must be one-hot [n, 4, L], got {tuple(references.shape)}")


def count_teacher_passes(references: torch.Tensor) -> int:
    """Exact passes of :func:`ism_log_odds_alternatives` on ``[n, 4, L]`` one-hot windows.

    One per alternative variant (every base that is not the reference; four at an N) plus
    one reference pass per window.
    """
    _check_references(references)
    return int((references == 0).sum()) + references.shape[0]


def alternative_variants(references: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Window and variant number of every alternative variant, ``([m], [m])``.

    Parameters
    ----------
    references
        ``[n, 4, L]`` one-hot windows (A, G, C, T channels; N all zero).

    Returns
    -------
    (window, variant)
        ``int64`` tensors of length ``m = count_teacher_passes(references) - n``, sorted by
        window then variant; ``variant = 4 * position + base`` with ``base`` not the
        reference base.
    """
    _check_references(references)
    window, position, base = torch.nonzero(references.transpose(1, 2) == 0, as_tuple=True)
    return window, 4 * position + base


def iter_alternative_batches(
    references: torch.Tensor, batch_size: int
) -> Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """The alternative variants of ``n`` windows, ``batch_size`` at a time.

    Yields
    ------
    (window, variant, batch)
        ``[b]`` index tensors and the ``[b, 4, L]`` one-hot variants.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    windows, variants = alternative_variants(references)
    for start in range(0, len(variants), batch_size):
        window = windows[start : start + batch_size]
        variant = variants[start : start + batch_size]
        batch = references[window]  # indexing copies
        rows = torch.arange(len(window), device=batch.device)
        position, base = variant // 4, variant % 4
        batch[rows, :, position] = 0
        batch[rows, base, position] = 1
        yield window, variant, batch


@torch.no_grad()
def ism_log_odds_alternatives(
    model: nn.Module, references: torch.Tensor, batch_size: int = 512
) -> torch.Tensor:
    """:func:`~course_lib.interpret.variant_mutagenesis.ism_log_odds` with ``3L + 1`` passes per window.

    Parameters
    ----------
    model
        Maps ``[b, 4, L]`` one-hot to ``[b, F]`` probabilities; put in eval mode.
    references
        ``[n, 4, L]`` one-hot windows on the model's device.
    batch_size
        Variants per forward pass.

    Returns
    -------
    torch.Tensor
        ``[n, F, 4, L]`` log-odds changes, exactly zero at the reference bases (which are not
        evaluated).
    """
    _check_references(references)
    model.eval()
    reference_pred = model(references)  # [n, F]
    n, _, length = references.shape
    per_variant = references.new_zeros(n, 4 * length, reference_pred.shape[1])
    for window, variant, batch in iter_alternative_batches(references, batch_size):
        per_variant[window, variant] = log_odds(model(batch), reference_pred[window])
    return variants_to_map(per_variant)
