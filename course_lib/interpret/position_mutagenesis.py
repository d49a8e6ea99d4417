"""Position-by-base mutagenesis of a scalar score: ``[n, L, 4]`` changes, bases in ACGT order.

Introduced in chapter 3. :func:`in_silico_mutagenesis` scores every single-nucleotide
substitution of each sequence (``3 L`` mutants) with any score function and returns the change
of the score at ``[i, position, base]``; :func:`ism_importance` reduces it to one importance per
position. The variant layout of chapter 4 (many features, variant ``4p + b`` in Beluga's AGCT
order) is :mod:`course_lib.interpret.variant_mutagenesis`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from course_lib.encoding import ACGT, to_codes, to_dna
from course_lib.training import Forward, default_forward, select_device, to_device

ScoreFn = Callable[[list[str]], np.ndarray]


def torch_score_fn(
    model: nn.Module,
    encode: Callable[[list[str]], Any],
    forward: Forward = default_forward,
    device: str | torch.device = "auto",
    batch_size: int = 1024,
) -> ScoreFn:
    """Wrap a model as ``score(seqs) -> [n]`` logits; ``encode(seqs)`` gives its inputs."""
    device = select_device(device)

    @torch.no_grad()
    def score(seqs: list[str]) -> np.ndarray:
        model.to(device).eval()
        out = []
        for start in range(0, len(seqs), batch_size):
            inputs = to_device(encode(seqs[start : start + batch_size]), device)
            out.append(forward(model, inputs).float().cpu().numpy().ravel())
        return np.concatenate(out) if out else np.zeros(0)

    return score


def in_silico_mutagenesis(score: ScoreFn, seqs: Sequence[str]) -> np.ndarray:
    """Score change of every single substitution: ``ism[i, p, b] = score(mutant) - score(ref)``.

    Parameters
    ----------
    score
        ``score(list_of_sequences) -> [m]`` (use logits, not probabilities, so saturated
        predictions still show their drivers).
    seqs
        ``n >= 1`` sequences of one length ``L`` (DNA or RNA alphabet, no N).

    Returns
    -------
    numpy.ndarray
        ``float [n, L, 4]`` in ACGT order; the reference base has 0.
    """
    seqs = [to_dna(s.upper()) for s in seqs]
    if not seqs:
        raise ValueError("in_silico_mutagenesis needs at least one sequence")
    lengths = {len(s) for s in seqs}
    if len(lengths) > 1:
        raise ValueError(
            f"in_silico_mutagenesis needs sequences of one length, got lengths {sorted(lengths)}; "
            "cut them to a common window first"
        )
    codes = to_codes(seqs)
    if (codes > 3).any():
        raise ValueError("in_silico_mutagenesis needs sequences without N")
    n, length = codes.shape
    reference = np.asarray(score(seqs), dtype=float)
    letters = np.frombuffer("".join(seqs).encode(), dtype="S1").reshape(n, length)
    # all 3L mutants of every sequence, built as one character array
    positions = np.repeat(np.arange(length), 3)
    alternatives = (codes[:, positions] + np.tile([1, 2, 3], length)) % 4  # [n, 3L]
    mutants = np.repeat(letters[:, None, :], 3 * length, axis=1)  # [n, 3L, L]
    base_letters = np.array(list(ACGT), dtype="S1")
    mutants[:, np.arange(3 * length), positions] = base_letters[alternatives]
    flat = [row.tobytes().decode() for row in mutants.reshape(n * 3 * length, length)]
    delta = np.asarray(score(flat), dtype=float).reshape(n, 3 * length) - reference[:, None]
    ism = np.zeros((n, length, 4))
    rows = np.repeat(np.arange(n), 3 * length)
    ism[rows, np.tile(positions, n), alternatives.ravel()] = delta.ravel()
    return ism


def ism_importance(ism: np.ndarray) -> np.ndarray:
    """Per-position importance ``[n, L]``: mean score loss over the three substitutions."""
    return -ism.sum(-1) / 3.0
