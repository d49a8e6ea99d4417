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
    held_out_utrs,
    real_pretraining_corpus,
    shared_folders,
    shares_stretch,
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


def test_split_is_disjoint_and_stratified_by_source():
    rng = np.random.default_rng(0)
    sources = {
        name: ["".join(rng.choice(list("ACGT"), 30)) for _ in range(size)]
        for name, size in (("a", 600), ("b", 300), ("c", 100))
    }
    corpus = build_pretraining_corpus(sources, HELD)
    train, val = corpus.split(0.1, seed=0)
    assert len(train) == 900 and len(val) == 100 and not set(train) & set(val)
    source_of = dict(zip(corpus.sequences, corpus.sources, strict=True))
    assert pd.Series([source_of[s] for s in val]).value_counts().to_dict() == {
        "a": 60,
        "b": 30,
        "c": 10,
    }
    small_train, small_val = corpus.split(0.1, n=200, seed=0)
    assert len(small_train) + len(small_val) == 200
    assert pd.Series([source_of[s] for s in small_train + small_val]).value_counts().to_dict() == {
        "a": 120,
        "b": 60,
        "c": 20,
    }


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
