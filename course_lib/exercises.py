"""Self-checking exercises: a check a student calls, with a ladder of hints.

Each chapter module declares its exercises (:class:`Exercise`: a number, a title and three
hints: a nudge, a stronger one, where to look) and one check function per exercise. A check
computes the expected answer from the same run's data, compares the student's answer with a
tolerance that fits the quantity, and prints a :class:`Verdict`:

- ``right``;
- ``not yet``: the answer is still ``None`` (the student version's placeholder);
- ``wrong``: with the next hint of the ladder (first call the nudge, then the stronger hint,
  then where to look) and a description of the mismatch that never reveals the solution.

A predict-then-run question (:class:`Prediction`) asks for a number or a choice *before* the
chapter computes a key result; after it, :func:`check_prediction` sets the prediction beside
what the run measured (:class:`Measured`: the value, its 95 % interval, and what it means, a
sentence the chapter computes from the run) and says how far apart they are. A prediction is
never graded right or wrong: its verdict is ``recorded`` once one was made, else ``not yet``.

In strict mode (``$COURSE_STRICT_CHECKS=1``, set by ``python -m course_book.run`` for the
chapters with their solutions) a check that does not pass (``right``, or ``recorded`` for a
prediction: :data:`PASSING`) raises :class:`CheckFailed`, so CI proves that every solution
passes its own check. Student versions run without it: every check reports "not yet" and the
notebook runs on.

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
#: The statuses that pass a check: an exercise answered right, a prediction recorded.
PASSING = ("right", "recorded")


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
class Prediction:
    """A predict-then-run question: the student writes a number or a choice before a result.

    Attributes
    ----------
    number
        ``"<chapter>.<n>"``, numbered with the chapter's exercises.
    title
        The question's heading.
    quantity
        What is predicted, as the verdict names it (e.g. ``"the CpG observed/expected ratio"``).
    hints
        Always empty: a prediction has no hint ladder (kept so that verdicts read alike).
    """

    number: str
    title: str
    quantity: str
    hints: tuple[str, ...] = ()


@dataclass(frozen=True)
class Measured:
    """What the run measured for a :class:`Prediction`.

    Attributes
    ----------
    value
        The measured number, or the run's outcome among the question's choices (a string).
    low, high
        The 95 % interval of a number, when the run has one.
    meaning
        What the value means, one or two sentences computed from the run (never typed).
    """

    value: float | str
    low: float | None = None
    high: float | None = None
    meaning: str = ""


@dataclass(frozen=True)
class Verdict:
    """The outcome of one check; printed, and true when it passes (:data:`PASSING`).

    ``hint`` is the rung of the hint ladder shown with a ``wrong`` verdict (1 to
    ``len(exercise.hints)``), 0 when no hint was shown.
    """

    exercise: Exercise | Prediction
    status: Literal["right", "not yet", "wrong", "recorded"]
    message: str
    hint: int = 0

    def __bool__(self) -> bool:
        return self.status in PASSING

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
        return deliver(verdict)


def deliver(verdict: Verdict) -> Verdict:
    """Show ``verdict`` and return it.

    Raises
    ------
    CheckFailed
        In strict mode, when the verdict does not pass.
    """
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


def _number_gap(guess: float, measured: Measured) -> str:
    """Where ``guess`` lies against the measured number and its interval, in words."""
    value = float(measured.value)
    if not np.isfinite(value):
        return "The run has no measurement to set it beside"
    if measured.low is not None and measured.high is not None:
        low, high = float(measured.low), float(measured.high)
        if low <= guess <= high:
            return "Your prediction lies inside the run's 95 % interval: the run agrees with it"
        side, edge = ("above", high) if guess > high else ("below", low)
        return f"Your prediction lies {abs(guess - edge):.3g} {side} the run's 95 % interval"
    gap = guess - value
    if np.isclose(gap, 0.0):
        return "Your prediction equals the measured value"
    relative = f" ({abs(gap) / abs(value):.0%} of it)" if value else ""
    return f"Your prediction is {abs(gap):.3g} {'above' if gap > 0 else 'below'} it{relative}"


def _measured_text(measured: Measured) -> str:
    if isinstance(measured.value, str):
        return repr(measured.value)
    if measured.low is None or measured.high is None or not np.isfinite(float(measured.value)):
        return f"{float(measured.value):.3g}"
    return f"{float(measured.value):.3g} [95 % interval {measured.low:.3g}, {measured.high:.3g}]"


def prediction_gap(guess: Any, measured: Measured) -> str | None:
    """The sentence comparing ``guess`` with ``measured``; ``None`` when ``guess`` is not of the
    measured kind (a number for a number, a string for a choice)."""
    if isinstance(measured.value, str):
        if not isinstance(guess, str):
            return None
        same = guess.strip().lower() == measured.value.strip().lower()
        return f"Your prediction {'matches' if same else 'differs from'} the run's outcome"
    if isinstance(guess, bool | str):
        return None
    try:
        number = float(guess)
    except (TypeError, ValueError):
        return None
    return _number_gap(number, measured) if np.isfinite(number) else None


def check_prediction(prediction: Prediction, guess: Any, measured: Measured) -> Verdict:
    """Set ``guess`` beside what the run measured, print the gap and what it means.

    ``recorded`` when a prediction of the measured kind was made (never ``wrong``: predictions
    are not graded); ``not yet`` when ``guess`` is ``None`` or not of that kind.

    Raises
    ------
    CheckFailed
        In strict mode, when no prediction was recorded.
    """
    head = f"Prediction {prediction.number} ({prediction.title})"
    gap = None if guess is None else prediction_gap(guess, measured)
    if gap is None:
        kind = "a choice (a string)" if isinstance(measured.value, str) else "a number"
        why = "not yet made" if guess is None else f"expected {kind}, got {type(guess).__name__}"
        message = (
            f"{head}: {why}. Write your prediction of {prediction.quantity} in the cell before "
            "the result, run it, then run this check again (the result does not change)."
        )
        return deliver(Verdict(prediction, "not yet", message))
    shown = guess if isinstance(guess, str) else f"{float(guess):.3g}"
    message = (
        f"{head}: recorded. You predicted {prediction.quantity} = {shown}; the run measured "
        f"{_measured_text(measured)}. {gap}. {measured.meaning}".rstrip()
    )
    return deliver(Verdict(prediction, "recorded", message))
