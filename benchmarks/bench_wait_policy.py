"""Benchmark: OpenMP's wait policy, ``PASSIVE`` against the default, alone and oversubscribed.

libgomp reads ``OMP_WAIT_POLICY`` when it starts, so each measurement is a child process:
one training step of chapter 3's BiLSTM (laptop size: embedding 128, 2 x 100 units per
direction, 64 sites of 79 3-mers) and one pretraining step of chapter 5's UTR-LM (laptop size:
64 x 52 tokens, all three objectives; the fused path and Hugging Face's), each with
``--threads`` torch threads,

- **alone**: one child on an otherwise idle machine (a chapter run by ``course_book.run``);
- **oversubscribed**: two children at once, each with ``--threads`` threads (two test workers,
  or a chapter beside another job).

It prints the median milliseconds per step of each child and the ratios ``PASSIVE / default``
measured in this run, then the UTR-LM step as ``course_book.run`` ran it before issue #26
(Hugging Face's path, ``PASSIVE``) against now (fused path, default policy), alone. Run it on
a quiet machine: ``PYTHONPATH=. python benchmarks/bench_wait_policy.py``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

POLICIES = {"default": None, "PASSIVE": "PASSIVE"}
#: Chapter 3's BiLSTM; chapter 5's UTR-LM step on the fused path and on Hugging Face's (the
#: path before issue #26).
WORKLOADS = ("bilstm", "utr_lm", "utr_lm_transformers")


def _bilstm_step():
    """A closure running one BiLSTM training step (random 3-mer ids, laptop sizes)."""
    import torch

    from course_lib.models.bilstm import BiLSTMClassifier

    model = BiLSTMClassifier(readout="max")
    ids, labels = torch.randint(1, 65, (64, 79)), torch.randint(0, 2, (64,)).float()
    optimizer = torch.optim.AdamW(model.parameters(), 2e-3)
    loss_fn = torch.nn.BCEWithLogitsLoss()

    def step() -> None:
        optimizer.zero_grad()
        loss_fn(model(ids), labels).backward()
        optimizer.step()

    return step


def _utr_lm_step(implementation: str):
    """A closure running one UTR-LM pretraining step (the throughput benchmark's case)."""
    import torch

    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from bench_pretraining_throughput import utr_lm_case

    from course_lib.models.fused_encoder import set_implementation
    from course_lib.updates import optimizer_step

    case = utr_lm_case("laptop", tokens=52)
    set_implementation(case.model, implementation)
    optimizer = torch.optim.AdamW(case.model.parameters(), lr=1e-4, weight_decay=0.01)
    case.model.train()
    return lambda: optimizer_step(case.model, optimizer, case.loss(case.model), grad_clip=1.0)


def child(workload: str, threads: int, steps: int) -> None:
    """Time ``steps`` steps after two warm-up steps; print the times as JSON."""
    import torch

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    if workload == "bilstm":
        step = _bilstm_step()
    else:
        step = _utr_lm_step("transformers" if workload.endswith("transformers") else "fused")
    for _ in range(2):
        step()
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    print(json.dumps(times))


def _launch(workload: str, policy: str | None, threads: int, steps: int) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    if policy:
        env["OMP_WAIT_POLICY"] = policy
    env["OMP_NUM_THREADS"] = str(threads)
    argv = [sys.executable, __file__, "--child", workload, "--threads", str(threads)]
    return subprocess.Popen(
        [*argv, "--steps", str(steps)], env=env, stdout=subprocess.PIPE, text=True
    )


def measure(workload: str, policy: str | None, threads: int, steps: int, at_once: int) -> float:
    """Median ms per step over ``at_once`` children started together."""
    children = [_launch(workload, policy, threads, steps) for _ in range(at_once)]
    times = []
    for process in children:
        out, _ = process.communicate()
        if process.returncode:
            raise RuntimeError(f"the {workload} child failed (exit {process.returncode})")
        times += json.loads(out.strip().splitlines()[-1])
    return 1000 * statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workloads", nargs="+", choices=WORKLOADS, default=list(WORKLOADS))
    parser.add_argument("--threads", type=int, default=2, help="torch threads per process")
    parser.add_argument("--steps", type=int, default=10, help="timed steps per process")
    parser.add_argument("--child", choices=WORKLOADS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.threads, args.steps)
        return
    print(f"{os.cpu_count()} CPU cores, load {os.getloadavg()[0]:.1f}; {args.threads} threads each")
    alone = {}
    for workload in args.workloads:
        for at_once, label in ((1, "alone"), (2, "two at once")):
            ms = {
                name: measure(workload, policy, args.threads, args.steps, at_once)
                for name, policy in POLICIES.items()
            }
            if at_once == 1:
                alone[workload] = ms
            cells = "  ".join(f"{name} {value:7.1f} ms" for name, value in ms.items())
            ratio = ms["PASSIVE"] / ms["default"]
            print(f"{workload:19s} {label:12s} {cells}  PASSIVE / default {ratio:.2f}x")
    if {"utr_lm", "utr_lm_transformers"} <= alone.keys():
        before = alone["utr_lm_transformers"]["PASSIVE"]
        after = alone["utr_lm"]["default"]
        print(
            f"UTR-LM step as the runner ran it, alone: Hugging Face's path under PASSIVE "
            f"{before:.1f} ms -> fused path, default policy {after:.1f} ms: "
            f"{before / after:.2f}x the tokens per second"
        )


if __name__ == "__main__":
    main()
