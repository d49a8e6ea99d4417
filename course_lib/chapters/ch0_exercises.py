"""Chapter 0's exercises and predict-then-run question (``notebooks/00_sequences.ipynb``).

Exercise 0.1 (a reverse complement by array flips) and 0.2 (GC content from k-mer counts)
check an answer against the run's own windows; Prediction 0.3 asks, before the chapter's
headline, how depleted CpG is in the random genome windows, and sets the prediction beside the
measured ratio and its bootstrap interval (see :mod:`course_lib.exercises`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from course_lib.chapters.ch0_report import anchor_for
from course_lib.encoding import gc_content, one_hot, reverse_complement
from course_lib.exercises import (
    Exercise,
    Measured,
    Prediction,
    Verdict,
    check,
    check_prediction,
    compare_arrays,
)

EXERCISES: dict[int, Exercise | Prediction] = {
    1: Exercise(
        "0.1",
        "reverse complement without strings",
        (
            "The reverse complement reverses the order of the positions and swaps A<->T, C<->G.",
            "In ACGT order the complement of channel i is channel 3 - i: reverse the channel "
            "axis as well as the position axis of the [n, L, 4] array.",
            "See 'One-hot encoding' (the ACGT channel order) and numpy slicing with ::-1.",
        ),
    ),
    2: Exercise(
        "0.2",
        "GC content from k-mer counts",
        (
            "GC fraction = (number of C + number of G) / (number of called bases), per window.",
            "kmer_counts(seqs, 1) has columns A, C, G, T in that order: sum columns 1 and 2 and "
            "divide by the row sum, giving one number per window.",
            "See the k-mers section (kmer_vocabulary(1)) and 'Random windows' (gc_content).",
        ),
    ),
    3: Prediction(
        "0.3",
        "how rare is CpG in these windows?",
        "the CpG observed/expected ratio pooled over the random windows",
    ),
}


def check_exercise_1(answer: Any, seqs: Sequence[str]) -> Verdict:
    """Exercise 0.1: ``answer`` is the ``[n, L, 4]`` one-hot of the reverse complements of
    ``seqs`` (the first windows), built by flipping arrays; compared exactly."""
    expected = one_hot([reverse_complement(s) for s in seqs])
    return check(EXERCISES[1], answer, lambda a: compare_arrays(a, expected, 0.0, 0.0))


def check_exercise_2(answer: Any, seqs: Sequence[str]) -> Verdict:
    """Exercise 0.2: ``answer`` is the ``[n]`` GC fraction of each of ``seqs`` from its
    1-mer counts; compared with :func:`course_lib.encoding.gc_content` to 1e-9."""
    expected = gc_content(list(seqs))
    return check(EXERCISES[2], answer, lambda a: compare_arrays(a, expected, 1e-9, 1e-9))


def cpg_meaning(cpg: Mapping[str, float], gc: Mapping[str, float]) -> str:
    """What the measured CpG ratio means, from this run's intervals and the genome anchor."""
    estimate = float(cpg["estimate"])
    anchor = anchor_for("CpG obs/exp")
    if cpg["ci high"] < 1:
        seen = f"CpG occurs at {estimate:.0%} of the frequency its C and G shares predict"
    else:
        seen = "these windows show no CpG depletion (a synthetic stand-in has none)"
    return (
        f"Independent bases would give 1 whatever the GC content (here {gc['estimate']:.1%}); "
        f"{seen}. The genome-wide figure, {anchor.value} ({anchor.source}), is an anchor: "
        "a 300-kb excerpt may differ, e.g. through CpG islands near its promoters."
    )


def check_exercise_3(prediction: Any, intervals: Mapping[str, Mapping[str, float]]) -> Verdict:
    """Prediction 0.3: ``prediction`` (a number) beside the pooled CpG observed/expected ratio
    of ``intervals`` (:func:`course_lib.chapters.ch0_sequences.window_intervals`)."""
    cpg = intervals["CpG obs/exp"]
    measured = Measured(
        float(cpg["estimate"]),
        float(cpg["ci low"]),
        float(cpg["ci high"]),
        cpg_meaning(cpg, intervals["GC fraction"]),
    )
    return check_prediction(EXERCISES[3], prediction, measured)
