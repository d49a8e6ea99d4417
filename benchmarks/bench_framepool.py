"""Benchmark: scoring throughput of the Framepool and Optimus evolution ports on CPU.

Scores ``n`` 50-nt UTRs (default 20,000: the eGFP test set's size) with the published weights
when ``../shared/data`` (or ``--data``) holds them, otherwise with random weights of the same
shapes (throughput does not depend on the values). Prints seconds per model, UTRs per second
and the ratio to the target (all 20,000 in under 10 s on 2 cores), for two batch sizes.

Run: ``OMP_NUM_THREADS=2 python benchmarks/bench_framepool.py [--n 20000] [--threads 2]``
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from course_lib.datasets.published_models import synthesize_framepool, synthesize_optimus
from course_lib.encoding import one_hot
from course_lib.models.framepool import load_framepool
from course_lib.models.optimus import EVOLUTION_SUFFIX, load_optimus_keras

TARGET_SECONDS = 10.0
DEFAULT_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def _models(data: Path) -> tuple[dict, str]:
    framepool, optimus = data / "framepool", data / "optimus"
    provenance = "published weights"
    if not (framepool / "utr_model_50.h5").exists():
        folder = Path(tempfile.mkdtemp())
        synthesize_framepool(folder, 0)
        synthesize_optimus(folder, 0)
        framepool = optimus = folder
        provenance = "random weights of the published shapes"
    models = {
        "Framepool 50-nt": (load_framepool(framepool / "utr_model_50.h5"), {}, ""),
        "Framepool combined": (
            load_framepool(framepool / "utr_model_combined_residual.h5"),
            {"library": 0},
            "",
        ),
        "Optimus evolution": (
            load_optimus_keras(optimus / "evolution_model.hdf5"),
            {},
            EVOLUTION_SUFFIX,
        ),
    }
    return models, provenance


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=20_000)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.set_flush_denormal(True)  # random stand-in weights give tiny (denormal) activations
    rng = np.random.default_rng(0)
    utrs = ["".join(row) for row in np.array(list("ACGT"))[rng.integers(0, 4, (args.n, 50))]]
    models, provenance = _models(args.data)
    print(f"{args.n:,} UTRs of 50 nt, {args.threads} threads, {provenance}")
    for name, (model, kwargs, suffix) in models.items():
        x = torch.from_numpy(one_hot([u + suffix for u in utrs]))
        for batch in (512, 4096):
            start = time.perf_counter()
            with torch.inference_mode():
                for chunk in torch.split(x, batch):
                    model(chunk, **kwargs)
            seconds = time.perf_counter() - start
            print(
                f"{name:<20} batch {batch:>5}: {seconds:6.2f} s, {args.n / seconds:9,.0f} UTRs/s, "
                f"target/time = {TARGET_SECONDS * args.n / 20_000 / seconds:5.2f}"
            )


if __name__ == "__main__":
    main()
