"""Independent trainings side by side, each in a worker process with its share of the cores.

Introduced in chapter 3 (``notebooks/03_pum2_dnabert_lstm.ipynb``), whose cross-validation
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
interleave with the others', so every worker runs with ``COURSE_PROGRESS=off``
(:mod:`course_lib.progress`) and ``HF_HUB_DISABLE_PROGRESS_BARS=1`` (Hugging Face's bars), and
the pool shows one bar over finished tasks.

:meth:`TrainingPool.for_device` sizes a pool for a run: on a CPU one one-thread worker per
thread this process may use (its torch threads, at most its cores and :data:`MOST_WORKERS`), so
that every training runs on one thread whatever the machine and chapters run side by side by
``course_book.run --jobs`` do not start more workers than their share of the cores; on a GPU
one, in this process.
"""

from __future__ import annotations

import multiprocessing as mp
import os
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from typing import Any, TypeVar

import cloudpickle

from course_lib.progress import progress

#: The most worker processes :meth:`TrainingPool.for_device` starts (each holds its own torch).
MOST_WORKERS = 8

Item = TypeVar("Item")
Result = TypeVar("Result")


def _start_worker(threads: int) -> None:
    """Give a new worker process ``threads`` torch threads and no progress bars, the course's
    nor Hugging Face's (before any task runs, so before ``transformers`` is imported)."""
    import torch

    os.environ["COURSE_PROGRESS"] = "off"
    os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] = "1"
    torch.set_num_threads(threads)


def usable_cores() -> int:
    """The CPU cores this process may run on (its affinity mask where the system has one)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def thread_budget() -> int:
    """Threads this process may keep busy: its torch threads (which ``OMP_NUM_THREADS`` sets,
    e.g. ``cores // jobs`` when ``course_book.run --jobs`` shares the cores between
    chapters), at most :func:`usable_cores`."""
    import torch

    return max(1, min(usable_cores(), torch.get_num_threads()))


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

    @classmethod
    def for_device(cls, device: Any, workers: int | None = None) -> TrainingPool:
        """A pool for trainings on ``device`` (``torch.device`` or its name).

        ``workers``: worker processes of one thread each; ``None`` chooses one per thread of
        this process's budget (:func:`thread_budget`, at most :data:`MOST_WORKERS`; a kernel
        given one thread trains in this process) on a CPU and ``1`` (this process) on a GPU,
        whose trainings would otherwise queue on the one device. Raises
        ``ValueError`` for ``workers`` < 1 or for several workers on a GPU.
        """
        on_cpu = str(device).split(":")[0] == "cpu"
        if workers is None:
            workers = min(thread_budget(), MOST_WORKERS) if on_cpu else 1
        if workers > 1 and not on_cpu:
            raise ValueError(
                f"{workers} workers on {device}: side-by-side trainings are for a CPU; "
                "pass workers=1 (or None) on a GPU"
            )
        return cls(workers, 1)

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
        self,
        function: Callable[[Item], Result],
        items: Iterable[Item],
        desc: str = "trainings",
        sizes: Sequence[float] | None = None,
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
        sizes
            Each task's expected cost, in any unit (``None``: all alike). Workers start the
            largest first, so that no long task is left running alone at the end while the
            other workers wait; in this process the tasks run in the order of ``items``.

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
        if sizes is not None and len(sizes) != len(items):
            raise ValueError(f"{len(sizes)} sizes for {len(items)} tasks of {desc}")
        order = sorted(range(len(items)), key=lambda i: -sizes[i]) if sizes else range(len(items))
        executor = self._start()
        payload = cloudpickle.dumps(function)
        futures: dict[Future, int] = {
            executor.submit(_run_task, payload, cloudpickle.dumps(items[i])): i for i in order
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
