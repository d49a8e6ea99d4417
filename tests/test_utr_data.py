"""Tests of the 5' UTR MRL data: planted biology, noise, synthetic file, loader and split."""

import numpy as np
import pandas as pd
import pytest

from course_lib import registry
from course_lib.datasets import utr
from course_lib.encoding import gc_content

NEUTRAL = "ACGT" * 6  # 24 nt, GC 0.5, no ATG, C at -3


def test_planted_mrl_exact_values():
    kozak = "ACGT" * 5 + "AGGT"  # G at -3, GC still 0.5
    assert utr.planted_mrl([NEUTRAL, kozak]) == pytest.approx([5.6, 6.4])
    assert utr.planted_mrl([NEUTRAL.replace("T", "U")]) == pytest.approx([5.6])


def test_planted_mrl_uaug_effects_and_saturation():
    out_of_frame = "CCATGC" + "ACGT" * 4 + "AC"  # ATG at 2 of 24: L - p = 22
    in_frame = "CCCATG" + "ACGT" * 4 + "AC"  # ATG at 3 of 24: L - p = 21
    gc = gc_content([out_of_frame, in_frame])
    structure = -utr.CAP_GC_SLOPE * (gc - 0.5)
    expected = [
        5.6 - 3.5 * (1 - np.exp(-1.8 / 3.5)) + structure[0],
        5.6 - 3.5 * (1 - np.exp(-0.7 / 3.5)) + structure[1],
    ]
    assert utr.planted_mrl([out_of_frame, in_frame]) == pytest.approx(expected)
    many = "ATGA" * 25  # 25 uAUGs: the penalty saturates at 3.5; cap GC 6/25
    assert utr.planted_mrl([many])[0] == pytest.approx(5.6 - 3.5 + 3.0 * (0.5 - 0.24), abs=1e-3)


def test_cap_gc_lowers_mrl():
    at_rich, gc_rich = "ATTA" * 6 + "ACAT", "GCCG" * 6 + "ACAT"
    assert utr.planted_mrl([gc_rich])[0] < utr.planted_mrl([at_rich])[0] - 2.5


def test_uaug_table_frames_and_kozak():
    table = utr.uaug_table(["ATGCC", "ATGCCC", "GCCATGG", "AATGG", "CCCCC"])
    assert table["uaug_out_of_frame"].tolist() == [1, 0, 1, 1, 0]
    assert table["uaug_in_frame"].tolist() == [0, 1, 0, 0, 0]
    assert table["uaug_strong_kozak"].tolist() == [0, 0, 1, 0, 0]


def test_planted_mrl_rejects_unknown_characters():
    with pytest.raises(ValueError, match="unknown character 'X' at position 3"):
        utr.planted_mrl(["ACGXA"])


def test_noise_shrinks_with_reads_and_ceiling():
    rng = np.random.default_rng(0)
    true = rng.normal(5, 1, 20_000)
    few, many = np.full(20_000, 10), np.full(20_000, 1000)
    err_few = np.std(utr.noisy_mrl(true, few, rng) - true)
    err_many = np.std(utr.noisy_mrl(true, many, rng) - true)
    assert err_few == pytest.approx(utr.label_noise_sd(10), rel=0.05)
    assert err_many < err_few / 3
    ceiling = utr.noise_r2_ceiling(true, few)
    assert ceiling == pytest.approx(np.var(true) / (np.var(true) + 0.15**2 + 2.5**2 / 10))
    assert utr.noise_r2_ceiling(true, many) > ceiling
    reads = utr.sample_total_reads(10_000, rng)
    assert reads.min() >= 1 and np.median(reads) < reads.mean() < reads.max() / 20


def test_synthetic_file_schema(tmp_path):
    utr.synthesize_varying_length(tmp_path, seed=1, n_random=1500, n_human=600)
    df = utr.load_varying_length(tmp_path / utr.VARYING_LENGTH_FILE)
    assert set(utr.REQUIRED_COLUMNS) <= set(df.columns)
    assert set(df["set"]) == {"random", "human"}
    assert df["len"].min() == 25 and df["len"].max() == 100
    assert (df["utr"].str.len() == df["len"]).all()
    r = np.corrcoef(utr.planted_mrl(df["utr"]), df["rl"])[0, 1]
    assert 0.75 < r < 0.98  # signal plus noise


def test_real_file_with_wrong_shape_raises(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path))
    folder = registry.real_folder(utr.NAME)
    folder.mkdir(parents=True)
    utr.synthesize_varying_length(folder, seed=0, n_random=300, n_human=100)
    with pytest.raises(registry.DataError, match="83919|83,919|expected"):
        registry.load(utr.NAME)
    monkeypatch.setattr(utr, "REAL_FILTERED_COUNTS", _filtered_counts(folder))
    loaded = registry.load(utr.NAME)
    assert loaded.provenance == "real" and len(loaded.data) > 300


def _filtered_counts(folder):
    df = pd.read_csv(folder / utr.VARYING_LENGTH_FILE)
    kept = df[df["total_reads"] >= 10]["set"].value_counts()
    return {"random": int(kept["random"]), "human": int(kept["human"])}


def test_missing_columns_raise():
    with pytest.raises(registry.DataError, match=r"no column 'rl'.*fetch"):
        utr.check_varying_length(pd.DataFrame(columns=["utr", "set", "total_reads", "len"]))


def _hand_built_table() -> pd.DataFrame:
    """Per length 25..100: 4 random rows (reads 100, 50, 20, 5) and 3 human (90, 40, 3)."""
    rows = []
    for length in range(25, 101):
        for k, reads in enumerate((100, 50, 20, 5)):
            rows.append((f"R{length}_{k}".ljust(length, "A"), "random", reads, 5.0 + k, length))
        for k, reads in enumerate((90, 40, 3)):
            rows.append((f"H{length}_{k}".ljust(length, "C"), "human", reads, 4.0 + k, length))
    # a random-set copy of a human test UTR must not reach training
    rows.append(("H30_0".ljust(30, "C"), "random", 15, 6.0, 30))
    return pd.DataFrame(rows, columns=["utr", "set", "total_reads", "rl", "len"])


def test_split_exact_sizes_and_disjoint():
    split = utr.split_utr_mrl(_hand_built_table(), n_test_per_length=2, val_fraction=0.25)
    # random kept per length: 100, 50, 20 (5 < 10 dropped); the top 2 go to test
    assert split.sizes() == {"train": 57, "val": 19, "test_random": 152, "test_human": 152}
    assert set(split.test_random["total_reads"]) == {100, 50}
    assert set(split.test_human["total_reads"]) == {90, 40}
    assert (split.train["total_reads"] == 20).all() and (split.val["total_reads"] == 20).all()
    assert (split.test_random.groupby("len").size() == 2).all()
    seen = [set(part["utr"]) for part in split.parts().values()]
    for i in range(len(seen)):
        for j in range(i + 1, len(seen)):
            assert not seen[i] & seen[j]


def test_split_is_seeded_and_max_train():
    table = _hand_built_table()
    a = utr.split_utr_mrl(table, n_test_per_length=1, seed=3)
    b = utr.split_utr_mrl(table, n_test_per_length=1, seed=3)
    pd.testing.assert_frame_equal(a.val, b.val)
    small = utr.split_utr_mrl(table, n_test_per_length=1, max_train=10)
    assert len(small.train) == 10


def test_label_scaler_fitted_on_train_only():
    split = utr.split_utr_mrl(_hand_built_table(), n_test_per_length=2)
    scaler = utr.fit_label_scaler(split.train)
    assert scaler.mean_[0] == pytest.approx(split.train["rl"].mean())
    scaled = utr.scale_labels(split.test_human, scaler)
    assert scaled.dtype == np.float32
    assert utr.unscale(scaled, scaler) == pytest.approx(split.test_human["rl"], abs=1e-5)
