"""Which nucleotides drive a prediction: in-silico mutagenesis, gradient x input, sequence logos.

- :func:`in_silico_mutagenesis` scores every single-nucleotide substitution of each sequence
  (``3 L`` mutants) and returns the change of the model's score, ``[n, L, 4]``.
- :func:`gradient_x_input` (one-hot models) and :func:`embedding_gradient_x_input` (token
  models: BiLSTM, BERT) give first-order attributions in one backward pass;
  :func:`tokens_to_positions` spreads k-mer attributions over their ``k`` nucleotides.
- :func:`aligned_windows`, :func:`frequency_matrix`, :func:`information_matrix` and
  :func:`draw_logo` turn the strongest site of each sequence into a sequence logo;
  :func:`consensus` reads the motif off it and :func:`motif_frequency` counts a motif per class.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
import torch
from torch import nn

from course_lib.encoding import to_codes
from course_lib.training import Forward, default_forward, select_device, to_device

BASES = "ACGT"
RNA_BASES = "ACGU"
ScoreFn = Callable[[list[str]], np.ndarray]


@dataclass(frozen=True)
class TokenModelView:
    """How to feed sequences to a k-mer token model and where its token embedding is.

    Attributes
    ----------
    encode
        ``encode(list_of_sequences)`` -> the model's inputs (tensor or dict of tensors).
    forward
        ``forward(model, inputs)`` -> ``[n]`` logits.
    embedding
        ``embedding(model)`` -> the module whose output is the embedded tokens.
    k
        k-mer size.
    leading_specials
        Token columns before the first k-mer (1 for ``[CLS]``).
    """

    encode: Callable[[list[str]], Any]
    forward: Forward
    embedding: Callable[[nn.Module], nn.Module]
    k: int
    leading_specials: int = 0


@dataclass
class Explanation:
    """Attributions of ``n`` sequences of length ``L``.

    ``ism`` is ``[n, L, 4]`` (ACGT); ``ism_importance`` and ``gradient_importance`` are
    ``[n, L]`` (gradient x input of the k-mer embeddings, against the mean embedding, spread
    over nucleotides).
    """

    sequences: list[str]
    ism: np.ndarray
    ism_importance: np.ndarray
    gradient_importance: np.ndarray


def explain_token_model(
    model: nn.Module,
    view: TokenModelView,
    seqs: Sequence[str],
    device: str | torch.device = "auto",
    batch_size: int = 1024,
) -> Explanation:
    """In-silico mutagenesis and embedding gradient x input of a token model on ``seqs``.

    Parameters
    ----------
    model
        A trained token model; it is put in evaluation mode and its weights and gradients are
        left untouched.
    view
        How to encode sequences for ``model`` and where its token embedding is (for example
        :func:`course_lib.models.bilstm.bilstm_view` or :func:`course_lib.bert.bert_view`).
    seqs
        ``n >= 1`` sequences of one length ``L`` (DNA or RNA letters, no N); checked by
        :func:`in_silico_mutagenesis`, which runs first.

    Returns
    -------
    Explanation
        ``ism`` ``[n, L, 4]``, ``ism_importance`` and ``gradient_importance`` ``[n, L]``.
    """
    seqs = list(seqs)
    score = torch_score_fn(model, view.encode, view.forward, device, batch_size)
    ism = in_silico_mutagenesis(score, seqs)
    length = len(seqs[0])
    token_scores = np.concatenate(
        [
            embedding_gradient_x_input(
                model,
                view.encode(seqs[start : start + batch_size]),
                view.embedding(model),
                view.forward,
                device,
            )
            for start in range(0, len(seqs), batch_size)
        ]
    )
    gradient = tokens_to_positions(token_scores, view.k, length, view.leading_specials)
    return Explanation(seqs, ism, ism_importance(ism), gradient)


def torch_score_fn(
    model: nn.Module,
    encode: Callable[[list[str]], Any],
    forward: Forward = default_forward,
    device: str | torch.device = "auto",
    batch_size: int = 1024,
) -> ScoreFn:
    """Wrap a model as ``score(seqs) -> [n]`` logits; ``encode(seqs)`` gives its inputs."""
    device = select_device(device) if isinstance(device, str) else device

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
    seqs = [s.upper().replace("U", "T") for s in seqs]
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
    base_letters = np.array(list(BASES), dtype="S1")
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


def gradient_x_input(
    model: nn.Module,
    inputs: torch.Tensor,
    forward: Forward = default_forward,
    device: str | torch.device = "auto",
) -> np.ndarray:
    """Gradient of the output logit times the input, same shape as ``inputs`` (one-hot models).

    For a one-hot ``[n, 4, L]`` input, summing over the base axis gives ``[n, L]``.
    """
    device = select_device(device) if isinstance(device, str) else device
    model.to(device).eval()
    x = inputs.detach().to(device).float().requires_grad_(True)
    with torch.enable_grad():
        (grad,) = torch.autograd.grad(forward(model, x).sum(), x)
    return (grad * x).detach().cpu().numpy()


def embedding_gradient_x_input(
    model: nn.Module,
    inputs: Any,
    embedding: nn.Embedding,
    forward: Forward = default_forward,
    device: str | torch.device = "auto",
    baseline: Literal["mean", "zero"] = "mean",
) -> np.ndarray:
    """Gradient x (input - baseline) at the token embeddings, summed over dimensions: ``[n, T]``.

    ``embedding`` is the ``nn.Embedding`` whose output is the embedded tokens (e.g.
    ``model.embedding`` of the BiLSTM, ``model.bert.embeddings.word_embeddings`` of BERT).
    ``baseline="mean"`` compares each token with the average embedding (a first-order estimate
    of replacing it by an average token, which is closer to mutagenesis); ``"zero"`` is plain
    gradient x input.
    """
    if baseline not in ("mean", "zero"):
        raise ValueError(f"baseline must be 'mean' or 'zero', got {baseline!r}")
    device = select_device(device) if isinstance(device, str) else device
    model.to(device).eval()
    captured: list[torch.Tensor] = []

    def keep(_module, _inputs, output):
        # a leaf that needs a gradient, even when the model's weights are frozen
        leaf = output.detach().requires_grad_(True)
        captured.append(leaf)
        return leaf

    handle = embedding.register_forward_hook(keep)
    try:
        with torch.enable_grad():
            total = forward(model, to_device(inputs, device)).sum()
            if not captured:
                raise ValueError("the embedding module was not called by the forward pass")
            # autograd.grad, not backward(): the model's parameters get no .grad
            (grad,) = torch.autograd.grad(total, captured[0])
    finally:
        handle.remove()
    embedded = captured[0].detach()
    reference = embedding.weight.detach().mean(0) if baseline == "mean" else 0.0
    return ((embedded - reference) * grad).sum(-1).cpu().numpy()


def tokens_to_positions(
    token_scores: np.ndarray, k: int, length: int, leading_specials: int = 0
) -> np.ndarray:
    """Spread k-mer scores ``[n, T]`` over nucleotides ``[n, L]`` (each k-mer's score / k to
    each of its k positions).

    ``leading_specials`` columns (e.g. 1 for ``[CLS]``) are dropped first; only the
    ``L - k + 1`` k-mer columns after them are used.
    """
    n_kmers = length - k + 1
    scores = np.asarray(token_scores)[:, leading_specials : leading_specials + n_kmers]
    if scores.shape[1] != n_kmers:
        raise ValueError(f"expected {n_kmers} k-mer columns, got {scores.shape[1]}")
    out = np.zeros((scores.shape[0], length))
    for shift in range(k):
        out[:, shift : shift + n_kmers] += scores / k
    return out


def strongest_window(importance: np.ndarray, width: int) -> np.ndarray:
    """Start of the ``width``-long window with the largest summed importance, ``[n]``."""
    importance = np.asarray(importance, dtype=float)
    if importance.shape[1] < width:
        raise ValueError(f"window width {width} exceeds the sequence length {importance.shape[1]}")
    sums = np.lib.stride_tricks.sliding_window_view(importance, width, axis=1).sum(-1)
    return sums.argmax(1)


def aligned_windows(
    seqs: Sequence[str], importance: np.ndarray, width: int = 8, flank: int = 2
) -> list[str]:
    """The strongest ``width`` window of each sequence with ``flank`` bases each side.

    Windows that run off a sequence end are padded with N (ignored by :func:`frequency_matrix`).
    """
    starts = strongest_window(importance, width)
    out = []
    for seq, start in zip(seqs, starts, strict=True):
        padded = "N" * flank + seq + "N" * flank
        out.append(padded[start : start + width + 2 * flank])
    return out


def frequency_matrix(windows: Sequence[str], rna: bool = True) -> pd.DataFrame:
    """Base probabilities per position of equal-length windows, ``[width, 4]`` DataFrame.

    Columns are ``A C G U`` (``rna=True``) or ``A C G T``; N is not counted.
    """
    codes = to_codes([w.upper() for w in windows])
    if len({len(w) for w in windows}) > 1:
        raise ValueError("frequency_matrix needs windows of equal length")
    counts = np.stack([(codes == b).sum(0) for b in range(4)], axis=1).astype(float)
    totals = counts.sum(1, keepdims=True)
    probs = np.divide(counts, totals, out=np.full_like(counts, 0.25), where=totals > 0)
    return pd.DataFrame(probs, columns=list(RNA_BASES if rna else BASES))


def information_matrix(frequencies: pd.DataFrame) -> pd.DataFrame:
    """Information content (bits) per base and position, for a classic sequence logo."""
    import logomaker

    return logomaker.transform_matrix(frequencies, from_type="probability", to_type="information")


def attribution_matrix(seq: str, position_scores: np.ndarray, rna: bool = True) -> pd.DataFrame:
    """A saliency-logo matrix ``[L, 4]``: each position's score on its reference base."""
    codes = to_codes([seq])[0]
    matrix = np.zeros((len(seq), 4))
    called = codes < 4
    matrix[np.flatnonzero(called), codes[called]] = np.asarray(position_scores)[called]
    return pd.DataFrame(matrix, columns=list(RNA_BASES if rna else BASES))


def consensus(frequencies: pd.DataFrame, min_probability: float = 0.5) -> str:
    """Most frequent base per position, ``.`` where it has less than ``min_probability``."""
    best = frequencies.to_numpy().argmax(1)
    top = frequencies.to_numpy().max(1)
    letters = np.array(list(frequencies.columns))
    return "".join(np.where(top >= min_probability, letters[best], "."))


def motif_in(text: str, motif_regex: str) -> bool:
    """Whether ``motif_regex`` (DNA letters, e.g. ``TGTA.ATA``) occurs in ``text`` (U read as T)."""
    return re.search(motif_regex, text.upper().replace("U", "T")) is not None


def motif_frequency(seqs: Sequence[str], labels: np.ndarray, motif_regex: str) -> pd.DataFrame:
    """How many positives and negatives contain ``motif_regex``; one row per class."""
    labels = np.asarray(labels)
    pattern = re.compile(motif_regex)
    hits = np.array([pattern.search(s.upper().replace("U", "T")) is not None for s in seqs])
    rows = []
    for name, value in (("positives", 1), ("negatives", 0)):
        chosen = labels == value
        rows.append(
            {
                "class": name,
                "sequences": int(chosen.sum()),
                "with motif": int(hits[chosen].sum()),
                "fraction": float(hits[chosen].mean()) if chosen.any() else float("nan"),
            }
        )
    return pd.DataFrame(rows).set_index("class")


def draw_logo(matrix: pd.DataFrame, ax=None, title: str = "", ylabel: str = "bits"):
    """Draw ``matrix`` ``[L, 4]`` with logomaker on ``ax``; returns the ``logomaker.Logo``."""
    import logomaker

    logo = logomaker.Logo(matrix, ax=ax, color_scheme="classic")
    logo.ax.set(title=title, ylabel=ylabel, xlabel="position in window")
    return logo
