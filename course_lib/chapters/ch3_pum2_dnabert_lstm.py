"""Chapter 3, ``notebooks/03_pum2_dnabert_lstm.ipynb``: PUM2 binding sites, DNABERT versus a BiLSTM.

The chapter's recipe (its parameters per profile in :mod:`course_lib.chapters.ch3_config`):
the published anchors (:data:`ANCHORS`), how :mod:`course_lib.interpret` feeds sequences to
the BiLSTM and to BERT (:func:`bilstm_view`, :func:`bert_view`), and the chapter's BERT
variants as cross-validation trainers (:func:`bert_fold_trainers`, with per-fold masked k-mer
pretraining through :func:`mlm_pretraining_hook`).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from sklearn.metrics import roc_auc_score
from torch import nn

from course_lib.baselines import simulate_kmer_copy_baseline
from course_lib.cross_validation import CVResult, neural_fold_trainer
from course_lib.exercises import (
    Comparison,
    Exercise,
    Verdict,
    check,
    compare_arrays,
    compare_number,
)
from course_lib.interpret.attribution import Explanation, TokenModelView, explain_token_model
from course_lib.interpret.logos import motif_in
from course_lib.models.bert import (
    bert_classifier,
    bert_logit,
    load_dnabert,
    small_bert_config,
    transfer_encoder,
)
from course_lib.models.bilstm import lstm_token_ids
from course_lib.paths import resolve_checkpoint
from course_lib.pretraining import pretrain_masked_kmers
from course_lib.tokenization import KmerVocabulary, build_vocabulary
from course_lib.training import default_forward, dnabert_optimizer
from course_lib.uncertainty import corrected_resampled_ttest, fold_comparison

NOTEBOOK = "03_pum2_dnabert_lstm.ipynb"

#: Published figures chapter 3 prints beside its own (real data), each with its protocol label.
ANCHORS: dict[str, dict[str, Any]] = {
    "BiLSTM on 3-mers, PUM2": {
        "accuracy": 0.895,
        "ROC AUC": 0.941,
        "protocol": "one split, test-selected",
        "source": "original course notebook: 3,101/3,101 PUM2 course set, one split, the "
        "model picked on the test split (a clean protocol is expected to score lower)",
    },
    "DNABERT-3 fine-tuned, PUM2": {
        "accuracy": 0.926,
        "ROC AUC": 0.969,
        "protocol": "one split, test-selected",
        "source": "original course notebook: 3,101/3,101 PUM2 course set, one split, the "
        "model picked on the test split (a clean protocol is expected to score lower)",
    },
    "3-5-mer count logistic regression, RNAProt PUM2": {
        "ROC AUC": 0.907,
        "ROC AUC sd": 0.006,
        "protocol": "stratified 5-fold CV",
        "source": "measured on the RNAProt PUM2 files, stratified 5-fold CV (data README)",
    },
}


def bert_view(vocab: KmerVocabulary) -> TokenModelView:
    """How :mod:`course_lib.interpret` feeds sequences to a BERT classifier on ``vocab``."""
    return TokenModelView(
        encode=lambda seqs: vocab.encode(seqs).to_torch(),
        forward=bert_logit,
        embedding=lambda model: model.bert.embeddings.word_embeddings,
        k=vocab.k,
        leading_specials=1,
    )


def mlm_pretraining_hook(
    config,
    tokens: dict[str, torch.Tensor],
    vocab: KmerVocabulary,
    *,
    epochs: int,
    batch_size: int,
    lr: float,
    seed: int = 0,
    device: str = "auto",
    show_progress: bool = True,
):
    """A ``prepare`` for :func:`course_lib.cross_validation.neural_fold_trainer`.

    For each fold, pretrain on that fold's fit rows only (never validation or test rows) and
    copy the encoder into the fresh classifier. Returns ``{"mlm_history": DataFrame,
    "fit_index": [n_fit] rows pretrained on}``.
    """

    def prepare(model: nn.Module, fit_index: np.ndarray, fold: int) -> dict[str, Any]:
        index = torch.as_tensor(fit_index, dtype=torch.long)
        mlm, result = pretrain_masked_kmers(
            config,
            tokens["input_ids"][index],
            tokens["attention_mask"][index],
            vocab,
            epochs=epochs,
            batch_size=batch_size,
            lr=lr,
            seed=seed + fold,
            device=device,
            show_progress=show_progress,
            description=f"MLM pretraining fold {fold}",
        )
        transfer_encoder(mlm, model)
        return {"mlm_history": result.history, "fit_index": np.asarray(fit_index)}

    return prepare


def bert_fold_trainers(
    tokens: dict[str, torch.Tensor],
    labels: np.ndarray,
    vocab: KmerVocabulary,
    *,
    hidden_size: int,
    num_layers: int,
    num_heads: int,
    intermediate_size: int,
    epochs: int,
    lr: float,
    pretrain_epochs: int,
    pretrain_lr: float,
    batch_size: int,
    dnabert_path: str | Path | None = None,
    device: str | torch.device = "auto",
    seed: int = 0,
    show_progress: bool = True,
) -> dict[str, Callable]:
    """The chapter's BERT variants as ``train_fold`` functions for ``cross_validate``.

    Without ``dnabert_path``: ``"BERT (no pretraining)"`` and, when ``pretrain_epochs > 0``,
    ``"BERT (MLM-pretrained)"`` (same architecture and seed, masked k-mer pretraining on each
    fold's fit rows first). With ``dnabert_path``: ``"DNABERT-3 (fine-tuned)"``, a fresh copy of
    the checkpoint per fold. All are fine-tuned in the DNABERT recipe (AdamW, warm-up 10 %,
    weight decay 0.01, gradient clipping 1.0), the epoch kept on validation ROC AUC.
    """
    common = {
        "epochs": epochs,
        "batch_size": batch_size,
        "device": device,
        "forward": bert_logit,
        "optimizer_factory": lambda model, steps: dnabert_optimizer(model, steps, lr=lr),
        "grad_clip": 1.0,
        "seed": seed,
        "show_progress": show_progress,
    }
    if dnabert_path is not None:
        return {
            "DNABERT-3 (fine-tuned)": dnabert_trainer(dnabert_path, tokens, labels, vocab, common)
        }
    config = small_bert_config(
        vocab, hidden_size, num_layers, num_heads, intermediate_size, tokens["input_ids"].shape[1]
    )
    new_bert = partial(bert_classifier, config)
    trainers = {
        "BERT (no pretraining)": neural_fold_trainer(
            new_bert, tokens, labels, name="BERT", **common
        )
    }
    if pretrain_epochs > 0:
        pretraining = {"epochs": pretrain_epochs, "batch_size": batch_size, "lr": pretrain_lr}
        pretraining.update(seed=seed, device=device, show_progress=show_progress)
        prepare = mlm_pretraining_hook(config, tokens, vocab, **pretraining)
        trainers["BERT (MLM-pretrained)"] = neural_fold_trainer(
            new_bert, tokens, labels, name="BERT+MLM", prepare=prepare, **common
        )
    return trainers


def dnabert_trainer(
    dnabert_path: str | Path,
    tokens: dict[str, torch.Tensor],
    labels: np.ndarray,
    vocab: KmerVocabulary,
    options: dict[str, Any],
) -> Callable:
    """A ``train_fold`` fine-tuning a fresh copy of the DNABERT checkpoint folder per fold."""
    checkpoint, checkpoint_vocab = load_dnabert(resolve_checkpoint(dnabert_path))
    if checkpoint_vocab.tokens != vocab.tokens:
        raise ValueError("the checkpoint's vocab.txt differs from the tokenizer's vocabulary")
    factory = partial(copy.deepcopy, checkpoint)
    return neural_fold_trainer(factory, tokens, labels, name="DNABERT-3 (fine-tuned)", **options)


def bilstm_view(k: int = 3) -> TokenModelView:
    """How :mod:`course_lib.interpret` feeds sequences to a :class:`BiLSTMClassifier`."""
    return TokenModelView(
        encode=lambda seqs: torch.from_numpy(lstm_token_ids(seqs, k)),
        forward=default_forward,
        embedding=lambda model: model.embedding,
        k=k,
        leading_specials=0,
    )


def dnabert_folder(value: str | Path | None, tiny: bool = False) -> tuple[Path | None, str]:
    """The DNABERT-3 folder to fine-tune, or ``None`` for the small BERT stand-in, and why.

    A tiny run (``--tiny``) without the folder takes the stand-in branch and says so; a real
    ``full`` run without it stops with the fix.

    Raises
    ------
    FileNotFoundError
        ``value`` names a folder without ``config.json`` and the run is not tiny.
    """
    path = resolve_checkpoint(value)
    if path is None:
        return None, "no dnabert_path: training the small BERT stand-in"
    if (path / "config.json").exists():
        return path, f"fine-tuning the real DNABERT-3 checkpoint in {path}"
    fix = f"put the zhihan1996/DNA_bert_3 folder (config.json, vocab.txt, weights) at {path}"
    if tiny:
        return None, f"tiny run, no DNABERT-3 folder at {path}: training the small BERT stand-in"
    raise FileNotFoundError(f"no DNABERT-3 checkpoint at {path}: {fix}, or pass dnabert_path=None")


def mlm_copy_baseline(
    input_ids: torch.Tensor, fit_index: np.ndarray, vocab: KmerVocabulary, seed: int = 0
) -> dict[str, float]:
    """The no-learning masked 3-mer accuracy under the pretraining's own corruption.

    Simulates :func:`~course_lib.baselines.simulate_kmer_copy_baseline` (15 % of positions,
    spans of ``k``, 80/10/10 drawn per span as :func:`~course_lib.tokenization.mask_tokens`
    does) on the ``fit_index`` rows of ``input_ids`` ``[n, T]`` that the pretraining saw,
    five mask draws.
    """
    rows = torch.as_tensor(np.asarray(fit_index), dtype=torch.long)
    return simulate_kmer_copy_baseline(input_ids[rows], vocab, repeats=5, seed=seed)


def mlm_against_copy(history: pd.DataFrame, copy: dict[str, float]) -> pd.DataFrame:
    """The pretraining history with the copy baseline's accuracy and the margin above it."""
    table = history[["epoch", "mlm_loss", "masked_accuracy"]].copy()
    table["copy baseline accuracy"] = copy["copy accuracy"]
    table["above copy"] = table["masked_accuracy"] - copy["copy accuracy"]
    return table


def _train_test_sizes(result: CVResult) -> tuple[int, int]:
    """Mean training and test rows per fold (for the Nadeau-Bengio correction)."""
    n_test = int(np.mean([len(f.test_index) for f in result.folds]))
    n_total = int(sum(len(f.test_index) for f in result.folds))
    return n_total - n_test, n_test


def fold_intervals(cv: dict[str, CVResult], metric: str = "ROC AUC") -> pd.DataFrame:
    """Mean over folds and its Nadeau-Bengio corrected 95 % interval, one row per model.

    The corrected variance ``(1/J + n_test/n_train) s^2`` accounts for the folds sharing
    training rows; the plain ``s / sqrt(J)`` interval would be too narrow.
    """
    rows = {}
    for name, result in cv.items():
        scores = np.array([f.metrics[metric] for f in result.folds])
        n_train, n_test = _train_test_sizes(result)
        test = corrected_resampled_ttest(scores, np.zeros_like(scores), n_train, n_test)
        rows[name] = {
            "mean": test["mean difference"],
            "sd": float(scores.std(ddof=1)),
            "ci low": max(test["ci low"], 0.0),
            "ci high": min(test["ci high"], 1.0),
            "folds": scores.size,
        }
    return pd.DataFrame(rows).T.rename_axis(f"{metric} over test folds")


def fold_comparisons(
    cv: dict[str, CVResult], reference: str, metric: str = "ROC AUC"
) -> pd.DataFrame:
    """Every model minus ``reference`` on the same folds: corrected t-test, Wilcoxon, naive t.

    Raises
    ------
    ValueError
        A model was scored on other test folds than ``reference``.
    """
    ref = cv[reference]
    rows = {}
    for name, result in cv.items():
        if name == reference:
            continue
        same = len(result.folds) == len(ref.folds) and all(
            np.array_equal(a.test_index, b.test_index)
            for a, b in zip(result.folds, ref.folds, strict=True)
        )
        if not same:
            raise ValueError(f"{name} and {reference} were not scored on the same folds")
        a = np.array([f.metrics[metric] for f in result.folds])
        b = np.array([f.metrics[metric] for f in ref.folds])
        rows[name] = fold_comparison(a, b, *_train_test_sizes(ref))
    return pd.DataFrame(rows).T.rename_axis(f"model minus {reference} ({metric})")


def explained_positives(
    scores: np.ndarray,
    y_true: np.ndarray,
    test_index: np.ndarray,
    n_top: int,
    n_random: int,
    seed: int = 0,
) -> dict[str, np.ndarray]:
    """Rows to explain: the ``n_top`` top-scored test positives and ``n_random`` drawn at random.

    The top-scored positives are mostly motif carriers, which partly restates the selection;
    the random sample shows what the model does on a typical site.
    """
    positive = np.asarray(y_true) == 1
    index = np.asarray(test_index)[positive]
    top = index[np.argsort(-np.asarray(scores)[positive])[:n_top]]
    rng = np.random.default_rng(seed)
    random = rng.choice(index, size=min(n_random, index.size), replace=False)
    return {"top-scored": top, "random": np.sort(random)}


def motif_sentence(frequency: pd.DataFrame, motif: str, provenance: str) -> str:
    """The share of positives and negatives carrying ``motif`` (a
    :func:`~course_lib.interpret.logos.motif_frequency` table), as a sentence of this run."""
    pos, neg = frequency.loc["positives", "fraction"], frequency.loc["negatives", "fraction"]
    return (
        f"In this run ({provenance} data), {pos:.1%} of the positives and {neg:.1%} of the "
        f"negatives carry {motif}: a scan for it alone finds {pos:.1%} of the sites."
    )


#: The chapter's exercises (issue 17), numbered as on the site.
EXERCISES: dict[int, Exercise] = {
    1: Exercise(
        "3.1",
        "the vocabulary for k = 6",
        (
            "Build the vocabulary with build_vocabulary(6) and encode the sequence itself.",
            "encode() takes a list of sequences; the ids of the first one, [CLS] and [SEP] "
            "included, are the answer.",
            "See the k-mer tokens section and KmerVocabulary.encode.",
        ),
    ),
    2: Exercise(
        "3.2",
        "does the BiLSTM depend on the motif?",
        (
            "Pool the out-of-fold predictions with cv['BiLSTM'].pooled().",
            "The pooled rows follow the folds' test_index in order; look up each sequence's "
            "motif there.",
            "Three means: positives with the motif, positives without it, all negatives.",
        ),
    ),
    3: Exercise(
        "3.3",
        "a fair comparison needs the same folds",
        (
            "Draw folds with another seed and cross-validate the k-mer regression on them.",
            "paired_comparison raises ValueError when the test folds differ; catch it.",
            "refused is True when the comparison was refused.",
        ),
    ),
    4: Exercise(
        "3.4",
        "the original BiLSTM readout",
        (
            "Cross-validate on folds[:1] with bilstm_trainer and the other readout.",
            "other_fold is the FoldResult of that run (single.folds[0]).",
            "It must be scored on the same test rows as cv['BiLSTM'].folds[0].",
        ),
    ),
    5: Exercise(
        "3.5",
        "what does the transformer look at?",
        (
            "explain_token_model with bert_view(vocab) on explanation.sequences.",
            "Average each model's ism_importance over sequences, one value per position.",
            "profiles_r is the Pearson r of the two averaged profiles (np.corrcoef).",
        ),
    ),
}


def check_exercise_1(ours6: Any) -> Verdict:
    """Exercise 3.1: the 6-mer ids of ``TGTAAATA`` (``[CLS]`` ... ``[SEP]``)."""
    expected = build_vocabulary(6).encode(["TGTAAATA"]).input_ids[0]
    return check(EXERCISES[1], ours6, partial(compare_arrays, expected=expected, rtol=0, atol=0))


def motif_means(result: CVResult, seqs: list[str], motif: str) -> np.ndarray:
    """``[1, 3]`` mean out-of-fold probability: positives with / without ``motif``, negatives."""
    y, p = result.pooled()
    index = np.concatenate([f.test_index for f in result.folds])
    has = np.array([motif_in(seqs[i], motif) for i in index], dtype=bool)
    groups = ((y == 1) & has, (y == 1) & ~has, y == 0)
    return np.array([[p[g].mean() if g.any() else np.nan for g in groups]])


def check_exercise_2(by_motif: Any, result: CVResult, seqs: list[str], motif: str) -> Verdict:
    """Exercise 3.2: the three means of :func:`motif_means` (a ``[1, 3]`` table)."""
    expected = motif_means(result, seqs, motif)
    return check(
        EXERCISES[2], by_motif, partial(compare_arrays, expected=expected, rtol=1e-6, atol=1e-9)
    )


def check_exercise_3(refused: Any, folds: list, other_folds: list) -> Verdict:
    """Exercise 3.3: whether the comparison must be refused (it must when the folds differ)."""
    differ = any(not np.array_equal(a[1], b[1]) for a, b in zip(folds, other_folds, strict=True))
    return check(
        EXERCISES[3], refused, partial(compare_number, expected=float(differ), rtol=0, atol=0)
    )


def check_exercise_4(other_fold: Any, reference: CVResult) -> Verdict:
    """Exercise 3.4: the other readout's fold is fold 0's test rows, its ROC AUC as scored."""

    def compare(answer: Any) -> Comparison:
        if not hasattr(answer, "test_index"):
            return Comparison(False, f"expected a FoldResult, got {type(answer).__name__}")
        if not np.array_equal(answer.test_index, reference.folds[0].test_index):
            return Comparison(False, "your model was not tested on fold 0's test rows")
        auc = roc_auc_score(answer.y_true, answer.scores)
        return compare_number(answer.metrics["ROC AUC"], auc, rtol=0, atol=1e-9)

    return check(EXERCISES[4], other_fold, compare)


def check_exercise_5(
    profiles_r: Any, bilstm: Explanation, bert: nn.Module, vocab: KmerVocabulary, device: Any
) -> Verdict:
    """Exercise 3.5: Pearson r of the averaged ISM profiles of the BiLSTM and ``bert``."""
    other = explain_token_model(bert, bert_view(vocab), bilstm.sequences, device)
    expected = np.corrcoef(bilstm.ism_importance.mean(0), other.ism_importance.mean(0))[0, 1]
    return check(
        EXERCISES[5], profiles_r, partial(compare_number, expected=expected, rtol=0, atol=1e-4)
    )
