"""Step time of chapter 5's UTR-LM pretraining on the real corpus, per profile, on this CPU.

Builds the real pretraining corpus (:func:`course_lib.utr_corpus.real_pretraining_corpus`),
folds the sequences one step count needs (ViennaRNA, timed), and pretrains the ``smoke`` and
``laptop`` UTR-LM sizes of :class:`course_lib.chapters.ch5_config.Ch5Config` for ``--steps``
optimizer steps with MLM only and with MLM + MFE + structure. Prints seconds per step and what an
epoch over the whole corpus, or over ``--corpus-sizes``, would take, so a profile can be
sized to its time budget. Use one thread so that the numbers are those of one core:

    OMP_NUM_THREADS=1 python benchmarks/bench_utr_lm_real_corpus.py --shared ../shared/data
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import pandas as pd
import torch

from course_lib.chapters.ch5_config import Ch5Config
from course_lib.models.utr_lm import (
    UTRLMForPretraining,
    set_mfe_scale,
    utr_lm_config,
    utr_vocabulary,
)
from course_lib.pretraining import PretrainingData, pretrain
from course_lib.structure import FoldedRNA, fold_cached
from course_lib.training import seed_everything
from course_lib.utr_corpus import real_pretraining_corpus

VARIANTS = {"MLM": ("mlm",), "MLM + MFE + structure": ("mlm", "mfe", "structure")}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    root = Path(__file__).resolve().parents[1]
    parser.add_argument("--shared", type=Path, default=root.parent / "shared" / "data")
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--profiles", nargs="+", default=["smoke", "laptop"])
    parser.add_argument("--corpus-sizes", type=int, nargs="+", default=[6000, 20000])
    parser.add_argument("--processes", type=int, default=1, help="ViennaRNA worker processes")
    return parser.parse_args()


def time_pretraining(
    settings: Ch5Config, objectives: tuple[str, ...], train, val, vocab
) -> tuple[float, float]:
    """Wall and CPU seconds per optimizer step of one epoch of ``pretrain`` (validation on 64
    UTRs). On a shared machine the CPU time is the better estimate of an idle core's wall time.
    """
    seed_everything(0)
    config = utr_lm_config(
        vocab,
        hidden_size=settings["hidden_size"],
        num_layers=settings["num_layers"],
        num_heads=settings["num_heads"],
        max_length=52,
    )
    model = UTRLMForPretraining(set_mfe_scale(config, train.mfe.numpy()))
    start, cpu = time.perf_counter(), time.process_time()
    pretrain(
        model,
        vocab,
        train,
        val,
        objectives=objectives,
        epochs=1,
        batch_size=settings["batch_size"],
        lr=settings["pretrain_lr"],
        device="cpu",
        show_progress=False,
    )
    steps = -(-len(train) // settings["batch_size"])
    return (time.perf_counter() - start) / steps, (time.process_time() - cpu) / steps


def main() -> None:
    args = parse_args()
    torch.set_num_threads(1)
    corpus = real_pretraining_corpus(args.shared, verbose=False)
    print(corpus.report.to_string(), "\n")
    largest = max(Ch5Config.resolve(p).batch_size for p in args.profiles) * args.steps
    seqs = corpus.sequences[: largest + 64]
    start = time.perf_counter()
    fold = fold_cached(seqs, processes=args.processes, show_progress=False)
    fold_seconds = time.perf_counter() - start
    print(
        f"ViennaRNA: {len(seqs)} UTRs in {fold_seconds:.1f} s wall ({args.processes} "
        f"process(es); 0 s when cached) -> whole corpus of {len(corpus)} about "
        f"{fold_seconds / len(seqs) * len(corpus):.0f} s at this rate\n"
    )
    vocab = utr_vocabulary()
    rows = []
    for profile in args.profiles:
        settings = Ch5Config.resolve(profile)
        n = settings["batch_size"] * args.steps
        train = PretrainingData.from_sequences(seqs[64 : 64 + n], vocab, _part(fold, 64, n), 52)
        val = PretrainingData.from_sequences(seqs[:64], vocab, _part(fold, 0, 64), 52)
        for name, objectives in VARIANTS.items():
            wall, per_step = time_pretraining(settings, objectives, train, val, vocab)
            row = {"profile": profile, "objectives": name, "batch": settings["batch_size"]}
            row["wall ms/step"] = 1000 * wall
            row["CPU ms/step"] = 1000 * per_step
            row["UTRs/CPU s"] = settings["batch_size"] / per_step
            for size in [*args.corpus_sizes, len(corpus)]:
                row[f"s/epoch of {size}"] = per_step * -(-size // settings["batch_size"])
            rows.append(row)
    print(f"{args.steps} steps per run, one thread, UTRs of 50 nt; s/epoch from CPU time")
    print(pd.DataFrame(rows).round(2).to_string(index=False))


def _part(fold: FoldedRNA, start: int, n: int) -> FoldedRNA:
    stop = start + n
    return FoldedRNA(fold.sequences[start:stop], fold.structures[start:stop], fold.mfe[start:stop])


if __name__ == "__main__":
    main()
