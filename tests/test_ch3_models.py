"""Chapter 3's models from one place: each kind a fold trainer, all through one CV loop."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from course_lib.chapters import ch3_models
from course_lib.chapters import ch3_pum2_dnabert_lstm as ch3
from course_lib.chapters.ch3_config import Ch3Config
from course_lib.chapters.ch3_kmer_baseline import kmer_count_features, logistic_regression
from course_lib.cross_validation import TrainedFold, cross_validate, stratified_folds
from course_lib.interpret.attribution import Explanation
from course_lib.tokenization import build_vocabulary

RNG = np.random.default_rng(1)
SEQS = ["".join(RNG.choice(list("ACGT"), 24)) for _ in range(40)]
LABELS = np.arange(40) % 2
FIT, VAL = np.arange(0, 30), np.arange(30, 40)
SETTINGS = Ch3Config.resolve(
    "smoke",
    lstm_epochs=1,
    lstm_embedding=4,
    lstm_hidden=4,
    cnn_epochs=1,
    cnn_channels=4,
    bert_hidden=8,
    bert_layers=1,
    bert_heads=2,
    bert_intermediate=8,
    bert_epochs=1,
    pretrain_steps=2,
    efficiency_steps=4,
    efficiency_epochs=1,
    lr_factors=(0.5, 2.0),
    batch_size=16,
    bert_batch_size=16,
)


@pytest.fixture(autouse=True)
def one_thread(monkeypatch):
    monkeypatch.setenv("COURSE_PROGRESS", "off")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def trained_on_one_fold(trainer) -> TrainedFold:
    trained = trainer(FIT, VAL, 0)
    scores = np.asarray(trained.predict(VAL))
    assert scores.shape == (VAL.size,) and np.all((scores >= 0) & (scores <= 1))
    return trained


def test_kmer_trainer_counts_3_to_5_mers_and_fits_on_fit_rows():
    trained = trained_on_one_fold(ch3_models.kmer_trainer(SEQS, LABELS, SETTINGS, seed=0))
    x = kmer_count_features(SEQS, ch3_models.KMER_SIZES)
    assert x.shape[1] == 64 + 256 + 1024
    alone = logistic_regression(trained.info["C"], 0).fit(x[FIT], LABELS[FIT])
    np.testing.assert_allclose(trained.predict(VAL), alone.predict_proba(x[VAL])[:, 1])


@pytest.mark.parametrize("kind", ["cnn", "bilstm"])
def test_neural_trainers_build_a_fresh_seeded_model(kind):
    make = getattr(ch3_models, f"{kind}_trainer")
    first = trained_on_one_fold(make(SEQS, LABELS, SETTINGS, "cpu", 0))
    again = trained_on_one_fold(make(SEQS, LABELS, SETTINGS, "cpu", 0))
    assert first.model is not again.model
    np.testing.assert_allclose(first.predict(VAL), again.predict(VAL))
    assert first.best_epoch == 1 and len(first.history) == 1


def test_bilstm_trainer_takes_the_readout_of_the_settings_or_the_given_one():
    default = ch3_models.bilstm_trainer(SEQS, LABELS, SETTINGS, "cpu", 0)(FIT, VAL, 0)
    last = ch3_models.bilstm_trainer(SEQS, LABELS, SETTINGS, "cpu", 0, readout="last")
    assert default.model.readout == SETTINGS.lstm_readout == "max"
    assert last(FIT, VAL, 0).model.readout == "last"


def tiny_backbone(vocab, width: int):
    from course_lib.models.bert import masked_lm, small_bert_config

    torch.manual_seed(0)
    kernel = SETTINGS.bert_local_kernel
    return masked_lm(small_bert_config(vocab, 8, 1, 2, 8, width, local_kernel=kernel)).eval()


def test_chapter_trainers_in_the_chapter_order_and_one_loop():
    vocab = build_vocabulary(SETTINGS.k)
    tokens = vocab.encode(SEQS).to_torch()
    arms = {"BERT (genome MLM)": tiny_backbone(vocab, tokens["input_ids"].shape[1])}
    trainers = ch3_models.chapter_trainers(
        SEQS, LABELS, tokens, vocab, SETTINGS, arms, None, "cpu", 0
    )
    assert list(trainers) == [
        "k-mer LR",
        "CNN",
        "BiLSTM",
        "BERT (no pretraining)",
        "BERT (genome MLM)",
    ]
    folds = stratified_folds(LABELS, 2, 0)[:1]
    chosen = {name: trainers[name] for name in ("k-mer LR", "BERT (no pretraining)")}
    cv = ch3_models.cross_validate_all(chosen, LABELS, folds, 0.2, 0)
    assert list(cv) == list(chosen)
    for name, result in cv.items():
        alone = cross_validate(name, trainers[name], LABELS, folds, 0.2, 0)
        np.testing.assert_allclose(result.folds[0].scores, alone.folds[0].scores)
        assert np.array_equal(result.folds[0].test_index, folds[0][1])


def test_cross_validation_in_worker_processes_gives_this_process_s_results():
    """Fold 0 chooses the BiLSTM's learning rate in a worker; the trainer comes back with the
    choice and every later fold reuses it, as in this process on one thread."""
    from course_lib.training_pool import TrainingPool

    rng = np.random.default_rng(2)
    seqs = ["".join(rng.choice(list("ACGT"), 24)) for _ in range(120)]
    labels = np.arange(120) % 2
    settings = SETTINGS

    def trainers():
        return {
            "k-mer LR": ch3_models.kmer_trainer(seqs, labels, settings, 0),
            "BiLSTM": ch3_models.tuned_trainer(
                {
                    lr: ch3_models.bilstm_trainer(seqs, labels, settings, "cpu", 0, lr=lr)
                    for lr in (1e-3, 1e-2)
                },
                once=True,
            ),
        }

    folds = ch3_models.chapter_folds(labels, settings, 0)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        here = ch3_models.cross_validate_all(trainers(), labels, folds, settings.val_fraction, 0)
    finally:
        torch.set_num_threads(threads)
    with TrainingPool(workers=2) as pool:
        there = ch3_models.cross_validate_all(
            trainers(), labels, folds, settings.val_fraction, 0, pool
        )
    assert list(there) == ["k-mer LR", "BiLSTM"]
    for name in there:
        assert [f.fold for f in there[name].folds] == list(range(len(folds)))
        for a, b in zip(here[name].folds, there[name].folds, strict=True):
            np.testing.assert_allclose(b.scores, a.scores, atol=1e-6)
    infos = [f.trained.info for f in there["BiLSTM"].folds]
    assert len(infos[0]["val ROC AUC by lr"]) == 2
    assert all(list(i["val ROC AUC by lr"]) == [infos[0]["lr"]] for i in infos[1:])


def test_chapter_folds_withhold_the_rows_that_choose_the_shared_learning_rates():
    from course_lib.cross_validation import (
        first_validation_rows,
        inner_split,
        repeated_stratified_folds,
    )

    settings = Ch3Config.resolve("laptop", tiny=True)
    plain = repeated_stratified_folds(LABELS, settings.n_folds, settings.cv_repeats, 0)
    folds = ch3_models.chapter_folds(LABELS, settings, 0)
    chose = first_validation_rows(plain, LABELS, settings.val_fraction, 0)
    # the rows cross_validate validates fold 0 on, tested by no fold; training rows unchanged
    assert np.array_equal(chose, inner_split(plain[0][0], LABELS, settings.val_fraction, 0)[1])
    assert chose.size and not np.isin(np.concatenate([t for _, t in folds]), chose).any()
    for (train, test), (train0, test0) in zip(folds, plain, strict=True):
        assert np.array_equal(train, train0)
        assert np.array_equal(test, np.setdiff1d(test0, chose))
    assert np.array_equal(folds[0][1], plain[0][1])  # fold 0 never tested them anyway
    trainers = {"k-mer LR": ch3_models.kmer_trainer(SEQS, LABELS, settings, 0)}
    with pytest.raises(ValueError, match=r"test fold 1 holds \d+ of its rows.*withholding"):
        ch3_models.cross_validate_all(trainers, LABELS, plain, settings.val_fraction, 0)


def test_check_bert_run_stops_full_on_a_cpu_only_when_long():
    from course_lib.profiles import LongCPURunError

    ch3_models.check_bert_run(SETTINGS, "cpu", 1000, 3)  # smoke: never stops
    full = Ch3Config.resolve("full")
    with pytest.raises(LongCPURunError, match="pretraining 2 BERT backbones and fine-tuning 4"):
        ch3_models.check_bert_run(full, "cpu", 100_000, 4)


def test_cv_design_names_the_repetitions_and_the_test_folds():
    assert Ch3Config.resolve("smoke").cv_design == "3-fold CV"
    laptop = Ch3Config.resolve("laptop")
    assert laptop.cv_design == "3-fold CV repeated 2 times, 6 test folds"
    assert laptop.n_test_folds == 6
    assert Ch3Config.resolve("laptop", cv_repeats=3, n_folds=5).n_test_folds == 15
    assert Ch3Config.resolve("laptop", cv_repeats=1).cv_design == "3-fold CV"
    with pytest.raises(ValueError, match="cv_repeats"):
        Ch3Config.resolve("laptop", cv_repeats=0)


def test_tuned_trainer_keeps_the_best_validation_rate_and_can_choose_once():
    calls = []

    def fake(lr: float, val_auc: float, se: float = 0.01):
        def train(fit, val, fold):
            calls.append((lr, fold))
            info = {"best_val_auc": val_auc, "best_val_auc_se": se}
            return TrainedFold(lambda rows: np.full(len(rows), lr), info=info)

        return train

    grid = {0.1: fake(0.1, 0.6), 1.0: fake(1.0, 0.9), 10.0: fake(10.0, 0.7)}
    once = ch3_models.tuned_trainer(grid, once=True)
    first = once(FIT, VAL, 0)
    assert first.info["lr"] == 1.0 and first.info["val ROC AUC by lr"][0.1] == 0.6
    assert first.info["best val ROC AUC"] == (0.9, 0.01)
    assert once(FIT, VAL, 1).info["lr"] == 1.0
    assert calls == [(0.1, 0), (1.0, 0), (10.0, 0), (1.0, 1)]  # fold 1: the chosen rate only
    calls.clear()
    every = ch3_models.tuned_trainer(grid)
    every(FIT, VAL, 0), every(FIT, VAL, 1)
    assert len(calls) == 6


def test_tuned_trainer_keeps_the_smallest_rate_within_one_standard_error_of_the_best():
    def fake(val_auc: float, se: float):
        info = {"best_val_auc": val_auc, "best_val_auc_se": se}
        return lambda fit, val, fold: TrainedFold(lambda rows: rows, info=dict(info))

    # chapter 3's fold 0 at laptop: the genome arm's 8e-3 led 2e-3 by 0.0024 (error ~0.01)
    close = {5e-4: fake(0.925, 0.013), 2e-3: fake(0.9575, 0.0098), 8e-3: fake(0.9599, 0.0095)}
    kept = ch3_models.tuned_trainer(close)(FIT, VAL, 0).info
    assert kept["lr"] == 2e-3 and kept["best lr"] == 8e-3
    clear = {5e-4: fake(0.925, 0.013), 2e-3: fake(0.9475, 0.0098), 8e-3: fake(0.9599, 0.0095)}
    kept = ch3_models.tuned_trainer(clear)(FIT, VAL, 0).info
    assert kept["lr"] == kept["best lr"] == 8e-3
    level = {5e-4: fake(0.955, 0.01), 2e-3: fake(0.9575, 0.0098), 8e-3: fake(0.9599, 0.0095)}
    assert ch3_models.tuned_trainer(level)(FIT, VAL, 0).info["lr"] == 5e-4


def test_tuned_trainer_passes_over_a_rate_still_rising_at_its_last_epoch():
    import pandas as pd

    def fake(val_auc: float, kept_epoch: int, epochs: int = 4):
        info = {"best_val_auc": val_auc, "best_val_auc_se": 0.011}
        history = pd.DataFrame({"val ROC AUC": np.linspace(0.5, val_auc, epochs)})
        return lambda fit, val, fold: TrainedFold(lambda r: r, kept_epoch, history, dict(info))

    # chapter 3's fold 0 at laptop (stop 50): 0.5x kept epoch 4 of 4, 2x the best
    rising = {5e-4: fake(0.938, 4), 2e-3: fake(0.947, 2), 8e-3: fake(0.940, 1)}
    kept = ch3_models.tuned_trainer(rising)(FIT, VAL, 0).info
    assert kept["lr"] == 2e-3 and kept["still rising by lr"] == {
        5e-4: True,
        2e-3: False,
        8e-3: False,
    }
    # the smallest settled rate within the error, not the best
    settled = {5e-4: fake(0.938, 4), 2e-3: fake(0.945, 3), 8e-3: fake(0.947, 2)}
    assert ch3_models.tuned_trainer(settled)(FIT, VAL, 0).info["lr"] == 2e-3
    # every rate within the error still rising: the best; a settled rate beyond it is ignored
    all_rising = {5e-4: fake(0.938, 4), 2e-3: fake(0.947, 4), 8e-3: fake(0.90, 2)}
    assert ch3_models.tuned_trainer(all_rising)(FIT, VAL, 0).info["lr"] == 2e-3
    # one epoch says nothing about rising: the plain one-standard-error rule
    single = {5e-4: fake(0.938, 1, 1), 2e-3: fake(0.947, 1, 1)}
    assert ch3_models.tuned_trainer(single)(FIT, VAL, 0).info["lr"] == 5e-4


def test_still_rising_needs_the_last_of_several_epochs():
    import pandas as pd

    history = pd.DataFrame({"val ROC AUC": [0.6, 0.7, 0.8]})
    assert ch3_models.still_rising(TrainedFold(lambda r: r, 3, history))
    assert not ch3_models.still_rising(TrainedFold(lambda r: r, 2, history))
    assert not ch3_models.still_rising(TrainedFold(lambda r: r, 1, history.iloc[:1]))
    assert not ch3_models.still_rising(TrainedFold(lambda r: r))  # not iterative


def test_pretrained_arm_starts_from_the_backbone_encoder():
    vocab = build_vocabulary(SETTINGS.k)
    tokens = vocab.encode(SEQS).to_torch()
    backbone = tiny_backbone(vocab, tokens["input_ids"].shape[1])
    prepare = ch3_models.encoder_transfer(backbone)
    from course_lib.models.bert import bert_classifier

    model = bert_classifier(backbone.config)
    prepare(model, FIT, 0)
    torch.testing.assert_close(
        model.bert.embeddings.word_embeddings.weight,
        backbone.bert.embeddings.word_embeddings.weight,
    )
    trainers = ch3_models.bert_fold_trainers(
        tokens, LABELS, vocab, SETTINGS, {"BERT (genome MLM)": backbone}, device="cpu"
    )
    trained = trainers["BERT (genome MLM)"](FIT, VAL, 0)
    assert trained.info["lr"] in [SETTINGS.bert_lr * f for f in SETTINGS.lr_factors]
    assert set(trained.info["val ROC AUC by lr"]) == {SETTINGS.bert_lr * f for f in (0.5, 2.0)}


def test_efficiency_trainers_train_every_arm_for_about_the_steps():
    vocab = build_vocabulary(SETTINGS.k)
    tokens = vocab.encode(SEQS).to_torch()
    arms = {"BERT (genome MLM)": tiny_backbone(vocab, tokens["input_ids"].shape[1])}
    trainers = ch3_models.efficiency_trainers(
        SEQS, LABELS, tokens, vocab, SETTINGS, arms, FIT.size, None, "cpu", 0
    )
    assert list(trainers) == ["BERT (no pretraining)", "BERT (genome MLM)", "BiLSTM"]
    trained = trainers["BiLSTM"](FIT, VAL, 0)
    assert "lr" in trained.info


def explanation(seqs: list[str], importance: np.ndarray) -> Explanation:
    n, length = importance.shape
    return Explanation(seqs, np.zeros((n, length, 4)), importance, importance * 2)


def test_explanation_helpers():
    seqs = ["AATGTAAATAAAAA", "CCCCCCCCCCCCCC"]
    importance = np.zeros((2, 14))
    importance[0, 2:10] = 1.0
    importance[1, 0] = 0.5
    found = {"top-scored": explanation(seqs, importance)}
    lines = ch3.explanation_sentences(found, "BiLSTM", "TGTA.ATA")
    assert lines == [
        "BiLSTM, 2 top-scored held-out positives (50% carry TGTA.ATA); Pearson r between ISM "
        "and gradient x input importances: 1.000"
    ]
    assert ch3.strongest_site(importance, width=8, before=1, after=9) == (0, 1, 11)
    frequencies = ch3.aligned_frequencies(found, width=8, flank=2)["top-scored"]
    assert isinstance(frequencies, pd.DataFrame) and frequencies.shape == (12, 4)


def test_explain_groups_explains_each_group_of_rows():
    model = ch3_models.bilstm_trainer(SEQS, LABELS, SETTINGS, "cpu", 0)(FIT, VAL, 0).model
    picked = {"top-scored": np.array([0, 2]), "random": np.array([4])}
    groups = ch3.explain_groups(model, ch3.bilstm_view(SETTINGS.k), SEQS, picked, "cpu")
    assert groups["top-scored"].sequences == [SEQS[0], SEQS[2]]
    assert groups["random"].ism.shape == (1, 24, 4)


def test_load_sites_reads_a_fasta_pair(tmp_path):
    positives, negatives = tmp_path / "pos.fa", tmp_path / "neg.fa"
    positives.write_text(">a\nACGUACGU\n>b\nUUUUACGA\n")
    negatives.write_text(">c\nGGGGCCCC\n")
    sites, provenance, source, name = ch3.load_sites(positives, negatives)
    assert (provenance, name) == ("real", "FASTA pair") and str(positives) in source
    assert sites.labels.tolist() == [1, 1, 0] and sites.sequences[0] == "ACGTACGT"


def test_bert_arms_with_a_dnabert_folder_come_first_and_are_tuned(tmp_path):
    vocab = build_vocabulary(SETTINGS.k)
    tokens = vocab.encode(SEQS).to_torch()
    backbone = tiny_backbone(vocab, 64)
    backbone.save_pretrained(tmp_path / "DNA_bert_3")
    vocab.write(tmp_path / "DNA_bert_3")
    trainers = ch3_models.bert_fold_trainers(
        tokens, LABELS, vocab, SETTINGS, {}, dnabert_path=tmp_path / "DNA_bert_3", device="cpu"
    )
    assert list(trainers) == ["DNABERT-3 (fine-tuned)", "BERT (no pretraining)"]
    trained = trained_on_one_fold(trainers["DNABERT-3 (fine-tuned)"])
    assert len(trained.info["val ROC AUC by lr"]) == len(SETTINGS.lr_factors)
