"""Benchmark: chapter 3's cross-validation folds one at a time on every core, or side by side.

A chapter trains one model at a time with every core's worth of torch threads. The models of
chapter 3 are small (a BiLSTM of 2 x 100 units, a BERT of width 64), so a second thread speeds
one training up far less than twofold, and training independent folds side by side, one per
core, might get more out of the same machine. This script measures that on the real data:
each arm's training of one fold at ``laptop`` sizes (k-mer logistic regression, one-hot CNN,
BiLSTM, and the BERT without pretraining at one learning rate, ``bert_lr``; a pretrained BERT
arm costs the same per step), each measurement a fresh child process,

- **alone**: one child with as many torch threads as the machine has cores;
- **side by side**: one child per core at once, one thread each, each on other folds.

It prints seconds per fold and the folds per hour of each way, their ratio, and what the
chapter's cross-validation at ``laptop`` (every arm on every test fold, the BERT arms' learning
rate grid on the first fold) would take either way at ``cv_repeats`` 1 and 2, from these
per-fold times (side by side assumes the folds pack perfectly onto the cores). Run it on a quiet
machine: ``PYTHONPATH=. python benchmarks/bench_fold_parallelism.py``; without the PUM2 files in
the data cache it runs on the synthetic stand-in and says so.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

    from course_lib.chapters.ch3_config import Ch3Config
    from course_lib.tokenization import KmerVocabulary

#: The arms timed, in the chapter's order.
ARMS = ("k-mer LR", "CNN", "BiLSTM", "BERT")


def _trainer(
    arm: str,
    settings: Ch3Config,
    seqs: Sequence[str],
    labels: np.ndarray,
    vocab: KmerVocabulary,
) -> Callable:
    """The chapter's ``train_fold`` of ``arm`` for ``settings`` (the BERT: no pretraining)."""
    from course_lib.chapters import ch3_models

    if arm == "k-mer LR":
        return ch3_models.kmer_trainer(seqs, labels, settings)
    if arm == "CNN":
        return ch3_models.cnn_trainer(seqs, labels, settings, "cpu")
    if arm == "BiLSTM":
        return ch3_models.bilstm_trainer(seqs, labels, settings, "cpu", show_progress=False)
    tokens = vocab.encode(seqs).to_torch()
    trainers = ch3_models.bert_fold_trainers(
        tokens, labels, vocab, settings, {}, device="cpu", show_progress=False
    )
    return trainers["BERT (no pretraining)"]


def chapter_folds_of(arm: str) -> tuple[Callable, list[tuple[np.ndarray, np.ndarray]], str]:
    """``(train_fold, [(fit, val)] per fold, provenance)`` of ``arm`` on the chapter's laptop
    split (folds as ``cross_validate`` splits them: validation seeded ``seed + fold``)."""
    from course_lib.chapters.ch3_config import Ch3Config
    from course_lib.chapters.ch3_models import chapter_folds
    from course_lib.chapters.ch3_pum2_dnabert_lstm import load_sites
    from course_lib.cross_validation import inner_split, stratified_subset
    from course_lib.tokenization import build_vocabulary

    settings = Ch3Config.resolve("laptop", lr_factors=(1.0,))
    sites, provenance, _, _ = load_sites(None, None)
    subset = stratified_subset(sites.labels, settings.n_sequences, 0)
    seqs = [sites.sequences[i] for i in subset]
    labels = sites.labels[subset]
    train_fold = _trainer(arm, settings, seqs, labels, build_vocabulary(settings.k))
    splits = [
        inner_split(train, labels, settings.val_fraction, fold)
        for fold, (train, _) in enumerate(chapter_folds(labels, settings, 0))
    ]
    return train_fold, splits, provenance


def child(arm: str, threads: int, folds: list[int]) -> None:
    """Train ``arm`` on ``folds`` of the chapter's laptop split; print seconds per fold as JSON."""
    import torch

    torch.set_num_threads(threads)
    train_fold, splits, provenance = chapter_folds_of(arm)
    fit, val = splits[0]
    train_fold(fit[::20], val[::4], 0)  # warm-up, untimed: lazy imports, first allocations
    seconds = []
    for fold in folds:
        start = time.perf_counter()
        train_fold(*splits[fold], fold)
        seconds.append(time.perf_counter() - start)
    print(json.dumps({"seconds": seconds, "provenance": provenance}))


def measure(arm: str, threads: int, fold_sets: list[list[int]]) -> tuple[float, str]:
    """Mean seconds per fold over children started together, one per entry of ``fold_sets``."""
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    children = [
        subprocess.Popen(
            [sys.executable, __file__, "--child", arm, "--threads", str(threads)]
            + ["--folds", *map(str, folds)],
            env=env,
            stdout=subprocess.PIPE,
            text=True,
        )
        for folds in fold_sets
    ]
    seconds, provenance = [], ""
    for process in children:
        out, _ = process.communicate()
        if process.returncode:
            raise RuntimeError(f"the {arm} child failed (exit {process.returncode})")
        result = json.loads(out.strip().splitlines()[-1])
        seconds += result["seconds"]
        provenance = result["provenance"]
    return sum(seconds) / len(seconds), provenance


def chapter_fits(cv_repeats: int) -> dict[str, int]:
    """Trainings of each timed arm in the chapter's laptop cross-validation (BERT: 3 arms)."""
    from course_lib.chapters.ch3_config import Ch3Config

    settings = Ch3Config.resolve("laptop", cv_repeats=cv_repeats)
    folds = settings.n_test_folds
    bert_arms = 1 + 2 * (settings.pretrain_steps > 0)
    bert = bert_arms * (folds + len(settings.lr_factors) - 1)
    return {"k-mer LR": folds, "CNN": folds, "BiLSTM": folds, "BERT": bert}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--arms", nargs="+", choices=ARMS, default=list(ARMS))
    parser.add_argument("--folds", type=int, nargs="+", default=[1], help=argparse.SUPPRESS)
    parser.add_argument("--threads", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--child", choices=ARMS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.threads, args.folds)
        return
    cores = os.cpu_count() or 1
    print(f"{cores} CPU cores, load {os.getloadavg()[0]:.1f}")
    alone, side = {}, {}
    for arm in args.arms:
        alone[arm], provenance = measure(arm, cores, [[1]])
        side[arm], _ = measure(arm, 1, [[1 + i % 7] for i in range(cores)])
        ratio = alone[arm] / (side[arm] / cores)
        print(
            f"{arm:9s} ({provenance} data) alone, {cores} threads: {alone[arm]:6.1f} s per fold; "
            f"{cores} side by side, 1 thread each: {side[arm]:6.1f} s per fold each; "
            f"folds per hour side by side / alone: {ratio:.2f}x"
        )
    for repeats in (1, 2):
        fits = chapter_fits(repeats)
        one = sum(fits[a] * alone[a] for a in args.arms)
        many = sum(fits[a] * side[a] / cores for a in args.arms)
        print(
            f"chapter 3's laptop cross-validation, cv_repeats {repeats} "
            f"({', '.join(f'{a} {fits[a]}' for a in args.arms)} trainings): "
            f"{one:6.0f} s alone, {many:6.0f} s side by side ({one / many:.2f}x)"
        )


if __name__ == "__main__":
    main()
