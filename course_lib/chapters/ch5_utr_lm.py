"""Chapter 5, ``notebooks/05_utr_lm.ipynb``: pretrain and fine-tune a 5' UTR language model.

The chapter's recipe: settings per profile (:data:`SETTINGS`), the published anchors
(:data:`ANCHORS`), fine-tuning :class:`~course_lib.models.utr_lm.UTRLMForMRL` selected on
validation R² (:func:`finetune`), test metrics in MRL units (:func:`evaluate_mrl`), embedding
projections and linear probes (:func:`project_2d`, :func:`linear_probe_r2`) and one table of
this chapter's models, other chapters' results and the anchors
(:func:`results_comparison_table`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.utils.data import DataLoader

from course_lib.baselines import (
    nucleotide_copy_baseline,
    simulate_nucleotide_copy_baseline,
    token_frequencies,
)
from course_lib.exercises import Comparison, Exercise, Verdict, check, compare_number
from course_lib.metrics import r2, regression_metrics
from course_lib.models.utr_lm import UTRLMForMRL
from course_lib.tokenization import KmerVocabulary
from course_lib.training import FitResult, fit, predict, warmup_linear_schedule
from course_lib.utr_corpus import (
    HELD_OUT_FILE,
    PretrainingCorpus,
    build_pretraining_corpus,
    read_held_out,
    read_sources,
)
from course_lib.utr_protocol import FoldSplit, FoldTables, RealUTRProtocol, fold_tables

NOTEBOOK = "05_utr_lm.ipynb"

#: Published figures on the real data, with protocol labels (COURSE_DESIGN.md). Optimus
#: reported squared Pearson r.
ANCHORS = {
    "UTR-LM + ResNet head, fine-tuned (Chu et al. 2024)": {
        "Random7600": {"R2": 0.859},
        "Human7600": {"R2": 0.806},
        "protocol": "paper",
        "source": "Chu Y et al., Nat Mach Intell 6, 449-460 (2024); sklearn R2",
    },
    "Optimus 5-Prime, varying length 25-100 (Sample et al. 2019)": {
        "Random7600": {"Pearson r^2": 0.838},
        "Human7600": {"Pearson r^2": 0.778},
        "protocol": "paper",
        "source": "Sample PJ et al., Nat Biotechnol 37, 803-809 (2019); squared Pearson r, not R2",
    },
}


LOSSES = ("huber", "mse")
#: Token positions of a UTR of up to 100 nt: ``<cls>``, the nucleotides, ``<eos>``.
MAX_TOKENS = 102


#: Sizes laid over ``laptop``/``full`` by ``--tiny`` (same code paths, seconds not minutes).
TINY = {
    "real_folds": 2,
    "real_n_fit": 300,
    "corpus_size": 400,
    "n_mfe_check": 200,
    "utrlm_check_max_length": 150,
    "hidden_size": 16,
    "num_layers": 1,
    "num_heads": 2,
    "pretrain_epochs": 1,
    "finetune_epochs": 1,
    "batch_size": 64,
    "n_projection": 200,
}

#: Settings per profile. ``full`` is the UTR-LM size (6 layers, 16 heads, width 128).
SETTINGS: dict[str, dict[str, Any]] = {
    "smoke": {
        "real_folds": 2,
        "real_n_fit": 400,
        "corpus_size": 800,
        "n_mfe_check": 500,
        "utrlm_check_max_length": 150,
        "val_fraction": 0.1,
        "hidden_size": 32,
        "num_layers": 2,
        "num_heads": 4,
        "pretrain_epochs": 3,
        "finetune_epochs": 2,
        "batch_size": 32,
        "pretrain_lr": 3e-3,
        "finetune_lr": 2e-3,
        "pooling": "mean",
        "loss": "huber",
        "freeze_backbone": False,
        "patience": None,
        "projection": "pca",
        "n_projection": 500,
        "fold_processes": 2,
    },
    "laptop": {
        "real_folds": 3,
        "real_n_fit": None,
        "corpus_size": 20000,
        "n_mfe_check": 20000,
        "utrlm_check_max_length": None,
        "val_fraction": 0.1,
        "hidden_size": 64,
        "num_layers": 3,
        "num_heads": 4,
        "pretrain_epochs": 5,
        "finetune_epochs": 6,
        "batch_size": 64,
        "pretrain_lr": 1e-3,
        "finetune_lr": 1e-3,
        "pooling": "mean",
        "loss": "huber",
        "freeze_backbone": False,
        "patience": 3,
        "projection": "umap",
        "n_projection": 2000,
        "fold_processes": 2,
    },
    "full": {
        "real_folds": 5,
        "real_n_fit": None,
        "corpus_size": None,
        "n_mfe_check": None,
        "utrlm_check_max_length": None,
        "val_fraction": 0.1,
        "hidden_size": 128,
        "num_layers": 6,
        "num_heads": 16,
        "pretrain_epochs": 50,
        "finetune_epochs": 50,
        "batch_size": 256,
        "pretrain_lr": 5e-4,
        "finetune_lr": 2e-4,
        "pooling": "cls",
        "loss": "huber",
        "freeze_backbone": False,
        "patience": 8,
        "projection": "umap",
        "n_projection": 5000,
        "fold_processes": 8,
    },
    "tiny": TINY,
}


#: Corpus sources as (registry data set, file in its folder, sequence column), in the merge
#: order of :data:`course_lib.utr_corpus.REAL_SOURCES`.
CORPUS_SOURCES = {
    "designed human library": ("utr_testsets", "stride11133m_MPA_H_pred.csv", "utr"),
    "ClinVar SNV alleles": ("optimus_models", "snv_phenotype_log_diff.csv", "utr"),
    "eGFP library": ("utr_testsets", "stride11133m_MPA_U_pred.csv", "utr"),
    "m1Ψ eGFP library": ("utr_mfe", "utr_RFregr_m1pseudo_2_MFE.testdata.csv", "utr"),
}


def real_corpus(verbose: bool = True) -> PretrainingCorpus | None:
    """The real pretraining corpus, read from the registry's folders.

    Every source of :data:`CORPUS_SOURCES` and the held-out Random7600/Human7600 table must be
    real (``registry.load`` provenance); otherwise ``None`` (the caller falls back and says so).
    The corpus never shares a 25-nt stretch with a held-out UTR
    (:func:`course_lib.utr_corpus.build_pretraining_corpus`); take a profile's size with
    ``corpus.split(val_fraction, n)``.
    """
    import course_lib.datasets  # noqa: F401  (registers the data sets)
    from course_lib import registry

    loaded = {name: registry.load(name) for name in {s[0] for s in CORPUS_SOURCES.values()}}
    if any(item.provenance != "real" for item in loaded.values()):
        return None
    files = {
        name: (loaded[ds].folder / file, col) for name, (ds, file, col) in CORPUS_SOURCES.items()
    }
    sources = read_sources(files, verbose)
    held_out = read_held_out(loaded["utr_testsets"].folder / Path(HELD_OUT_FILE).name, verbose)
    return build_pretraining_corpus(sources, held_out)


def stand_in_corpus(utrs: Sequence[str], protocol: RealUTRProtocol) -> PretrainingCorpus:
    """A pretraining corpus from stand-in UTRs when the real libraries are absent.

    Like :func:`real_corpus`, it never shares a 25-nt stretch with a Random7600 or Human7600
    UTR of ``protocol`` (the fine-tuning folds and the external test).
    """
    held_out = {
        "Random7600": protocol.random["utr"].tolist(),
        "Human7600": protocol.human["utr"].tolist(),
    }
    return build_pretraining_corpus({"stand-in UTRs": list(utrs)}, held_out)


def mlm_against_copy(
    history: pd.DataFrame,
    best_epoch: int,
    train_ids: np.ndarray,
    val_ids: np.ndarray,
    vocab: KmerVocabulary,
    repeats: int = 3,
    seed: int = 0,
) -> dict[str, float]:
    """The model's validation MLM loss and accuracy beside the copy baseline (issue 16).

    The copy baseline is the best score without using the context under the exact 80/10/10
    corruption: closed form (:func:`course_lib.baselines.nucleotide_copy_baseline`) with base
    frequencies fitted on the training rows ``train_ids`` ``[n, T]``, and the same strategy
    played on ``repeats`` mask draws of the validation rows ``val_ids``
    (:func:`~course_lib.baselines.simulate_nucleotide_copy_baseline`).
    """
    frequencies = token_frequencies(train_ids, vocab)
    closed = nucleotide_copy_baseline(frequencies)
    played = simulate_nucleotide_copy_baseline(
        val_ids, vocab, frequencies, repeats=repeats, seed=seed
    )
    row = history.iloc[best_epoch - 1]
    return {
        "model MLM loss": float(row["val_mlm"]),
        "model MLM accuracy": float(row["val_mlm_accuracy"]),
        "copy loss (closed form)": closed["copy loss"],
        "copy accuracy (closed form)": closed["copy accuracy"],
        "copy loss (simulated)": played["copy loss"],
        "copy accuracy (simulated)": played["copy accuracy"],
        "uniform loss ln 4": closed["uniform loss"],
    }


#: Measured pretraining time, seconds per corpus UTR per epoch, at laptop width (64, 3 layers)
#: on one idle CPU core (about 50 s per epoch at 20,000 UTRs).
CPU_SECONDS_PER_UTR_EPOCH = 50 / 20_000


def pretraining_cpu_seconds(
    n_corpus: int, epochs: int, hidden_size: int, num_layers: int, n_backbones: int = 2
) -> float:
    """Estimated CPU seconds to pretrain ``n_backbones`` backbones (for ``check_long_run``).

    Scales :data:`CPU_SECONDS_PER_UTR_EPOCH` by the corpus size, the epochs, the number of
    layers and the square of the width (the cost of a block on short sequences).
    """
    scale = (hidden_size / 64) ** 2 * num_layers / 3
    return CPU_SECONDS_PER_UTR_EPOCH * n_corpus * epochs * scale * n_backbones


EXERCISES = {
    1: Exercise(
        "5.1",
        "a frozen backbone",
        (
            "Build the model from backbone (c)'s checkpoint with freeze_backbone=True.",
            "Only parameters with requires_grad reach the optimiser: finetune already does so.",
            "See mrl_model in course_lib.models.utr_lm and finetune in this chapter's module.",
        ),
    ),
    2: Exercise(
        "5.2",
        "is the MFE head just counting G and C?",
        (
            "Fit on the pretraining corpus and its ViennaRNA MFE, score on the monitoring UTRs.",
            "Use three features per UTR: GC fraction, length and their product.",
            "course_lib.encoding.gc_content, sklearn LinearRegression, metrics.pearson_r.",
        ),
    ),
}


def check_exercise_1(answer: Any, checkpoint: str | Path) -> Verdict:
    """Exercise 5.1: ``answer`` is the fine-tuned model; its backbone must equal the checkpoint."""
    from course_lib.models.utr_lm import load_pretrained

    def compare(model: Any) -> Comparison:
        if not hasattr(model, "esm"):
            return Comparison(False, "expected the UTRLMForMRL model you fine-tuned")
        saved = load_pretrained(checkpoint)[0].esm.state_dict()
        trained = model.esm.state_dict()
        changed = [k for k, w in trained.items() if not torch.equal(w.cpu(), saved[k])]
        if changed:
            return Comparison(False, f"{len(changed)} backbone tensors changed during training")
        return Comparison(True)

    return check(EXERCISES[1], answer, compare)


def check_exercise_2(
    answer: Any,
    corpus: Sequence[str],
    corpus_mfe: np.ndarray,
    monitor: Sequence[str],
    monitor_mfe: np.ndarray,
) -> Verdict:
    """Exercise 5.2: ``answer`` is the composition baseline's Pearson r on the monitoring UTRs."""
    from sklearn.linear_model import LinearRegression

    from course_lib.encoding import gc_content
    from course_lib.metrics import pearson_r

    def features(seqs: Sequence[str]) -> np.ndarray:
        gc, length = gc_content(seqs), np.array([len(x) for x in seqs], dtype=float)
        return np.c_[gc, length, gc * length]

    fit_ = LinearRegression().fit(features(corpus), corpus_mfe)
    expected = pearson_r(monitor_mfe, fit_.predict(features(monitor)))
    return check(EXERCISES[2], answer, lambda a: compare_number(a, expected, 0.0, 0.01))


def fold_training_rows(split: FoldSplit, n_fit: int | None, seed: int = 0) -> np.ndarray:
    """A fold's training rows: all of ``split.fit``, or a subset of ``n_fit`` of them.

    The subset is drawn with ``seed + split.fold``, so a fold's rows are the same whichever
    cell asks for them (the detailed look at fold 0 and the ablation over folds).
    """
    index = split.fit
    if n_fit is not None and n_fit < len(index):
        rng = np.random.default_rng(seed + split.fold)
        index = np.sort(rng.choice(index, n_fit, replace=False))
    return index


def fold_loaders(
    protocol: RealUTRProtocol, split: FoldSplit, n_fit: int | None, batch_size: int, seed: int = 0
) -> tuple[FoldTables, dict[str, DataLoader]]:
    """One fold's tables (training-only scaler) and token loaders with scaled targets.

    Loader names: ``train`` (shuffled), ``val`` (selection), ``test_random`` (the fold's
    held-out Random7600 UTRs) and ``test_human`` (all of Human7600), as in
    :data:`course_lib.datasets.utr.TEST_NAMES`.
    """
    from course_lib.datasets.utr import scale_labels
    from course_lib.models.utr_lm import encode_utrs, utr_vocabulary
    from course_lib.token_batches import mrl_loader

    parts = fold_tables(protocol.random, split, fold_training_rows(split, n_fit, seed))
    tables = {"train": parts.fit, "val": parts.val, "test_random": parts.test}
    tables["test_human"] = protocol.human
    vocab = utr_vocabulary()
    loaders = {
        name: mrl_loader(
            encode_utrs(t["utr"], vocab, MAX_TOKENS),
            scale_labels(t, parts.scaler),
            batch_size,
            shuffle=name == "train",
            seed=seed,
        )
        for name, t in tables.items()
    }
    return parts, loaders


@dataclass
class Ablation:
    """The pretraining ablation over real Random7600 folds.

    Attributes
    ----------
    per_fold
        One row per variant and fold: ``n fit`` and ``R2``, ``Pearson r^2`` of
        ``Random7600 fold`` (the fold's held-out UTRs) and ``Human7600``.
    human
        ``{variant: [n_human]}`` Human7600 predictions (MRL) averaged over folds.
    fits
        ``{variant: [FitResult per fold]}`` (training curves, selected epochs).
    first_models
        ``{variant: model}`` fine-tuned on the first fold, for a closer look.
    """

    per_fold: pd.DataFrame
    human: dict[str, np.ndarray]
    fits: dict[str, list[FitResult]]
    first_models: dict[str, nn.Module]


def real_fold_ablation(
    sources: Mapping[str, Any],
    protocol: RealUTRProtocol,
    settings: Mapping[str, Any],
    device: torch.device | str = "cpu",
    seed: int = 0,
) -> Ablation:
    """Fine-tune every variant on real Random7600 folds; test on the fold and on Human7600.

    ``sources`` maps a variant to a config (no pretraining) or a checkpoint folder. Each of the
    first ``settings["real_folds"]`` folds trains on its fit rows (a seeded subset of
    ``settings["real_n_fit"]``, :func:`fold_training_rows`) with a scaler fitted on them,
    selects on the fold's inner validation rows, and scores its held-out rows and all of
    Human7600.
    """
    from course_lib.training import seed_everything

    rows, human, fits, first = [], {}, {}, {}
    for split in protocol.folds[: settings["real_folds"]]:
        parts, loaders = fold_loaders(
            protocol, split, settings["real_n_fit"], settings["batch_size"], seed
        )
        for variant, source in sources.items():
            seed_everything(seed + split.fold)
            model, fit_ = _finetune_variant(
                source, loaders, settings, device, f"fold {split.fold}: {variant}"
            )
            scores, human_pred = _fold_scores(model, loaders, parts.scaler, device)
            rows.append({"variant": variant, "fold": split.fold, "n fit": len(parts.fit), **scores})
            human.setdefault(variant, []).append(human_pred)
            fits.setdefault(variant, []).append(fit_)
            first.setdefault(variant, model)
    human_mean = {v: np.mean(p, axis=0) for v, p in human.items()}
    return Ablation(pd.DataFrame(rows), human_mean, fits, first)


def _finetune_variant(
    source: Any,
    loaders: Mapping[str, DataLoader],
    settings: Mapping[str, Any],
    device: torch.device | str,
    description: str,
) -> tuple[nn.Module, FitResult]:
    """Build one variant's MRL model from ``source`` and fine-tune it on a fold's loaders."""
    from course_lib.models.utr_lm import mrl_model

    model = mrl_model(
        source, pooling=settings["pooling"], freeze_backbone=settings["freeze_backbone"]
    )
    fit_ = finetune(
        model,
        loaders["train"],
        loaders["val"],
        loss=settings["loss"],
        epochs=settings["finetune_epochs"],
        lr=settings["finetune_lr"],
        patience=settings["patience"],
        device=device,
        description=description,
    )
    return model, fit_


def _fold_scores(
    model: nn.Module, loaders: Mapping[str, DataLoader], scaler: Any, device: torch.device | str
) -> tuple[dict[str, float], np.ndarray]:
    """R2 and Pearson r^2 on a fold's two test sets, and the ``[n_human]`` MRL predictions."""
    from course_lib.datasets.utr import unscale

    scores, human_pred = {}, None
    for name, label in (("test_random", "Random7600 fold"), ("test_human", "Human7600")):
        y, pred = predict(model, loaders[name], device)
        y, pred = unscale(y, scaler), unscale(pred, scaler)
        metrics = regression_metrics(y, pred)
        scores.update({f"{label} {m}": metrics[m] for m in ("R2", "Pearson r^2")})
        human_pred = pred
    return scores, human_pred


def published_fold_scores(
    predict_mrl: Callable[[Sequence[str]], np.ndarray],
    protocol: RealUTRProtocol,
    n_folds: int,
    name: str,
) -> pd.DataFrame:
    """A published model's rows for the ablation table, on the same folds and Human7600.

    ``predict_mrl(utrs) -> [n]`` MRL (e.g. chapter 1's Framepool predictor; Framepool was
    trained with Random7600 and Human7600 held out). Same columns as
    :attr:`Ablation.per_fold`, ``n fit`` 0 (nothing is trained here).
    """
    human = regression_metrics(protocol.human["rl"], predict_mrl(protocol.human["utr"]))
    rows = []
    for split in protocol.folds[:n_folds]:
        test = protocol.random.iloc[split.test]
        metrics = regression_metrics(test["rl"], predict_mrl(test["utr"]))
        scores = {f"Random7600 fold {m}": metrics[m] for m in ("R2", "Pearson r^2")}
        scores |= {f"Human7600 {m}": human[m] for m in ("R2", "Pearson r^2")}
        rows.append({"variant": name, "fold": split.fold, "n fit": 0, **scores})
    return pd.DataFrame(rows)


def regression_loss(name: str) -> nn.Module:
    """``"huber"`` (``HuberLoss(delta=1)``, robust to noisy low-read labels) or ``"mse"``."""
    if name == "huber":
        return nn.HuberLoss(delta=1.0)
    if name == "mse":
        return nn.MSELoss()
    raise ValueError(f"loss must be one of {LOSSES}, got {name!r}")


def finetune(
    model: UTRLMForMRL,
    train_loader: DataLoader,
    val_loader: DataLoader,
    *,
    loss: str = "huber",
    epochs: int = 10,
    lr: float = 1e-3,
    weight_decay: float = 0.01,
    patience: int | None = None,
    grad_clip: float | None = 1.0,
    device: torch.device | str = "auto",
    show_progress: bool = True,
    description: str = "fine-tuning",
) -> FitResult:
    """Train the MRL model with :func:`course_lib.training.fit`, selecting on validation R².

    Only trainable parameters go to AdamW, so a frozen backbone stays exactly as loaded.
    Returns the ``FitResult`` (history with ``val_R2``); the model holds the best state.
    """
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    scheduler = warmup_linear_schedule(optimizer, epochs * len(train_loader))
    return fit(
        model,
        train_loader,
        val_loader,
        loss_fn=regression_loss(loss),
        epochs=epochs,
        optimizer=optimizer,
        device=device,
        val_score=r2,
        val_score_name="val_R2",
        patience=patience,
        scheduler=scheduler,
        scheduler_per_batch=True,
        grad_clip=grad_clip,
        show_progress=show_progress,
        description=description,
    )


def evaluate_mrl(
    model: nn.Module,
    loaders: Mapping[str, DataLoader],
    inverse: Callable[[np.ndarray], np.ndarray],
    device: torch.device | str = "auto",
) -> dict[str, dict[str, float]]:
    """Regression metrics per named test loader, in MRL units.

    ``inverse`` maps scaled values back to MRL (e.g. ``lambda v: unscale(v, scaler)``). Each
    entry holds ``MSE, MAE, R2, Pearson r, Pearson r^2, Spearman rho`` and ``n``.
    """
    out = {}
    for name, loader in loaders.items():
        y, p = predict(model, loader, device)
        out[name] = {**regression_metrics(inverse(y), inverse(p)), "n": int(len(y))}
    return out


def project_2d(embeddings: np.ndarray, method: str = "pca", seed: int = 0) -> np.ndarray:
    """2-D projection ``[n, 2]`` of ``[n, H]`` embeddings by PCA or UMAP (``umap-learn``)."""
    if method == "pca":
        from sklearn.decomposition import PCA

        return PCA(n_components=2, random_state=seed).fit_transform(embeddings)
    if method == "umap":
        import umap

        return umap.UMAP(n_components=2, random_state=seed, n_jobs=1).fit_transform(embeddings)
    raise ValueError(f"method must be 'pca' or 'umap', got {method!r}")


def linear_probe_r2(embeddings: np.ndarray, y: np.ndarray, folds: int = 5, seed: int = 0) -> float:
    """Cross-validated R² of a ridge regression from frozen embeddings ``[n, H]`` to ``y``.

    A *linear probe*: how much of ``y`` a backbone's embedding exposes without fine-tuning.
    """
    from sklearn.linear_model import RidgeCV
    from sklearn.model_selection import KFold, cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if len(embeddings) != len(y) or len(y) < 2 * folds:
        raise ValueError(f"need matching embeddings and labels, at least {2 * folds} rows")
    probe = make_pipeline(StandardScaler(), RidgeCV(alphas=np.logspace(-2, 3, 11)))
    split = KFold(folds, shuffle=True, random_state=seed)
    return float(cross_val_score(probe, embeddings, np.asarray(y), cv=split, scoring="r2").mean())


def metric_rows(
    metrics: Mapping[str, Any], path: tuple[str, ...] = ()
) -> list[tuple[tuple[str, ...], dict]]:
    """Every dict holding an ``"R2"`` in a nested metrics mapping, with its key path."""
    if not isinstance(metrics, Mapping):
        return []
    if "R2" in metrics:
        return [(path, dict(metrics))]
    rows = []
    for key, value in metrics.items():
        rows.extend(metric_rows(value, (*path, str(key))))
    return rows


def results_comparison_table(
    own: Mapping[str, Mapping[str, Mapping[str, float]]],
    records: Mapping[str, Mapping[str, Any]],
    anchors: Mapping[str, Mapping[str, Any]],
    provenance: str,
    profile: str,
    columns: Sequence[str] = ("R2", "Pearson r", "Pearson r^2", "Spearman rho"),
    skip: Sequence[str] = ("scaled", "val"),
) -> pd.DataFrame:
    """One table: this chapter's models, other chapters' results files, and the anchors.

    Parameters
    ----------
    own
        ``{model: {split: metrics}}`` of this chapter.
    records
        ``{chapter: results record}`` as from :func:`course_lib.results.read_results`; every
        metrics dict with an ``R2`` is listed, labelled by its key path, unless a key of the
        path is in ``skip`` (scaled-unit duplicates and validation scores by default).
    anchors
        ``{label: {split: {metric: value}, "source": str}}`` (non-mapping entries are skipped).
    provenance, profile
        This chapter's data provenance and profile.

    Returns
    -------
    pandas.DataFrame
        Columns ``source, model, split, data, profile`` and ``columns`` (missing values NaN:
        e.g. the Optimus anchor reports only the squared Pearson r).
    """
    header = ["source", "model", "split", "data", "profile"]
    rows = []

    def add(source: str, model: str, split: str, data: str, prof: str, values: Mapping) -> None:
        rows.append([source, model, split, data, prof, *(values.get(c) for c in columns)])

    for model, splits in own.items():
        for split, values in splits.items():
            add("this chapter", model, split, provenance, profile, values)
    for chapter, record in records.items():
        data = record.get("provenance", "")
        if isinstance(data, Mapping):
            data = ", ".join(f"{k}: {v}" for k, v in data.items())
        for path, values in metric_rows(record.get("metrics", {})):
            if set(path) & set(skip):
                continue
            model = path[0] if path else ""
            add(chapter, model, " / ".join(path[1:]), data, record.get("profile", ""), values)
    for label, entry in anchors.items():
        for split, values in entry.items():
            if isinstance(values, Mapping):
                add("anchor", label, split, "real", "published", values)
    table = pd.DataFrame(rows, columns=[*header, *columns])
    return table.astype({c: float for c in columns})
