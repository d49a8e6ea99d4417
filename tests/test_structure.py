"""Tests of course_lib.structure: ViennaRNA labels, parallel folding and the disk cache."""

from __future__ import annotations

import numpy as np
import pytest

from course_lib import structure
from course_lib.structure import (
    PAIRED_LEFT,
    PAIRED_RIGHT,
    UNPAIRED,
    fold_cached,
    fold_one,
    fold_sequences,
    sequence_set_key,
    structure_labels,
)

HAIRPIN = "GGGGGAAAACCCCC"


def _random_utrs(n: int, seed: int = 0) -> list[str]:
    rng = np.random.default_rng(seed)
    return ["".join(rng.choice(list("ACGT"), rng.integers(25, 60))) for _ in range(n)]


def test_structure_labels_exact():
    assert structure_labels("((..)).").tolist() == [0, 0, 2, 2, 1, 1, 2]
    assert (PAIRED_LEFT, PAIRED_RIGHT, UNPAIRED) == (0, 1, 2)
    assert structure_labels("").shape == (0,)
    assert structure_labels("..").dtype == np.int64


@pytest.mark.parametrize("bad", ["((..]]", "(x)", "(é)"])
def test_structure_labels_rejects_other_characters(bad):
    with pytest.raises(ValueError, match="expected only"):
        structure_labels(bad)


def test_fold_one_hairpin():
    dot_bracket, mfe = fold_one(HAIRPIN.replace("T", "U"))
    assert dot_bracket == "(((((....)))))"
    assert mfe < -5
    assert fold_one("AAAAAAAA") == ("........", 0.0)


def test_fold_sequences_reads_dna_and_keeps_order():
    result = fold_sequences(["aaaaaaaa", HAIRPIN.replace("G", "g")], show_progress=False)
    assert result.sequences == ["AAAAAAAA", HAIRPIN]
    assert result.structures == ["........", "(((((....)))))"]
    assert result.mfe.dtype == np.float32
    assert result.mfe[0] == 0.0 and result.mfe[1] < -5
    assert result.labels(1).tolist()[:6] == [0, 0, 0, 0, 0, 2]
    assert all(len(s) == len(q) for s, q in zip(result.structures, result.sequences, strict=True))


def test_fold_sequences_rejects_bad_input():
    with pytest.raises(ValueError, match="#1 contains"):
        fold_sequences(["ACGU", "ACXU"], show_progress=False)
    with pytest.raises(ValueError, match="empty"):
        fold_sequences([""], show_progress=False)
    with pytest.raises(ValueError, match="processes"):
        fold_sequences(["ACGU"], processes=0)


def test_parallel_equals_serial(monkeypatch):
    seqs = _random_utrs(40)
    serial = fold_sequences(seqs, processes=1, show_progress=False)
    monkeypatch.setattr(structure, "MIN_PARALLEL", 1)
    parallel = fold_sequences(seqs, processes=2, chunksize=8, show_progress=False)
    assert parallel.structures == serial.structures
    np.testing.assert_array_equal(parallel.mfe, serial.mfe)


def test_fold_sequences_starts_no_more_processes_than_the_kernel_s_threads(monkeypatch):
    """Under ``course_book.run --jobs 2`` a kernel has one thread: it folds on one process."""
    import torch

    started = []
    real = structure.mp.get_context

    class Context:
        def __init__(self, method: str) -> None:
            self.context = real(method)

        def Pool(self, processes: int):  # noqa: N802 (multiprocessing's name)
            started.append(processes)
            return self.context.Pool(processes)

    monkeypatch.setattr(structure, "MIN_PARALLEL", 1)
    monkeypatch.setattr(structure.mp, "get_context", Context)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        folded = fold_sequences(_random_utrs(8), processes=2, show_progress=False)
    finally:
        torch.set_num_threads(threads)
    assert started == [1] and len(folded.structures) == 8


def test_cache_key_ignores_order_duplicates_and_alphabet():
    seqs = _random_utrs(5)
    key = sequence_set_key(seqs)
    assert sequence_set_key(seqs[::-1] + seqs[:2]) == key
    assert sequence_set_key([s.lower().replace("T", "U") for s in seqs]) == key
    assert sequence_set_key(seqs[:4]) != key


def test_fold_cached_reuses_file_and_keeps_order(tmp_path, monkeypatch):
    seqs = _random_utrs(12)
    first = fold_cached(seqs, cache_dir=tmp_path, show_progress=False)
    assert len(list(tmp_path.glob("*.npz"))) == 1

    def no_folding(*args, **kwargs):
        raise AssertionError("the cache should have been used")

    monkeypatch.setattr(structure, "fold_sequences", no_folding)
    again = fold_cached(seqs[::-1] + [seqs[0]], cache_dir=tmp_path, show_progress=False)
    assert again.structures == first.structures[::-1] + [first.structures[0]]
    np.testing.assert_array_equal(again.mfe[:-1], first.mfe[::-1])


def test_fold_cached_refolds_a_corrupt_file(tmp_path):
    seqs = _random_utrs(6)
    first = fold_cached(seqs, cache_dir=tmp_path, show_progress=False)
    (path,) = tmp_path.glob("*.npz")
    path.write_bytes(b"not a numpy file")
    with pytest.warns(UserWarning, match="folding cache .* is corrupted"):
        again = fold_cached(seqs, cache_dir=tmp_path, show_progress=False)
    assert again.structures == first.structures
    with np.load(path) as data:
        assert data["sequences"].tolist() == sorted(first.sequences)
        assert len(data["structures"]) == len(data["mfe"]) == 6
