"""Per-epoch time of training the UTR head from the embedding cache vs recomputing RNA-FM.

The RNA-FM tutorial ran the frozen backbone on every batch of every epoch. This script trains
the same head (``seq+emb-rnafm``) both ways on the same UTRs and prints the time of each epoch
and the ratio. The backbone has the RNA-FM architecture (12 layers, width 640, 20 heads) with
random weights: the time does not depend on the weights, and real ones cannot be downloaded
here. The cache's one-off cost (embedding every sequence once) is printed separately.

    python benchmarks/bench_rnafm_cache.py                 # RNA-FM size, 256 UTRs, 3 epochs
    python benchmarks/bench_rnafm_cache.py --layers 4 --embed-dim 128 --n-train 1024
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from course_lib import registry
from course_lib.chapters.ch1_embedding_cache import UTRBatches, build_embedding_cache
from course_lib.datasets import utr
from course_lib.models.rnafm import RNAFM_T12, build_small_rnafm, load_rnafm
from course_lib.models.utr_resnet import Human5PrimeUTRPredictor
from course_lib.training import fit, seed_everything, select_device


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layers", type=int, default=RNAFM_T12["layers"])
    parser.add_argument("--embed-dim", type=int, default=RNAFM_T12["embed_dim"])
    parser.add_argument("--ffn-embed-dim", type=int, default=RNAFM_T12["ffn_embed_dim"])
    parser.add_argument("--heads", type=int, default=RNAFM_T12["attention_heads"])
    parser.add_argument("--n-train", type=int, default=256)
    parser.add_argument("--n-val", type=int, default=64)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--channels", type=int, default=64)
    parser.add_argument("--device", default="auto")
    return parser.parse_args()


def train(loaders: dict[str, UTRBatches], embed_dim: int, args, device) -> pd.Series:
    """Seconds per epoch of one training run (the same seed, so the same work)."""
    seed_everything(0)
    model = Human5PrimeUTRPredictor(
        ("seq", "emb-rnafm"), embed_dim=embed_dim, channels=args.channels
    )
    result = fit(
        model,
        loaders["train"],
        loaders["val"],
        loss_fn=torch.nn.functional.mse_loss,
        epochs=args.epochs,
        device=device,
        show_progress=False,
    )
    return result.history.set_index("epoch")["seconds"]


def main() -> None:
    args = parse_args()
    device = select_device(args.device)
    library = registry.load("utr_varying_length").data
    random_set = library[(library["set"] == "random") & (library["total_reads"] >= 10)]
    rows = random_set.sample(args.n_train + args.n_val, random_state=0)
    parts = {"train": rows.iloc[: args.n_train], "val": rows.iloc[args.n_train :]}
    scaler = utr.fit_label_scaler(parts["train"])

    with tempfile.TemporaryDirectory() as tmp:
        checkpoint = build_small_rnafm(
            Path(tmp) / "RNA-FM_architecture-untrained.pth",
            layers=args.layers,
            embed_dim=args.embed_dim,
            ffn_embed_dim=args.ffn_embed_dim,
            attention_heads=args.heads,
        )
        backbone = load_rnafm(checkpoint, device)
        print(backbone.describe(), f"on {device}")

        def loaders(source) -> dict[str, UTRBatches]:
            return {
                name: UTRBatches(
                    part["utr"],
                    utr.scale_labels(part, scaler),
                    ("seq", "emb-rnafm"),
                    source[name],
                    batch_size=args.batch_size,
                    shuffle=name == "train",
                )
                for name, part in parts.items()
            }

        start = time.perf_counter()
        caches = {
            name: build_embedding_cache(
                backbone, part["utr"], f"bench/{name}", tmp, show_progress=False
            )
            for name, part in parts.items()
        }
        cache_seconds = time.perf_counter() - start
        cached = train(loaders(caches), backbone.embed_dim, args, device)
        recomputed = train(loaders({n: backbone for n in parts}), backbone.embed_dim, args, device)

    table = pd.DataFrame({"recompute backbone (s)": recomputed, "from cache (s)": cached})
    table["ratio"] = table.iloc[:, 0] / table.iloc[:, 1]
    print(f"\n{args.n_train} training + {args.n_val} validation UTRs, batch {args.batch_size}")
    print(table.round(2).to_string())
    print(
        f"one-off cache build: {cache_seconds:.1f} s "
        f"(about {cache_seconds / table.iloc[:, 0].mean():.2f} recompute epochs)"
    )
    later = table.loc[table.index >= 2, "ratio"]
    if len(later):
        print(f"per-epoch ratio from the second epoch on: {np.mean(later):.1f}x (mean)")
    first = table.iloc[0, 0] / (table.iloc[0, 1] + cache_seconds)
    print(f"first epoch including the cache build: {first:.1f}x")


if __name__ == "__main__":
    main()
