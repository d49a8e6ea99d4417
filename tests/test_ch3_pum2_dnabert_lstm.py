"""Chapter 3's recipe: copy baseline, fold intervals and tests, interpretation rows, checks."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from course_lib.chapters import ch3_exercises as ch3x
from course_lib.chapters import ch3_pum2_dnabert_lstm as ch3
from course_lib.chapters import ch3_report
from course_lib.chapters.ch3_kmer_baseline import (
    kmer_count_features,
    kmer_fold_trainer,
    logistic_regression,
)
from course_lib.cross_validation import (
    CVResult,
    FoldResult,
    TrainedFold,
    repeated_stratified_folds,
    stratified_folds,
)
from course_lib.encoding import kmer_vocabulary
from course_lib.uncertainty import corrected_resampled_ttest, spread

RNG = np.random.default_rng(0)


def fake_cv(name: str, aucs: list[float], folds) -> CVResult:
    """A CVResult whose fold ``i`` has ROC AUC ``aucs[i]`` on the given folds."""
    rows = []
    for i, (_, test) in enumerate(folds):
        trained = TrainedFold(lambda idx: idx, None, None, {}, None)
        y = np.arange(test.size) % 2
        rows.append(FoldResult(i, test, y, RNG.random(test.size), {"ROC AUC": aucs[i]}, trained))
    return CVResult(name, rows)


def random_seqs(n: int, length: int = 30) -> list[str]:
    return ["".join(RNG.choice(list("ACGT"), length)) for _ in range(n)]


def test_kmer_regression_is_fitted_on_fit_rows_only():
    seqs, y = random_seqs(80), np.arange(80) % 2
    x = kmer_count_features(seqs, (3,))
    fit, val = np.arange(0, 60), np.arange(60, 80)
    trained = kmer_fold_trainer(x, y, (1e-2,), seed=0)(fit, val, 0)
    alone = logistic_regression(1e-2, 0).fit(x[fit], y[fit])
    np.testing.assert_allclose(trained.predict(val), alone.predict_proba(x[val])[:, 1])


def test_fold_intervals_are_wider_than_the_naive_spread_and_clipped():
    folds = stratified_folds(np.arange(100) % 2, 5, 0)
    cv = {"a": fake_cv("a", [0.80, 0.84, 0.78, 0.86, 0.82], folds)}
    cv["b"] = fake_cv("b", [0.99, 0.90, 0.999, 0.95, 0.998], folds)
    table = ch3.fold_intervals(cv)
    naive = spread(np.array([0.80, 0.84, 0.78, 0.86, 0.82]))
    assert (
        table.loc["a", "ci low"] < naive["ci low"] and table.loc["a", "ci high"] > naive["ci high"]
    )
    assert table.loc["b", "ci high"] <= 1.0
    assert table.loc["a", "mean"] == pytest.approx(0.82)


def test_repeated_cv_intervals_use_every_test_fold_and_one_split_sizes():
    labels = np.arange(120) % 2
    folds = repeated_stratified_folds(labels, 4, n_repeats=2, seed=0)
    aucs = [0.80, 0.84, 0.78, 0.86, 0.82, 0.81, 0.83, 0.85]
    cv = {"a": fake_cv("a", aucs, folds)}
    # 120 rows, 4 folds: 30 test and 90 training rows per split, however often it is redrawn
    assert ch3._train_test_sizes(cv["a"]) == (90, 30)
    expected = corrected_resampled_ttest(np.array(aucs), np.zeros(8), 90, 30)
    table = ch3.fold_intervals(cv)
    row = table.loc["a"]
    assert row["folds"] == 8 and table["folds"].dtype.kind == "i"  # printed as 8, not 8.0
    assert row["ci low"] == pytest.approx(expected["ci low"])
    assert row["ci high"] == pytest.approx(expected["ci high"])
    once = ch3.fold_intervals({"a": fake_cv("a", aucs[:4], folds[:4])}).loc["a"]
    assert row["ci high"] - row["ci low"] < once["ci high"] - once["ci low"]


def test_fold_comparisons_report_corrected_and_wilcoxon_and_refuse_other_folds():
    labels = np.arange(100) % 2
    folds = stratified_folds(labels, 5, 0)
    cv = {
        "ref": fake_cv("ref", [0.80, 0.81, 0.79, 0.82, 0.80], folds),
        "m": fake_cv("m", [0.85, 0.86, 0.83, 0.88, 0.84], folds),
    }
    table = ch3.fold_comparisons(cv, "ref")
    row = table.loc["m"]
    assert row["folds a better"] == 5 and row["Wilcoxon p"] == pytest.approx(0.0625)
    assert table["folds a better"].dtype.kind == "i"
    assert row["corrected p"] > row["naive t-test p"]
    cv["other"] = fake_cv("other", [0.8] * 5, stratified_folds(labels, 5, 1))
    with pytest.raises(ValueError, match="same folds"):
        ch3.fold_comparisons(cv, "ref")


def test_explained_positives_top_and_random():
    y = np.array([1, 0, 1, 1, 0, 1, 1, 1])
    scores = np.array([0.9, 0.99, 0.2, 0.8, 0.1, 0.3, 0.95, 0.5])
    index = np.arange(100, 108)
    rows = ch3.explained_positives(scores, y, index, n_top=2, n_random=3, seed=0)
    assert rows["top-scored"].tolist() == [106, 100]
    assert set(rows["random"]) <= set(index[y == 1]) and rows["random"].size == 3
    again = ch3.explained_positives(scores, y, index, n_top=2, n_random=3, seed=0)
    assert np.array_equal(rows["random"], again["random"])


def test_dnabert_folder_branches(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_CHECKPOINT_DIR", str(tmp_path / "checkpoints"))
    assert ch3.dnabert_folder(None)[:2] == (None, "stand-in")
    missing = tmp_path / "DNA_bert_3"
    path, provenance, note = ch3.dnabert_folder(missing, tiny=True)
    assert path is None and provenance == "stand-in" and "stand-in" in note and "tiny" in note
    with pytest.raises(FileNotFoundError, match="DNA_bert_3.*dnabert_path"):
        ch3.dnabert_folder(missing, tiny=False)
    missing.mkdir()
    (missing / "config.json").write_text("{}")
    (missing / "vocab.txt").write_text("[PAD]")
    path, provenance, note = ch3.dnabert_folder(missing)
    assert path == missing and provenance == "real" and "real" in note


def test_dnabert_folder_finds_the_registered_place(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_CHECKPOINT_DIR", str(tmp_path))
    registered = tmp_path / "DNA_bert_3"
    registered.mkdir()
    for name in ("config.json", "vocab.txt"):
        (registered / name).write_text("{}")
    assert ch3.dnabert_folder(None)[:2] == (registered, "real")


def test_motif_sentence_uses_the_run_numbers():
    from course_lib.interpret.logos import motif_frequency

    seqs = ["AATGTAAATAA", "CCCCCCCCCCC", "GGGGGGGGGGG", "TGTACATACC"]
    table = motif_frequency(seqs, np.array([1, 1, 0, 0]), "TGTA.ATA")
    text = ch3.motif_sentence(table, "TGTA.ATA", "synthetic")
    assert "50.0% of the positives" in text and "50.0% of the negatives" in text


def test_motif_means_and_check_2(monkeypatch):
    monkeypatch.delenv("COURSE_STRICT_CHECKS", raising=False)
    seqs = ["AATGTAAATAA", "CCCCCCCCCCC", "GGGGGGGGGGG", "TGTACATACC"]
    folds = [(np.array([2, 3]), np.array([0, 1])), (np.array([0, 1]), np.array([2, 3]))]
    trained = TrainedFold(lambda idx: idx, None, None, {}, None)
    result = CVResult(
        "BiLSTM",
        [
            FoldResult(0, folds[0][1], np.array([1, 1]), np.array([0.9, 0.6]), {}, trained),
            FoldResult(1, folds[1][1], np.array([0, 0]), np.array([0.2, 0.4]), {}, trained),
        ],
    )
    expected = ch3x.motif_means(result, seqs, "TGTA.ATA")
    np.testing.assert_allclose(expected, [[0.9, 0.6, 0.3]])
    assert ch3x.check_exercise_2(expected, result, seqs, "TGTA.ATA")
    assert ch3x.check_exercise_2(expected + 0.1, result, seqs, "TGTA.ATA").status == "wrong"
    assert ch3x.check_exercise_2(None, result, seqs, "TGTA.ATA").status == "not yet"


def test_check_1_enrichment_and_unseen_share(monkeypatch):
    monkeypatch.delenv("COURSE_STRICT_CHECKS", raising=False)
    seqs = ["TGTAAATAGG" * 3, "TGTAAATACC" * 3, "CCCCGGGGCC" * 3, "GGGGCCCCGG" * 3]
    labels = np.array([1, 1, 0, 0])
    enrichment, unseen = ch3x.kmer_enrichment(seqs, labels)
    names = kmer_vocabulary(6)
    top = names[int(np.argmax(enrichment))]
    assert top in "TGTAAATAGG" * 3 + "TGTAAATACC" * 3 and 0.9 < unseen < 1
    assert ch3x.check_exercise_1(top, unseen, seqs, labels)
    assert ch3x.check_exercise_1(top.replace("T", "U"), unseen, seqs, labels)  # RNA spelling
    assert ch3x.check_exercise_1("CCCCGG", unseen, seqs, labels).status == "wrong"
    assert ch3x.check_exercise_1(top, unseen + 0.01, seqs, labels).status == "wrong"
    assert ch3x.check_exercise_1(None, unseen, seqs, labels).status == "not yet"


def test_check_3_fold_shift_needs_the_other_folds(monkeypatch):
    monkeypatch.delenv("COURSE_STRICT_CHECKS", raising=False)
    labels = np.arange(60) % 2
    a, b = stratified_folds(labels, 3, 0), stratified_folds(labels, 3, 1)
    rng = np.random.default_rng(0)

    def run(folds):
        trained = TrainedFold(lambda idx: idx, None, None, {}, None)
        return CVResult(
            "k-mer LR",
            [
                FoldResult(i, test, labels[test], rng.random(len(test)), {}, trained)
                for i, (_, test) in enumerate(folds)
            ],
        )

    reference, other = run(a), run(b)
    shift = ch3x.fold_shift(other, reference)
    assert ch3x.check_exercise_3(shift, other, reference, b)
    assert ch3x.check_exercise_3(shift + 0.01, other, reference, b).status == "wrong"
    wrong_folds = ch3x.check_exercise_3(shift, reference, reference, b)
    assert wrong_folds.status == "wrong" and "other seed" in wrong_folds.message
    assert ch3x.check_exercise_3(None, None, reference, b).status == "not yet"


def test_prediction_6_reads_the_smallest_count(monkeypatch):
    monkeypatch.setenv("COURSE_STRICT_CHECKS", "1")
    rows = {
        (40, ch3x.SCRATCH_ARM): {"difference": 0.1, "ci low": 0.02, "ci high": 0.2},
        (40, "BiLSTM"): {"difference": -0.3, "ci low": -0.4, "ci high": -0.2},
        (120, ch3x.SCRATCH_ARM): {"difference": 0.01, "ci low": -0.05, "ci high": 0.06},
    }
    table = pd.DataFrame(rows).T.rename_axis(["labelled sites", "BERT (genome MLM) minus"])
    verdict = ch3x.check_exercise_6(0.5, table, "real")
    assert verdict.status == "recorded" and "0.1 [95 % interval 0.02, 0.2]" in verdict.message
    assert "pretraining helps" in verdict.message and "above the run" in verdict.message
    assert "every count: 40 sites +0.100 [+0.020, +0.200], 120 sites +0.010 [-0.050, +0.060]" in (
        verdict.message
    )
    assert ch3x.check_exercise_6(0.0, None, "real").status == "recorded"  # nothing to compare


def test_anchor_protocols_and_exercises():
    selected = {a.name for a in ch3_report.ANCHORS if "test-selected" in a.protocol}
    assert selected == {"BiLSTM on 3-mers, PUM2", "DNABERT-3 fine-tuned, PUM2"}
    assert list(
        ch3_report.anchor_table().loc["BiLSTM on 3-mers, PUM2", ["accuracy", "ROC AUC"]]
    ) == [
        0.895,
        0.941,
    ]
    assert len(ch3x.EXERCISES) == 6


def test_lr_choice_sentences_set_each_choice_against_its_arms_base_rate():
    from types import SimpleNamespace

    from course_lib.chapters.ch3_config import Ch3Config

    settings = Ch3Config.resolve("laptop", bert_lr=1e-3, lstm_lr=2e-3, lr_factors=(0.5, 2.0, 8.0))

    def result(lr, best=None):
        info = {"lr": lr, "best lr": best}
        return SimpleNamespace(folds=[SimpleNamespace(trained=SimpleNamespace(info=info))])

    cv = {
        "CNN": result(None),
        "BERT (no pretraining)": result(2e-3, 2e-3),
        "BERT (genome MLM)": result(8e-3, 8e-3),
        "BERT (random-sequence control)": result(5e-4, 2e-3),  # kept by the rule
    }
    curve = pd.DataFrame(
        {
            "labelled sites": [100, 100, 1000],
            "arm": ["BERT (genome MLM)", "BiLSTM", "BiLSTM"],
            "lr": [5e-4, 4e-3, 1.6e-2],  # BiLSTM: 2x and 8x its own base rate
        }
    )
    in_cv, in_curve = ch3_report.lr_choice_sentences(settings, cv, curve)
    assert in_cv.startswith("cross-validation: 1 of 3 learning rates (multiples of the arm's")
    assert "(widen lr_factors): BERT (genome MLM) (8, the largest); at the smallest" in in_cv
    assert in_cv.endswith("BERT (random-sequence control) (0.5; best 2)")
    assert in_curve.startswith("sample-efficiency curve: 1 of 3 learning rates")
    assert (
        "BERT (genome MLM) at 100 sites (0.5, the smallest); BiLSTM at 1,000 sites (8" in in_curve
    )
    curve["best lr"] = [2e-3, 4e-3, 1.6e-2]  # the genome arm at 100 sites: kept by the rule
    in_curve = ch3_report.lr_choice_sentences(settings, cv, curve)[1]
    assert in_curve.endswith("tell them apart: BERT (genome MLM) at 100 sites (0.5; best 2)")
    assert len(ch3_report.lr_choice_sentences(settings, cv, None)) == 1
    assert "still improving" not in in_cv
    rising = {5e-4: True, 2e-3: False, 8e-3: True}
    cv["BERT (no pretraining)"].folds[0].trained.info["still rising by lr"] = rising
    in_cv = ch3_report.lr_choice_sentences(settings, cv, None)[0]
    assert in_cv.endswith(
        "still improving at their last epoch on the first fold, not kept: "
        "BERT (no pretraining) (0.5, 8)"
    )
    # every rate within one error still rising: the rule keeps the best, and says so
    cv["BERT (genome MLM)"].folds[0].trained.info["still rising by lr"] = {
        2e-3: True,
        8e-3: True,
    }
    in_cv = ch3_report.lr_choice_sentences(settings, cv, None)[0]
    assert in_cv.endswith(
        "not kept: BERT (no pretraining) (0.5, 8); BERT (genome MLM) (2); kept although still "
        "improving at its last epoch on the first fold (no rate within one error had stopped "
        "improving): BERT (genome MLM) (8)"
    )


def test_the_last_epoch_sentence_counts_folds_still_improving_per_arm():
    from types import SimpleNamespace

    from course_lib.chapters.ch3_config import Ch3Config

    settings = Ch3Config.resolve("laptop")

    def result(best_epochs, epochs=4):
        folds = [
            SimpleNamespace(
                trained=SimpleNamespace(
                    history=None if best is None else pd.DataFrame({"epoch": range(epochs)}),
                    best_epoch=best,
                )
            )
            for best in best_epochs
        ]
        return SimpleNamespace(folds=folds)

    cv = {
        "k-mer LR": result([None, None]),
        "BiLSTM": result([2, 4]),
        "BERT (genome MLM)": result([4, 4]),
    }
    line = ch3_report.last_epoch_sentence(settings, cv)
    assert line.startswith(
        "test folds whose kept epoch is the last one trained (still improving): BiLSTM 1 of 2, "
        "BERT (genome MLM) 2 of 2; on every fold for BERT (genome MLM) (`bert_epochs` "
        f"{settings.bert_epochs})"
    )
    assert "k-mer" not in line
    cv["BERT (genome MLM)"] = result([3, 4])
    assert ch3_report.last_epoch_sentence(settings, cv).endswith("BERT (genome MLM) 1 of 2.")


def test_grids_past_smoke_can_bracket_a_chosen_rate():
    from course_lib.chapters.ch3_config import Ch3Config

    for profile in ("laptop", "full"):
        factors = Ch3Config.resolve(profile).lr_factors
        # two values put every choice at an edge; the middle of three has neighbours both sides
        assert len(factors) >= 3, profile
        assert list(factors) == sorted(set(factors)), profile


def test_the_results_say_where_the_trainings_ran():
    from course_lib.chapters.ch3_report import trainings_note

    assert "in the kernel" in trainings_note(1)
    assert "side by side in 4 worker processes of one torch thread" in trainings_note(4)
