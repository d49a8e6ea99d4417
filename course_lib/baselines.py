"""No-learning "copy" baselines of masked-token modelling, under the exact corruption used.

BERT's 80/10/10 recipe leaves 10 % of the scored tokens unchanged, so a model that knows
nothing about sequences still beats ``1 / vocabulary`` by copying what it sees. And with
overlapping k-mers a masked token is partly spelled out by its visible neighbours. A masked
model has learned something only where it beats these floors:

- :func:`nucleotide_copy_baseline` (chapter 5, single nucleotides): closed form of the best
  strategy that uses only the token at the scored position, given base frequencies;
  :func:`simulate_nucleotide_copy_baseline` plays that strategy on masks drawn by
  :func:`course_lib.tokenization.mask_tokens`, so the two can be checked against each other.
- :func:`kmer_copy_baseline` (chapter 3, overlapping k-mers with span masking): the accuracy
  of copying every visible input token and filling a ``[MASK]`` with a k-mer consistent with
  the visible neighbouring k-mers; :func:`simulate_kmer_copy_baseline` draws the masks.

:func:`token_frequencies` gives the base frequencies to fit on training rows.
"""

from __future__ import annotations

import numpy as np
import torch

from course_lib.tokenization import IGNORE_INDEX, KmerVocabulary, mask_tokens

#: Shares of BERT's recipe among the scored tokens: replaced by the mask, random, kept.
MASK_SHARE, RANDOM_SHARE, KEEP_SHARE = 0.8, 0.1, 0.1


def _check_frequencies(frequencies: np.ndarray | None, size: int) -> np.ndarray:
    if frequencies is None:
        return np.full(size, 1.0 / size)
    p = np.asarray(frequencies, dtype=np.float64).ravel()
    if p.shape != (size,) or (p < 0).any() or p.sum() <= 0:
        raise ValueError(f"frequencies must be {size} non-negative numbers, got {frequencies!r}")
    return p / p.sum()


def copy_posterior(frequencies: np.ndarray | None = None) -> np.ndarray:
    """``P(true token t | visible input token b)`` at a scored position, ``[V, V]`` (row ``b``).

    The random 10 % draw uniformly from the ``V`` k-mer tokens (as
    :func:`~course_lib.tokenization.mask_tokens` does), so
    ``P(b | t) = 0.1 [b = t] + 0.1 / V`` and Bayes' rule with the prior ``frequencies`` gives
    the posterior. Uniform bases (``V = 4``): 0.625 on the input token, 0.125 on each other.

    Parameters
    ----------
    frequencies
        ``[V]`` prior of the true tokens (default uniform over ``V = 4``).
    """
    prior = _check_frequencies(frequencies, 4 if frequencies is None else len(frequencies))
    size = prior.size
    likelihood = KEEP_SHARE * np.eye(size) + RANDOM_SHARE / size  # [b, t]
    joint = likelihood * prior[None, :]
    return joint / joint.sum(1, keepdims=True)


def nucleotide_copy_baseline(frequencies: np.ndarray | None = None) -> dict[str, float]:
    """Closed-form loss and accuracy of the best no-learning strategy (chapter 5).

    At a ``<mask>`` input the strategy predicts the base frequencies; at a visible input it
    predicts :func:`copy_posterior` (for accuracy, its most likely base: the input itself
    unless the frequencies are very uneven). Its expected
    cross-entropy is the conditional entropy ``H(true | input)``, the lowest loss any model
    reaches without using the context.

    Parameters
    ----------
    frequencies
        ``[4]`` base frequencies of the scored nucleotides (default uniform).

    Returns
    -------
    dict
        ``copy loss`` (nats; 1.3237 for uniform bases, against ln 4 = 1.3863),
        ``copy accuracy`` (0.325 for uniform bases) and ``uniform loss`` (ln 4).
    """
    prior = _check_frequencies(frequencies, 4)
    posterior = copy_posterior(prior)
    p_input = KEEP_SHARE * prior + RANDOM_SHARE / prior.size  # P(visible input b), [V]
    with np.errstate(divide="ignore", invalid="ignore"):
        h_mask = -np.nansum(prior * np.log(prior))
        h_visible = -np.nansum(posterior * np.log(posterior), axis=1)
    loss = MASK_SHARE * h_mask + (p_input * h_visible).sum()
    accuracy = MASK_SHARE * prior.max() + (p_input * posterior.max(1)).sum()
    return {
        "copy loss": float(loss),
        "copy accuracy": float(accuracy),
        "uniform loss": float(np.log(prior.size)),
    }


def simulate_nucleotide_copy_baseline(
    input_ids: torch.Tensor | np.ndarray,
    vocab: KmerVocabulary,
    frequencies: np.ndarray | None = None,
    probability: float = 0.15,
    repeats: int = 1,
    seed: int = 0,
) -> dict[str, float]:
    """Play the copy strategy of :func:`nucleotide_copy_baseline` on real masks (chapter 5).

    Parameters
    ----------
    input_ids
        ``[n, T]`` token ids of a k = 1 vocabulary (e.g. ``encode_utrs``).
    vocab
        The vocabulary; ``frequencies`` follow the order of ``vocab.kmer_lookup`` (A, C, G, T/U).
    frequencies
        ``[4]`` base frequencies the strategy predicts (fit them on training data); default
        uniform.
    probability, repeats, seed
        Masking rate, number of independent mask draws, seed of the first.

    Returns
    -------
    dict
        ``copy loss`` (mean cross-entropy over scored tokens), ``copy accuracy`` and
        ``scored tokens``.
    """
    if vocab.k != 1:
        raise ValueError(f"this baseline is for single nucleotides (k = 1), got k = {vocab.k}")
    prior = _check_frequencies(frequencies, 4)
    posterior = copy_posterior(prior)
    log_post, log_prior, best_visible = np.log(posterior), np.log(prior), posterior.argmax(1)
    rank = _rank_table(vocab)
    ids = torch.as_tensor(np.asarray(input_ids))
    losses, hits = [], []
    generator = torch.Generator().manual_seed(seed)
    for _ in range(repeats):
        corrupted, labels = (t.numpy() for t in mask_tokens(ids, vocab, probability, 1, generator))
        scored = labels != IGNORE_INDEX
        truth, seen = rank[labels[scored]], rank[corrupted[scored]]
        visible = seen >= 0
        loss = -log_prior[truth]
        loss[visible] = -log_post[seen[visible], truth[visible]]
        guess = np.full(truth.shape, int(prior.argmax()))
        guess[visible] = best_visible[seen[visible]]
        losses.append(loss)
        hits.append(guess == truth)
    losses, hits = np.concatenate(losses), np.concatenate(hits)
    return {
        "copy loss": float(losses.mean()),
        "copy accuracy": float(hits.mean()),
        "scored tokens": int(losses.size),
    }


def token_frequencies(input_ids: torch.Tensor | np.ndarray, vocab: KmerVocabulary) -> np.ndarray:
    """``[4**k]`` frequencies of the k-mer tokens in ``input_ids`` ``[n, T]``, in
    ``vocab.kmer_lookup`` order (A, C, G, T/U for k = 1); specials and padding are not counted.

    Fit them on the training rows and pass them to the copy baselines (chapter 5).
    """
    rank = _rank_table(vocab)[np.asarray(input_ids).ravel()]
    counts = np.bincount(rank[rank >= 0], minlength=4**vocab.k).astype(np.float64)
    if counts.sum() == 0:
        raise ValueError("input_ids hold no k-mer token of this vocabulary")
    return counts / counts.sum()


def _rank_table(vocab: KmerVocabulary) -> np.ndarray:
    """``[len(vocab)]`` rank of each k-mer token in ``kmer_lookup`` order, ``-1`` for specials."""
    rank = np.full(len(vocab), -1, dtype=np.int64)
    rank[vocab.kmer_lookup] = np.arange(4**vocab.k)
    return rank


def _base_table(vocab: KmerVocabulary) -> np.ndarray:
    """``[len(vocab), k]`` base of each token at each offset (0..3 for ACGT), ``-1`` specials."""
    rank = _rank_table(vocab)
    powers = 4 ** np.arange(vocab.k - 1, -1, -1)
    bases = (np.maximum(rank, 0)[:, None] // powers[None, :]) % 4
    return np.where(rank[:, None] >= 0, bases, -1)


def kmer_copy_baseline(
    corrupted: torch.Tensor | np.ndarray,
    labels: torch.Tensor | np.ndarray,
    vocab: KmerVocabulary,
) -> dict[str, float]:
    """Accuracy of the neighbour-consistent copy strategy on one corruption (chapter 3).

    A visible input token (kept or random) is copied. A ``[MASK]`` token is filled with a
    k-mer consistent with the visible k-mers that overlap it: each of its ``k`` bases is the
    majority vote of the visible neighbours covering that base (random neighbours included,
    since the strategy cannot tell them apart), and bases no visible neighbour covers are
    guessed uniformly. The accuracy of a ``[MASK]`` token is the strategy's expected one:
    ``4 ** -(uncovered bases)`` if the voted bases are right, else 0.

    Parameters
    ----------
    corrupted, labels
        ``[n, T]`` output of :func:`~course_lib.tokenization.mask_tokens` (labels ``-100``
        where not scored).
    vocab
        The k-mer vocabulary of the ids.

    Returns
    -------
    dict
        ``copy accuracy`` over all scored tokens, ``copy accuracy at [MASK]`` and
        ``copy accuracy at visible`` (kept + random inputs), ``scored tokens``, and
        ``chance accuracy`` (``4 ** -k``).
    """
    correct, is_mask = _kmer_copy_hits(corrupted, labels, vocab)
    return _kmer_summary(correct, is_mask, vocab.k)


def _kmer_copy_hits(corrupted, labels, vocab: KmerVocabulary) -> tuple[np.ndarray, np.ndarray]:
    """``([m], [m])``: expected hit of the strategy and whether the input was the mask, per
    scored token."""
    seen, labels = np.asarray(corrupted), np.asarray(labels)
    if seen.shape != labels.shape or seen.ndim != 2:
        raise ValueError(f"corrupted and labels must be [n, T], got {seen.shape}, {labels.shape}")
    scored = labels != IGNORE_INDEX
    if not scored.any():
        raise ValueError("no token is scored (labels are all -100): mask some tokens first")
    table = _base_table(vocab)
    hidden = seen == vocab.mask_id
    truth = table[np.where(scored, labels, 0)]  # [n, T, k]
    correct = _masked_kmer_accuracy(table[seen], truth, hidden)
    correct = np.where(hidden, correct, (seen == labels).astype(np.float64))
    return correct[scored], hidden[scored]


def _kmer_summary(correct: np.ndarray, is_mask: np.ndarray, k: int) -> dict[str, float]:
    def mean(values: np.ndarray) -> float:
        return float(values.mean()) if values.size else float("nan")

    return {
        "copy accuracy": mean(correct),
        "copy accuracy at [MASK]": mean(correct[is_mask]),
        "copy accuracy at visible": mean(correct[~is_mask]),
        "scored tokens": int(correct.size),
        "chance accuracy": 0.25**k,
    }


def _masked_kmer_accuracy(seen_bases: np.ndarray, truth: np.ndarray, hidden: np.ndarray):
    """``[n, T]`` expected accuracy of the neighbour vote at every position.

    ``seen_bases`` ``[n, T, k]`` bases of the input tokens (``-1`` for specials and masks),
    ``truth`` ``[n, T, k]`` true bases, ``hidden`` ``[n, T]`` positions holding the mask.
    """
    n, width, k = seen_bases.shape
    seen_bases = np.where(hidden[..., None], -1, seen_bases)
    votes = np.zeros((n, width, k, 4), dtype=np.int64)
    for offset in range(k):  # base ``offset`` of token i is base ``offset - d`` of token i + d
        for d in range(offset - k + 1, offset + 1):
            if d == 0:
                continue
            lo, hi = max(0, -d), min(width, width - d)
            base = seen_bases[:, lo + d : hi + d, offset - d]
            rows, cols = np.nonzero(base >= 0)
            np.add.at(votes, (rows, cols + lo, offset, base[rows, cols]), 1)
    covered = votes.sum(-1) > 0
    right = (votes.argmax(-1) == truth) | ~covered
    return np.where(right.all(-1), 0.25 ** (~covered).sum(-1), 0.0)


def simulate_kmer_copy_baseline(
    input_ids: torch.Tensor | np.ndarray,
    vocab: KmerVocabulary,
    probability: float = 0.15,
    span: int | None = None,
    repeats: int = 1,
    seed: int = 0,
) -> dict[str, float]:
    """:func:`kmer_copy_baseline` averaged over ``repeats`` masks of ``mask_tokens`` (chapter 3).

    Parameters
    ----------
    input_ids
        ``[n, T]`` ids from :meth:`KmerVocabulary.encode`.
    probability, span
        As in :func:`~course_lib.tokenization.mask_tokens` (span default ``vocab.k``).
    repeats, seed
        Number of mask draws and the seed of the first.

    Returns
    -------
    dict
        The keys of :func:`kmer_copy_baseline`, over the scored tokens of all draws.
    """
    ids = torch.as_tensor(np.asarray(input_ids))
    generator = torch.Generator().manual_seed(seed)
    hits = [
        _kmer_copy_hits(*mask_tokens(ids, vocab, probability, span, generator), vocab)
        for _ in range(repeats)
    ]
    return _kmer_summary(
        np.concatenate([h[0] for h in hits]), np.concatenate([h[1] for h in hits]), vocab.k
    )
