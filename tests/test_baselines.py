"""Tests of course_lib.baselines: masked-token copy baselines, closed form against simulation."""

import numpy as np
import pytest
import torch

from course_lib.baselines import (
    copy_posterior,
    kmer_copy_baseline,
    nucleotide_copy_baseline,
    simulate_kmer_copy_baseline,
    simulate_nucleotide_copy_baseline,
    token_frequencies,
)
from course_lib.tokenization import ESM_STYLE, IGNORE_INDEX, build_vocabulary, mask_tokens


def random_ids(vocab, n, length, frequencies=None, seed=0):
    rng = np.random.default_rng(seed)
    seqs = ["".join(rng.choice(list("ACGT"), length, p=frequencies)) for _ in range(n)]
    return vocab.encode(seqs).input_ids


def test_uniform_copy_baseline_beats_ln4():
    out = nucleotide_copy_baseline()
    # 0.8 ln 4 + 0.2 H(0.625, 0.125, 0.125, 0.125)
    expected = 0.8 * np.log(4) - 0.2 * (0.625 * np.log(0.625) + 0.375 * np.log(0.125))
    assert out["copy loss"] == pytest.approx(expected)
    assert out["copy loss"] == pytest.approx(1.3237, abs=1e-4)
    assert out["copy loss"] < out["uniform loss"] == pytest.approx(np.log(4))
    assert out["copy accuracy"] == pytest.approx(0.325)
    np.testing.assert_allclose(copy_posterior().diagonal(), 0.625)
    np.testing.assert_allclose(copy_posterior([1, 3]).sum(1), 1.0)


@pytest.mark.parametrize("frequencies", [None, [0.4, 0.1, 0.2, 0.3]])
def test_nucleotide_copy_baseline_matches_simulation(frequencies):
    vocab = build_vocabulary(1, alphabet="ACGU", **ESM_STYLE)
    ids = random_ids(vocab, 1500, 100, frequencies)
    fitted = token_frequencies(ids, vocab)
    np.testing.assert_allclose(fitted, frequencies or [0.25] * 4, atol=0.01)
    simulated = simulate_nucleotide_copy_baseline(ids, vocab, fitted, repeats=3, seed=1)
    closed = nucleotide_copy_baseline(fitted)
    n = simulated["scored tokens"]
    assert n > 50_000
    # a few standard errors (per-token loss sd < 1, accuracy sd < 0.5)
    assert simulated["copy loss"] == pytest.approx(closed["copy loss"], abs=4 / np.sqrt(n))
    assert simulated["copy accuracy"] == pytest.approx(closed["copy accuracy"], abs=2 / np.sqrt(n))


def test_nucleotide_copy_baseline_rejects_bad_input():
    with pytest.raises(ValueError, match="frequencies"):
        nucleotide_copy_baseline([0.5, 0.5])
    with pytest.raises(ValueError, match="no k-mer token"):
        token_frequencies(np.zeros((2, 3), int), build_vocabulary(3))
    with pytest.raises(ValueError, match="k = 1"):
        simulate_nucleotide_copy_baseline(np.zeros((1, 5), int), build_vocabulary(3))


def test_kmer_copy_baseline_on_hand_made_masks():
    vocab = build_vocabulary(3)
    ids = torch.from_numpy(vocab.encode(["ACGTTGCAAC"]).input_ids)  # cls, 8 k-mers, sep
    labels = torch.full_like(ids, IGNORE_INDEX)
    corrupted = ids.clone()
    # one isolated [MASK]: both neighbours spell out all three bases
    labels[0, 3], corrupted[0, 3] = ids[0, 3], vocab.mask_id
    assert kmer_copy_baseline(corrupted, labels, vocab)["copy accuracy"] == 1.0
    # a masked span of three: each token has exactly one base no visible neighbour covers
    labels[0, 3:6], corrupted[0, 3:6] = ids[0, 3:6], vocab.mask_id
    out = kmer_copy_baseline(corrupted, labels, vocab)
    assert out["copy accuracy"] == pytest.approx(0.25)
    # a kept token is copied (right), a random one too (wrong)
    labels[0, 7] = ids[0, 7]
    labels[0, 8], corrupted[0, 8] = ids[0, 8], vocab.id_of("GGG")
    out = kmer_copy_baseline(corrupted, labels, vocab)
    assert out["copy accuracy at visible"] == pytest.approx(0.5)
    assert out["scored tokens"] == 5
    with pytest.raises(ValueError, match="no token is scored"):
        kmer_copy_baseline(ids, torch.full_like(ids, IGNORE_INDEX), vocab)


def per_token_decisions(ids, labels, vocab, seed):
    """The previous corruption: the same spans, 80/10/10 drawn for each token on its own."""
    generator = torch.Generator().manual_seed(seed)
    chosen = labels != IGNORE_INDEX
    draw = torch.rand(ids.shape, generator=generator)
    corrupted = ids.clone()
    corrupted[chosen & (draw < 0.8)] = vocab.mask_id
    swap = chosen & (draw >= 0.8) & (draw < 0.9)
    kmers = torch.from_numpy(vocab.kmer_lookup)
    corrupted[swap] = kmers[torch.randint(len(kmers), ids.shape, generator=generator)][swap]
    return corrupted


def test_kmer_copy_baseline_per_span_is_lower_than_per_token():
    vocab = build_vocabulary(3)
    ids = torch.from_numpy(random_ids(vocab, 800, 101))
    span = simulate_kmer_copy_baseline(ids, vocab, repeats=2, seed=0)
    assert span["chance accuracy"] == 1 / 64
    assert 0.22 < span["copy accuracy"] < 0.32  # about 0.8 x 1/4 + 0.1 (kept spans)
    _, labels = mask_tokens(ids, vocab, generator=torch.Generator().manual_seed(5))
    token = kmer_copy_baseline(per_token_decisions(ids, labels, vocab, 6), labels, vocab)
    assert 0.34 < token["copy accuracy"] < 0.40  # the leak the issue measured (about 0.37)
    assert token["copy accuracy at [MASK]"] > span["copy accuracy at [MASK]"] + 0.08
