"""Independent trainings side by side, each in a worker process with its share of the cores.

Introduced for chapter 3 (``notebooks/03_pum2_dnabert_lstm.ipynb``), whose cross-validation
folds, learning-rate grids and sample-efficiency points are such trainings; nothing in it is
specific to the chapter.

A small model gains much less than twofold from a second torch thread: its many small operations
keep the threads waiting on each other. Independent trainings (cross-validation folds, the learning
rates of a grid, the points of a sample-efficiency curve) run side by side instead, one process per
core with one thread each, get more out of the same cores: on 2 cores of an AMD EPYC, 1.21-1.33x the
folds per hour for chapter 3's BiLSTM, 1.33-1.54x for its BERT and 1.39x for its CNN
(``benchmarks/bench_fold_parallelism.py``; not yet measured on more cores).

:class:`TrainingPool` maps a function over items, in order, either in this process
(``workers=1``: exactly the loop it replaces) or in ``workers`` worker processes of
``threads`` torch threads each. Functions, items and results travel by cloudpickle, so
closures such as the ``train_fold`` functions of :mod:`course_lib.cross_validation` work. A
task must seed itself (those do: ``seed_everything(seed + fold)``); its result then does not
depend on which process ran it, up to the float rounding of another thread count. A task
must not rely on state left behind by an earlier task: each worker holds its own copy.

Workers are started with ``spawn``, not ``fork``: a forked child of a process whose OpenMP
threads have run can hang in its first parallel region. Spawning re-imports the main module
of a script, so a script that uses a pool needs an ``if __name__ == "__main__":`` guard (a
notebook needs none). Show per-task progress bars in this process only: a worker's bars
interleave with the others'.
"""

from __future__ import annotations

import multiprocessing as mp
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from typing import Any, TypeVar

import cloudpickle

from course_lib.progress import progress

Item = TypeVar("Item")
Result = TypeVar("Result")


def _start_worker(threads: int) -> None:
    """Give a new worker process ``threads`` torch threads (before any task runs)."""
    import torch

    torch.set_num_threads(threads)


def _run_task(function: bytes, item: bytes) -> bytes:
    """``function(item)`` in a worker; arguments and result cloudpickled."""
    return cloudpickle.dumps(cloudpickle.loads(function)(cloudpickle.loads(item)))


class TrainingPool:
    """Run independent trainings in this process or side by side in worker processes.

    Parameters
    ----------
    workers
        Worker processes (count, >= 1); ``1`` runs every task in this process, in order.
    threads
        Torch threads of each worker (count, >= 1); ``workers x threads`` should not exceed
        the cores.

    Use it as a context manager, which stops the workers at the end; they start at the first
    :meth:`map` that needs them and serve every later one.
    """

    def __init__(self, workers: int = 1, threads: int = 1) -> None:
        for name, value in (("workers", workers), ("threads", threads)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a whole number >= 1, got {value!r}")
        self.workers = workers
        self.threads = threads
        self._executor: ProcessPoolExecutor | None = None

    def __enter__(self) -> TrainingPool:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    def close(self) -> None:
        """Stop the worker processes (a later :meth:`map` starts new ones)."""
        if self._executor is not None:
            self._executor.shutdown(cancel_futures=True)
            self._executor = None

    def map(
        self, function: Callable[[Item], Result], items: Iterable[Item], desc: str = "trainings"
    ) -> list[Result]:
        """``[function(item) for item in items]``, side by side when the pool has workers.

        Parameters
        ----------
        function
            Called once per item; any picklable callable, closures included.
        items
            The tasks' arguments.
        desc
            Label of the progress bar over finished tasks.

        Returns
        -------
        list
            The results in the order of ``items``.

        Raises
        ------
        Exception
            The first error a task raised, of its own type, with a note naming the task.
        RuntimeError
            A worker process died (out of memory, or killed).
        """
        items = list(items)
        bar = {"total": len(items), "desc": desc, "unit": "task"}
        if self.workers == 1 or len(items) < 2:
            return [function(item) for item in progress(items, **bar)]
        executor = self._start()
        payload = cloudpickle.dumps(function)
        futures: dict[Future, int] = {
            executor.submit(_run_task, payload, cloudpickle.dumps(item)): i
            for i, item in enumerate(items)
        }
        results: list[Any] = [None] * len(items)
        with progress(**bar) as done:
            for future in as_completed(futures):
                results[futures[future]] = self._result(future, futures[future], desc)
                done.update()
        return results

    def _start(self) -> ProcessPoolExecutor:
        if self._executor is None:
            self._executor = ProcessPoolExecutor(
                self.workers,
                mp_context=mp.get_context("spawn"),
                initializer=_start_worker,
                initargs=(self.threads,),
            )
        return self._executor

    def _result(self, future: Future, index: int, desc: str) -> Any:
        """A finished task's result; on failure, stop the pool and raise with the task named."""
        try:
            return cloudpickle.loads(future.result())
        except BrokenProcessPool as error:
            self.close()
            raise RuntimeError(
                f"a worker process of the training pool died during task {index} of {desc} "
                "(out of memory, or killed); run with workers=1 to train in this process"
            ) from error
        except Exception as error:
            self.close()
            error.add_note(f"raised by task {index} of {desc} in a worker process")
            raise
