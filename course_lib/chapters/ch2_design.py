"""Chapter 2's in-silico experiments on a trained UTR model: AUG insertion scans, UTR design.

Everything works on a *predictor*, a function from ``n`` equal-length UTR strings to ``n``
predicted values (:func:`course_lib.training.make_predictor` wraps a trained model and the
label scaler), so the same code runs on Optimus 5-Prime, the attention CNN or any planted rule.

Frame convention: the main start codon follows the UTR's last nucleotide, so an AUG starting
at 0-based position ``p`` of a length-``L`` UTR is in frame with the coding sequence when
``(L - p) % 3 == 0`` (the same rule as :func:`course_lib.datasets.utr.uaug_table`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from matplotlib.axes import Axes
from sklearn.preprocessing import StandardScaler
from torch import nn

from course_lib.encoding import one_hot, to_dna
from course_lib.training import Forward, Predictor, default_forward, make_predictor

BASES = "ACGT"


def in_cds_frame(position: int | np.ndarray, utr_length: int) -> bool | np.ndarray:
    """Whether a codon starting at ``position`` is in frame with the CDS after the UTR."""
    return (utr_length - np.asarray(position)) % 3 == 0


def substitute(utr: str, motif: str, position: int) -> str:
    """``utr`` with ``motif`` written over it from ``position`` on (the length is kept)."""
    if not 0 <= position <= len(utr) - len(motif):
        raise ValueError(
            f"a {len(motif)}-nt motif cannot start at position {position} of a "
            f"{len(utr)}-nt UTR; use 0..{len(utr) - len(motif)}"
        )
    return utr[:position] + motif + utr[position + len(motif) :]


def _equal_length(utrs: Sequence[str]) -> int:
    lengths = {len(u) for u in utrs}
    if len(lengths) != 1:
        raise ValueError(f"UTRs must all have the same length, found lengths {sorted(lengths)}")
    return lengths.pop()


def aug_insertion_scan(predict: Predictor, utrs: Sequence[str], motif: str = "ATG") -> pd.DataFrame:
    """Write ``motif`` at every position of every UTR and average the predicted change.

    Parameters
    ----------
    predict
        ``predict(utrs) -> [n]``, e.g. from :func:`~course_lib.training.make_predictor`.
    utrs
        ``n`` UTRs of one length ``L`` (use UTRs without a uAUG to see a clean effect).
    motif
        The inserted codon (substituted in place, so the length stays ``L``).

    Returns
    -------
    pandas.DataFrame
        One row per start position ``0..L-len(motif)``: ``position``, ``frame``
        (``"in frame"`` / ``"out of frame"`` with the CDS), ``mean_change`` and
        ``sem_change`` (mean and standard error over the UTRs of prediction after minus
        before).
    """
    utrs = list(utrs)
    length = _equal_length(utrs)
    positions = np.arange(length - len(motif) + 1)
    baseline = predict(utrs)
    mutated = [substitute(u, motif, int(p)) for p in positions for u in utrs]
    change = predict(mutated).reshape(len(positions), len(utrs)) - baseline[None, :]
    sem = change.std(axis=1, ddof=1) / np.sqrt(len(utrs)) if len(utrs) > 1 else np.nan
    return pd.DataFrame(
        {
            "position": positions,
            "frame": np.where(in_cds_frame(positions, length), "in frame", "out of frame"),
            "mean_change": change.mean(axis=1),
            "sem_change": sem,
        }
    )


def plot_aug_scan(scan: pd.DataFrame, ax: Axes | None = None, title: str = "") -> Axes:
    """Bars of the mean predicted change per insertion position, coloured by frame."""
    if ax is None:
        _, ax = plt.subplots(figsize=(9, 3.5))
    for color, frame in (("C3", "out of frame"), ("C0", "in frame")):
        rows = scan[scan["frame"] == frame]
        ax.bar(
            rows["position"],
            rows["mean_change"],
            yerr=rows["sem_change"],
            color=color,
            label=f"AUG {frame} with the CDS",
            width=0.8,
        )
    ax.axhline(0, color="k", lw=0.8)
    ax.set(
        xlabel="position of the inserted AUG (nt from the 5' cap end; CDS follows the UTR)",
        ylabel="predicted change in MRL",
        title=title,
    )
    ax.legend(fontsize="small")
    return ax


# ----------------------------------------------------------------------------- design


@dataclass(frozen=True)
class Design:
    """A designed UTR and how it got there.

    Attributes
    ----------
    start, sequence
        The starting and the final UTR.
    start_score, score
        Their predicted values.
    edits
        Accepted substitutions in order: ``(position, old base, new base)``.
    trajectory
        Predicted value after each accepted edit, starting with ``start_score``.
    """

    start: str
    sequence: str
    start_score: float
    score: float
    edits: tuple[tuple[int, str, str], ...]
    trajectory: tuple[float, ...]

    @property
    def gain(self) -> float:
        """``score - start_score``."""
        return self.score - self.start_score


def single_substitutions(seq: str) -> tuple[list[str], list[tuple[int, str, str]]]:
    """All ``3 L`` single-nucleotide variants of ``seq`` and their ``(position, old, new)``."""
    variants, edits = [], []
    for i, old in enumerate(seq):
        for new in BASES:
            if new != old:
                variants.append(seq[:i] + new + seq[i + 1 :])
                edits.append((i, old, new))
    return variants, edits


def _check_design_input(seq: str, n_steps: int) -> str:
    seq = to_dna(seq.upper())
    if not seq or set(seq) - set(BASES):
        raise ValueError(f"the start UTR must be a non-empty A/C/G/T(U) string, got {seq!r}")
    if n_steps < 1:
        raise ValueError(f"n_steps must be at least 1, got {n_steps}")
    return seq


Proposer = Callable[[str], tuple[list[str], list[tuple[int, str, str]]]]


def _hill_climb(predict: Predictor, start: str, n_steps: int, propose: Proposer) -> Design:
    """Accept the best proposed variant while it raises the prediction, at most ``n_steps`` times.

    ``propose(current)`` returns the candidate UTRs and their edits ``(position, old, new)``.
    """
    current, score = start, float(predict([start])[0])
    trajectory, edits = [score], []
    for _ in range(n_steps):
        variants, candidate_edits = propose(current)
        scores = predict(variants)
        best = int(np.argmax(scores))
        if scores[best] <= score:
            break
        current, score = variants[best], float(scores[best])
        edits.append(candidate_edits[best])
        trajectory.append(score)
    return Design(start, current, trajectory[0], score, tuple(edits), tuple(trajectory))


def greedy_design(predict: Predictor, seq: str, n_steps: int = 10) -> Design:
    """Raise the predicted value by greedy single-nucleotide edits.

    Each step scores all ``3 L`` substitutions of the current UTR in one batch and keeps the
    best; it stops after ``n_steps`` edits or when no substitution improves the prediction.
    """
    return _hill_climb(predict, _check_design_input(seq, n_steps), n_steps, single_substitutions)


def substitution_gains(
    model: nn.Module, seq: str, forward: Forward = default_forward
) -> np.ndarray:
    """First-order (gradient) estimate of the change of the model output per substitution.

    Returns ``[L, 4]``: entry ``(i, b)`` is ``d out / d x[i, b] - d out / d x[i, seq[i]]``
    (0 for the current base), the Taylor estimate of writing base ``b`` at position ``i``.
    """
    device = next(model.parameters()).device
    model.eval()
    x = torch.from_numpy(one_hot([seq])).to(device).requires_grad_(True)
    (grad,) = torch.autograd.grad(forward(model, x).sum(), x)
    grad = grad[0].cpu().numpy().astype(np.float64)
    current = grad[np.arange(len(seq)), [BASES.index(b) for b in seq]]
    return grad - current[:, None]


def gradient_design(
    model: nn.Module,
    seq: str,
    n_steps: int = 10,
    forward: Forward = default_forward,
    scaler: StandardScaler | None = None,
    top_k: int = 5,
) -> Design:
    """Raise the prediction with gradient-guided edits, checked by the model itself.

    Each step ranks substitutions by :func:`substitution_gains`, predicts the ``top_k``
    best-ranked variants exactly and keeps the best one if it improves the prediction;
    ``top_k = 3 L`` makes it the greedy search. Scores are unscaled with ``scaler`` if given.
    """
    start = _check_design_input(seq, n_steps)
    if top_k < 1:
        raise ValueError(f"top_k must be at least 1, got {top_k}")

    def propose(current: str) -> tuple[list[str], list[tuple[int, str, str]]]:
        gains = substitution_gains(model, current, forward)
        gains[np.arange(len(current)), [BASES.index(b) for b in current]] = -np.inf
        flat = np.argsort(gains, axis=None)[::-1][: min(top_k, 3 * len(current))]
        candidates = [
            (int(i), current[i], BASES[b])
            for i, b in zip(*np.unravel_index(flat, gains.shape), strict=True)
        ]
        return [current[:i] + new + current[i + 1 :] for i, _, new in candidates], candidates

    return _hill_climb(make_predictor(model, forward, scaler), start, n_steps, propose)
