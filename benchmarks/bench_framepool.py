"""Benchmark: scoring 20,000 50-nt UTRs with the Framepool port on CPU, against its peers.

Scores ``n`` random 50-nt UTRs (default 20,000: the eGFP test set's size) with the published
weights when ``../shared/data`` (or ``--data``) holds them, otherwise with random weights of
the same shapes (throughput does not depend on the values). Each side takes the strings and
returns the predictions (one-hot encoding included), in batches of ``--batch`` (default: the
helpers' ``SCORING_BATCH``, 512):

- the port: ``course_lib.models.published.framepool_predictor``, the chapters' helper;
- the straightforward forward pass the port replaced (``conv1d`` on the transposed input,
  ReLU times the mask, reversal, a slice per frame), kept here as the reference only;
- ``multimolecule``'s Framepool (a dev dependency) on the combined model, when installed.

The sides' outputs are checked to agree (the tolerance is printed) before the timing, which
interleaves the sides over ``--repeats`` rounds and prints the best and median wall seconds,
the best CPU seconds, the ratios (higher: the port faster) and target/time (target: 20,000
UTRs in 10 s on 2 cores).
The Optimus evolution port is timed too (no peer). Run:
``OMP_NUM_THREADS=2 python benchmarks/bench_framepool.py [--n 20000] [--threads 2]``
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

from course_lib.datasets.published_models import synthesize_framepool, synthesize_optimus
from course_lib.models.framepool import SCORING_BATCH, Framepool, load_framepool
from course_lib.models.optimus import EVOLUTION_SUFFIX, load_optimus_keras
from course_lib.models.published import framepool_predictor
from course_lib.training import make_predictor

TARGET_SECONDS = 10.0
TOLERANCE = 1e-5
DEFAULT_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
Score = Callable[[Sequence[str]], np.ndarray]


class StraightforwardFramepool(Framepool):
    """The reference: the port's first forward pass, a direct transcription of the graph."""

    def pooled(self, x: torch.Tensor) -> torch.Tensor:
        mask = x.sum(-1).unsqueeze(1)  # [n, 1, L]
        hidden = x.transpose(1, 2)
        for index, conv in enumerate(self.convs):
            out = F.relu(conv(hidden)) * mask
            hidden = out + hidden if self.residual and index > 0 else out
        hidden, mask = hidden.flip(-1), mask.flip(-1)
        frames = [hidden[..., offset::3] for offset in range(3)]
        if self.average == "sequence":
            counts = [mask.sum(-1)] * 3
        else:
            counts = [mask[..., offset::3].sum(-1).clamp_min(1.0) for offset in range(3)]
        maxima = [frame.amax(-1) for frame in frames]
        means = [frame.sum(-1) / count for frame, count in zip(frames, counts, strict=True)]
        return torch.cat(maxima + means, dim=-1)


def straightforward(path: Path, library: int | None, batch: int) -> Score:
    """``score(utrs)`` of the reference forward pass with the weights of ``path``."""
    port = load_framepool(path)
    model = StraightforwardFramepool(residual=port.residual, library_size=port.library_size)
    model.load_state_dict(port.state_dict())
    forward = (lambda m, x: m(x)) if library is None else (lambda m, x: m(x, library=library))
    return make_predictor(model.eval(), forward, batch_size=batch)


def multimolecule_scorer(path: Path, library: int, batch: int) -> Score | None:
    """``score(utrs)`` of multimolecule's Framepool on the combined file; ``None`` if absent."""
    try:
        import multimolecule as mm
        from multimolecule.models.framepool.convert_checkpoint import _convert_checkpoint
    except ImportError:
        return None
    config = mm.FramepoolConfig(vocab_size=4, null_channel_id=None, library_index=library)
    model = mm.FramepoolForSequencePrediction(config).eval()
    state = {
        (k if k.startswith("prediction.") else f"model.{k}"): v
        for k, v in _convert_checkpoint(str(path)).items()
    }
    model.load_state_dict(state, strict=False)

    def forward(m: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
        return m(inputs_embeds=x).logits.squeeze(-1)

    return make_predictor(model, forward, batch_size=batch)


def best_and_median(scorers: dict[str, Score], utrs: list[str], repeats: int) -> dict:
    """``{side: (best wall s, median wall s, best CPU s)}`` over ``repeats`` interleaved rounds.

    CPU time (all threads of this process) hardly depends on the other jobs of a shared
    machine; the wall time does (an OpenMP thread that loses its core stalls the other).
    """
    times: dict[str, list[tuple[float, float]]] = {side: [] for side in scorers}
    for _ in range(repeats):
        for side, score in scorers.items():
            wall, cpu = time.perf_counter(), time.process_time()
            score(utrs)
            times[side].append((time.perf_counter() - wall, time.process_time() - cpu))
    return {
        side: (min(w for w, _ in t), float(np.median([w for w, _ in t])), min(c for _, c in t))
        for side, t in times.items()
    }


def _files(data: Path) -> tuple[Path, Path, str]:
    framepool, optimus = data / "framepool", data / "optimus"
    if (framepool / "utr_model_50.h5").exists():
        return framepool, optimus, "published weights"
    folder = Path(tempfile.mkdtemp())
    synthesize_framepool(folder, 0)
    synthesize_optimus(folder, 0)
    return folder, folder, "random weights of the published shapes"


def framepool_sides(folder: Path, batch: int) -> dict[str, dict[str, tuple[Score, str]]]:
    """``{model: {side: (score, what the port is checked against)}}``, the port first."""
    sides = {}
    for name, file, library in (
        ("Framepool 50-nt", "utr_model_50.h5", None),
        ("Framepool combined", "utr_model_combined_residual.h5", 0),
    ):
        path = folder / file
        sides[name] = {
            "port": (framepool_predictor(path, library, batch=batch), ""),
            "straightforward conv1d": (straightforward(path, library, batch), "port"),
        }
        peer = None if library is None else multimolecule_scorer(path, library, batch)
        if peer is not None:  # multimolecule averages per frame: compare with that port
            frame_port = framepool_predictor(path, library, average="frame", batch=batch)
            sides[name]["multimolecule Framepool"] = (peer, "port, per-frame average")
            sides[name]["port, per-frame average"] = (frame_port, "")
    return sides


def report(name: str, sides: dict, utrs: list[str], repeats: int) -> None:
    """Check the sides' agreement on 1,000 UTRs, time them all, print one block."""
    outputs = {side: score(utrs[:1000]) for side, (score, _) in sides.items()}
    timing = best_and_median({side: score for side, (score, _) in sides.items()}, utrs, repeats)
    best, median, cpu = timing["port"]
    scale = TARGET_SECONDS * len(utrs) / 20_000
    print(
        f"{name:<19} port: wall {best:.2f} s best, {median:.2f} s median, CPU {cpu:.2f} s "
        f"({len(utrs) / best:,.0f} UTRs/s); target/time {scale / best:.2f} best, "
        f"{scale / median:.2f} median"
    )
    for side, (_, against) in sides.items():
        if not against:
            continue
        diff = np.abs(outputs[side] - outputs[against]).max()
        ours, theirs = timing[against], timing[side]
        print(
            f"{'':<19} {side}: max |diff| to the {against} {diff:.1e} (tolerance {TOLERANCE:g}"
            f"{')' if diff <= TOLERANCE else '): DISAGREES'}; wall {theirs[0]:.2f} s best, "
            f"{theirs[1]:.2f} s median, CPU {theirs[2]:.2f} s; ratio {theirs[0] / ours[0]:.2f}x "
            f"best, {theirs[1] / ours[1]:.2f}x median, {theirs[2] / ours[2]:.2f}x CPU"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=20_000)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch", type=int, default=SCORING_BATCH)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.set_flush_denormal(True)  # random stand-in weights give tiny (denormal) activations
    rng = np.random.default_rng(0)
    utrs = ["".join(row) for row in np.array(list("ACGT"))[rng.integers(0, 4, (args.n, 50))]]
    framepool, optimus, provenance = _files(args.data)
    print(
        f"{args.n:,} random UTRs of 50 nt, {args.threads} threads, batch {args.batch}, "
        f"{args.repeats} repeats, {provenance}"
    )
    for name, sides in framepool_sides(framepool, args.batch).items():
        report(name, sides, utrs, args.repeats)
    evolution = make_predictor(load_optimus_keras(optimus / "evolution_model.hdf5"))
    best, median, cpu = best_and_median(
        {"port": lambda u: evolution([s + EVOLUTION_SUFFIX for s in u])}, utrs, args.repeats
    )["port"]
    print(
        f"{'Optimus evolution':<19} port: wall {best:.2f} s best, {median:.2f} s median, "
        f"CPU {cpu:.2f} s"
    )


if __name__ == "__main__":
    main()
