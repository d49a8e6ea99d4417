"""Benchmark: a training loop on 1 and on 2 CPU processes (DDP, gloo), same global batch.

``--loop pretrain`` (default): chapter 3's masked k-mer pretraining of a small BERT
(:func:`course_lib.models.bert.small_bert_config`, dropout 0 so that the runs can agree) with
:func:`course_lib.kmer_pretraining.pretrain_masked_kmers`, ``--steps`` steps of the same global
batch of ``--batch`` random 81-nt sequences. ``--loop finetune``: chapter 5's fine-tuning loop
(:func:`course_lib.chapters.ch5_mrl_finetuning.train_steps`) of a UTR-LM ``--hidden`` wide with
``--layers`` layers (4 heads, dropout 0, mean-pooled MLP head), 10 frozen warm-up steps then
the whole model, on 3,000 random UTRs of 25-100 nt with a made-up MRL, validated on 256 every
``--steps // 2`` steps. One process runs it plainly (1 torch thread); two processes, spawned
with ``torch.multiprocessing`` and joined through :func:`course_lib.distributed.setup`, each
take half of every global batch (1 torch thread each). Printed for each: wall seconds of the
training loop (``FitResult.seconds``, rank 0's, validation included for ``finetune``), items
per second (tokens for ``pretrain``, padding included; UTRs for ``finetune``), and the largest
absolute difference between the two runs' final weights and loss curves.

Run: ``OMP_NUM_THREADS=1 PYTHONPATH=. .venv/bin/python benchmarks/bench_distributed.py
[--loop pretrain|finetune] [--steps 60] [--batch 64] [--hidden 64] [--layers 2]``
"""

from __future__ import annotations

import argparse
import os
import socket
import tempfile
from pathlib import Path

import numpy as np
import torch
import torch.multiprocessing as mp

from course_lib import distributed
from course_lib.kmer_pretraining import pretrain_masked_kmers
from course_lib.models.bert import small_bert_config
from course_lib.tokenization import build_vocabulary


def run(args: argparse.Namespace) -> dict:
    """One run of ``args.loop``: history, final weights, loop seconds, items per step."""
    return finetune_run(args) if args.loop == "finetune" else pretrain_run(args)


def finetune_run(args: argparse.Namespace) -> dict:
    """Chapter 5's fine-tuning loop on made-up MRL: history, weights, seconds, UTRs per step."""
    from course_lib.chapters.ch5_mrl_finetuning import FinetuneRecipe, train_steps
    from course_lib.models.utr_lm import encode_utrs, mrl_model, utr_lm_config, utr_vocabulary
    from course_lib.token_batches import mrl_loader

    torch.set_num_threads(1)
    vocab = utr_vocabulary()
    rng = np.random.default_rng(0)

    def loader(n: int, shuffle: bool):
        seqs = ["".join(rng.choice(list("ACGU"), rng.integers(25, 101))) for _ in range(n)]
        mrl = np.array([s.count("G") / len(s) - s.count("AUG") for s in seqs], np.float32)
        return mrl_loader(encode_utrs(seqs, vocab), mrl, args.batch, shuffle=shuffle, seed=0)

    train, val = loader(3000, True), loader(256, False)
    sizes = {"hidden_size": args.hidden, "num_layers": args.layers, "num_heads": 4}
    torch.manual_seed(0)
    config = utr_lm_config(vocab, **sizes, dropout=0.0, head_dropout=0.0)
    model = mrl_model(config, pooling="mean", head_dropout=0.0)
    every = max(args.steps // 2, 1)
    recipe = FinetuneRecipe(
        lr=1e-3, backbone_lr_factor=0.1, frozen_steps=10, steps=args.steps, eval_every=every
    )
    result = train_steps(model, train, val, recipe, "cpu", False)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    history = result.history.rename(columns={"train_loss": "loss"})
    return {"history": history, "state": state, "seconds": result.seconds, "items": args.batch}


def pretrain_run(args: argparse.Namespace) -> dict:
    """Masked k-mer pretraining: history, final weights, loop seconds and tokens per step."""
    torch.set_num_threads(1)
    vocab = build_vocabulary(3)
    rng = np.random.default_rng(0)
    seqs = ["".join(rng.choice(list("ACGT"), 81)) for _ in range(2000)]
    tokens = vocab.encode(seqs).to_torch()
    width = tokens["input_ids"].shape[1]
    sizes = (args.hidden, args.layers, 4, 4 * args.hidden)
    config = small_bert_config(vocab, *sizes, width, dropout=0.0)
    model, result = pretrain_masked_kmers(
        config,
        tokens["input_ids"],
        tokens["attention_mask"],
        vocab,
        steps=args.steps,
        batch_size=args.batch,
        log_every=10,
        device="cpu",
        show_progress=False,
    )
    state = {k: v.clone() for k, v in model.state_dict().items()}
    history = result.history.rename(columns={"mlm_loss": "loss"})
    return {
        "history": history,
        "state": state,
        "seconds": result.seconds,
        "items": args.batch * width,
    }


def _rank(rank: int, port: int, out: str, args: argparse.Namespace) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank))
    os.environ.update(WORLD_SIZE="2", LOCAL_RANK=str(rank))
    with distributed.running(precision="fp32"):
        found = run(args)
        if rank == 0:
            torch.save(found, out)


def two_processes(args: argparse.Namespace) -> dict:
    """:func:`run` on two gloo ranks; rank 0's result."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with tempfile.TemporaryDirectory() as folder:
        out = str(Path(folder) / "rank0.pt")
        mp.start_processes(_rank, args=(port, out, args), nprocs=2, start_method="spawn")
        return torch.load(out, weights_only=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--loop", choices=("pretrain", "finetune"), default="pretrain")
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--layers", type=int, default=2)
    args = parser.parse_args()
    one = run(args)
    two = two_processes(args)
    items = args.steps * one["items"]
    weights = max(float((one["state"][k] - two["state"][k]).abs().max()) for k in one["state"])
    curve = np.abs(one["history"]["loss"] - two["history"]["loss"]).max()
    model = "UTR-LM fine-tuning" if args.loop == "finetune" else "BERT masked 3-mer pretraining"
    unit = "UTRs" if args.loop == "finetune" else "tokens"
    print(f"{model}, {args.hidden} wide, {args.layers} layers; {args.steps} steps of {args.batch}")
    print(f"{one['items']} {unit} per step; {os.cpu_count()} CPUs, 1 torch thread/process")
    for name, found in (("1 process", one), ("2 processes", two)):
        rate = items / found["seconds"]
        print(f"{name:>12}: {found['seconds']:7.2f} s, {rate:9.0f} {unit}/s")
    print(f"speed-up 2 vs 1: {one['seconds'] / two['seconds']:.2f}x")
    print(f"max |weight difference| {weights:.2e}; max |loss curve difference| {curve:.2e}")


if __name__ == "__main__":
    main()
