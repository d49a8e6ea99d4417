"""Concept questions (``course_book.concepts``) and teaching plans (``course_book.teaching``).

The questions file is checked as data (every chapter has at least three questions, each with at
least three options, exactly one correct, an explanation per option), the rendered HTML for
stable ids, and ``_static/concepts.js`` in headless Chromium on a page of rendered questions
served from a temporary folder (no built site needed; ``tests/test_browser.py`` drives the same
clicks on the built site). The teaching page's generated tables must list every chapter of the
manifest with its measured time and cover every exercise.
"""

from __future__ import annotations

import functools
import re
import shutil
import threading
from collections.abc import Iterator
from html.parser import HTMLParser
from http.server import ThreadingHTTPServer
from pathlib import Path

import pytest

from course_book.concepts import (
    CONCEPTS_MARK,
    CONCEPTS_PAGE,
    QUESTIONS_FILE,
    STATIC_DIR,
    parse_question,
    question_id,
    read_questions,
    render_question,
    render_questions,
    section_label,
    stage_concepts,
)
from course_book.teaching import (
    LAB,
    PLANS,
    REST,
    SEMESTER,
    TEACHING_MARK,
    TEACHING_PAGE,
    WORKSHOP,
    Plan,
    Session,
    chapters_table,
    course_exercises,
    plan_table,
    session_exercises,
    stage_teaching,
)
from course_book.timings import TIMES_FILE, format_duration, read_times
from course_lib.manifest import CHAPTERS

ROOT = Path(__file__).resolve().parents[1]
QUESTIONS = read_questions(ROOT / QUESTIONS_FILE)


def _option(answer: str, correct: bool = False, why: str = "because") -> dict:
    return {"answer": answer, "why": why, "correct": correct}


def _raw(**changes) -> dict:
    raw = {
        "id": "a-question",
        "question": "Which?",
        "options": [_option("one", True), _option("two"), _option("three")],
    }
    return raw | changes


# --- the questions as data -------------------------------------------------------------------


@pytest.mark.parametrize("chapter", CHAPTERS, ids=[c.stem for c in CHAPTERS])
def test_every_chapter_has_three_questions_with_one_right_and_explained_options(chapter) -> None:
    questions = QUESTIONS.get(chapter.stem, ())
    assert len(questions) >= 3, f"{chapter.stem}: {len(questions)} concept questions, need 3"
    for question in questions:
        assert len(question.options) >= 3, question.id
        assert sum(o.correct for o in question.options) == 1, question.id
        assert all(o.why.strip() and o.answer.strip() for o in question.options), question.id
        assert question.question.strip(), question.id


def test_the_right_answer_is_not_always_in_the_same_place() -> None:
    places = {
        next(i for i, o in enumerate(q.options) if o.correct)
        for questions in QUESTIONS.values()
        for q in questions
    }
    assert len(places) >= 3, f"the right option is always at {places}: readers learn the place"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"options": [_option("one", True), _option("two")]}, "2 options"),
        ({"options": [_option("a"), _option("b"), _option("c")]}, "0 options marked"),
        ({"options": [_option("a", True), _option("b", True), _option("c")]}, "2 options marked"),
        ({"options": [_option("a", True), _option("b", why=""), _option("c")]}, "`why`"),
        ({"id": "Bad Id"}, "lower-case words"),
        ({"question": "  "}, "`question`"),
    ],
)
def test_a_malformed_question_is_refused_naming_it(changes: dict, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)) as error:
        parse_question(_raw(**changes), "questions.yml: 00_sequences question 1")
    assert "00_sequences question 1" in str(error.value)


def test_unknown_chapters_and_repeated_ids_are_refused(tmp_path: Path) -> None:
    import yaml

    path = tmp_path / "questions.yml"
    path.write_text(yaml.safe_dump({"99_nowhere": [_raw()]}))
    with pytest.raises(ValueError, match="not a chapter of the manifest"):
        read_questions(path)
    path.write_text(yaml.safe_dump({CHAPTERS[0].stem: [_raw(), _raw()]}))
    with pytest.raises(ValueError, match=r"repeats the question ids \['a-question'\]"):
        read_questions(path)


# --- the rendered HTML -----------------------------------------------------------------------


class _Elements(HTMLParser):
    """Every start tag as ``(tag, attributes)``."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.found.append((tag, dict(attrs)))


def _elements(text: str) -> list[tuple[str, dict[str, str | None]]]:
    parser = _Elements()
    parser.feed(text)
    return parser.found


def test_rendered_questions_have_stable_unique_ids_and_linked_explanations() -> None:
    chapter = CHAPTERS[2]
    question = QUESTIONS[chapter.stem][0]
    html = render_question(chapter, 1, question)
    assert "\n\n" not in html, "a blank line would end the raw HTML block in Markdown"
    qid = question_id(chapter, question)
    assert qid == f"concept-ch{chapter.number}-{question.id}"
    elements = _elements(html)
    buttons = [a for tag, a in elements if tag == "button"]
    explanations = {
        a["id"]: a for tag, a in elements if "concept-explanation" in (a.get("class") or "")
    }
    assert [b["id"] for b in buttons] == [f"{qid}-{x}" for x in "abcdefgh"[: len(buttons)]]
    assert [b["data-correct"] for b in buttons].count("true") == 1
    for button, option in zip(buttons, question.options, strict=True):
        assert button["data-correct"] == str(option.correct).lower()
        assert button["aria-controls"] == f"{button['id']}-why"
        assert "hidden" in explanations[button["aria-controls"]], "explanations start hidden"
    # the ids follow the question's id, not its place: another question before it changes none
    moved = render_question(chapter, 5, question)
    assert sorted(re.findall(r'id="([^"]+)"', moved)) == sorted(re.findall(r'id="([^"]+)"', html))


def test_the_page_holds_every_chapter_once_with_unique_ids() -> None:
    page = render_questions(QUESTIONS)
    for chapter in CHAPTERS:
        assert page.count(f"({section_label(chapter)})=") == 1
        assert f"## {chapter.label}" in page
    ids = re.findall(r'id="([^"]+)"', page)
    assert len(ids) == len(set(ids)), "repeated HTML ids"
    n_questions = sum(len(q) for q in QUESTIONS.values())
    assert page.count('class="concept-question"') == n_questions


def test_markup_in_text_is_escaped_and_code_spans_kept() -> None:
    question = parse_question(
        _raw(question="Is `a < b` <script>x</script>?"), "questions.yml: test question"
    )
    html = render_question(CHAPTERS[0], 1, question)
    assert "<code>a &lt; b</code>" in html
    assert "<script>" not in html


def test_staging_fills_the_concepts_page_and_copies_the_script(tmp_path: Path) -> None:
    staging = tmp_path / "site_src"
    (staging / "book").mkdir(parents=True)
    shutil.copy(ROOT / CONCEPTS_PAGE, staging / CONCEPTS_PAGE)
    assert (ROOT / CONCEPTS_PAGE).read_text().count(CONCEPTS_MARK) == 1
    stage_concepts(ROOT, staging)
    page = (staging / CONCEPTS_PAGE).read_text()
    assert CONCEPTS_MARK not in page
    assert all(f"({section_label(c)})=" in page for c in CHAPTERS)
    for name in ("concepts.js", "concepts.css"):
        assert (staging / STATIC_DIR / name).read_bytes() == (ROOT / STATIC_DIR / name).read_bytes()


def test_every_key_points_cell_links_its_concept_questions() -> None:
    import nbformat

    for chapter in CHAPTERS:
        nb = nbformat.read(ROOT / chapter.notebook, as_version=4)
        key_points = [c.source for c in nb.cells if "## Key points" in c.source]
        assert key_points, f"{chapter.stem} has no Key points"
        assert f"<{section_label(chapter)}>`" in key_points[0], chapter.stem


# --- the script in a browser -----------------------------------------------------------------

PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>concepts</title>
<link rel="stylesheet" href="concepts.css"><script src="concepts.js"></script>
<script src="concepts.js"></script></head>
<body>{body}</body></html>
"""


def check_answering(page, selector: str = ".concept-question") -> None:
    """Answer one concept question on ``page`` wrong, then right, checking what the reader sees.

    Its explanations start hidden; a wrong pick shows that option's explanation and marks it
    wrong, and leaves the question unanswered; the right pick marks it right and the question
    answered. ``selector`` picks the question (default: the first on the page); the page's other
    questions must not change.
    """
    box = page.locator(selector).first
    wrong = box.locator(".concept-option[data-correct='false']").first
    right = box.locator(".concept-option[data-correct='true']")
    assert right.count() == 1
    why_wrong = page.locator(f"#{wrong.get_attribute('aria-controls')}")
    why_right = page.locator(f"#{right.get_attribute('aria-controls')}")
    assert not why_wrong.is_visible() and not why_right.is_visible(), "explanations start hidden"
    wrong.click()
    why_wrong.wait_for(state="visible", timeout=5000)
    assert "concept-wrong" in wrong.get_attribute("class")
    assert "Not quite" in why_wrong.inner_text()
    assert not why_right.is_visible(), "a wrong pick must not reveal the right answer"
    assert "concept-answered" not in box.get_attribute("class")
    assert "not right" in box.locator(".concept-verdict").inner_text()
    right.click()
    why_right.wait_for(state="visible", timeout=5000)
    assert "concept-right" in right.get_attribute("class")
    assert "Right" in why_right.inner_text()
    assert "concept-answered" in box.get_attribute("class")
    assert "is right" in box.locator(".concept-verdict").inner_text()
    others = page.locator(".concept-question.concept-answered")
    assert others.count() == 1, "answering one question changed another"


@pytest.fixture(scope="module")
def questions_page(tmp_path_factory) -> Iterator[str]:
    """A page of the rendered questions with the real script and style, served on loopback."""
    from test_browser import _QuietHandler

    folder = tmp_path_factory.mktemp("concepts_page")
    body = "\n".join(
        render_question(c, i + 1, q)
        for c in CHAPTERS
        for i, q in enumerate(QUESTIONS.get(c.stem, ()))
    )
    (folder / "index.html").write_text(PAGE.format(body=body))
    for name in ("concepts.js", "concepts.css"):
        shutil.copy(ROOT / STATIC_DIR / name, folder / name)
    handler = functools.partial(_QuietHandler, directory=str(folder))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


@pytest.mark.browser
def test_the_script_answers_a_question_in_chromium(browser, questions_page: str) -> None:
    from test_browser import open_page

    page, visit = open_page(browser, questions_page, "index.html")
    try:
        check_answering(page)
        second = QUESTIONS[CHAPTERS[0].stem][1]
        page.locator(f"#{question_id(CHAPTERS[0], second)} .concept-option").first.click()
        assert (
            page.locator(
                ".concept-question .concept-option.concept-right, "
                ".concept-question .concept-option.concept-wrong"
            ).count()
            == 3
        )
    finally:
        page.close()
    assert not visit.errors, "\n".join(visit.errors)


# --- the teaching plans ----------------------------------------------------------------------


def _smoke_runs() -> dict:
    return {
        c.stem: {"ok": True, "profile": "smoke", "tiny": False, "wall_time_s": 30.0 + c.number}
        for c in CHAPTERS
    }


def test_the_chapter_table_lists_every_chapter_with_its_measured_times() -> None:
    recorded = read_times(ROOT / TIMES_FILE)
    counts = {stem: len(q) for stem, q in QUESTIONS.items()}
    exercises = course_exercises(ROOT / "notebooks")
    table = chapters_table(exercises, recorded, _smoke_runs(), counts)
    rows = [line for line in table.splitlines()[2:] if line.startswith("| [")]
    assert len(rows) == len(CHAPTERS)
    for chapter, row in zip(CHAPTERS, rows, strict=True):
        assert f"[{chapter.number}. {chapter.title}](../{chapter.notebook.as_posix()})" in row
        assert f"{format_duration(30.0 + chapter.number)} (this build)" in row
        laptop = recorded.get("laptop", {}).get(chapter.stem)
        if laptop:
            expected = f"{format_duration(laptop['wall_time_s'])} (measured {laptop['date']})"
            assert expected in row, row
        else:
            assert "not measured yet" in row
        assert f"<{section_label(chapter)}>`" in row
    unmeasured = chapters_table(exercises, {}, {}, counts)
    assert unmeasured.count("not measured yet") == 2 * len(CHAPTERS)


def test_plans_cover_every_chapter_and_every_exercise() -> None:
    exercises = course_exercises(ROOT / "notebooks")
    assert exercises, "no exercise headings found in the notebooks"
    assert {e.chapter for e in exercises.values()} == {c.number for c in CHAPTERS}
    for plan in (WORKSHOP, SEMESTER):
        named: set[str] = set()
        for session in plan.sessions:
            named.update(session_exercises(session, named, exercises))
        assert named == set(exercises), f"{plan.title} leaves out {set(exercises) - named}"
        covered = {n for s in plan.sessions for n in s.chapters}
        assert covered == {c.number for c in CHAPTERS}, plan.title
        assert any(s.concepts for s in plan.sessions)
    assert {s.profile for s in LAB.sessions} - {None} == {"smoke"}
    assert {s.profile for s in WORKSHOP.sessions} == {"laptop"}


def test_a_plan_naming_a_missing_exercise_or_chapter_is_refused() -> None:
    exercises = course_exercises(ROOT / "notebooks")
    bad = Plan("bad", "", (Session("Day 1", (0,), "x", None, ("0.99",)),))
    with pytest.raises(ValueError, match="no exercise '0.99'"):
        plan_table(bad, exercises, {}, {})
    missing = Plan("bad", "", (Session("Day 1", (42,), "x"),))
    with pytest.raises(ValueError, match="chapter 42 is not in the manifest"):
        plan_table(missing, exercises, {}, {})
    rest = Plan(
        "rest",
        "",
        (Session("1", (0,), "x", None, ("0.1",)), Session("2", (0,), "y", None, (REST,))),
    )
    table = plan_table(rest, exercises, {}, {})
    assert "{ref}`0.1 <ch0-exercise-1>`" in table.splitlines()[2]
    assert "0.1 <" not in table.splitlines()[3]


def test_plan_runs_add_the_measured_times_of_their_chapters() -> None:
    recorded = read_times(ROOT / TIMES_FILE)
    day_one = WORKSHOP.sessions[0]
    table = plan_table(
        Plan("w", "", (day_one,)), course_exercises(ROOT / "notebooks"), recorded, {}
    )
    stems = [c.stem for c in CHAPTERS if c.number in day_one.chapters]
    laptop = recorded.get("laptop", {})
    if all(s in laptop for s in stems):
        total = format_duration(sum(laptop[s]["wall_time_s"] for s in stems))
        assert f"`laptop` {total} |" in table
    else:
        assert "`laptop` not measured yet" in table


def test_staging_writes_the_plans_into_the_teaching_page(tmp_path: Path) -> None:
    staging = tmp_path / "site_src"
    (staging / "book").mkdir(parents=True)
    shutil.copy(ROOT / TEACHING_PAGE, staging / TEACHING_PAGE)
    shutil.copytree(ROOT / "notebooks", staging / "notebooks")
    assert (ROOT / TEACHING_PAGE).read_text().count(TEACHING_MARK) == 1
    stage_teaching(ROOT, staging, _smoke_runs())
    page = (staging / TEACHING_PAGE).read_text()
    assert TEACHING_MARK not in page
    for plan in PLANS:
        assert f"### {plan.title}" in page
    assert "`smoke` 32 s |" in page, "the lab's run shows chapter 2's smoke time"
