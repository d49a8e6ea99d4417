"""Self-checking exercises: a check a student calls, with a ladder of hints.

Each chapter module declares its exercises (:class:`Exercise`: a number, a title and three
hints: a nudge, a stronger one, where to look) and one check function per exercise. A check
computes the expected answer from the same run's data, compares the student's answer with a
tolerance that fits the quantity, and prints a :class:`Verdict`:

- ``right``;
- ``not yet``: the answer is still ``None`` (the student version's placeholder);
- ``wrong``: with the next hint of the ladder (first call the nudge, then the stronger hint,
  then where to look) and a description of the mismatch that never reveals the solution.

In strict mode (``$COURSE_STRICT_CHECKS=1``, set by ``python -m course_book.run`` for the
chapters with their solutions) a check that is not ``right`` raises :class:`CheckFailed`, so
CI proves that every solution passes its own check. Student versions run without it: every
check reports "not yet" and the notebook runs on.

In a Jupyter kernel a verdict is shown as display data whose metadata, under
:data:`VERDICT_KEY`, holds :meth:`Verdict.record` (exercise, status, hint rung), so that tools
reading an executed notebook (``python -m course_book.progress_report``) find every verdict
without parsing its text; elsewhere it is printed.

Introduced in chapter 0; used by every chapter.
"""

from __future__ import annotations

import os
import sys
from collections import Counter
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

STRICT_ENV = "COURSE_STRICT_CHECKS"
#: The key of a verdict's record in the metadata of its display data in a notebook.
VERDICT_KEY = "course_lib.verdict"


class CheckFailed(AssertionError):
    """A check that was not ``right`` in strict mode."""


@dataclass(frozen=True)
class Exercise:
    """One exercise of a chapter.

    Attributes
    ----------
    number
        ``"<chapter>.<n>"``, e.g. ``"2.1"``, as numbered on the site.
    title
        The exercise's heading.
    hints
        The hint ladder: a first nudge, a stronger hint, then where to look.
    """

    number: str
    title: str
    hints: tuple[str, str, str]


@dataclass(frozen=True)
class Verdict:
    """The outcome of one check; printed, and true only when ``right``.

    ``hint`` is the rung of the hint ladder shown with a ``wrong`` verdict (1 to
    ``len(exercise.hints)``), 0 when no hint was shown.
    """

    exercise: Exercise
    status: Literal["right", "not yet", "wrong"]
    message: str
    hint: int = 0

    def __bool__(self) -> bool:
        return self.status == "right"

    def record(self) -> dict[str, Any]:
        """The verdict as JSON-ready values: exercise, title, status, hint, hints."""
        return {
            "exercise": self.exercise.number,
            "title": self.exercise.title,
            "status": self.status,
            "hint": self.hint,
            "hints": len(self.exercise.hints),
        }

    def show(self) -> None:
        """Print the message; in an IPython shell, display it with :meth:`record` as metadata."""
        ipython = sys.modules.get("IPython")
        if ipython is None or ipython.get_ipython() is None:
            print(self.message)
            return
        from IPython.display import display

        display({"text/plain": self.message}, raw=True, metadata={VERDICT_KEY: self.record()})

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True)
class Comparison:
    """Whether an answer matches, and a description of the mismatch without the solution."""

    ok: bool
    detail: str = ""


def strict_mode() -> bool:
    """Whether ``$COURSE_STRICT_CHECKS`` makes failed checks raise."""
    return os.environ.get(STRICT_ENV, "").strip().lower() in ("1", "true", "yes")


@dataclass
class Checker:
    """Gives verdicts and remembers, per exercise, how many hints were already shown."""

    attempts: Counter = field(default_factory=Counter)

    def verdict(self, exercise: Exercise, answer: Any, comparison: Comparison | None) -> Verdict:
        """The verdict on ``answer`` (``comparison`` is ``None`` when there is no answer yet).

        Raises
        ------
        CheckFailed
            In strict mode, when the verdict is not ``right``.
        """
        head = f"Exercise {exercise.number} ({exercise.title})"
        if answer is None or comparison is None:
            verdict = Verdict(
                exercise,
                "not yet",
                f"{head}: not yet answered. Write your answer in the cell above, run it, then "
                "run this check again.",
            )
        elif comparison.ok:
            self.attempts.pop(exercise.number, None)
            verdict = Verdict(exercise, "right", f"{head}: right.")
        else:
            step = min(self.attempts[exercise.number], len(exercise.hints) - 1)
            self.attempts[exercise.number] += 1
            verdict = Verdict(
                exercise,
                "wrong",
                f"{head}: not right yet: {comparison.detail}\n"
                f"Hint {step + 1} of {len(exercise.hints)}: {exercise.hints[step]}",
                hint=step + 1,
            )
        verdict.show()
        if strict_mode() and not verdict:
            raise CheckFailed(verdict.message)
        return verdict


#: The checker every chapter's checks share (one hint ladder per exercise and kernel).
CHECKER = Checker()


def check(exercise: Exercise, answer: Any, compare) -> Verdict:
    """Check ``answer`` with ``compare(answer) -> Comparison``; ``None`` means not yet."""
    return CHECKER.verdict(exercise, answer, None if answer is None else compare(answer))


def compare_arrays(answer: Any, expected: np.ndarray, rtol: float, atol: float) -> Comparison:
    """Shape, then values within ``rtol``/``atol``; the detail names shapes and a count.

    Parameters
    ----------
    answer
        Anything ``numpy.asarray`` takes (a torch tensor is converted).
    expected
        The values computed from the run's data.
    """
    if hasattr(answer, "detach"):
        answer = answer.detach().cpu().numpy()
    try:
        got = np.asarray(answer, dtype=np.float64)
    except (TypeError, ValueError):
        return Comparison(False, f"expected numbers, got {type(answer).__name__}")
    expected = np.asarray(expected, dtype=np.float64)
    if got.shape != expected.shape:
        return Comparison(False, f"your answer has shape {got.shape}, expected {expected.shape}")
    close = np.isclose(got, expected, rtol=rtol, atol=atol, equal_nan=True)
    if close.all():
        return Comparison(True)
    return Comparison(
        False,
        f"{int((~close).sum())} of {close.size} values differ by more than the tolerance "
        f"(relative {rtol:g}, absolute {atol:g})",
    )


def compare_number(answer: Any, expected: float, rtol: float, atol: float) -> Comparison:
    """One number within ``rtol``/``atol``; the detail says too high or too low."""
    try:
        got = float(answer)
    except (TypeError, ValueError):
        return Comparison(False, f"expected a number, got {type(answer).__name__}")
    if np.isclose(got, expected, rtol=rtol, atol=atol):
        return Comparison(True)
    return Comparison(False, f"{got:.4g} is too {'high' if got > expected else 'low'}")


def compare_choice(answer: Any, expected: Collection[str] | str) -> Comparison:
    """A choice (a string) or a set of choices, compared without case or order."""
    if isinstance(expected, str):
        ok = isinstance(answer, str) and answer.strip().lower() == expected.lower()
        return Comparison(ok, "that is not the choice the run's numbers support")
    if isinstance(answer, str) or not isinstance(answer, Collection):
        return Comparison(False, f"expected a collection of choices, got {answer!r}")
    got = {str(a).strip().lower() for a in answer}
    want = {e.lower() for e in expected}
    if got == want:
        return Comparison(True)
    return Comparison(
        False,
        f"{len(got - want)} of your choices should not be there and {len(want - got)} are missing",
    )
