"""Tests of course_lib.encoding: one-hot, codes, padding, RNA/DNA, k-mers."""

from __future__ import annotations

import numpy as np
import pytest

from course_lib.encoding import (
    AGCT,
    decode_one_hot,
    gc_content,
    kmer_counts,
    kmer_ids,
    kmer_vocabulary,
    kmers,
    one_hot,
    pad,
    reverse_complement,
    to_codes,
    to_dna,
    to_rna,
)

A, C, G, T, Z = [1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1], [0, 0, 0, 0]


def reference_one_hot(seqs, alphabet, length, padding):
    """A slow, obviously correct encoder to compare the vectorized one against."""
    out = np.zeros((len(seqs), length, 4), dtype=np.float32)
    for i, seq in enumerate(seqs):
        shift = length - len(seq) if padding == "left" else 0
        for j, base in enumerate(seq.upper().replace("U", "T")):
            if base != "N":
                out[i, shift + j, alphabet.index(base)] = 1
    return out


def test_one_hot_acgt_exact():
    x = one_hot(["ACGTN"])
    assert x.shape == (1, 5, 4) and x.dtype == np.float32
    np.testing.assert_array_equal(x[0], [A, C, G, T, Z])


def test_one_hot_agct_order_for_beluga():
    x = one_hot(["ACGT"], alphabet=AGCT)
    np.testing.assert_array_equal(x[0], [[1, 0, 0, 0], [0, 0, 1, 0], [0, 1, 0, 0], [0, 0, 0, 1]])


def test_one_hot_right_and_left_padding_are_all_zero():
    right = one_hot(["AC", "G"], length=3)
    np.testing.assert_array_equal(right, [[A, C, Z], [G, Z, Z]])
    left = one_hot(["AC", "G"], length=3, padding="left")
    np.testing.assert_array_equal(left, [[Z, A, C], [Z, Z, G]])
    # default length is the longest sequence
    assert one_hot(["ACGTA", "A"]).shape == (2, 5, 4)


def test_one_hot_n_all_zero_u_as_t_and_lowercase():
    np.testing.assert_array_equal(one_hot("NnN")[0], [Z, Z, Z])
    np.testing.assert_array_equal(one_hot("UuTt"), one_hot("TTTT"))
    np.testing.assert_array_equal(one_hot("acgu"), one_hot("ACGT"))


def test_one_hot_single_string_channels_first_and_dtype():
    x = one_hot("ACG", channels_first=True, dtype=np.uint8)
    assert x.shape == (1, 4, 3) and x.dtype == np.uint8
    np.testing.assert_array_equal(x[0], np.array([A, C, G]).T)
    seqs = ["ACGTN", "GG"]
    np.testing.assert_array_equal(
        one_hot(seqs, length=6, padding="left", channels_first=True),
        one_hot(seqs, length=6, padding="left").transpose(0, 2, 1),
    )


@pytest.mark.parametrize("alphabet", ["ACGT", "AGCT"])
@pytest.mark.parametrize("padding", ["right", "left"])
def test_one_hot_matches_reference_on_random_batches(alphabet, padding):
    rng = np.random.default_rng(7)
    letters = np.array(list("ACGTUNacgtun"))
    seqs = ["".join(letters[rng.integers(0, 12, rng.integers(0, 40))]) for _ in range(300)]
    expected = reference_one_hot(seqs, alphabet, 45, padding)
    np.testing.assert_array_equal(one_hot(seqs, alphabet, length=45, padding=padding), expected)


def test_to_codes_exact_values():
    codes = to_codes(["ACGTN", "ua"], length=6)
    assert codes.dtype == np.int8
    np.testing.assert_array_equal(codes, [[0, 1, 2, 3, 4, -1], [3, 0, -1, -1, -1, -1]])
    np.testing.assert_array_equal(
        to_codes(["GA"], alphabet=AGCT, length=3, padding="left"), [[-1, 1, 0]]
    )


def test_empty_batch_shapes():
    assert one_hot([]).shape == (0, 0, 4)
    assert one_hot([], length=8).shape == (0, 8, 4)
    assert to_codes(["", ""], length=2).tolist() == [[-1, -1], [-1, -1]]


def test_unknown_character_names_character_position_and_record():
    with pytest.raises(ValueError, match=r"'X' at position 2 of record 'second'"):
        one_hot(["ACGT", "ACXT"], names=["first", "second"])
    with pytest.raises(ValueError, match=r"'R' at position 0 of record #1"):
        to_codes(["ACGT", "RCGT"])
    with pytest.raises(ValueError, match=r"'é' at position 1"):
        one_hot(["Aé"])
    with pytest.raises(ValueError, match=r"'\\x00' at position 2"):
        one_hot(["AC\x00T"])


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="longer than the requested length 3"):
        one_hot(["ACGT"], length=3)
    with pytest.raises(ValueError, match="permutation of ACGT"):
        one_hot(["ACGT"], alphabet="ACGG")
    with pytest.raises(ValueError, match="padding must be"):
        one_hot(["ACGT"], padding="middle")


def test_decode_one_hot_round_trip():
    seqs = ["ACGTN", "TTA"]
    assert decode_one_hot(one_hot(seqs)) == ["ACGTN", "TTANN"]
    assert decode_one_hot(one_hot(seqs, alphabet=AGCT), alphabet=AGCT) == ["ACGTN", "TTANN"]
    assert decode_one_hot(one_hot(seqs, channels_first=True), channels_first=True)[0] == "ACGTN"
    with pytest.raises(ValueError, match="3-D"):
        decode_one_hot(np.zeros((4, 4)))


def test_pad_strings():
    assert pad(["AC", "G"], 3) == ["ACN", "GNN"]
    assert pad(["AC"], 4, padding="left", fill="-") == ["--AC"]
    with pytest.raises(ValueError, match="longer than 2"):
        pad(["ACG"], 2)


def test_rna_dna_conversion_and_reverse_complement():
    assert to_rna("ACGTt") == "ACGUu"
    assert to_dna("ACGUu") == "ACGTt"
    assert to_dna(to_rna("GATTACA")) == "GATTACA"
    assert reverse_complement("AACGTN") == "NACGTT"
    assert reverse_complement("ACGU") == "ACGT"
    assert reverse_complement("acg") == "cgt"


def test_gc_content_ignores_n():
    np.testing.assert_allclose(gc_content(["GGCC", "AATT", "GCNN", "ACGT"]), [1, 0, 1, 0.5])


def test_kmer_vocabulary_and_strings():
    vocab = kmer_vocabulary(2)
    assert len(vocab) == 16 and vocab[:5] == ["AA", "AC", "AG", "AT", "CA"] and vocab[-1] == "TT"
    assert len(kmer_vocabulary(5)) == 4**5
    assert kmers("ACGTA", 3) == ["ACG", "CGT", "GTA"]
    with pytest.raises(ValueError, match="shorter than k=3"):
        kmers("AC", 3)
    with pytest.raises(ValueError, match="positive integer"):
        kmers("ACGT", 0)


def test_kmer_ids_hand_example():
    # base-4 numbers in ACGT order: ACG = 0*16 + 1*4 + 2 = 6, CGT = 27, GTA = 44
    np.testing.assert_array_equal(kmer_ids("ACGTA", 3), [[6, 27, 44]])
    ids = kmer_ids(["ACGNA", "GT"], 2)
    assert ids.dtype == np.int64 and ids.shape == (2, 4)
    # k-mers with N and windows past a short sequence are -1
    np.testing.assert_array_equal(ids, [[1, 6, -1, -1], [11, -1, -1, -1]])
    np.testing.assert_array_equal(kmer_ids("ACGNA", 2, offset=5), [[6, 11, -1, -1]])
    np.testing.assert_array_equal(kmer_ids("ACGU", 2), kmer_ids("ACGT", 2))


def test_kmer_ids_agree_with_vocabulary():
    rng = np.random.default_rng(0)
    seq = "".join(rng.choice(list("ACGT"), 200))
    vocab = kmer_vocabulary(4)
    assert [vocab[i] for i in kmer_ids(seq, 4)[0]] == kmers(seq, 4)
    with pytest.raises(ValueError, match="shorter than k=5"):
        kmer_ids(["ACG"], 5)
    with pytest.raises(ValueError, match="'X' at position 1 of record 'r'"):
        kmer_ids(["AXG"], 2, names=["r"])


def test_kmer_counts():
    counts = kmer_counts(["AAAA", "ACGNA", "CG"], 2)
    assert counts.shape == (3, 16)
    vocab = kmer_vocabulary(2)
    assert counts[0, vocab.index("AA")] == 3 and counts[0].sum() == 3
    assert {vocab[i]: int(c) for i, c in enumerate(counts[1]) if c} == {"AC": 1, "CG": 1}
    assert counts[2].sum() == 1 and counts[2, vocab.index("CG")] == 1
