"""course_lib.training_pool: trainings here or side by side in worker processes."""

from __future__ import annotations

import os

import pytest
import torch

from course_lib.training_pool import MOST_WORKERS, TrainingPool, thread_budget, usable_cores


def _tiny_training(data: torch.Tensor):
    """A closure training a seeded linear model on ``data`` for ``seed`` (picklable by value)."""

    def train(seed: int) -> tuple[int, int, torch.Tensor]:
        torch.manual_seed(seed)
        model = torch.nn.Linear(data.shape[1], 1)
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
        for _ in range(20):
            optimizer.zero_grad()
            model(data).square().mean().backward()
            optimizer.step()
        return os.getpid(), torch.get_num_threads(), model.weight.detach().clone()

    return train


def test_one_worker_trains_in_this_process_in_order():
    with TrainingPool(workers=1) as pool:
        out = pool.map(_tiny_training(torch.randn(16, 3)), [3, 1, 2], desc="test")
    assert [pid for pid, _, _ in out] == [os.getpid()] * 3
    assert not torch.equal(out[0][2], out[1][2])  # each seed its own model


def test_workers_give_the_results_of_this_process_in_order():
    data = torch.randn(32, 4, generator=torch.Generator().manual_seed(0))
    train = _tiny_training(data)
    seeds = [5, 0, 7, 2]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        here = [weight for _, _, weight in map(train, seeds)]
    finally:
        torch.set_num_threads(threads)
    with TrainingPool(workers=2, threads=1) as pool:
        there = pool.map(train, seeds, desc="test")
        again = pool.map(train, seeds[:2], desc="test")  # the same workers serve a second map
    assert {pid for pid, _, _ in there} - {os.getpid()} == {pid for pid, _, _ in there}
    assert {n for _, n, _ in there} == {1}
    for (_, _, weight), expected in zip(there, here, strict=True):
        torch.testing.assert_close(weight, expected, rtol=0, atol=1e-6)
    assert {pid for pid, _, _ in again} <= {pid for pid, _, _ in there}


def test_a_failing_task_raises_its_own_error_naming_the_task():
    def check(x: int) -> int:
        if x == 2:
            raise ValueError(f"bad item {x}")
        return x

    pool = TrainingPool(workers=2)
    with pytest.raises(ValueError, match="bad item 2") as raised:
        pool.map(check, [0, 1, 2, 3], desc="checks")
    assert any("task 2 of checks" in note for note in raised.value.__notes__)
    assert pool._executor is None  # stopped; a later map starts new workers
    assert pool.map(check, [0, 1], desc="checks") == [0, 1]
    pool.close()


def test_a_dead_worker_is_reported_with_the_fix():
    def die(x: int) -> int:
        os._exit(3)

    with TrainingPool(workers=2) as pool, pytest.raises(RuntimeError, match="workers=1"):
        pool.map(die, [0, 1], desc="dying")


@pytest.mark.parametrize("options", [{"workers": 0}, {"threads": 1.5}, {"workers": "2"}])
def test_bad_sizes_are_refused(options):
    with pytest.raises(ValueError, match="whole number >= 1"):
        TrainingPool(**options)


def test_a_pool_for_a_device_has_one_thread_per_worker_and_one_worker_on_a_gpu():
    on_cpu = TrainingPool.for_device("cpu")
    assert on_cpu.workers == min(thread_budget(), MOST_WORKERS) and on_cpu.threads == 1
    assert TrainingPool.for_device(torch.device("cpu"), 3).workers == 3
    assert TrainingPool.for_device("cuda").workers == 1
    with pytest.raises(ValueError, match="pass workers=1"):
        TrainingPool.for_device("cuda:0", 2)


def test_a_kernel_given_one_thread_trains_in_this_process():
    # course_book.run --jobs 2 on 2 cores gives each chapter OMP_NUM_THREADS=1
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        assert thread_budget() == 1
        assert TrainingPool.for_device("cpu").workers == 1
        torch.set_num_threads(usable_cores() + 3)
        assert thread_budget() == usable_cores()  # never more workers than cores
    finally:
        torch.set_num_threads(before)


def test_workers_show_no_progress_bars():
    with TrainingPool(workers=2) as pool:
        seen = pool.map(
            lambda _: (
                os.environ.get("COURSE_PROGRESS"),
                os.environ["HF_HUB_DISABLE_PROGRESS_BARS"],
            ),
            [0, 1],
        )
    assert seen == [("off", "1")] * 2


def test_workers_start_the_largest_tasks_first_and_return_results_in_order():
    with TrainingPool(workers=2) as pool:
        out = pool.map(lambda x: x * x, [1, 2, 3, 4, 5], "squares", sizes=[1, 5, 2, 4, 3])
        assert out == [1, 4, 9, 16, 25]
        with pytest.raises(ValueError, match="2 sizes for 3 tasks of squares"):
            pool.map(lambda x: x, [1, 2, 3], "squares", sizes=[1, 2])
