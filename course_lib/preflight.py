"""Before a long run: will it fit in the GPU's memory, and about how long will it take?

:func:`estimate` adds up what training a BERT-like encoder holds on one device, per rank:

- **parameters** (fp32 master weights, 4 bytes each), **gradients** (4 bytes each) and
  **AdamW's state** (two fp32 moments, 8 bytes each): 16 bytes per parameter, exactly
  ``parameters x bytes``;
- **activations** kept for the backward pass of one micro-batch ``b`` of ``s`` tokens: per
  layer ``s b h (34 + 5 a s / h)`` bytes at 16-bit precision (Korthikanti et al. 2022, "Reducing
  activation recomputation in large transformer models", eq. 1, without tensor parallelism),
  doubled at fp32, plus the output logits and their gradient, ``b s V`` values 3 times;

and the time from FLOPs: ``6 x parameters x tokens`` for the dense layers plus
``12 L s^2 h`` per row for attention scores, divided by a stated sustained throughput
(:data:`SUSTAINED_TFLOPS`; a rough figure, printed with the estimate). :func:`check_fits`
raises a ``ValueError`` naming a micro-batch and accumulation steps that would fit when the
estimate exceeds the device's memory (less :data:`HEADROOM`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

#: Bytes per parameter held in training: fp32 weights, fp32 gradients, AdamW's two moments.
BYTES_PER_PARAMETER = {"weights": 4, "gradients": 4, "adamw": 8}
#: Share of the device's memory the estimate may use (the rest: CUDA context, allocator slack).
HEADROOM = 0.8
#: Stated sustained training throughput in TFLOP/s by device kind and precision: a rough
#: figure for small encoders (well below the peak of an H100: short sequences, small widths).
SUSTAINED_TFLOPS = {("cuda", "bf16"): 100.0, ("cuda", "fp32"): 30.0, ("cpu", "fp32"): 0.05}
GIB = 2**30


@dataclass(frozen=True)
class Workload:
    """What one pretraining run trains: an encoder's sizes and its batches.

    Attributes
    ----------
    parameters
        Trainable parameters of the model (count).
    hidden_size, num_layers, num_heads, vocab_size
        The encoder's width ``h``, layers ``L``, attention heads ``a`` and vocabulary ``V``.
    sequence_length
        Tokens per row ``s`` (the longest a batch may hold).
    global_batch
        Rows per optimizer step over all ranks (the recipe's batch size).
    steps
        Optimizer steps of the run.
    rows
        Rows of the training corpus (for the time per epoch).
    """

    parameters: int
    hidden_size: int
    num_layers: int
    num_heads: int
    vocab_size: int
    sequence_length: int
    global_batch: int
    steps: int
    rows: int

    def micro_batch(self, world_size: int, accumulation: int) -> int:
        """Rows one rank runs at once: the global batch over ``world_size * accumulation``."""
        return math.ceil(self.global_batch / (world_size * accumulation))


@dataclass(frozen=True)
class Estimate:
    """Memory (bytes, one rank) and time (seconds) of a :class:`Workload` on a plan."""

    parameter_bytes: int
    gradient_bytes: int
    optimizer_bytes: int
    activation_bytes: int
    micro_batch: int
    accumulation: int
    world_size: int
    seconds_per_step: float
    seconds_per_epoch: float
    seconds: float
    throughput: str

    @property
    def total_bytes(self) -> int:
        """Everything one rank holds."""
        return (
            self.parameter_bytes + self.gradient_bytes + self.optimizer_bytes
        ) + self.activation_bytes

    def describe(self) -> str:
        """One paragraph: memory per part, time per epoch and in all."""
        parts = (
            f"parameters {self.parameter_bytes / GIB:.2f} GiB, gradients "
            f"{self.gradient_bytes / GIB:.2f} GiB, AdamW state {self.optimizer_bytes / GIB:.2f} "
            f"GiB, activations {self.activation_bytes / GIB:.2f} GiB"
        )
        return (
            f"preflight: {self.world_size} rank(s), micro-batch {self.micro_batch} x "
            f"{self.accumulation} accumulation step(s) per rank; about "
            f"{self.total_bytes / GIB:.2f} GiB per rank ({parts}); about "
            f"{self.seconds_per_epoch / 60:.1f} min per epoch, {self.seconds / 3600:.2f} h in "
            f"all at {self.throughput}"
        )


def activation_bytes(workload: Workload, micro_batch: int, precision: str = "fp32") -> int:
    """Activations one micro-batch keeps for its backward pass (bytes): see the module notes."""
    s, b, h = workload.sequence_length, micro_batch, workload.hidden_size
    per_layer = s * b * h * (34 + 5 * workload.num_heads * s / h)
    scale = 1 if precision == "bf16" else 2
    logits = 3 * b * s * workload.vocab_size * 4
    return int(workload.num_layers * per_layer * scale + logits)


def training_flops(workload: Workload, rows: int) -> float:
    """FLOPs of a forward and backward pass over ``rows`` rows."""
    s, h, layers = workload.sequence_length, workload.hidden_size, workload.num_layers
    return rows * (6 * workload.parameters * s + 12 * layers * s * s * h)


def estimate(
    workload: Workload,
    world_size: int = 1,
    accumulation: int = 1,
    precision: str = "fp32",
    device_kind: str = "cuda",
    tflops: float | None = None,
) -> Estimate:
    """Memory per rank and time of ``workload`` on ``world_size`` ranks (see the module notes).

    ``tflops`` (sustained TFLOP/s of one device) defaults to :data:`SUSTAINED_TFLOPS`.
    """
    micro = workload.micro_batch(world_size, accumulation)
    fallback = SUSTAINED_TFLOPS[("cpu", "fp32")]
    rate = tflops or SUSTAINED_TFLOPS.get((device_kind, precision), fallback)
    step = training_flops(workload, workload.global_batch) / (world_size * rate * 1e12)
    n = workload.parameters
    return Estimate(
        parameter_bytes=n * BYTES_PER_PARAMETER["weights"],
        gradient_bytes=n * BYTES_PER_PARAMETER["gradients"],
        optimizer_bytes=n * BYTES_PER_PARAMETER["adamw"],
        activation_bytes=activation_bytes(workload, micro, precision),
        micro_batch=micro,
        accumulation=accumulation,
        world_size=world_size,
        seconds_per_step=step,
        seconds_per_epoch=step * math.ceil(workload.rows / workload.global_batch),
        seconds=step * workload.steps,
        throughput=f"{rate:g} TFLOP/s per {device_kind} device ({precision}, stated)",
    )


def check_fits(
    workload: Workload,
    device_bytes: int | None,
    world_size: int = 1,
    accumulation: int = 1,
    precision: str = "fp32",
    device_kind: str = "cuda",
) -> Estimate:
    """:func:`estimate`, or a ``ValueError`` when it exceeds ``HEADROOM`` of ``device_bytes``.

    The message names the micro-batch and the accumulation steps that would fit with the same
    global batch (``--accumulation``), or says that even one row per rank does not fit.
    ``device_bytes=None`` (a CPU) checks nothing.
    """
    found = estimate(workload, world_size, accumulation, precision, device_kind)
    if device_bytes is None or found.total_bytes <= HEADROOM * device_bytes:
        return found
    budget = f"{HEADROOM:.0%} of {device_bytes / GIB:.1f} GiB"
    for more in range(accumulation + 1, workload.global_batch + 1):
        smaller = estimate(workload, world_size, more, precision, device_kind)
        if smaller.total_bytes <= HEADROOM * device_bytes:
            raise ValueError(
                f"{found.describe()}: does not fit in {budget}. Run with --accumulation {more} "
                f"(micro-batch {smaller.micro_batch} per rank, global batch "
                f"{workload.global_batch} unchanged, about {smaller.total_bytes / GIB:.2f} GiB), "
                "or lower the batch size"
            )
    raise ValueError(
        f"{found.describe()}: does not fit in {budget} even at micro-batch 1 with accumulation "
        f"{workload.global_batch}; use a smaller model or a device with more memory"
    )
