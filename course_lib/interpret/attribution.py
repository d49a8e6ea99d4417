"""First-order attributions and the explanation of a token model (BiLSTM, BERT).

Introduced in chapter 3. :func:`gradient_x_input` (one-hot models) and
:func:`embedding_gradient_x_input` (token models) give attributions in one backward pass;
:func:`tokens_to_positions` spreads k-mer attributions over their ``k`` nucleotides;
:func:`explain_token_model` combines them with
:func:`course_lib.interpret.position_mutagenesis.in_silico_mutagenesis`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch
from torch import nn

from course_lib.interpret.position_mutagenesis import (
    in_silico_mutagenesis,
    ism_importance,
    torch_score_fn,
)
from course_lib.training import Forward, default_forward, select_device, to_device


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
        ``bilstm_view`` or ``bert_view`` of chapter 3).
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


def gradient_x_input(
    model: nn.Module,
    inputs: torch.Tensor,
    forward: Forward = default_forward,
    device: str | torch.device = "auto",
) -> np.ndarray:
    """Gradient of the output logit times the input, same shape as ``inputs`` (one-hot models).

    For a one-hot ``[n, 4, L]`` input, summing over the base axis gives ``[n, L]``.
    """
    device = select_device(device)
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
    device = select_device(device)
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
