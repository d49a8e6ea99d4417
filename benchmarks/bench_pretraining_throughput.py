"""Benchmark: throughput of one pretraining step, Hugging Face's path versus the fused one.

One step is what :func:`course_lib.pretraining.pretrain` does per batch: forward, the losses,
backward, gradient clipping (1.0) and an AdamW update. It is timed for

- chapter 5's UTR-LM (:class:`course_lib.models.utr_lm.UTRLMForPretraining`, dropout 0.1, all
  three objectives) at each profile's size (``BackboneConfig``: width, layers, heads, batch),
  on ``--tokens`` tokens per UTR (52 by default: the issue's laptop step); the UTRs of a batch
  are 0-4 tokens shorter than the longest, as in a length-bucketed, trimmed batch, so the
  padding mask is exercised;
- chapter 3's small BERT (``BertForMaskedLM`` from :func:`course_lib.models.bert.small_bert_config`,
  masked 3-mer modelling) at each profile's size (``Ch3Config``: ``bert_*``), on sequences of
  ``--bert-nt`` nucleotides (81: the PUM2 sites), i.e. 81 tokens.

Each model runs both paths of :func:`course_lib.models.fused_encoder.set_implementation`:
``transformers`` (Hugging Face's ``EsmModel`` / BERT with ``sdpa`` attention, the code before)
and ``fused``. Their outputs on the same padded batch are checked to agree first (evaluation
mode, the tolerance is printed). The timing interleaves the paths over ``--repeats`` rounds
(warm-up steps excluded), each round running steps for at least ``--min-seconds``; it prints
the best round's wall time (``time.perf_counter``) and its CPU time (``time.process_time``,
all threads), tokens per second (padding included), achieved GFLOP/s and their share of the
float32 matrix-multiply peak measured in the same run (a square ``--peak-size`` matmul, best
of 5), and the speed-up of ``fused`` over ``transformers`` (best wall over best wall).

FLOPs are counted analytically, per step: ``6 * P_token * n * T`` for the weights of every
``nn.Linear`` applied at every token (forward 2, backward 4 multiply-adds per weight and token;
biases, layer norms, embeddings, element-wise work not counted), ``6 * P_seq * n`` for those
applied once per sequence (UTR-LM's MFE head on ``<cls>``), and ``12 * L * n * T**2 * H`` for
attention (scores and weighted sum, ``2 * 2 * n * T**2 * H`` per layer forward, times 3).

``--fused-adamw`` times both paths with ``torch.optim.AdamW(fused=True)`` instead.
``--bf16`` also times the fused path's loss under ``torch.autocast("cpu", torch.bfloat16)``
(bfloat16 matrix multiplies where the CPU has them, e.g. AMX or AVX512-BF16; the weights and
the optimizer stay float32); it prints how far bfloat16 moves the outputs of one batch, since
such a step no longer gives the float32 loss curve.
``--compile`` also times the fused path's loss under ``torch.compile`` (inductor; the first,
compiling step is left out of the timing and its seconds printed) and prints how many graphs
Dynamo made of it and where it broke them.

Run (the shared machine's load moves wall times a lot: run it several times, keep the best):
``OMP_NUM_THREADS=2 PYTHONPATH=. .venv/bin/python benchmarks/bench_pretraining_throughput.py
[--profiles smoke laptop full] [--models utr_lm bert] [--threads 1 2] [--repeats 5]``
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
import torch
from torch import nn

from course_lib.models.bert import small_bert_config
from course_lib.models.fused_encoder import IMPLEMENTATIONS, set_implementation
from course_lib.models.utr_lm import (
    MAX_TOKENS,
    UTRLMForPretraining,
    nucleotide_mask,
    utr_lm_config,
    utr_vocabulary,
)
from course_lib.pretraining import OBJECTIVES, pretraining_losses
from course_lib.tokenization import mask_tokens
from course_lib.updates import optimizer_step

PROFILES = ("smoke", "laptop", "full")
MODELS = ("utr_lm", "bert")
#: Name of the optional third path: the fused path's loss under ``torch.compile``.
COMPILED = "fused+compile"
#: Name of the optional path: the fused path's loss under bfloat16 autocast.
BF16 = "fused+bf16"
#: Largest output difference between the two paths accepted before timing.
TOLERANCE = 1e-4


@dataclass
class Case:
    """One model at one profile's size, with its batch and its loss."""

    name: str
    model: nn.Module
    loss: Callable[[nn.Module], torch.Tensor]
    outputs: Callable[[nn.Module], torch.Tensor]
    n: int
    tokens: int
    flops: float

    @property
    def tokens_per_step(self) -> int:
        return self.n * self.tokens


def random_ids(n: int, width: int, low: int, high: int, rng: np.random.Generator) -> np.ndarray:
    """``[n, width]`` random token ids in ``[low, high)``."""
    return rng.integers(low, high, (n, width))


def bucketed_batch(vocab, n: int, width: int, rng: np.random.Generator) -> dict:
    """``n`` random UTRs tokenized, ``width`` tokens wide, rows 0-4 tokens shorter (padding)."""
    lengths = width - 2 - rng.integers(0, 5, n)
    lengths[0] = width - 2  # the longest row sets the width, as after trimming
    seqs = ["".join(rng.choice(list("ACGU"), size)) for size in lengths]
    tokens = vocab.encode(seqs, max_length=width)
    return {
        "input_ids": torch.from_numpy(tokens.input_ids),
        "attention_mask": torch.from_numpy(tokens.attention_mask),
    }


def linear_flops(model: nn.Module, per_sequence: tuple[str, ...], n: int, tokens: int) -> float:
    """``6 * (weights of nn.Linear layers) * (rows they see)`` per step (forward + backward)."""
    total = 0.0
    for name, module in model.named_modules():
        if isinstance(module, nn.Linear):
            rows = n if name.startswith(per_sequence) else n * tokens
            total += 6.0 * module.weight.numel() * rows
    return total


def attention_flops(layers: int, hidden: int, n: int, tokens: int) -> float:
    """``12 * L * n * T^2 * H``: scores and weighted sums, forward and backward."""
    return 12.0 * layers * n * tokens**2 * hidden


def utr_lm_case(profile: str, tokens: int, seed: int = 0) -> Case:
    """Chapter 5's UTR-LM at ``profile``'s size, one bucketed batch with all three labels."""
    from course_lib.utr_lm_backbone import BackboneConfig

    s = BackboneConfig.profile_values(profile)
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    vocab = utr_vocabulary()
    config = utr_lm_config(
        vocab, hidden_size=s["hidden_size"], num_layers=s["num_layers"], num_heads=s["num_heads"]
    )
    config.max_position_embeddings = max(MAX_TOKENS, tokens)
    model = UTRLMForPretraining(config)
    batch = bucketed_batch(vocab, s["batch_size"], tokens, rng)
    generator = torch.Generator().manual_seed(seed)
    batch["input_ids"], batch["mlm_labels"] = mask_tokens(
        batch["input_ids"], vocab, generator=generator
    )
    batch["mfe"] = torch.randn(s["batch_size"]) * 5 - 15
    structure = torch.from_numpy(random_ids(s["batch_size"], tokens, 0, 3, rng))
    nucleotides = nucleotide_mask(batch["input_ids"], batch["attention_mask"], config)
    batch["structure"] = structure.masked_fill(~nucleotides, -100)

    def loss(m: nn.Module) -> torch.Tensor:
        out = m(batch["input_ids"], batch["attention_mask"])
        return sum(pretraining_losses(out, batch, OBJECTIVES, config).values())

    n = s["batch_size"]
    flops = linear_flops(model, ("mfe_head",), n, tokens)
    flops += attention_flops(s["num_layers"], s["hidden_size"], n, tokens)
    outputs = lambda m: m(batch["input_ids"], batch["attention_mask"]).mlm_logits  # noqa: E731
    return Case(f"UTR-LM {profile}", model, loss, outputs, n, tokens, flops)


def bert_case(profile: str, nucleotides: int, seed: int = 0) -> Case:
    """Chapter 3's BERT at ``profile``'s size, masked 3-mer modelling of random sequences."""
    from transformers import BertForMaskedLM

    from course_lib.chapters.ch3_config import Ch3Config
    from course_lib.tokenization import build_vocabulary

    s = Ch3Config.profile_values(profile)
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    vocab = build_vocabulary(s["k"])
    n = s["bert_batch_size"]
    seqs = ["".join(rng.choice(list("ACGT"), nucleotides)) for _ in range(n)]
    encoded = vocab.encode(seqs).to_torch()
    ids, mask = encoded["input_ids"], encoded["attention_mask"]
    tokens = ids.shape[1]
    config = small_bert_config(
        vocab, s["bert_hidden"], s["bert_layers"], s["bert_heads"], s["bert_intermediate"], tokens
    )
    model = BertForMaskedLM(config)
    corrupted, labels = mask_tokens(ids, vocab, generator=torch.Generator().manual_seed(seed))
    loss = lambda m: m(corrupted, mask, labels=labels).loss  # noqa: E731
    padded = mask.clone()
    padded[1::2, tokens // 2 :] = 0  # half the rows padded: the mask must be respected
    outputs = lambda m: m(corrupted, padded).logits * padded.unsqueeze(-1)  # noqa: E731
    flops = linear_flops(model, (), n, tokens)
    flops += attention_flops(s["bert_layers"], s["bert_hidden"], n, tokens)
    return Case(f"BERT {profile}", model, loss, outputs, n, tokens, flops)


def matmul_peak(size: int, repeats: int = 5, dtype: torch.dtype = torch.float32) -> float:
    """Best GFLOP/s of a square ``size x size`` matrix multiply (``2 size^3`` FLOPs) in ``dtype``
    (bfloat16: AMX or AVX512-BF16 where the CPU has them, emulated otherwise)."""
    a, b = torch.randn(size, size).to(dtype), torch.randn(size, size).to(dtype)
    a @ b  # warm-up
    best = min(_seconds(lambda: a @ b, 3)[0] for _ in range(repeats))
    return 2 * size**3 / best / 1e9


def _seconds(work: Callable[[], object], count: int) -> tuple[float, float]:
    """Wall and CPU seconds per call of ``work`` over ``count`` calls."""
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(count):
        work()
    return (time.perf_counter() - wall) / count, (time.process_time() - cpu) / count


def agreement(case: Case) -> float:
    """Largest absolute difference of the two paths' outputs (evaluation mode, no dropout)."""
    case.model.eval()
    with torch.no_grad():
        found = [case.outputs(set_implementation(case.model, i)) for i in IMPLEMENTATIONS]
    case.model.train()
    return float((found[0] - found[1]).abs().max())


def graph_breaks(case: Case) -> str:
    """How many graphs ``torch.compile`` makes of the fused path's loss, and where it breaks."""
    import torch._dynamo

    set_implementation(case.model, "fused")
    torch._dynamo.reset()
    explained = torch._dynamo.explain(case.loss)(case.model)
    places = sorted(
        {
            f"{Path(f.filename).name}:{f.lineno}"
            for r in explained.break_reasons
            for f in r.user_stack[-1:]
        }
    )
    torch._dynamo.reset()
    return f"{explained.graph_count} graph(s), {explained.graph_break_count} break(s) at {places}"


def time_paths(
    case: Case,
    repeats: int,
    min_seconds: float,
    fused_adamw: bool = False,
    compiled: bool = False,
    bf16: bool = False,
) -> dict[str, tuple[float, float]]:
    """Best ``(wall, CPU)`` seconds per step of each path, rounds interleaved.

    ``fused_adamw``: PyTorch's fused AdamW kernel instead of its default per-tensor loop (the
    optimizer :func:`course_lib.pretraining.pretrain` builds). ``compiled``: also the path
    ``fused+compile``, the fused path's loss under ``torch.compile`` (its compiling step timed
    apart and printed). ``bf16``: also the path ``fused+bf16``, the fused path's loss under
    bfloat16 autocast (:func:`bf16_loss`).
    """
    optimizer = torch.optim.AdamW(
        case.model.parameters(), lr=1e-4, weight_decay=0.01, fused=fused_adamw or None
    )
    losses = {path: case.loss for path in IMPLEMENTATIONS}
    if compiled:
        losses[COMPILED] = torch.compile(case.loss)
    if bf16:
        losses[BF16] = partial(bf16_loss, case.loss)
    implementation = {path: path.split("+")[0] for path in losses}

    def step(path: str) -> None:
        loss = losses[path](case.model)
        optimizer_step(case.model, optimizer, loss, grad_clip=1.0)

    case.model.train()
    count = {}
    for path in losses:  # warm-up (and compilation), and the number of steps per round
        set_implementation(case.model, implementation[path])
        wall, _ = _seconds(partial(step, path), 1)
        if path == COMPILED:
            print(f"{case.name:<14} torch.compile: first step {wall:.1f} s (compiling)")
            step(path)
        count[path] = max(1, int(min_seconds / _seconds(partial(step, path), 1)[0]))
    best = dict.fromkeys(losses, (float("inf"), float("inf")))
    for _ in range(repeats):
        for path in losses:
            set_implementation(case.model, implementation[path])
            wall, cpu = _seconds(partial(step, path), count[path])
            best[path] = min(best[path], (wall, cpu))
    set_implementation(case.model, "fused")
    return best


def bf16_loss(loss: Callable[[nn.Module], torch.Tensor], model: nn.Module) -> torch.Tensor:
    """``loss(model)`` (or any output of the model) under ``torch.autocast("cpu", bfloat16)``."""
    with torch.autocast("cpu", dtype=torch.bfloat16):
        return loss(model)


def bf16_output_gap(case: Case) -> tuple[float, float]:
    """Largest change bfloat16 autocast makes to the fused path's outputs on one batch, and the
    outputs' largest magnitude (evaluation mode, so that dropout draws no random masks)."""
    set_implementation(case.model, "fused")
    case.model.eval()
    with torch.no_grad():
        exact = case.outputs(case.model)
        low = bf16_loss(case.outputs, case.model).float()
    case.model.train()
    return float((low - exact).abs().max()), float(exact.abs().max())


def report(case: Case, threads: int, peak: float, best: dict[str, tuple[float, float]]) -> None:
    """One line per path: tokens/s, GFLOP/s (wall and per CPU second), share of the peak."""
    for path, (wall, cpu) in best.items():
        gflops = case.flops / wall / 1e9
        print(
            f"{case.name:<14} {threads:>2} thr  {path:<12} {wall * 1e3:9.1f} ms"
            f" {cpu * 1e3:9.1f} ms CPU {case.tokens_per_step / wall:10,.0f} tok/s"
            f" {gflops:7.1f} GFLOP/s ({gflops / peak:5.1%} of peak)"
            f" {case.flops / cpu / 1e9:7.1f} GFLOP/CPU-s"
        )
    old, new = best["transformers"], best["fused"]
    print(
        f"{'':<14} speed-up fused / transformers: {old[0] / new[0]:.2f}x wall,"
        f" {old[1] / new[1]:.2f}x CPU"
    )
    if BF16 in best:
        low = best[BF16]
        print(
            f"{'':<14} speed-up {BF16} / transformers: {old[0] / low[0]:.2f}x wall,"
            f" {old[1] / low[1]:.2f}x CPU; {BF16} / fused: {new[0] / low[0]:.2f}x wall"
        )
    if COMPILED in best:
        compiled = best[COMPILED]
        print(
            f"{'':<14} speed-up {COMPILED} / fused: {new[0] / compiled[0]:.2f}x wall,"
            f" {new[1] / compiled[1]:.2f}x CPU"
        )


def build_cases(
    profiles: list[str], models: list[str], tokens: int, nucleotides: int
) -> list[Case]:
    """The requested models at the requested profiles' sizes."""
    makers = {
        "utr_lm": lambda p: utr_lm_case(p, tokens),
        "bert": lambda p: bert_case(p, nucleotides),
    }
    return [makers[m](p) for m in models for p in profiles]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profiles", nargs="+", default=list(PROFILES), choices=PROFILES)
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    parser.add_argument("--threads", nargs="+", type=int, default=[1, 2])
    parser.add_argument("--tokens", type=int, default=52, help="UTR-LM tokens per UTR")
    parser.add_argument("--bert-nt", type=int, default=81, help="BERT sequence length (nt)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--min-seconds", type=float, default=1.0, help="per round and path")
    parser.add_argument("--peak-size", type=int, default=1024)
    parser.add_argument(
        "--fused-adamw", action="store_true", help="AdamW(fused=True) for both paths"
    )
    parser.add_argument(
        "--compile", action="store_true", help="also time the fused path under torch.compile"
    )
    parser.add_argument(
        "--bf16", action="store_true", help="also time the fused path under bfloat16 autocast"
    )
    args = parser.parse_args()
    cases = build_cases(args.profiles, args.models, args.tokens, args.bert_nt)
    for case in cases:
        diff = agreement(case)
        print(
            f"{case.name}: {case.n} x {case.tokens} tokens, {case.flops / 1e9:.2f} GFLOP per step;"
            f" outputs of the two paths differ by at most {diff:.2e} (tolerance {TOLERANCE:g})"
        )
        if diff > TOLERANCE:
            raise SystemExit(f"{case.name}: the paths disagree ({diff:.2e} > {TOLERANCE:g})")
        if args.compile:
            print(f"{case.name}: torch.compile of the fused loss: {graph_breaks(case)}")
        if args.bf16:
            gap, scale = bf16_output_gap(case)
            print(
                f"{case.name}: bfloat16 autocast moves the outputs by up to {gap:.1e}"
                f" (largest output {scale:.2f}): not the float32 loss curve"
            )
    for threads in args.threads:
        torch.set_num_threads(threads)
        peak = matmul_peak(args.peak_size)
        print(f"\n{threads} thread(s): float32 {args.peak_size}^2 matmul peak {peak:.1f} GFLOP/s")
        if args.bf16:
            low = matmul_peak(args.peak_size, dtype=torch.bfloat16)
            print(f"{threads} thread(s): bfloat16 {args.peak_size}^2 matmul peak {low:.1f} GFLOP/s")
        for case in cases:
            best = time_paths(
                case, args.repeats, args.min_seconds, args.fused_adamw, args.compile, args.bf16
            )
            report(case, threads, peak, best)


if __name__ == "__main__":
    main()
