"""Train a chapter's backbones, or its fine-tuning runs, on one process, several GPUs or machines.

::

    python -m course_lib.launch pretrain --chapter 5 --profile full            # one process
    torchrun --nproc_per_node 8 -m course_lib.launch pretrain --chapter 5 --profile full
    torchrun --nproc_per_node 8 -m course_lib.launch finetune --chapter 5 --profile full
    torchrun --nnodes 2 --node_rank 0 --nproc_per_node 8 --rdzv_backend c10d \\
        --rdzv_endpoint HOST:29500 -m course_lib.launch pretrain --chapter 3 --profile full

Each command has a launch hook (:data:`HOOKS`): ``pretraining_jobs(profile, tiny=, seed=)``
lists a chapter's backbones, ``finetuning_jobs(...)`` its fine-tuning results, as
:class:`course_lib.distributed.TrainingJob`, in the module that
:meth:`course_lib.manifest.Chapter.part` ``("launch")`` names (found through the manifest:
this module imports no chapter by name). For each job whose recipe folder is absent, rank 0
prints the :mod:`course_lib.preflight` estimate when the job has one (and refuses a run that
would not fit), every rank trains its slice of each global batch (:mod:`course_lib.distributed`),
and rank 0 writes the recipe folder, where the notebook later finds it by the same recipe hash.
Rank 0 holds the recipe's :func:`course_lib.atomic.build_lock` meanwhile, so a notebook building
the same recipe waits for it.
"""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Sequence
from contextlib import nullcontext
from pathlib import Path

import torch

from course_lib import distributed, preflight
from course_lib.atomic import build_lock
from course_lib.distributed import Plan, TrainingJob
from course_lib.manifest import CHAPTERS
from course_lib.profiles import PROFILE_NAMES

#: ``{command: the function of a chapter's launch module that lists its jobs}``.
HOOKS = {"pretrain": "pretraining_jobs", "finetune": "finetuning_jobs"}


class WorkerLost(RuntimeError):
    """A rank stopped (killed, out of memory, a lost machine) while the others trained."""


def chapter_jobs(
    number: int, profile: str, tiny: bool = False, seed: int = 0, command: str = "pretrain"
) -> list:
    """The :class:`TrainingJob` list of ``command`` (a key of :data:`HOOKS`) of chapter
    ``number`` at ``profile``.

    Raises
    ------
    ValueError
        No such chapter, or the chapter has no hook for ``command`` (the message lists those
        that do).
    """
    chapters = {c.number: c for c in CHAPTERS}
    hook = _hook(chapters[number].part("launch"), command) if number in chapters else None
    if hook is None:
        with_hook = [n for n, c in chapters.items() if _hook(c.part("launch"), command)]
        raise ValueError(
            f"chapter {number} has nothing to {command}; choose --chapter from {with_hook}"
        )
    return list(hook(profile, tiny=tiny, seed=seed))


def _hook(module: str, command: str):
    return getattr(importlib.import_module(module), HOOKS[command], None)


def device_memory(plan: Plan) -> int | None:
    """Bytes of memory of this rank's GPU; ``None`` on a CPU."""
    if plan.device.type != "cuda":
        return None
    return torch.cuda.get_device_properties(plan.device).total_memory


def run_job(job: TrainingJob, plan: Plan, show_progress: bool = True) -> Path:
    """Build ``job`` on every rank unless rank 0 finds its folder; rank 0 writes it.

    Raises
    ------
    ValueError
        The preflight estimate does not fit the GPU (on every rank alike).
    WorkerLost
        Another rank stopped during the run; nothing was written to ``job.folder``.
    """
    say = print if plan.is_main else lambda *_: None
    lock = build_lock(job.folder) if plan.is_main else nullcontext()
    with lock:
        if distributed.broadcast_flag(plan.is_main and job.found(job.folder)):
            say(f"{job.name}: found {job.folder}; nothing to build")
            return job.folder
        if job.workload is not None:
            args = (device_memory(plan), plan.world_size, plan.accumulation, plan.precision)
            say(preflight.check_fits(job.workload, *args, plan.device.type).describe())
        if plan.is_main:
            job.prepare()
        distributed.barrier()
        say(f"{job.name}: training on {plan.world_size} rank(s) into {job.folder}")
        try:
            job.build(plan.device, show_progress and plan.is_main)
            distributed.barrier()
        except RuntimeError as err:
            if plan.world_size == 1 or isinstance(err, FloatingPointError | MemoryError):
                raise
            raise WorkerLost(
                f"rank {plan.rank} of {plan.world_size}: another rank stopped while "
                f"training {job.name} ({type(err).__name__}: {str(err)[:300]}); nothing "
                f"was written to {job.folder}; look at the failed rank's log and run again"
            ) from err
    say(f"{job.name}: written to {job.folder}")
    return job.folder


def train_chapter(
    number: int,
    profile: str,
    tiny: bool = False,
    seed: int = 0,
    command: str = "pretrain",
    **options,
) -> list[Path]:
    """Join the run (:func:`course_lib.distributed.setup` with ``options``) and build every job
    of ``command`` of chapter ``number``; return their folders. Rank 0 lists the jobs first (it
    may fill data caches), then the others."""
    what = (number, profile, tiny, seed, command)
    with distributed.running(**options) as plan:
        jobs = chapter_jobs(*what) if plan.is_main else None
        distributed.barrier()
        jobs = jobs if plan.is_main else chapter_jobs(*what)
        return [run_job(job, plan) for job in jobs]


def main(argv: Sequence[str] | None = None) -> None:
    """The command line (see the module notes)."""
    parser = argparse.ArgumentParser(prog="python -m course_lib.launch", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    helps = {
        "pretrain": "pretrain a chapter's backbones",
        "finetune": "run a chapter's fine-tuning (chapter 5: the sample-efficiency curve)",
    }
    for command, text in helps.items():
        one = sub.add_parser(command, help=text)
        one.add_argument("--chapter", type=int, required=True)
        one.add_argument("--profile", choices=PROFILE_NAMES, default="full")
        one.add_argument("--tiny", action="store_true", help="the profile at tiny sizes")
        one.add_argument("--seed", type=int, default=0)
        one.add_argument(
            "--accumulation", type=int, default=1, help="micro-batches per rank per step"
        )
        one.add_argument("--precision", choices=distributed.PRECISIONS, default="auto")
    args = parser.parse_args(argv)
    options = {"accumulation": args.accumulation, "precision": args.precision}
    train_chapter(args.chapter, args.profile, args.tiny, args.seed, args.command, **options)


if __name__ == "__main__":
    main()
