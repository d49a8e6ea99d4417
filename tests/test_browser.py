"""The built site in a real browser: headless Chromium (Debian's ``/usr/bin/chromium``).

``_build/html`` is served on 127.0.0.1 by an ``http.server`` thread and every page (the index,
the prose pages, every chapter, the results page) is opened with Playwright's Python client.
A page fails on a console error, an uncaught script error, a local resource that does not
load, an image that does not load, an image drawn wider than the article column (or than its
box), Python dict text (``{'`` or ``{0:``) in what a reader sees (prose and cell outputs, not
code), or an internal link (or ``#fragment``) that leads nowhere. Chapter pages must also show
their figures, offer the Binder and Colab launch buttons (pointing at ``repository.url`` of
``_config.yml``) and the notebook download, and keep every exercise solution collapsed until its
toggle is clicked.

The test machines have no network beyond loopback. Every request to another host (MathJax
from its CDN, launch targets, ...) is aborted with ``page.route``; the console errors those
aborted requests cause, and only those, are ignored. A full-page screenshot of each page is
kept in ``_build/screenshots/<page>.png``.

Run it: ``make browser-deps`` (installs Debian's chromium once), ``make book``, then
``.venv/bin/pytest tests/test_browser.py``. Without ``/usr/bin/chromium`` the tests skip,
unless ``COURSE_REQUIRE_BUILD`` is set (as in ``make test``): then they fail.
"""

from __future__ import annotations

import functools
import json
import os
import re
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urldefrag, urlsplit

import nbformat
import pytest

from course_book.repository import repository_url
from course_lib.manifest import CHAPTERS as MANIFEST

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[1]
HTML = ROOT / "_build" / "html"
EXECUTED = ROOT / "_build" / "executed" / "notebooks"
SCREENSHOTS = ROOT / "_build" / "screenshots"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
CHAPTERS = [chapter.stem for chapter in MANIFEST]
REPOSITORY = repository_url(ROOT)
PROSE = sorted(p.stem for p in (ROOT / "book").glob("*.md"))
# page name (screenshot file) -> path in the site
PAGES = {"index": "index.html"}
PAGES |= {stem: f"book/{stem}.html" for stem in PROSE}
PAGES |= {stem: f"notebooks/{stem}.html" for stem in CHAPTERS}


def _require_or_skip(ok: bool, reason: str) -> None:
    if not ok:
        if os.environ.get("COURSE_REQUIRE_BUILD"):
            pytest.fail(reason)
        pytest.skip(reason)


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


@pytest.fixture(scope="module")
def site() -> Iterator[str]:
    """Base URL of ``_build/html`` served on a free loopback port."""
    _require_or_skip((HTML / "index.html").exists(), f"{HTML} not built; run `make book` first")
    handler = functools.partial(_QuietHandler, directory=str(HTML))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def browser():
    _require_or_skip(
        CHROMIUM.exists(), f"{CHROMIUM} is missing; install it with `make browser-deps`"
    )
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _require_or_skip(False, "playwright is not installed: pip install -e '.[dev]'")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@dataclass
class Visit:
    """What happened while one page loaded."""

    url: str
    errors: list[str] = field(default_factory=list)  # console errors, script errors, bad loads
    blocked: list[str] = field(default_factory=list)  # non-loopback requests we aborted


def _is_local(url: str, base: str) -> bool:
    return url.startswith(base) or url.startswith(("data:", "blob:", "about:"))


def open_page(browser, base: str, path: str):
    """Open ``path`` in a fresh page with only loopback reachable; returns (page, Visit)."""
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.set_default_timeout(15_000)
    visit = Visit(base + path)

    def route(route) -> None:
        if _is_local(route.request.url, base):
            route.continue_()
        else:
            visit.blocked.append(route.request.url)
            route.abort()

    def console(message) -> None:
        if message.type != "error":
            return
        where = message.location.get("url", "") if message.location else ""
        if where and not _is_local(where, base) and where in visit.blocked:
            return  # the failed load of a resource we blocked: no network here
        visit.errors.append(f"console error: {message.text} (at {where or 'unknown'})")

    def response(resp) -> None:
        if _is_local(resp.url, base) and resp.status >= 400:
            visit.errors.append(f"HTTP {resp.status} for {resp.url}")

    def failed(request) -> None:
        if _is_local(request.url, base):
            visit.errors.append(f"request failed: {request.url} ({request.failure})")

    page.route("**/*", route)
    page.on("console", console)
    page.on("pageerror", lambda err: visit.errors.append(f"script error: {err}"))
    page.on("response", response)
    page.on("requestfailed", failed)
    reply = page.goto(visit.url, wait_until="load")
    status = reply.status if reply else None
    assert status == 200, f"{visit.url}: HTTP {status}; is the page in _toc.yml, the site rebuilt?"
    return page, visit


_FETCHED: dict[str, tuple[int, str]] = {}


def fetch(url: str) -> tuple[int, str]:
    """HTTP status and text of a local URL (cached)."""
    if url not in _FETCHED:
        try:
            with urllib.request.urlopen(url, timeout=10) as reply:
                _FETCHED[url] = (reply.status, reply.read().decode("utf-8", "replace"))
        except urllib.error.HTTPError as err:
            _FETCHED[url] = (err.code, "")
    return _FETCHED[url]


def broken_links(hrefs: list[str], base: str) -> list[str]:
    """Internal links whose target does not answer 200 or lacks the ``#fragment`` id."""
    broken = []
    for href in sorted(set(hrefs)):
        if not href.startswith(base):
            continue
        target, fragment = urldefrag(href)
        target = target.split("?")[0]
        status, text = fetch(target)
        if status != 200:
            broken.append(f"{href} (HTTP {status})")
            continue
        if fragment and urlsplit(target).path.endswith(".html"):
            ids = set(re.findall(r'\s(?:id|name)="([^"]+)"', text))
            if unquote(fragment) not in ids:
                broken.append(f"{href} (no element with id {unquote(fragment)!r})")
    return broken


IMAGES_NOT_LOADED = """() => Array.from(document.images)
    .filter(img => !img.complete || img.naturalWidth === 0)
    .map(img => img.currentSrc || img.src)"""
LINKS = "() => Array.from(document.querySelectorAll('a[href]')).map(a => a.href)"
# images drawn wider than the article column, or wider than the box they sit in
IMAGES_TOO_WIDE = """() => {
    const column = document.querySelector('article.bd-article') || document.body;
    const limit = column.getBoundingClientRect().width + 1;
    return Array.from(column.querySelectorAll('img'))
        .filter(img => img.complete && img.naturalWidth > 0)
        .filter(img => {
            const width = img.getBoundingClientRect().width;
            return width > limit || width > img.parentElement.getBoundingClientRect().width + 1;
        })
        .map(img => `${img.currentSrc || img.src}: drawn ${img.getBoundingClientRect().width}px `
             + `(natural ${img.naturalWidth}px) in a ${limit - 1}px column`);
}"""
# the text a reader sees (prose and outputs, not code inputs or code blocks) around a Python dict
DICT_TEXT = r"""() => {
    const article = document.querySelector('article.bd-article');
    if (!article) return [];
    const copy = article.cloneNode(true);
    copy.querySelectorAll('.cell_input, div[class^="highlight-"], code, .toggle-hidden')
        .forEach(e => { if (!e.closest('.cell_output')) e.remove(); });
    const text = copy.textContent;
    const found = [];
    for (const m of text.matchAll(/\{'|\{0:/g)) {
        found.push(text.slice(Math.max(0, m.index - 60), m.index + 40).replace(/\s+/g, ' '));
    }
    return found;
}"""


@pytest.mark.parametrize("name", list(PAGES), ids=list(PAGES))
def test_page_in_browser(browser, site: str, name: str) -> None:
    if name in CHAPTERS:
        executed = EXECUTED / f"{name}.ipynb"
        _require_or_skip(executed.exists(), f"{executed} missing; run `make book` first")
    page, visit = open_page(browser, site, PAGES[name])
    try:
        if name == "index":  # the root redirects to the introduction
            page.wait_for_url("**/book/intro.html")
            page.wait_for_load_state("load")
        page.wait_for_load_state("networkidle")
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
        problems = list(visit.errors)
        problems += [
            f"image did not load: {src}"
            for src in page.evaluate(IMAGES_NOT_LOADED)
            if _is_local(src, site)
        ]
        problems += [
            f"broken internal link: {link}" for link in broken_links(page.evaluate(LINKS), site)
        ]
        problems += [
            f"image wider than its column: {text}" for text in page.evaluate(IMAGES_TOO_WIDE)
        ]
        problems += [
            f"Python dict shown as text: ...{text}..." for text in page.evaluate(DICT_TEXT)
        ]
        title = page.title()
    finally:
        page.close()
    assert not problems, f"{visit.url}:\n" + "\n".join(problems)
    assert "Deep learning for RNA and DNA sequences" in title, f"{visit.url}: title {title!r}"


def _png_outputs(notebook: Path) -> int:
    nb = nbformat.read(notebook, as_version=4)
    return sum(
        "image/png" in output.get("data", {}) for c in nb.cells for output in c.get("outputs", [])
    )


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_chapter_page_figures_launch_buttons_and_hidden_solutions(
    browser, site: str, chapter: str
) -> None:
    source = nbformat.read(ROOT / "notebooks" / f"{chapter}.ipynb", as_version=4)
    n_solutions = sum("solution" in c.metadata.get("tags", []) for c in source.cells)
    executed = EXECUTED / f"{chapter}.ipynb"
    _require_or_skip(executed.exists(), f"{executed} missing; run `make book` first")
    n_figures = _png_outputs(executed)
    page, visit = open_page(browser, site, f"notebooks/{chapter}.html")
    try:
        shown = page.evaluate(
            """() => Array.from(document.querySelectorAll('.cell_output img'))
                .filter(img => img.complete && img.naturalWidth > 0).length"""
        )
        assert shown >= max(n_figures, 1), f"{chapter}: {shown} of {n_figures} figures shown"

        menu = page.locator(".dropdown-launch-buttons > button")
        assert menu.count() == 1, f"{chapter}: no launch-buttons menu in the page header"
        menu.click()
        binder = page.locator(".dropdown-launch-buttons a[href*='mybinder.org']")
        colab = page.locator(".dropdown-launch-buttons a[href*='colab.research.google.com']")
        for button, name in ((binder, "Binder"), (colab, "Colab")):
            assert button.count() == 1, f"{chapter}: no {name} launch button"
            assert button.is_visible(), f"{chapter}: the {name} launch button is not shown"
            href = button.get_attribute("href")
            assert f"notebooks/{chapter}.ipynb" in href
            assert urlsplit(REPOSITORY).path.strip("/") in href, (
                f"{name}: {href} is not {REPOSITORY}"
            )
        download = page.locator(".dropdown-download-buttons a[href$='.ipynb']")
        assert download.count() == 1, f"{chapter}: no notebook download button"
        status, text = fetch(site + f"_sources/notebooks/{chapter}.ipynb")
        assert status == 200 and json.loads(text)["cells"], "the downloaded notebook is empty"

        solutions = page.locator(".cell.tag_solution")
        assert solutions.count() == n_solutions >= 2
        for index in range(n_solutions):
            cell = solutions.nth(index)
            toggle = cell.locator("details > summary")
            code = cell.locator(".cell_input pre")
            assert toggle.is_visible(), f"{chapter}: solution {index + 1} has no visible toggle"
            assert not code.is_visible(), f"{chapter}: solution {index + 1} is not hidden"
            toggle.click()
            code.wait_for(state="visible", timeout=5000)
            assert code.inner_text().strip(), f"{chapter}: solution {index + 1} is empty"
        exercises = page.locator("h3", has_text="Exercise")
        assert exercises.count() >= 1, f"{chapter}: no exercise heading"
        terms = page.locator("a[href*='glossary.html#term-']")
        assert terms.count() >= 1, f"{chapter}: no link into the glossary"
        href = terms.first.evaluate("a => a.href")
        assert not broken_links([href], site), f"{chapter}: glossary link {href} does not resolve"
    finally:
        page.close()
    assert not visit.errors, f"{visit.url}:\n" + "\n".join(visit.errors)


def test_concept_question_answers_in_browser(browser, site: str) -> None:
    """On the built concepts page a wrong pick shows why it is wrong, the right one is marked."""
    from test_concepts import check_answering

    page, visit = open_page(browser, site, PAGES["concepts"])
    try:
        assert page.locator(".concept-question").count() >= 3 * len(CHAPTERS)
        check_answering(page)
    finally:
        page.close()
    assert not visit.errors, f"{visit.url}:\n" + "\n".join(visit.errors)


def test_recorded_references_show_on_the_dashboard_and_chapter_pages(browser, site: str) -> None:
    """Every laptop reference of ``book/reference_results/laptop`` is shown, with its commit, on
    the results dashboard (one cell per chapter) and on its chapter's page, beside this build's
    own numbers; one whose chapter's code changed since is marked STALE there."""
    from course_book.site import load_references

    stale = {stem: ref.stale for stem, ref in load_references(ROOT).get("laptop", {}).items()}
    folder = ROOT / "book" / "reference_results" / "laptop"
    recorded = {
        p.stem: json.loads(p.read_text())["reference"] for p in sorted(folder.glob("*.json"))
    }
    _require_or_skip(bool(recorded), f"no laptop reference recorded in {folder}")
    page, visit = open_page(browser, site, PAGES["results"])
    try:
        dashboard = page.inner_text("main")
    finally:
        page.close()
    assert not visit.errors, f"{visit.url}:\n" + "\n".join(visit.errors)
    for stem, ref in recorded.items():
        stamp = f"({ref['date']}, {ref['commit'][:8]})"
        shown = dashboard.count(stamp)
        expected = sum(
            r["commit"] == ref["commit"] and r["date"] == ref["date"] for r in recorded.values()
        )
        assert shown >= expected, (
            f"results page shows {shown} references {stamp}, {expected} recorded"
        )
        page, visit = open_page(browser, site, PAGES[stem])
        try:
            text = page.inner_text("main")
        finally:
            page.close()
        assert f"commit {ref['commit'][:8]}" in text and "laptop" in text, (
            f"{PAGES[stem]} does not show its laptop reference of commit {ref['commit'][:8]}"
        )
        assert ("STALE" in text) is stale[stem], f"{PAGES[stem]}: STALE mark is not {stale[stem]}"
