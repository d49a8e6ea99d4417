"""Training past one process: ``torchrun`` + ``DistributedDataParallel`` (DDP), plain torch.

One process (no ``torchrun`` environment, no :func:`setup`) is the default: :func:`active`
returns ``None`` and every loop of the course runs exactly as before, bit for bit. Under
``torchrun --nproc_per_node N`` the launcher (:mod:`course_lib.launch`) calls :func:`setup`,
which joins the process group (``nccl`` on GPUs, ``gloo`` on CPUs) and records a :class:`Plan`;
the pretraining loops (:func:`course_lib.pretraining.pretrain`,
:func:`course_lib.kmer_pretraining.pretrain_masked_kmers`) and the fine-tuning and head loops
(:func:`course_lib.training.fit`, chapter 5's
:func:`~course_lib.chapters.ch5_mrl_finetuning.train_steps`, through :func:`batch_update`) then

- draw the **same global batch** on every rank (same seed, same sampler, same masks) and keep
  their slice of its rows (:meth:`Plan.micro_rows`), cut into ``accumulation`` micro-batches;
- weight each micro-batch's mean loss by its share of the global batch's scored tokens, so
  that the gradients DDP averages over ranks equal the single-process gradient of the global
  batch (:func:`sharded_update`): the same optimizer step, up to float summation order;
- let rank 0 alone show progress bars and write checkpoints and results (:func:`is_main`).

Runs with dropout draw different dropout masks per rank, so they agree in distribution only;
without dropout the distributed run follows the single-process run to float rounding. Batch
normalisation normalises over each micro-batch, so models with it (the one-hot ResNet, the
CNNs) agree in distribution only too. Every rank scores the whole validation set with the same
weights, so all ranks keep the same best state; rank 0 alone writes it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import torch
from torch import nn

from course_lib.updates import apply_gradients, check_finite, optimizer_step

#: ``piece(rows) -> (loss share, extras)``: one micro-batch's contribution to the global mean
#: loss (a scalar with a graph) and values to sum over the global batch (1-D, detached).
Piece = Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]]
PRECISIONS = ("auto", "fp32", "bf16")


@dataclass(frozen=True)
class Plan:
    """How this process takes part in a run.

    Attributes
    ----------
    rank, world_size, local_rank
        As ``torchrun`` sets them (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``).
    accumulation
        Micro-batches per rank per optimizer step (count, >= 1).
    precision
        ``"fp32"`` or ``"bf16"`` (autocast of the forward pass on a CUDA GPU).
    device
        This rank's device: ``cuda:<local_rank>`` on GPUs, else the CPU.
    """

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    accumulation: int = 1
    precision: str = "fp32"
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))

    @property
    def is_main(self) -> bool:
        """Whether this is rank 0 (the one that logs and writes)."""
        return self.rank == 0

    def micro_rows(self, n: int) -> list[torch.Tensor]:
        """This rank's rows of a global batch of ``n``: ``accumulation`` index tensors.

        The ``n`` rows are cut into ``world_size * accumulation`` contiguous chunks
        (``torch.arange(n).tensor_split``); rank ``r`` gets chunks ``r * accumulation`` to
        ``(r + 1) * accumulation - 1``. A chunk may be empty when ``n`` is small.
        """
        chunks = torch.arange(n).tensor_split(self.world_size * self.accumulation)
        start = self.rank * self.accumulation
        return list(chunks[start : start + self.accumulation])

    def autocast(self):
        """bf16 autocast of a forward pass on CUDA when the plan asks for it, else nothing."""
        if self.precision == "bf16" and self.device.type == "cuda":
            return torch.autocast("cuda", dtype=torch.bfloat16)
        return nullcontext()


_PLAN: Plan | None = None


def active() -> Plan | None:
    """The :class:`Plan` set by :func:`setup`; ``None`` in a plain single process."""
    return _PLAN


def is_main() -> bool:
    """Whether this process should log and write: rank 0, or any process outside a run."""
    return _PLAN is None or _PLAN.is_main


def resolve_precision(precision: str, device: torch.device) -> str:
    """``"auto"``: ``"bf16"`` on a CUDA GPU that supports it, else ``"fp32"``."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    if precision != "auto":
        return precision
    bf16 = device.type == "cuda" and torch.cuda.is_bf16_supported()
    return "bf16" if bf16 else "fp32"


def setup(
    accumulation: int = 1,
    precision: str = "auto",
    backend: str | None = None,
    timeout_s: float = 600.0,
) -> Plan:
    """Join ``torchrun``'s process group (when ``WORLD_SIZE`` > 1) and record the :class:`Plan`.

    Parameters
    ----------
    accumulation
        Micro-batches per rank per optimizer step: the global batch (the recipe's batch size)
        is split over ``WORLD_SIZE * accumulation`` micro-batches.
    precision
        One of :data:`PRECISIONS`.
    backend
        ``None``: ``nccl`` when CUDA is available, else ``gloo``.
    timeout_s
        How long a collective waits for a missing rank before the run fails (seconds).
    """
    global _PLAN
    if accumulation < 1:
        raise ValueError(f"accumulation must be at least 1, got {accumulation}")
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank, local = int(os.environ.get("RANK", "0")), int(os.environ.get("LOCAL_RANK", "0"))
    device = torch.device("cpu")
    if torch.cuda.is_available():
        device = torch.device("cuda", local)
        torch.cuda.set_device(device)
    if world > 1 and not torch.distributed.is_initialized():
        torch.distributed.init_process_group(
            backend or ("nccl" if device.type == "cuda" else "gloo"),
            timeout=timedelta(seconds=timeout_s),
        )
    _PLAN = Plan(rank, world, local, accumulation, resolve_precision(precision, device), device)
    return _PLAN


def teardown() -> None:
    """Leave the process group (if joined) and forget the plan."""
    global _PLAN
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()
    _PLAN = None


@contextmanager
def running(**options: Any) -> Iterator[Plan]:
    """:func:`setup` for the block, :func:`teardown` after it (even on an error)."""
    try:
        yield setup(**options)
    finally:
        teardown()


def wrap(model: nn.Module, plan: Plan, find_unused: bool = False) -> nn.Module:
    """``model`` in ``DistributedDataParallel`` when the plan has several ranks, else itself.

    ``find_unused``: some parameters get no gradient in a step (a head left out of the loss,
    UTR-LM trained on masked modelling alone); they keep none, as in one process. It costs a
    traversal of the graph per step, so a loop asks for it only when it needs it.
    """
    if plan.world_size == 1:
        return model
    ids = [plan.device.index] if plan.device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(
        model, device_ids=ids, find_unused_parameters=find_unused
    )


def wrap_for_run(model: nn.Module) -> nn.Module:
    """``model`` as a fine-tuning or head loop trains it: under ``torchrun``, :func:`wrap` of it
    tolerating parameters without gradient (e.g. a frozen backbone); else ``model`` itself."""
    return model if _PLAN is None else wrap(model, _PLAN, find_unused=True)


def all_sum(values: torch.Tensor) -> torch.Tensor:
    """``values`` summed over ranks (itself in one process); float64 on the CPU."""
    values = values.detach().to(torch.float64)
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        device = _PLAN.device if _PLAN is not None else torch.device("cpu")
        values = values.to(device)
        torch.distributed.all_reduce(values)
    return values.cpu()


def barrier() -> None:
    """Wait for every rank (nothing in one process)."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.barrier()


def broadcast_flag(flag: bool) -> bool:
    """Rank 0's ``flag`` on every rank (itself in one process)."""
    if not (torch.distributed.is_available() and torch.distributed.is_initialized()):
        return flag
    value = torch.tensor([int(flag)], device=_PLAN.device if _PLAN else "cpu")
    torch.distributed.broadcast(value, 0)
    return bool(value.item())


def share(loss: torch.Tensor, local: int, total: int, zero: torch.Tensor) -> torch.Tensor:
    """A micro-batch's mean ``loss`` over ``local`` items as its share of a mean over ``total``.

    ``zero`` (a zero-valued scalar with a graph, e.g. ``logits.sum() * 0``) stands in when the
    micro-batch scores nothing, so that every rank still runs a backward pass.
    """
    return loss * (local / total) if local and total else zero


def sharded_update(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    pieces: Sequence[tuple[torch.Tensor, bool]],
    piece: Piece,
    plan: Plan,
    *,
    grad_clip: float | None = None,
    scheduler: Any = None,
    where: str = "",
) -> torch.Tensor:
    """One optimizer step of the global batch from this rank's micro-batches.

    Parameters
    ----------
    model
        The model as :func:`wrap` returned it (DDP synchronises on the last micro-batch).
    pieces
        ``(rows, real)`` per micro-batch (:func:`micro_batches`); a micro-batch that is not
        ``real`` runs with weight 0 so that every rank makes the same number of passes.
    piece
        ``piece(rows) -> (loss share, extras)``, see :data:`Piece`.
    plan, grad_clip, scheduler, where
        As for :func:`course_lib.updates.optimizer_step`.

    Returns
    -------
    torch.Tensor
        ``[1 + k]`` float64 on the CPU, summed over micro-batches and ranks: the global mean
        loss, then the ``k`` extras.

    Raises
    ------
    FloatingPointError
        The global loss is NaN or infinite (on every rank alike).
    """
    optimizer.zero_grad(set_to_none=True)
    sums = None
    for i, (rows, real) in enumerate(pieces):
        sync = i == len(pieces) - 1 or not hasattr(model, "no_sync")
        with nullcontext() if sync else model.no_sync():
            loss, extras = piece(rows)
            weight = plan.world_size if real else 0.0
            (loss * weight).backward()
        values = torch.cat([loss.detach().reshape(1), extras.detach().reshape(-1)]).double()
        values = values * float(real)
        sums = values if sums is None else sums + values
    total = all_sum(sums)
    check_finite(float(total[0]), where)
    apply_gradients(model, optimizer, grad_clip=grad_clip, scheduler=scheduler)
    return total


def sharded_step(
    net: nn.Module,
    optimizer: torch.optim.Optimizer,
    plan: Plan,
    grad_clip: float | None,
    scheduler: Any,
    piece: Piece,
    n: int,
    where: str = "",
) -> torch.Tensor:
    """:func:`sharded_update` of a global batch of ``n`` rows cut by :func:`micro_batches`
    (bind the first five arguments with ``functools.partial``)."""
    options = {"grad_clip": grad_clip, "scheduler": scheduler, "where": where}
    return sharded_update(net, optimizer, micro_batches(plan, n), piece, plan, **options)


def take_rows(batch: Any, rows: torch.Tensor) -> Any:
    """Rows ``rows`` of every tensor of ``batch``: a tensor ``[n, ...]``, or dicts, tuples and
    lists of them (other values are passed through)."""
    if isinstance(batch, torch.Tensor):
        return batch[rows.to(batch.device)]
    if isinstance(batch, dict):
        return {key: take_rows(value, rows) for key, value in batch.items()}
    if isinstance(batch, tuple | list):
        return type(batch)(take_rows(value, rows) for value in batch)
    return batch


def batch_update(
    net: nn.Module,
    optimizer: torch.optim.Optimizer,
    inputs: Any,
    target: torch.Tensor,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    forward: Callable[[nn.Module, Any], torch.Tensor],
    *,
    grad_clip: float | None = None,
    scheduler: Any = None,
    where: str = "",
) -> float:
    """One optimizer step on a batch of ``(inputs, target)`` rows; the batch's mean loss.

    In one process (no :func:`setup`, or one rank without accumulation) this is
    :func:`~course_lib.updates.optimizer_step` of ``loss_fn(forward(net, inputs), target)``,
    bit for bit as before. Under ``torchrun`` the batch is the global batch (every rank draws
    the same one): each rank runs its micro-batches (:func:`micro_batches`) through ``net``
    (:func:`wrap`) and :func:`sharded_update` makes the step of the whole batch.

    Parameters
    ----------
    net
        The model, wrapped by :func:`wrap` under ``torchrun``.
    inputs, target
        The batch: ``inputs`` as ``forward`` takes it (a tensor or a dict, tuple or list of
        tensors with ``n`` rows), ``target`` ``[n, ...]``.
    loss_fn
        The loss, a **mean over rows** (as ``BCEWithLogitsLoss`` or ``HuberLoss`` give by
        default): a micro-batch's share of the batch's loss is its mean times its rows over
        ``n``.
    forward, grad_clip, scheduler, where
        As for :func:`course_lib.training.fit` and :func:`~course_lib.updates.optimizer_step`.
    """
    plan = _PLAN
    if plan is None or (plan.world_size == 1 and plan.accumulation == 1):
        loss = loss_fn(forward(net, inputs), target)
        options = {"grad_clip": grad_clip, "scheduler": scheduler, "where": where}
        return optimizer_step(net, optimizer, loss, **options)
    n = len(target)

    def piece(rows: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out = forward(net, take_rows(inputs, rows))
        loss = loss_fn(out, take_rows(target, rows))
        return share(loss, len(rows), n, out.sum() * 0), out.new_zeros(0)

    return float(sharded_step(net, optimizer, plan, grad_clip, scheduler, piece, n, where)[0])


def micro_batches(plan: Plan, n: int) -> list[tuple[torch.Tensor, bool]]:
    """This rank's micro-batches of a global batch of ``n`` rows: ``(rows, real)`` each.

    An empty chunk becomes row 0 marked not ``real`` (run with weight 0): DDP needs every rank
    to make the same passes.
    """
    return [
        (rows, True) if len(rows) else (torch.zeros(1, dtype=torch.long), False)
        for rows in plan.micro_rows(n)
    ]


@dataclass(frozen=True)
class TrainingJob:
    """One thing a chapter's launch hook offers :mod:`course_lib.launch` to train: a pretrained
    backbone, or a chapter's fine-tuning results (chapter 5's sample-efficiency curve).

    Attributes
    ----------
    name
        What it is (``"UTR-LM backbone (c)"``).
    folder
        Its recipe folder (:func:`course_lib.weights.recipe_folder`), where the notebook
        looks for it.
    build
        ``build(device, show_progress)`` trains it on every rank; rank 0 saves it.
    prepare
        Runs on rank 0 alone before the others start (fills caches: data, folds).
    found
        Whether ``folder`` already holds it (default: the folder exists).
    workload
        Its sizes for :func:`course_lib.preflight.check_fits` (a
        :class:`~course_lib.preflight.Workload`), or ``None``.
    """

    name: str
    folder: Path
    build: Callable[[torch.device, bool], object]
    prepare: Callable[[], object] = lambda: None
    found: Callable[[Path], bool] = Path.exists
    workload: Any = None
