"""Concept questions: multiple choice with an explanation for every option, needing no kernel.

The questions are data, ``book/concepts/questions.yml`` (:data:`QUESTIONS_FILE`), keyed by the
chapters' notebook stems. When the site is staged, :func:`stage_concepts` writes them into the
page ``book/concepts.md`` at :data:`CONCEPTS_MARK`: one section per chapter of the manifest, each
question as plain HTML, and copies ``_static/`` (``concepts.js`` and ``concepts.css``), which
Jupyter Book 1.x adds to every page. The script shows an option's explanation when the reader
picks it and marks the option right or wrong; nothing is sent anywhere.

The HTML ids are stable, derived from the chapter number and the question's ``id`` in the
file, never from its position: ``concept-ch<N>-<id>`` for a question, ``...-<letter>`` for its
options (``a``, ``b``, ...) and ``...-<letter>-why`` for their explanations. Each chapter's
section carries the label ``concepts-ch<N>`` (:func:`section_label`), which the chapter's
``Key points`` cell links to.
"""

from __future__ import annotations

import html
import re
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from course_lib.manifest import CHAPTERS, Chapter

QUESTIONS_FILE = Path("book") / "concepts" / "questions.yml"
CONCEPTS_PAGE = Path("book") / "concepts.md"
STATIC_DIR = Path("_static")
#: Where ``book/concepts.md`` gets the questions of every chapter.
CONCEPTS_MARK = "<!-- concept-questions: generated from book/concepts/questions.yml -->"
#: The fewest options a question may offer.
MIN_OPTIONS = 3
_ID = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
_LETTERS = "abcdefgh"


@dataclass(frozen=True)
class Option:
    """One answer a reader can pick, with the explanation shown once it is picked."""

    answer: str
    why: str
    correct: bool = False


@dataclass(frozen=True)
class Question:
    """A question, its stable ``id`` (lower case, digits, hyphens) and its options in order."""

    id: str
    question: str
    options: tuple[Option, ...]


def _text(raw: Mapping[str, Any], key: str, where: str) -> str:
    """``raw[key]`` as one line of text; a ``ValueError`` naming ``where`` if missing or empty."""
    value = raw.get(key)
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{where}: `{key}` is missing or empty; give it a non-empty text")
    return " ".join(value.split())


def parse_question(raw: Mapping[str, Any], where: str) -> Question:
    """A :class:`Question` from one entry of the file, checked.

    Raises
    ------
    ValueError
        Naming ``where`` (file, chapter and question), when the id is not lower case words joined
        by hyphens, there are fewer than :data:`MIN_OPTIONS` options (or more than 8), not
        exactly one is correct, or a text or explanation is missing.
    """
    qid = raw.get("id")
    if not isinstance(qid, str) or not _ID.fullmatch(qid):
        raise ValueError(f"{where}: id {qid!r} must be lower-case words joined by hyphens")
    where = f"{where} ({qid})"
    raw_options = raw.get("options") or []
    if not MIN_OPTIONS <= len(raw_options) <= len(_LETTERS):
        raise ValueError(
            f"{where}: {len(raw_options)} options; give {MIN_OPTIONS} to {len(_LETTERS)}"
        )
    options = tuple(
        Option(
            _text(o, "answer", f"{where} option {i + 1}"),
            _text(o, "why", f"{where} option {i + 1}"),
            o.get("correct") is True,
        )
        for i, o in enumerate(raw_options)
    )
    n_correct = sum(o.correct for o in options)
    if n_correct != 1:
        raise ValueError(f"{where}: {n_correct} options marked `correct: true`; mark exactly one")
    return Question(qid, _text(raw, "question", where), options)


def read_questions(path: Path) -> dict[str, tuple[Question, ...]]:
    """``{chapter stem: questions}`` of ``path``, every question checked (:func:`parse_question`).

    Raises
    ------
    ValueError
        A key is not a chapter of the manifest, or an id repeats within a chapter.
    """
    raw = yaml.safe_load(path.read_text()) or {}
    stems = [c.stem for c in CHAPTERS]
    out = {}
    for stem, entries in raw.items():
        if stem not in stems:
            raise ValueError(f"{path}: {stem!r} is not a chapter of the manifest ({stems})")
        questions = tuple(
            parse_question(entry, f"{path}: {stem} question {i + 1}")
            for i, entry in enumerate(entries or [])
        )
        ids = [q.id for q in questions]
        repeated = sorted({i for i in ids if ids.count(i) > 1})
        if repeated:
            raise ValueError(f"{path}: {stem} repeats the question ids {repeated}")
        out[stem] = questions
    return out


def section_label(chapter: Chapter) -> str:
    """The label of ``chapter``'s section of the concepts page, ``concepts-ch<N>``."""
    return f"concepts-ch{chapter.number}"


def question_id(chapter: Chapter, question: Question) -> str:
    """The HTML id of ``question`` of ``chapter``, ``concept-ch<N>-<id>``."""
    return f"concept-ch{chapter.number}-{question.id}"


def inline(text: str) -> str:
    """``text`` escaped for HTML, with ```code``` spans as ``<code>``."""
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", html.escape(text, quote=False))


def render_question(chapter: Chapter, number: int, question: Question) -> str:
    """One question as an HTML block with no blank line (Markdown keeps it as raw HTML).

    ``number`` is the question's place in its chapter (1, 2, ...), shown as ``Question N.n``.
    """
    qid = question_id(chapter, question)
    lines = [
        f'<div class="concept-question" id="{qid}">',
        f'<p class="concept-prompt"><span class="concept-number">Question '
        f"{chapter.number}.{number}.</span> {inline(question.question)}</p>",
        '<ul class="concept-options">',
    ]
    for letter, option in zip(_LETTERS, question.options, strict=False):
        oid, tag = f"{qid}-{letter}", "Right." if option.correct else "Not quite."
        lines += [
            f'<li><button type="button" class="concept-option" id="{oid}" '
            f'data-correct="{str(option.correct).lower()}" data-letter="{letter.upper()}" '
            f'aria-controls="{oid}-why" aria-expanded="false">'
            f'<span class="concept-letter">{letter.upper()}</span> '
            f"{inline(option.answer)}</button>",
            f'<div class="concept-explanation" id="{oid}-why" hidden>'
            f"<strong>{tag}</strong> {inline(option.why)}</div></li>",
        ]
    lines += ["</ul>", '<p class="concept-verdict" aria-live="polite"></p>', "</div>"]
    return "\n".join(lines)


def render_questions(questions: Mapping[str, Sequence[Question]]) -> str:
    """The concepts page's sections: per manifest chapter a labelled heading and its questions."""
    out = []
    for chapter in CHAPTERS:
        out += [
            f"({section_label(chapter)})=",
            f"## {chapter.label}\n",
            f"Back to {{doc}}`the chapter </{chapter.notebook.with_suffix('').as_posix()}>`.\n",
        ]
        chosen = questions.get(chapter.stem, ())
        out += [render_question(chapter, i + 1, q) + "\n" for i, q in enumerate(chosen)]
        if not chosen:
            out.append("_No concept questions for this chapter yet._\n")
    return "\n".join(out)


def stage_concepts(root: Path, staging: Path) -> None:
    """Write the questions into the staged concepts page and copy ``_static/`` beside the book.

    Parameters
    ----------
    root
        The project root (holds :data:`QUESTIONS_FILE` and :data:`STATIC_DIR`).
    staging
        The staged book source, with ``book/`` already copied.
    """
    page = staging / CONCEPTS_PAGE
    sections = render_questions(read_questions(root / QUESTIONS_FILE))
    page.write_text(page.read_text().replace(CONCEPTS_MARK, sections))
    shutil.copytree(root / STATIC_DIR, staging / STATIC_DIR, dirs_exist_ok=True)
