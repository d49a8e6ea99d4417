"""The preflight estimate of memory and time, and its refusal of a run that would not fit."""

from __future__ import annotations

import re

import pytest

from course_lib.models.bert import small_bert_config
from course_lib.preflight import (
    GIB,
    HEADROOM,
    Workload,
    activation_bytes,
    check_fits,
    estimate,
)
from course_lib.tokenization import build_vocabulary


def bert_workload(global_batch: int = 256) -> Workload:
    """A small BERT of chapter 3's kind, its parameters counted from the real model."""
    from course_lib.models.bert import masked_lm

    vocab = build_vocabulary(3)
    config = small_bert_config(vocab, 64, 2, 4, 256, 80)
    parameters = sum(p.numel() for p in masked_lm(config).parameters())
    return Workload(parameters, 64, 2, 4, len(vocab), 80, global_batch, 1000, 50_000)


def test_parameter_gradient_and_adamw_bytes_are_exact():
    workload = bert_workload()
    found = estimate(workload)
    assert found.parameter_bytes == workload.parameters * 4
    assert found.gradient_bytes == workload.parameters * 4
    assert found.optimizer_bytes == workload.parameters * 8
    assert found.total_bytes == 16 * workload.parameters + found.activation_bytes


def test_activations_grow_with_the_batch_and_shrink_with_bf16():
    workload = bert_workload()
    sizes = [activation_bytes(workload, b) for b in (1, 2, 8, 64, 256)]
    assert all(a < b for a, b in zip(sizes, sizes[1:], strict=False))
    assert activation_bytes(workload, 64, "bf16") < activation_bytes(workload, 64, "fp32")


def test_more_ranks_and_accumulation_shrink_the_micro_batch_and_the_step():
    workload = bert_workload(256)
    one, eight = estimate(workload), estimate(workload, world_size=8)
    assert (one.micro_batch, eight.micro_batch) == (256, 32)
    assert eight.activation_bytes < one.activation_bytes
    assert eight.seconds_per_step == pytest.approx(one.seconds_per_step / 8)
    assert estimate(workload, 2, 4).micro_batch == 32
    assert one.seconds == pytest.approx(one.seconds_per_step * workload.steps)
    assert "GiB per rank" in one.describe() and "min per epoch" in one.describe()


def test_a_run_that_does_not_fit_is_refused_with_a_batch_and_accumulation_that_would():
    workload = bert_workload(256)
    need = estimate(workload).total_bytes
    small_device = int(need / HEADROOM / 3)  # a third of what the whole batch needs
    assert check_fits(workload, 2 * need).total_bytes == need  # fits: the estimate back
    assert check_fits(workload, None).total_bytes == need  # a CPU: nothing to check
    with pytest.raises(ValueError, match="does not fit") as refused:
        check_fits(workload, small_device)
    message = str(refused.value)
    accumulation = int(re.search(r"--accumulation (\d+)", message).group(1))
    micro = int(re.search(r"micro-batch (\d+) per rank", message).group(1))
    assert accumulation > 1 and micro == -(-256 // accumulation)
    assert "global batch 256 unchanged" in message
    fits = check_fits(workload, small_device, accumulation=accumulation)
    assert fits.total_bytes <= HEADROOM * small_device
    # one step less accumulation would not have fitted: the suggestion is the smallest
    with pytest.raises(ValueError):
        check_fits(workload, small_device, accumulation=accumulation - 1)


def test_a_model_too_big_for_the_device_at_one_row_is_refused():
    workload = bert_workload()
    with pytest.raises(ValueError, match="even at micro-batch 1"):
        check_fits(workload, workload.parameters * 8)  # less than the weights' 16 B each
    assert GIB == 2**30
