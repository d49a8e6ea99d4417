"""Chapter 5's real pretraining corpus: deduplicated, DNA alphabet, no Random7600/Human7600."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from course_lib.datasets import utr_testsets
from course_lib.encoding import reverse_complement
from course_lib.utr_corpus import (
    CORPUS_SOURCES,
    build_pretraining_corpus,
    composition_matched,
    held_out_utrs,
    real_pretraining_corpus,
    shared_folders,
    shares_stretch,
    stretch_groups,
)

TEST_UTR = "ACGTTGCAAGGCTTAACCGGTTAAC"  # 25 nt
HELD = {"Random7600": [TEST_UTR], "Human7600": ["ggccaattggccaattggccaattggccaatt"]}


def test_dedup_alphabet_and_exclusion_on_tiny_sources():
    sources = {
        "a": [
            "acgu" * 5,  # RNA, lower case -> ACGT..., kept
            "ACGT" * 5,  # the same sequence again (repeated in source)
            "ACGN" * 5,  # not ACGT
            TEST_UTR,  # equal to a test UTR
            "TTTTT" + TEST_UTR + "GG",  # contains a test UTR
        ],
        "b": [
            "ACGT" * 5,  # in an earlier source
            "GGCCAATTGGCCAATTGGCCAATTGGCCAAA",  # shares 25+ nt with a Human7600 UTR
            "CCCCCGGGGGAAAAATTTTTCCCCC",  # new, kept
            reverse_complement(TEST_UTR),  # kept: a reverse complement, reported
        ],
    }
    corpus = build_pretraining_corpus(sources, HELD)
    assert corpus.sequences == [
        "ACGT" * 5,
        "CCCCCGGGGGAAAAATTTTTCCCCC",
        reverse_complement(TEST_UTR),
    ]
    assert corpus.sources == ["a", "b", "b"]
    assert corpus.counts() == {"a": 1, "b": 2}
    report = corpus.report
    assert report.loc["a"].to_dict() == {
        "read": 5,
        "not ACGT": 1,
        "repeated in source": 1,
        "in an earlier source": 0,
        "equal to a test UTR": 1,
        "shares >= 25 nt with a test UTR": 1,
        "kept": 1,
        "shares >= 25 nt with a test UTR's reverse complement (kept)": 0,
    }
    assert report.loc["b", "in an earlier source"] == 1
    assert report.loc["b", "shares >= 25 nt with a test UTR's reverse complement (kept)"] == 1
    assert report.loc["total", "read"] == 9 and report.loc["total", "kept"] == 3


def test_split_keeps_sequences_sharing_a_stretch_on_one_side():
    rng = np.random.default_rng(0)
    gene = "".join(rng.choice(list("ACGT"), 200))
    tiles = [gene[i : i + 50] for i in range(0, 150, 10)]  # overlapping windows of one gene
    snv = tiles[0][:20] + ("A" if tiles[0][20] != "A" else "C") + tiles[0][21:]
    singles = ["".join(rng.choice(list("ACGT"), 50)) for _ in range(200)]
    library = ["".join(rng.choice(list("ACGT"), 50)) for _ in range(50)]
    corpus = build_pretraining_corpus({"a": tiles + [snv] + singles, "b": library}, HELD)
    groups = stretch_groups(corpus.sequences, 25)
    assert len(set(groups[: len(tiles) + 1])) == 1  # the tiles and the allele: one group
    assert len(set(groups)) == len(corpus) - len(tiles)
    for seed in range(5):
        train, val = corpus.split(0.2, seed=seed, sources=("a",))
        assert not set(train) & set(val) and len(train) + len(val) == len(tiles) + 201
        assert not set(library) & set(train + val)
        family = set(tiles) | {snv}
        assert family <= set(train) or family <= set(val)
        assert not shares_stretch(val, train, 25).any()
    small_train, small_val = corpus.split(0.1, n=100, seed=0)
    assert len(small_train) + len(small_val) == 100


def test_stretch_groups_are_transitive():
    seqs = ["A" * 10 + "CGTACGTACG", "CGTACGTACG" + "T" * 10, "T" * 10 + "GGGGG", "CCCCCCCCCC"]
    assert stretch_groups(seqs, 10).tolist() == [0, 0, 0, 3]


def test_control_sequences_match_lengths_and_composition_only():
    rng = np.random.default_rng(1)
    natural = ["".join(rng.choice(list("ACGT"), n, p=[0.1, 0.4, 0.4, 0.1])) for n in range(20, 80)]
    control = composition_matched(natural, seed=3)
    assert [len(s) for s in control] == [len(s) for s in natural]
    joined = "".join(control)
    gc = (joined.count("G") + joined.count("C")) / len(joined)
    assert gc == pytest.approx(0.8, abs=0.03) and not set(control) & set(natural)
    assert composition_matched(natural, seed=3) == control


def test_exact_only_keeps_overlapping_sequences():
    sources = {"a": [TEST_UTR, "TTTTT" + TEST_UTR]}
    corpus = build_pretraining_corpus(sources, HELD, min_shared=None)
    assert corpus.sequences == ["TTTTT" + TEST_UTR]
    assert "shares >= 25 nt with a test UTR" not in corpus.report.columns


def test_shares_stretch_matches_short_held_out_as_wholes():
    hits = shares_stretch(["AAACCCGGG", "AAACCTGGG"], ["ACCCG", "TTTTTTTTTTTT"], k=8)
    assert hits.tolist() == [True, False]
    with pytest.raises(ValueError, match="at least 1"):
        shares_stretch(["A"], ["A"], k=0)


def test_bad_arguments_fail_clearly():
    with pytest.raises(ValueError, match="no corpus sources"):
        build_pretraining_corpus({}, HELD)
    with pytest.raises(ValueError, match="held_out"):
        build_pretraining_corpus({"a": ["ACGT"]}, {"Random7600": []})
    with pytest.raises(ValueError, match="no sequence is left"):
        build_pretraining_corpus({"a": [TEST_UTR]}, HELD)


def test_held_out_utrs_come_from_the_test_sets_loader():
    def table(utrs):
        return pd.DataFrame({"utr": utrs, "rl": np.ones(len(utrs))})

    sets = utr_testsets.TestSets(
        {"Random7600": table(["ACGT"]), "Human7600": table(["GGCC"]), "x": table([])}
    )
    assert held_out_utrs(sets) == {"Random7600": ["ACGT"], "Human7600": ["GGCC"]}


def test_one_source_map_names_each_source_once(tmp_path):
    folders = shared_folders(tmp_path)
    assert folders["utr_testsets"] == tmp_path / "utr_testsets"
    assert folders["optimus_models"] == tmp_path / "optimus"
    assert set(folders) == {ds for ds, _, _ in CORPUS_SOURCES.values()}


# ---------------------------------------------------------------- real files


def test_real_corpus_never_holds_a_test_utr(shared_data):
    corpus = real_pretraining_corpus(shared_data, verbose=False)
    held = held_out_utrs(utr_testsets.load_test_sets(shared_data / "utr_testsets"))
    assert {k: len(v) for k, v in held.items()} == {"Random7600": 7600, "Human7600": 7600}
    test_utrs = set(held["Random7600"]) | set(held["Human7600"])
    assert not set(corpus.sequences) & test_utrs
    assert not shares_stretch(corpus.sequences, sorted(test_utrs), 25).any()
    assert len(set(corpus.sequences)) == len(corpus)
    assert set("".join(corpus.sequences)) == set("ACGT")
    assert {len(s) for s in corpus.sequences} == {50}
    # counts measured on these files (see the module docstring of course_lib.utr_corpus)
    assert corpus.counts() == {
        "designed human library": 20_147,
        "ClinVar SNV alleles": 593,
        "eGFP library": 20_000,
        "m1Ψ eGFP library": 10_346,
    }
    report = corpus.report
    assert report.loc["designed human library", "equal to a test UTR"] == 43
    assert report.loc["total", "shares >= 25 nt with a test UTR"] == 4892
    assert report.loc["total", "in an earlier source"] == 11_981
    assert list(report.index[:-1]) == list(CORPUS_SOURCES)
