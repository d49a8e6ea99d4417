"""The eGFP 50-nt library: synthetic stand-in, loader, published split and scaler."""

from __future__ import annotations

import gzip

import numpy as np
import pandas as pd
import pytest

from course_lib import registry
from course_lib.chapters.ch2_config import Ch2Config
from course_lib.datasets import egfp
from course_lib.datasets.egfp import (
    EGFP_FILE,
    FRACTION_COLUMNS,
    check_egfp,
    leaky_test_scaler,
    load_egfp,
    read_count_summary,
    split_egfp,
    synthesize_egfp,
)
from course_lib.datasets.utr import planted_mrl
from course_lib.metrics import pearson_r
from course_lib.registry import DataError


@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path))
    return tmp_path


def _table(n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    utrs = ["".join(rng.choice(list("ACGT"), 50)) for _ in range(n)]
    return pd.DataFrame(
        {"utr": utrs, "total_reads": rng.permutation(n) + 1, "rl": rng.normal(5, 1, n)}
    )


def test_synthetic_file_has_the_real_layout_and_planted_signal(tmp_path):
    synthesize_egfp(tmp_path, seed=3, n=3000)
    raw = pd.read_csv(tmp_path / EGFP_FILE)
    expected = ["Unnamed: 0", "utr", *FRACTION_COLUMNS, "total_reads", "rl"]
    assert list(raw.columns) == expected
    assert raw["utr"].str.fullmatch("[ACGT]{50}").all() and raw["utr"].is_unique
    np.testing.assert_array_equal(raw[list(FRACTION_COLUMNS)].sum(axis=1), raw["total_reads"])
    well_measured = raw[raw["total_reads"] >= 100]
    assert pearson_r(planted_mrl(well_measured["utr"].tolist()), well_measured["rl"]) > 0.9
    again = tmp_path / "again"
    again.mkdir()
    synthesize_egfp(again, seed=3, n=3000)
    assert (again / EGFP_FILE).read_bytes() == (tmp_path / EGFP_FILE).read_bytes()


def test_loader_reads_the_real_format(tmp_path, capsys):
    path = tmp_path / EGFP_FILE
    long_utr = "acgu" * 12 + "ac" + "ATGGGCGAA"  # 59 nt, lower case, U: cut to 50 nt
    rows = [
        ",utr,0,1,total_reads,rl",
        f"0,{long_utr},3,1,4,3.5",
        f"1,{'A' * 50},0,2,2,4.25",
        f"2,{'N' * 50},1,1,2,5.0",
    ]
    path.write_text("\n".join(rows) + "\n")
    df = load_egfp(path)
    assert list(df.columns) == ["utr", "total_reads", "rl"]
    assert df["utr"].tolist() == ["ACGT" * 12 + "AC", "A" * 50]
    assert df["rl"].tolist() == [3.5, 4.25]
    out = capsys.readouterr().out
    assert "unused columns ['Unnamed: 0', '0', '1']" in out
    assert "1 rows (utr holds letters other than ACGT)" in out


def test_check_egfp_names_the_problem():
    with pytest.raises(DataError, match=r"no column 'rl'.*fetch"):
        check_egfp(pd.DataFrame({"utr": ["A" * 50], "total_reads": [1]}))
    with pytest.raises(DataError, match="shorter than 50"):
        check_egfp(pd.DataFrame({"utr": ["ACGT"], "total_reads": [1], "rl": [1.0]}))
    with pytest.raises(DataError, match="at least 280000"):
        check_egfp(_table(10), min_rows=280_000)


def test_split_follows_the_published_protocol():
    df = _table(1000)
    split = split_egfp(df, n_test=100, n_train=600, n_val=60, seed=1)
    assert split.sizes() == {"train": 540, "val": 60, "test": 100}
    # the test set holds exactly the 100 UTRs with the most reads
    assert set(split.test["total_reads"]) == set(range(901, 1001))
    pool = set(split.train["total_reads"]) | set(split.val["total_reads"])
    assert pool == set(range(301, 901))
    assert not set(split.train["utr"]) & set(split.val["utr"])
    # the scaler is fitted on training only
    assert split.scaler.mean_[0] == pytest.approx(split.train["rl"].mean())
    assert split.scaler.scale_[0] == pytest.approx(split.train["rl"].std(ddof=0))
    again = split_egfp(df, n_test=100, n_train=600, n_val=60, seed=1)
    pd.testing.assert_frame_equal(again.val, split.val)
    other = split_egfp(df, n_test=100, n_train=600, n_val=60, seed=2)
    assert set(other.val["utr"]) != set(split.val["utr"])


def test_split_removes_copies_of_test_utrs_from_training_and_validation():
    df = _table(1000)
    by_reads = df.sort_values("total_reads", ascending=False)
    # three pool rows (reads 900, 899, 500) repeat the sequences of two test UTRs
    copies = by_reads["utr"].iloc[[0, 1, 1]].to_numpy()
    df.loc[by_reads.index[[100, 101, 500]], "utr"] = copies
    split = split_egfp(df, n_test=100, n_train=600, n_val=60, seed=1)
    test_utrs = set(split.test["utr"])
    assert not test_utrs & (set(split.train["utr"]) | set(split.val["utr"]))
    assert split.n_test_copies_removed == 3
    assert split.sizes() == {"train": 537, "val": 60, "test": 100}
    assert "removed 3 training-pool rows" in split.notes[-1]
    assert split_egfp(_table(1000), n_test=100, n_train=600, n_val=60).n_test_copies_removed == 0
    with pytest.raises(ValueError, match="not more than n_val"):
        split_egfp(df, n_test=100, n_train=62, n_val=60)


def test_split_sizes_are_checked_and_clipped_on_request():
    df = _table(300)
    with pytest.raises(ValueError, match="clip=True"):
        split_egfp(df, n_test=100, n_train=500, n_val=50)
    clipped = split_egfp(df, n_test=100, n_train=500, n_val=50, clip=True)
    assert clipped.sizes() == {"train": 150, "val": 50, "test": 100}
    assert "the table had 200" in clipped.notes[0]
    with pytest.raises(ValueError, match="n_val < n_train"):
        split_egfp(df, n_test=10, n_train=50, n_val=50)


def test_split_arrays_and_loader():
    split = split_egfp(_table(400), n_test=50, n_train=300, n_val=30)
    x, y = split.arrays("val")
    assert x.shape == (30, 50, 4) and x.dtype == np.float32
    np.testing.assert_allclose(x.sum(axis=2), 1.0)
    expected = (split.val["rl"] - split.train["rl"].mean()) / split.train["rl"].std(ddof=0)
    np.testing.assert_allclose(y, expected, rtol=1e-5)
    xb, yb = next(iter(split.loader("train", batch_size=16, shuffle=True)))
    assert tuple(xb.shape) == (16, 50, 4) and tuple(yb.shape) == (16,)
    summary = read_count_summary(_table(400), split)
    assert summary.loc["test", "rows"] == 50


def test_leaky_scaler_changes_mse_not_pearson():
    split = split_egfp(_table(400), n_test=100, n_train=250, n_val=25)
    scaled = np.random.default_rng(0).normal(size=100)
    leaky, scaler = leaky_test_scaler(split.test, scaled)
    assert scaler.mean_[0] == pytest.approx(split.test["rl"].mean())
    honest = split.scaler.inverse_transform(scaled.reshape(-1, 1)).ravel()
    truth = split.test["rl"].to_numpy()
    assert pearson_r(truth, leaky) == pytest.approx(pearson_r(truth, honest))
    assert leaky.mean() == pytest.approx(scaler.mean_[0] + scaled.mean() * scaler.scale_[0])


def test_registry_entry_and_synthetic_fallback(data_dir, monkeypatch):
    dataset = registry.get("egfp_unmod_1")
    (remote,) = dataset.files
    assert remote.filename == EGFP_FILE and remote.compression == "gzip"
    assert remote.urls[0].endswith("GSM3130nnn/GSM3130435/suppl/GSM3130435_egfp_unmod_1.csv.gz")
    assert "Nat Biotechnol 37, 803-809 (2019)" in dataset.citation
    small = registry.DataSet(
        **{**dataset.__dict__, "synthesize": lambda f, s: synthesize_egfp(f, s, n=500)}
    )
    monkeypatch.setitem(registry.REGISTRY, "egfp_unmod_1", small)
    loaded = registry.load("egfp_unmod_1")
    assert loaded.provenance == "synthetic" and len(loaded.data) == 500


def test_truncated_real_file_is_refused(data_dir):
    folder = registry.real_folder("egfp_unmod_1")
    folder.mkdir(parents=True)
    _table(20).to_csv(folder / EGFP_FILE)
    with pytest.raises(DataError, match="truncated"):
        registry.load("egfp_unmod_1")


def test_gzipped_download_is_stored_decompressed(data_dir, monkeypatch):
    """The real download path: a .csv.gz from GEO is verified, unpacked and loadable."""
    source = data_dir / "geo.csv.gz"
    with gzip.open(source, "wt") as fh:
        _table(30).to_csv(fh)
    remote = registry.RemoteFile(EGFP_FILE, (source.as_uri(),), None, compression="gzip")
    dataset = registry.get("egfp_unmod_1")
    monkeypatch.setitem(
        registry.REGISTRY,
        "egfp_unmod_1",
        registry.DataSet(**{**dataset.__dict__, "files": (remote,)}),
    )
    folder = registry.fetch("egfp_unmod_1", show_progress=False)
    assert len(load_egfp(folder / EGFP_FILE)) == 30


def test_profiles_fit_the_published_and_the_synthetic_library():
    full = Ch2Config.resolve("full")
    assert (full.n_test, full.n_train) == (egfp.PUBLISHED_N_TEST, egfp.PUBLISHED_N_TRAIN)
    smoke = Ch2Config.resolve("smoke", epochs=1)
    assert smoke.epochs == 1 and smoke.n_test + smoke.n_train <= egfp.SYNTHETIC_ROWS
    laptop = Ch2Config.resolve("laptop")
    assert laptop.n_test + laptop.n_train <= egfp.SYNTHETIC_ROWS
