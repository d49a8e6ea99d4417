"""Teaching plans with measured chapter times: a 90-minute lab, a one-week workshop, a semester.

The plans (:data:`PLANS`: which chapters, which profile, which exercises and concept questions)
are data here; no time is typed. When the site is staged, :func:`stage_teaching` writes into
``book/teaching.md`` at :data:`TEACHING_MARK` a table of every chapter of the manifest with its
measured time at ``smoke`` and ``laptop``, its exercises and its concept questions, then one
table per plan. The times come from the site build's run summary and ``book/chapter_times.json``
(see :mod:`course_book.timings`); the exercises from the ``(chN-exercise-M)=`` headings of the
notebooks; the concept questions from :mod:`course_book.concepts`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from course_book.concepts import QUESTIONS_FILE, read_questions, section_label
from course_book.timings import TIMES_FILE, format_duration, read_times
from course_lib.manifest import CHAPTERS, Chapter

#: Where ``book/teaching.md`` gets the generated plans.
TEACHING_MARK = "<!-- teaching-plans: generated from course_book/teaching.py -->"
TEACHING_PAGE = Path("book") / "teaching.md"
#: The profiles whose times the chapter table shows.
TABLE_PROFILES = ("smoke", "laptop")
#: In a session's exercises: every exercise of its chapters, or those no earlier session named.
ALL, REST = "all", "rest"
_EXERCISE = re.compile(r"^\((ch(\d+)-exercise-(\d+))\)=\s*\n#+ (?:\w+ [\d.]+: )?(.+)$", re.M)


@dataclass(frozen=True)
class Session:
    """One slot of a plan: a time, the chapters it covers, what the class does.

    ``profile`` is the profile of the chapter run started in this slot (``None``: no new run);
    ``exercises`` are numbers such as ``"2.1"``, or :data:`ALL` (every exercise of the session's
    chapters) or :data:`REST` (those of its chapters that no earlier session of the plan named);
    ``concepts`` adds the chapters' concept questions.
    """

    when: str
    chapters: tuple[int, ...]
    activity: str
    profile: str | None = None
    exercises: tuple[str, ...] = ()
    concepts: bool = False


@dataclass(frozen=True)
class Plan:
    """A named plan: a heading, one paragraph on who it is for, its sessions in order."""

    title: str
    summary: str
    sessions: tuple[Session, ...]


@dataclass(frozen=True)
class Exercise:
    """An exercise of a chapter notebook: ``number`` ``"2.1"``, its label and its title."""

    chapter: int
    number: str
    label: str
    title: str


def notebook_exercises(notebook: Path) -> list[Exercise]:
    """The exercises of ``notebook`` in order, from its ``(chN-exercise-M)=`` headings.

    The title is the heading after ``Exercise N.M:`` (or ``Prediction N.M:``, ...).
    """
    cells = json.loads(notebook.read_text())["cells"]
    found = []
    for cell in cells:
        if cell["cell_type"] != "markdown":
            continue
        for match in _EXERCISE.finditer("".join(cell["source"])):
            label, chapter, index, title = match.groups()
            found.append(Exercise(int(chapter), f"{chapter}.{index}", label, title.strip()))
    return found


def course_exercises(notebooks: Path) -> dict[str, Exercise]:
    """``{"2.1": Exercise, ...}`` of every chapter of the manifest, read in ``notebooks/``.

    The site reads the notebooks it publishes (the staged executed copies), so that every
    exercise a plan links to is on the site.
    """
    return {e.number: e for c in CHAPTERS for e in notebook_exercises(notebooks / c.notebook.name)}


def measured(
    stem: str, profile: str, recorded: Mapping[str, Any], runs: Mapping[str, Any]
) -> tuple[float, str] | None:
    """``(seconds, "this build" | "measured <date>")`` of a chapter at ``profile``, or ``None``.

    The site build's run (``runs``, its run summary) when it ran ``profile`` at full size, else
    the record in ``recorded`` (:func:`course_book.timings.read_times`).
    """
    run = runs.get(stem, {})
    if run.get("ok") and run.get("profile") == profile and not run.get("tiny"):
        return float(run["wall_time_s"]), "this build"
    entry = recorded.get(profile, {}).get(stem)
    return (float(entry["wall_time_s"]), f"measured {entry['date']}") if entry else None


def run_time(chapters: Iterable[Chapter], profile: str, recorded: Mapping, runs: Mapping) -> str:
    """``"`laptop` 21 min"``: the measured time of running ``chapters`` one after another.

    Where :func:`measured` finds a chapter's time is said in the chapter table, not here.
    """
    chapters = list(chapters)
    times = [measured(c.stem, profile, recorded, runs) for c in chapters]
    missing = [str(c.number) for c, t in zip(chapters, times, strict=True) if t is None]
    if missing:
        return f"`{profile}` not measured yet (chapter {', '.join(missing)})"
    return f"`{profile}` {format_duration(sum(seconds for seconds, _ in times))}"


def _chapter(number: int) -> Chapter:
    for chapter in CHAPTERS:
        if chapter.number == number:
            return chapter
    raise ValueError(f"chapter {number} is not in the manifest ({[c.number for c in CHAPTERS]})")


def _link(chapter: Chapter, text: str) -> str:
    return f"[{text}](../{chapter.notebook.as_posix()})"


def chapters_table(
    exercises: Mapping[str, Exercise],
    recorded: Mapping,
    runs: Mapping,
    n_questions: Mapping[str, int],
) -> str:
    """Every manifest chapter: measured time per profile, exercises, concept questions.

    ``exercises`` is :func:`course_exercises`; ``recorded`` and ``runs`` are as in
    :func:`measured`; ``n_questions`` maps a chapter's stem to its number of concept questions.
    """
    header = ["chapter", *(f"`{p}` run" for p in TABLE_PROFILES), "exercises", "concepts"]
    lines = ["| " + " | ".join(header) + " |", "|---" * len(header) + "|"]
    for chapter in CHAPTERS:
        times = []
        for profile in TABLE_PROFILES:
            found = measured(chapter.stem, profile, recorded, runs)
            times.append(
                f"{format_duration(found[0])} ({found[1]})" if found else "not measured yet"
            )
        own = [e for e in exercises.values() if e.chapter == chapter.number]
        listed = "; ".join(f"{{ref}}`{e.number} <{e.label}>` {e.title}" for e in own)
        count = n_questions.get(chapter.stem, 0)
        concepts = f"{{ref}}`{count} questions <{section_label(chapter)}>`" if count else ""
        title = _link(chapter, f"{chapter.number}. {chapter.title}")
        lines.append("| " + " | ".join([title, *times, listed, concepts]) + " |")
    return "\n".join(lines) + "\n"


def session_exercises(
    session: Session, named: set[str], exercises: Mapping[str, Exercise]
) -> list[str]:
    """The exercise numbers of ``session``, :data:`ALL` and :data:`REST` resolved.

    ``named`` holds the numbers earlier sessions of the plan named (for :data:`REST`).

    Raises
    ------
    ValueError
        The session names an exercise the course does not have.
    """
    own = [n for n, e in exercises.items() if e.chapter in session.chapters]
    out: list[str] = []
    for entry in session.exercises:
        if entry == ALL:
            out += own
        elif entry == REST:
            out += [n for n in own if n not in named]
        elif entry in exercises:
            out.append(entry)
        else:
            raise ValueError(f"{session.when}: no exercise {entry!r} in the course")
    return list(dict.fromkeys(out))


def plan_table(
    plan: Plan, exercises: Mapping[str, Exercise], recorded: Mapping, runs: Mapping
) -> str:
    """One plan as a markdown table: when, chapters, the run it starts, activity, exercises.

    Raises
    ------
    ValueError
        A session names a chapter or an exercise the course does not have.
    """
    header = ["when", "chapters", "run (measured)", "what to do", "exercises", "concepts"]
    lines = ["| " + " | ".join(header) + " |", "|---" * len(header) + "|"]
    named: set[str] = set()
    for session in plan.sessions:
        chapters = [_chapter(n) for n in session.chapters]
        numbers = session_exercises(session, named, exercises)
        named.update(numbers)
        run = run_time(chapters, session.profile, recorded, runs) if session.profile else ""
        concepts = ", ".join(f"{{ref}}`chapter {c.number} <{section_label(c)}>`" for c in chapters)
        cells = [
            session.when,
            ", ".join(_link(c, str(c.number)) for c in chapters),
            run,
            session.activity,
            ", ".join(f"{{ref}}`{n} <{exercises[n].label}>`" for n in numbers),
            concepts if session.concepts else "",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _machines(recorded: Mapping[str, Any]) -> str:
    """The machines of the recorded measurements, without their load."""
    names = {
        re.sub(r", load [\d.]+$", "", entry["machine"])
        for chapters in recorded.values()
        for entry in chapters.values()
    }
    return "; ".join(sorted(names)) or "none recorded"


def render_plans(
    exercises: Mapping[str, Exercise],
    recorded: Mapping,
    runs: Mapping,
    n_questions: Mapping[str, int],
    plans: Sequence[Plan] | None = None,
) -> str:
    """The generated part of the teaching page: the chapter table, then every plan.

    Arguments as in :func:`chapters_table`; ``plans`` defaults to :data:`PLANS`.
    """
    out = [
        "### The chapters at a glance\n",
        chapters_table(exercises, recorded, runs, n_questions),
        "A time marked *this build* was measured by the run that built this site; one marked "
        "*measured* with a date comes from `book/chapter_times.json` "
        "(runs made one chapter at a time by `python -m course_book.reference record` or "
        f"`python -m course_book.run --record-times`; machine: {_machines(recorded)}). "
        "A time is the chapter's whole run; a student reading along needs longer.\n",
    ]
    for plan in PLANS if plans is None else plans:
        out += [f"### {plan.title}\n", plan.summary + "\n"]
        out.append(plan_table(plan, exercises, recorded, runs))
    return "\n".join(out)


def stage_teaching(root: Path, staging: Path, runs: Mapping[str, Any]) -> None:
    """Write the plans into the staged teaching page.

    ``staging`` already holds ``book/`` and the published chapters in ``notebooks/``, whose
    exercises the plans link to; ``runs`` is the site build's run summary (``{chapter:
    {"wall_time_s", "profile", ...}}``).
    """
    questions = read_questions(root / QUESTIONS_FILE)
    counts = {stem: len(found) for stem, found in questions.items()}
    exercises = course_exercises(staging / "notebooks")
    text = render_plans(exercises, read_times(root / TIMES_FILE), runs, counts)
    page = staging / TEACHING_PAGE
    page.write_text(page.read_text().replace(TEACHING_MARK, text))


LAB = Plan(
    "A 90-minute lab",
    "One chapter at `smoke`, whose run ends within minutes on a student's laptop: chapter 2, the "
    "published models on real data and the honest way to score them. Students work in pairs on "
    "the student versions (`make lab LAB_PROFILE=smoke`); the concept questions close the lab.",
    (
        Session(
            "0-10 min", (2,), "Start the run; introduce the assay and mean ribosome load.", "smoke"
        ),
        Session(
            "10-40 min",
            (2,),
            "Read Part 1 together: which rows each published model trained on; r², R² and "
            "Spearman's rho side by side.",
        ),
        Session("40-75 min", (2,), "Exercises in pairs; the checks answer.", None, ("2.1", "2.3")),
        Session(
            "75-90 min", (2,), "Concept questions, then discuss the wrong options.", None, (), True
        ),
    ),
)

WORKSHOP = Plan(
    "A one-week workshop",
    "One chapter a day (chapters 0 and 1 share the first), every run at `laptop`: start the "
    "run when the day starts, read and discuss the chapter while it runs, do the exercises in "
    "the afternoon, close with the concept questions. The run time is the morning's wait.",
    (
        Session(
            "Day 1",
            (0, 1),
            "Setup (`make lab`); sequences as tensors; then frozen backbones, the layer probe "
            "and the paired bootstrap.",
            "laptop",
            (ALL,),
            True,
        ),
        Session(
            "Day 2",
            (2,),
            "Published models on rows they did not train on; metrics by name; attention; design.",
            "laptop",
            (ALL,),
            True,
        ),
        Session(
            "Day 3",
            (3,),
            "Cross-validation done right, the k-mer baseline, pretraining and its controls, ISM.",
            "laptop",
            (ALL,),
            True,
        ),
        Session(
            "Day 4",
            (4,),
            "ISM at scale, distillation into a multiplexer, metrics that cannot be fooled.",
            "laptop",
            (ALL,),
            True,
        ),
        Session(
            "Day 5",
            (5,),
            "A UTR language model and what pretraining adds; in the afternoon each group "
            "presents one chapter rerun with one parameter changed, beside the reference results.",
            "laptop",
            (ALL,),
            True,
        ),
    ),
)

SEMESTER = Plan(
    "A semester",
    "Two weeks a chapter (one for chapter 0), then a project. Each chapter's `laptop` run is the "
    "first week's homework (the time below); the second week reads the same executed notebook. "
    "The project reruns a chapter with a changed question and the control that could make its "
    "answer fail, at `laptop`, or at `full` where a GPU is at hand.",
    (
        Session("Week 1", (0,), "Setup; sequences as tensors.", "laptop", (ALL,), True),
        Session(
            "Week 2", (1,), "The assay, frozen backbones, the embedding cache.", "laptop", ("1.2",)
        ),
        Session(
            "Week 3",
            (1,),
            "Layer probe, paired comparisons, the negative control, padding.",
            None,
            (REST,),
            True,
        ),
        Session(
            "Week 4",
            (2,),
            "Published models on held-out rows; metrics by name; the scaler.",
            "laptop",
            ("2.1", "2.3"),
        ),
        Session("Week 5", (2,), "Attention, in-silico experiments, design.", None, (REST,), True),
        Session(
            "Week 6",
            (3,),
            "Tokens, the cross-validation protocol, baselines.",
            "laptop",
            ("3.1", "3.3"),
        ),
        Session(
            "Week 7",
            (3,),
            "BiLSTM, transformer, pretraining controls, ISM.",
            None,
            (REST,),
            True,
        ),
        Session(
            "Week 8", (4,), "Beluga, ISM at scale, variant numbering.", "laptop", ("4.1", "4.2")
        ),
        Session(
            "Week 9", (4,), "Distillation, weighted metrics, the speed-up.", None, (REST,), True
        ),
        Session(
            "Week 10",
            (5,),
            "An ESM-style encoder, masked modelling, folding labels.",
            "laptop",
            ("5.2",),
        ),
        Session(
            "Week 11",
            (5,),
            "Fine-tuning and the sample-efficiency curve.",
            None,
            (REST,),
            True,
        ),
        Session(
            "Week 12",
            (),
            "Project proposal: a chapter, a question, the control that could make the answer fail.",
        ),
        Session("Week 13", (), "Project runs (`laptop`; `full` on a GPU)."),
        Session(
            "Week 14",
            (),
            "Project presentations: results with their intervals beside the reference results.",
        ),
    ),
)

PLANS: tuple[Plan, ...] = (LAB, WORKSHOP, SEMESTER)
