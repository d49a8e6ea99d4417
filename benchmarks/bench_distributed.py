"""Benchmark: chapter 3's masked k-mer pretraining on 1 and on 2 CPU processes (DDP, gloo).

Both runs train the same small BERT (:func:`course_lib.models.bert.small_bert_config`, dropout
0 so that the runs can agree) with :func:`course_lib.kmer_pretraining.pretrain_masked_kmers`:
the same seed, ``--steps`` steps of the same global batch of ``--batch`` random 81-nt
sequences. One process runs it plainly (1 torch thread); two processes, spawned with
``torch.multiprocessing`` and joined through :func:`course_lib.distributed.setup`, each take
half of every global batch (1 torch thread each). Printed for each: wall seconds of the
training loop (``FitResult.seconds``, rank 0's), tokens per second (sequences x tokens per
step, padding included), and the largest absolute difference between the two runs' final
weights and loss curves.

Run: ``OMP_NUM_THREADS=1 PYTHONPATH=. .venv/bin/python benchmarks/bench_distributed.py
[--steps 60] [--batch 64] [--hidden 64] [--layers 2]``
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
    """One pretraining run: history, final weights, loop seconds and tokens per step."""
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
    return {"history": result.history, "state": state, "seconds": result.seconds, "width": width}


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
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--layers", type=int, default=2)
    args = parser.parse_args()
    one = run(args)
    two = two_processes(args)
    tokens = args.steps * args.batch * one["width"]
    weights = max(float((one["state"][k] - two["state"][k]).abs().max()) for k in one["state"])
    curve = np.abs(one["history"]["mlm_loss"] - two["history"]["mlm_loss"]).max()
    print(f"BERT {args.hidden} wide, {args.layers} layers; {args.steps} steps of {args.batch}")
    print(f"sequences of {one['width']} tokens; {os.cpu_count()} CPUs, 1 torch thread/process")
    for name, found in (("1 process", one), ("2 processes", two)):
        rate = tokens / found["seconds"]
        print(f"{name:>12}: {found['seconds']:7.2f} s, {rate:9.0f} tokens/s")
    print(f"speed-up 2 vs 1: {one['seconds'] / two['seconds']:.2f}x")
    print(f"max |weight difference| {weights:.2e}; max |loss curve difference| {curve:.2e}")


if __name__ == "__main__":
    main()
