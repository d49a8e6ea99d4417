"""Chapter 3's masked k-mer pretraining: corpus, backbones cached by recipe, copy baseline,
random-sequence control, sample-efficiency curve and the results file's keys."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch

from course_lib.baselines import simulate_kmer_copy_baseline
from course_lib.chapters import ch3_efficiency as eff
from course_lib.chapters import ch3_pretraining as pre
from course_lib.chapters import ch3_report
from course_lib.chapters.ch3_config import Ch3Config
from course_lib.cross_validation import TrainedFold, first_validation_rows, stratified_folds
from course_lib.kmer_pretraining import (
    accuracy_against_copy,
    accuracy_difference,
    masked_hits,
    pretrain_masked_kmers,
)
from course_lib.models.bert import small_bert_config
from course_lib.tokenization import build_vocabulary

VOCAB = build_vocabulary(3)
RNG = np.random.default_rng(0)
SETTINGS = Ch3Config.resolve(
    "smoke",
    bert_hidden=16,
    bert_layers=1,
    bert_heads=2,
    bert_intermediate=16,
    pretrain_steps=3,
    pretrain_batch_size=8,
    pretrain_stride=40,
)


@pytest.fixture(autouse=True)
def quiet_one_thread(monkeypatch):
    monkeypatch.setenv("COURSE_PROGRESS", "off")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def random_dna(length: int, rng=RNG) -> str:
    return "".join(rng.choice(list("ACGT"), length))


def test_corpus_drops_windows_sharing_a_stretch_on_either_strand_and_holds_out_the_end():
    genome = random_dna(3000)
    site = genome[500:540]
    corpus = pre.genome_corpus(genome, [pre.reverse_complement(site)], 30, 5, 0.2, "real")
    assert all(len(s) == 30 for s in corpus.train + corpus.held_out)
    stretch = site[:20]
    for seq in corpus.train:
        assert stretch not in seq and pre.reverse_complement(stretch) not in seq
    assert corpus.removed > 0
    forward = corpus.train[: len(corpus.train) // 2]
    assert corpus.train[len(forward) :] == [pre.reverse_complement(s) for s in forward]
    split = int(3000 * 0.8)
    tail = genome[split + pre.HELD_OUT_GAP :]
    assert all(s in tail for s in corpus.held_out)
    assert not any(s in genome[:split] for s in corpus.held_out)
    assert str(corpus.removed) in corpus.description


def test_random_control_keeps_lengths_and_composition():
    seqs = ["AAAAAAAAAC" * 3, "GGGTTTAAAC" * 3] * 50
    control = pre.random_like(seqs, seed=1)
    assert [len(s) for s in control] == [len(s) for s in seqs]
    joined, drawn = "".join(seqs), "".join(control)
    for base in "ACGT":
        assert drawn.count(base) / len(drawn) == pytest.approx(
            joined.count(base) / len(joined), abs=0.03
        )
    assert control != seqs and pre.random_like(seqs, seed=1) == control


def test_recipe_names_every_value_that_changes_the_backbone():
    data = {"genome": "real", "excluded PUM2 sequences": "abc"}
    base = pre.backbone_recipe(SETTINGS, "genome", 81, data, 0)
    assert base["pretrain_steps"] == 3 and base["corpus"] == "genome"
    from course_lib.weights import recipe_hash

    others = [
        pre.backbone_recipe(SETTINGS, "random", 81, data, 0),
        pre.backbone_recipe(Ch3Config.resolve("smoke", pretrain_steps=4), "genome", 81, data, 0),
        pre.backbone_recipe(SETTINGS, "genome", 81, data, 1),
        pre.backbone_recipe(SETTINGS, "genome", 81, {**data, "genome": "synthetic"}, 0),
    ]
    assert len({recipe_hash(r) for r in [base, *others]}) == 5
    with pytest.raises(ValueError, match="corpus must be one of"):
        pre.backbone_recipe(SETTINGS, "utr", 81, data, 0)


def test_backbones_are_built_once_then_read_from_their_recipe_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_CHECKPOINT_DIR", str(tmp_path))
    corpus = pre.genome_corpus(random_dna(4000), [random_dna(30)], 30, 20, 0.2, "synthetic")
    built = pre.chapter_backbones(SETTINGS, corpus, VOCAB, ["ACGT" * 8], 0, "cpu")
    assert list(built) == ["genome", "random"] and all(b.built for b in built.values())
    assert built["genome"].folder != built["random"].folder
    assert built["genome"].folder.parent == tmp_path / "bert_mlm"
    record = json.loads((built["genome"].folder / "recipe.json").read_text())
    assert record["pretrain_steps"] == 3 and len(record["history"]) == 3
    again = pre.chapter_backbones(SETTINGS, corpus, VOCAB, ["ACGT" * 8], 0, "cpu")
    assert not any(b.built for b in again.values())
    first, second = built["genome"].model.state_dict(), again["genome"].model.state_dict()
    for name, value in first.items():
        torch.testing.assert_close(second[name], value)
    assert (
        pre.chapter_backbones(
            Ch3Config.resolve("smoke", pretrain_steps=0), corpus, VOCAB, [], 0, "cpu"
        )
        == {}
    )
    table = pre.copy_comparison(built, corpus, VOCAB, 0, "cpu")
    assert table.index.get_level_values(0).tolist() == [
        "BERT (genome MLM)",
        "BERT (genome MLM)",
        "BERT (random-sequence control)",
        "BERT (random-sequence control)",
    ]
    genome = table.loc["BERT (genome MLM)"]
    control = table.loc["BERT (random-sequence control)"]
    margin = (genome["model accuracy"] - control["model accuracy"]).astype(float)
    np.testing.assert_allclose(genome["minus control"].astype(float), margin)
    assert control["minus control"].isna().all()
    lines = pre.copy_sentences(table, "synthetic")
    assert len(lines) == 6 and "copy baseline" in lines[0]
    assert lines[1].startswith("BERT (genome MLM) minus BERT (random-sequence control), all")
    alone = pre.copy_comparison({"genome": built["genome"]}, corpus, VOCAB, 0, "cpu")
    assert "minus control" not in alone and len(pre.copy_sentences(alone, "synthetic")) == 2


def test_pretraining_counts_steps_and_learns_repeated_patterns_beyond_copying():
    patterns = [random_dna(30) for _ in range(3)]
    seqs = [patterns[i] for i in RNG.integers(0, 3, 240)]
    tokens = VOCAB.encode(seqs).to_torch()
    config = small_bert_config(VOCAB, 32, 1, 2, 64, tokens["input_ids"].shape[1], dropout=0.0)
    args = (config, tokens["input_ids"], tokens["attention_mask"], VOCAB)
    model, result = pretrain_masked_kmers(
        *args, steps=150, batch_size=32, lr=3e-3, log_every=50, device="cpu", show_progress=False
    )
    assert result.history["step"].tolist() == [50, 100, 150]
    assert result.history["mlm_loss"].iloc[-1] < result.history["mlm_loss"].iloc[0]
    held = VOCAB.encode(patterns * 20).to_torch()
    hits = masked_hits(model, held["input_ids"], held["attention_mask"], VOCAB, device="cpu")
    found = accuracy_against_copy(hits)
    assert found["above copy"] and found["ci low"] > 0
    with pytest.raises(ValueError, match="steps must be at least 1"):
        pretrain_masked_kmers(*args, steps=0)


def test_masked_hits_score_the_copy_baseline_on_the_same_corruptions():
    ids = VOCAB.encode([random_dna(40) for _ in range(50)]).to_torch()
    model = torch.nn.Module()  # a stand-in that predicts [PAD] everywhere

    class Pad(torch.nn.Module):
        def forward(self, input_ids, attention_mask):
            logits = torch.zeros(*input_ids.shape, len(VOCAB))
            logits[..., VOCAB.pad_id] = 1.0
            return type("Out", (), {"logits": logits})()

    model = Pad()
    hits = masked_hits(model, ids["input_ids"], ids["attention_mask"], VOCAB, repeats=2, seed=5)
    direct = simulate_kmer_copy_baseline(ids["input_ids"], VOCAB, repeats=2, seed=5)
    found = accuracy_against_copy(hits)
    assert found["copy baseline accuracy"] == pytest.approx(direct["copy accuracy"])
    assert found["scored tokens"] == direct["scored tokens"]
    assert found["model accuracy"] == 0 and found["ci high"] < 0 and not found["above copy"]
    at_mask = accuracy_against_copy(hits, " at [MASK]")
    assert at_mask["copy baseline accuracy"] == pytest.approx(direct["copy accuracy at [MASK]"])


def test_accuracy_difference_is_paired_over_sequences_and_needs_the_same_tokens():
    scored = np.full(200, 10.0)
    better = pd.DataFrame({"scored": scored, "model hits": np.full(200, 6.0)})
    noisy = pd.DataFrame({"scored": scored, "model hits": RNG.uniform(2, 6, 200)})
    found = accuracy_difference(better, noisy)
    assert found["difference"] == pytest.approx(0.6 - noisy["model hits"].sum() / 2000)
    assert 0 < found["ci low"] < found["difference"] < found["ci high"]
    assert accuracy_difference(noisy, noisy) == {"difference": 0, "ci low": 0, "ci high": 0}
    other = noisy.assign(scored=np.full(200, 9.0))
    with pytest.raises(ValueError, match="scored on different tokens"):
        accuracy_difference(better, other)


def test_the_control_sentence_reads_its_verdict_off_the_interval():
    for low, high, verdict in (
        (0.02, 0.08, "learned more than its nucleotide composition"),
        (-0.08, -0.02, "less than composition alone"),
        (-0.01, 0.08, "nothing can be concluded"),
    ):
        row = pd.Series(
            {
                "minus control": (low + high) / 2,
                "minus control ci low": low,
                "minus control ci high": high,
            }
        )
        assert verdict in pre.control_sentence(row, "all scored tokens")


def test_accuracy_equal_to_copy_cannot_be_claimed():
    scored = np.full(100, 10.0)
    copy = RNG.uniform(2, 4, 100)
    hits = pd.DataFrame({"scored": scored, "model hits": copy, "copy hits": copy})
    found = accuracy_against_copy(hits)
    assert found["model minus copy"] == 0 and not found["above copy"]


def test_labelled_rows_are_balanced_draws_of_the_fitting_rows():
    labels = np.arange(200) % 2
    train, _ = stratified_folds(labels, 4, 0)[0]
    fit = eff.labelled_rows(train, labels, 60, seed=0)
    assert len(fit) == 60 and set(fit) <= set(train) and labels[fit].sum() == 30
    assert np.all(np.diff(fit) > 0)
    with pytest.raises(ValueError, match="lower efficiency_counts"):
        eff.labelled_rows(train, labels, 1000)
    assert eff.epochs_for_steps(100, 75, 64) == 50 and eff.epochs_for_steps(1, 500, 64) == 1


def test_every_count_chooses_on_the_first_fold_s_validation_rows():
    """The rows every arm selects on are those cross-validation selects on in fold 0, the
    same at every count; the fitting rows grow with the count and never touch them."""
    labels = np.arange(400) % 2
    folds = stratified_folds(labels, 2, 0)
    seen = []

    def make(n_fit: int):
        def train(fit, val, fold):
            seen.append((n_fit, fit, val))
            return TrainedFold(lambda rows: np.zeros(len(rows)), info={"lr": 1e-3})

        return {"arm": train}

    eff.sample_efficiency(make, labels, folds[0], (40, 80), 0.1, 0, 50)
    expected = first_validation_rows(folds, labels, 0.1, 0)
    for n_fit, fit, val in seen:
        assert np.array_equal(val, expected) and len(fit) == n_fit
        assert not set(fit) & set(val) and not set(fit) & set(folds[0][1])
    assert [n for n, _, _ in seen] == [40, 80]


def fake_trainers(quality: dict[str, float], labels: np.ndarray):
    def make(n_fit: int):
        def arm(q: float):
            def train(fit, val, fold):
                def predict(rows):
                    noise = np.random.default_rng(len(rows)).random(len(rows))
                    return np.clip(q * labels[rows] + (1 - q) * noise, 0, 1)

                return TrainedFold(predict, info={"lr": 1e-3, "best_val_auc": q})

            return train

        return {name: arm(q) for name, q in quality.items()}

    return make


def fake_curve() -> tuple[eff.EfficiencyResult, pd.DataFrame]:
    labels = np.arange(400) % 2
    fold = stratified_folds(labels, 2, 0)[0]
    quality = {"BERT (genome MLM)": 0.9, "BERT (no pretraining)": 0.0, "BiLSTM": 0.9}
    make = fake_trainers(quality, labels)
    result = eff.sample_efficiency(make, labels, fold, (40, 80), 0.1, 0, 200)
    return result, eff.efficiency_comparisons(result, "BERT (genome MLM)", 0, 200)


def test_sample_efficiency_in_worker_processes_gives_this_process_s_curve():
    from course_lib.training_pool import TrainingPool

    labels = np.arange(400) % 2
    fold = stratified_folds(labels, 2, 0)[0]
    make = fake_trainers({"BERT (genome MLM)": 0.9, "BiLSTM": 0.5}, labels)
    here = eff.sample_efficiency(make, labels, fold, (40, 80), 0.1, 0, 100)
    with TrainingPool(workers=2) as pool:
        there = eff.sample_efficiency(make, labels, fold, (40, 80), 0.1, 0, 100, pool)
    pd.testing.assert_frame_equal(there.table, here.table)
    assert list(there.table["arm"]) == ["BERT (genome MLM)", "BiLSTM"] * 2
    for count in (40, 80):
        for arm, scores in here.scores[count].items():
            np.testing.assert_array_equal(there.scores[count][arm], scores)


def test_sample_efficiency_curve_comparisons_and_sentences():
    result, vs = fake_curve()
    assert result.table.shape[0] == 6
    assert set(result.table["labelled sites"]) == {40, 80}
    assert vs.index.names == ["labelled sites", "BERT (genome MLM) minus"]
    assert vs.loc[(40, "BERT (no pretraining)"), "ci low"] > 0
    lines = eff.efficiency_sentences(vs, "BERT (genome MLM)", "synthetic")
    assert "BERT (genome MLM) is better" in lines[0]
    assert "nothing can be concluded" in lines[1]  # identical predictions: difference 0
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    eff.plot_efficiency(result.table, ax, "test")
    assert ax.get_xscale() == "log"
    plt.close(fig)


def test_results_file_carries_copy_control_and_efficiency(tmp_path):
    result, vs = fake_curve()
    row = {
        "model accuracy": 0.4,
        "copy baseline accuracy": 0.3,
        "model minus copy": 0.1,
        "ci low": 0.05,
        "ci high": 0.15,
        "above copy": True,
        "scored tokens": 100,
        "sequences": 10,
    }
    index = pd.MultiIndex.from_tuples(
        [(name, "all scored tokens") for name in pre.ARM_NAMES.values()],
        names=["backbone", "tokens"],
    )
    copy = pd.DataFrame([row, row], index=index)
    metrics = ch3_report._metrics({}, pd.DataFrame(), copy, (result.table, vs))
    keys = list(metrics)
    assert any("copy" in k for k in keys) and any("control" in k for k in keys)
    assert any("efficiency" in k for k in keys)
    control = next(v for k, v in metrics.items() if "control" in k)
    assert list(control) == ["BERT (random-sequence control)"]
    curve = next(v for k, v in metrics.items() if "efficiency" in k)
    assert "BERT (genome MLM) minus BERT (no pretraining)" in curve["40 labelled sites"]
