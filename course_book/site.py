"""Build the course website from executed notebooks: ``python -m course_book.site``.

The book source is staged in ``_build/site_src``: the configuration, the prose pages, the
*executed* notebooks from :mod:`course_book.run` (the chapters of
:data:`course_lib.manifest.CHAPTERS`), and a results page generated from ``results/*.json``,
which names each chapter by its title in the manifest. The manifest also writes the table of
contents' ``Chapters`` part (:func:`chapters_toc`) and the introduction's chapter table
(:func:`chapters_table`, at :data:`CHAPTERS_MARK`), so a new chapter is listed in neither by
hand. Jupyter Book 1.x then builds ``_build/html`` with warnings as errors.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from course_book.concepts import stage_concepts
from course_book.formatting import format_value, is_interval
from course_book.reference import (
    REFERENCE_DIR,
    REFERENCE_PROFILES,
    is_stale,
    read_references,
)
from course_book.teaching import stage_teaching
from course_book.timings import (
    TIMES_FILE,
    chapter_times,
    format_duration,
    read_times,
    times_table,
)
from course_lib.manifest import CHAPTERS, chapter_label
from course_lib.paths import project_root, results_dir
from course_lib.results import read_results


def _flatten(prefix: tuple[str, ...], value: Any, rows: list[tuple[tuple[str, ...], Any]]) -> None:
    if isinstance(value, Mapping) and not is_interval(value):
        for key, inner in value.items():
            _flatten((*prefix, str(key)), inner, rows)
    else:
        rows.append((prefix, value))


def metrics_table(metrics: Mapping[str, Any]) -> str:
    """A markdown table: one row per path of nested keys, one column per leaf metric name."""
    rows: list[tuple[tuple[str, ...], Any]] = []
    _flatten((), metrics, rows)
    if not rows:
        return "_no metrics recorded_\n"
    columns: list[str] = []
    table: dict[str, dict[str, Any]] = {}
    for path, value in rows:
        label = " / ".join(path[:-1]) or "value"
        name = path[-1]
        if name not in columns:
            columns.append(name)
        table.setdefault(label, {})[name] = value
    lines = ["| | " + " | ".join(columns) + " |", "|---" * (len(columns) + 1) + "|"]
    for label, values in table.items():
        lines.append(
            f"| {label} | " + " | ".join(format_value(values.get(c, "")) for c in columns) + " |"
        )
    return "\n".join(lines) + "\n"


def anchors_table(anchors: list[Mapping[str, Any]]) -> str:
    """A markdown table of a results file's anchors: name, metric, value, protocol, source."""
    if not anchors:
        return "_no anchors recorded_\n"
    keys = ("name", "metric", "value", "protocol", "source")
    lines = ["| " + " | ".join(keys) + " |", "|---" * len(keys) + "|"]
    lines += ["| " + " | ".join(format_value(a[k]) for k in keys) + " |" for a in anchors]
    return "\n".join(lines) + "\n"


def _provenance_text(provenance: Any) -> str:
    """``"genome windows: real; teacher: stand-in"`` from a provenance mapping (or a string)."""
    if isinstance(provenance, Mapping):
        return "; ".join(f"{k}: {v}" for k, v in provenance.items())
    return str(provenance)


@dataclass(frozen=True)
class Reference:
    """A chapter's reference record at ``profile``; ``stale`` when its code changed since."""

    profile: str
    record: Mapping[str, Any]
    stale: bool


#: ``{profile: {chapter: Reference}}``
References = Mapping[str, Mapping[str, Reference]]


def load_references(root: Path) -> dict[str, dict[str, Reference]]:
    """Every reference set in ``book/reference_results``, with each chapter's staleness."""
    chapters = {c.stem: c for c in CHAPTERS}
    return {
        profile: {
            stem: Reference(profile, record, is_stale(record, chapters[stem], root))
            for stem, record in records.items()
            if stem in chapters
        }
        for profile, records in read_references(root).items()
    }


def shown_profiles(build_profile: str, references: References) -> list[str]:
    """The reference profiles a page built at ``build_profile`` shows beside its numbers.

    Every recorded profile other than the build's; at ``smoke`` always ``laptop`` (whose absence
    the page then states).
    """
    wanted = {p for p in references if p != build_profile}
    if build_profile == "smoke":
        wanted.add("laptop")
    return [p for p in REFERENCE_PROFILES if p in wanted] + sorted(wanted - set(REFERENCE_PROFILES))


def _headline_value(record: Mapping[str, Any], model: str | None = None) -> tuple[str, str]:
    """``(model, "value [low, high]")`` of ``model`` (default: the first) in the headline."""
    compared = record["headline"]["compared"]
    name = model if model in compared else next(iter(compared))
    row = compared[name]
    return name, f"{format_value(row['value'])} {format_value(row['interval'])}"


#: Appended after a reference's stamp when its chapter's code changed since it was recorded.
STALE_MARK = " **STALE**: the chapter's code changed since"


def stale_mark(reference: Reference) -> str:
    """:data:`STALE_MARK` for a stale reference, else nothing."""
    return STALE_MARK if reference.stale else ""


def reference_stamp(reference: Reference, short: bool = False) -> str:
    """``"laptop run of 2026-12-06, commit 1a2b3c4d"`` (the STALE mark is :func:`stale_mark`).

    ``short`` leaves out the profile and the words: ``"2026-12-06, 1a2b3c4d"``.
    """
    entry = reference.record["reference"]
    dirty = " + uncommitted changes" if entry.get("dirty") else ""
    if short:
        stamp = f"{entry['date']}, {entry['commit'][:8]}{dirty}"
    else:
        stamp = f"{reference.profile} run of {entry['date']}, commit {entry['commit'][:8]}{dirty}"
    return stamp


def reference_cell(
    chapter: str, model: str | None, profile: str, references: References, short: bool = True
) -> str:
    """``chapter``'s reference headline at ``profile`` with its stamp (or a plain "none").

    The value of ``model`` (else the first headline model, named); ``short=False`` adds the
    metric and the reference's data, for a chapter page.
    """
    reference = references.get(profile, {}).get(chapter)
    if reference is None:
        return f"no {profile} reference recorded"
    stamp, mark = reference_stamp(reference, short), stale_mark(reference)
    if not reference.record.get("headline"):
        return f"no headline ({stamp}){mark}"
    name, value = _headline_value(reference.record, model)
    if not short:
        headline = reference.record["headline"]
        return f"{name}, {headline['metric']} {value} on {headline['data']} ({stamp}){mark}"
    label = "" if name == model else f"{name}: "
    return f"{label}{value} ({stamp}){mark}"


def _headline_cells(record: Mapping[str, Any]) -> list[str]:
    """The dashboard cells of one chapter: headline (model, metric: data), value, anchor."""
    headline = record.get("headline")
    if not headline:
        provenance = _provenance_text(record["provenance"])
        return [f"_no headline recorded_ (data: {provenance})", f"({record['profile']})", ""]
    model, value = _headline_value(record)
    anchor = headline.get("anchor")
    anchor_text = (
        f"{anchor['name']}: {format_value(anchor['value'])} ({anchor['protocol']})"
        if anchor
        else ""
    )
    return [
        f"{model}, {headline['metric']}: {headline['data']}",
        f"{value} ({record['profile']})",
        anchor_text,
    ]


def dashboard_table(
    results: Mapping[str, Mapping[str, Any]], references: References | None = None
) -> str:
    """One compact row per chapter: headline and its data, this build's value, references, anchor.

    ``references`` adds a column per profile :func:`shown_profiles` gives for the builds' profile.
    Each chapter's section of the results page names its interval's method.
    """
    references = references or {}
    profiles = sorted({r["profile"] for r in results.values()})
    shown = [
        p for p in REFERENCE_PROFILES if any(p in shown_profiles(b, references) for b in profiles)
    ]
    header = ["chapter", "headline: data", "this build [interval]"]
    header += [*(f"{p} reference" for p in shown), "anchor (protocol)"]
    lines = ["| " + " | ".join(header) + " |", "|---" * len(header) + "|"]
    for chapter, record in results.items():
        headline, value, anchor = _headline_cells(record)
        refs = [reference_cell(chapter, _model(record), p, references) for p in shown]
        cells = [chapter_label(chapter), headline, value, *refs, anchor]
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines) + "\n"


FIGURE_WIDTH_IN = 6.4
FIGURE_DPI = 100


def headline_figure(record: Mapping[str, Any], references: Sequence[Reference] = ()) -> Any:
    """A matplotlib figure of the headline models with their intervals, references and anchor.

    Sized for the page's column (``FIGURE_WIDTH_IN`` at ``FIGURE_DPI``); the title is wrapped
    to the width and the legend sits below the axes, so nothing is clipped or drawn over data.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    headline = record["headline"]
    compared = headline["compared"]
    names = list(compared)
    title = textwrap.fill(
        f"{chapter_label(record['chapter'])}: {headline['data']} (profile {record['profile']})",
        width=80,
    )
    lines = title.count("\n") + 2 * bool(headline.get("anchor"))
    height = 2.2 + 0.42 * len(names) + 0.16 * lines
    fig, ax = plt.subplots(figsize=(FIGURE_WIDTH_IN, height), dpi=FIGURE_DPI, layout="constrained")
    _errorbars(ax, compared, names, 0.0, "o", f"this build ({record['profile']})")
    for index, ref in enumerate(r for r in references if r.record.get("headline")):
        theirs = ref.record["headline"]["compared"]
        label = f"{ref.profile} reference" + (" (STALE)" if ref.stale else "")
        _errorbars(ax, theirs, names, 0.22 * (index + 1), "s", label)
    anchor = headline.get("anchor")
    if anchor:
        label = textwrap.fill(f"anchor: {anchor['name']} ({anchor['protocol']})", 90)
        ax.axvline(anchor["value"], color="C3", ls="--", label=label)
    ax.set_yticks(range(len(names)), [textwrap.shorten(n, 32) for n in names])
    ax.set_ylim(len(names) - 0.4, -0.6)
    method = compared[names[0]]["interval"]["method"]
    ax.set_xlabel(textwrap.fill(f"{headline['metric']} ({method})", 52), fontsize=9)
    fig.suptitle(title, fontsize=9)
    fig.legend(loc="outside lower center", ncols=1, fontsize=7, frameon=False)
    return fig


def _errorbars(
    ax: Any, compared: Mapping[str, Any], names: list[str], shift: float, marker: str, label: str
) -> None:
    """Points with interval bars of the ``names`` found in ``compared`` at rows + ``shift``."""
    rows = [(i, compared[n]) for i, n in enumerate(names) if n in compared]
    if not rows:
        return
    values = [r["value"] for _, r in rows]
    low = [r["value"] - r["interval"]["low"] for _, r in rows]
    high = [r["interval"]["high"] - r["value"] for _, r in rows]
    ys = [i + shift for i, _ in rows]
    ax.errorbar(values, ys, xerr=[low, high], fmt=marker, capsize=3, label=label)


def draw_headline_figure(
    record: Mapping[str, Any], path: Path, references: Sequence[Reference] = ()
) -> Path | None:
    """Save :func:`headline_figure` of ``record`` to ``path``; ``None`` without a headline."""
    if not record.get("headline"):
        return None
    import matplotlib.pyplot as plt

    fig = headline_figure(record, references)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=FIGURE_DPI)
    plt.close(fig)
    return path


INTRO = (
    "Every number on this page was computed by the run that built this site and read from "
    "`results/<chapter>.json`, unless it is marked as a **reference**. Each chapter states its "
    "**profile** and the **provenance** of its data. Numbers from `smoke` runs or synthetic data "
    "check that the code works; they are not comparable with the published anchors, which come "
    "from real data at paper scale. An anchor obtained by selecting on the test set is labelled "
    "so: a clean protocol is expected to score lower.\n\n"
    "A **reference** is a chapter's results from a run at a larger profile (`laptop`, `full`), "
    "recorded with `python -m course_book.reference record` and kept in "
    "`book/reference_results/`, with its date, commit and machine. It is marked **STALE** when "
    "the chapter's code changed since it was recorded: its numbers may then differ from what the "
    "code gives now.\n"
)


def reference_paragraph(chapter: str, profile: str, references: References) -> str:
    """The results page's lines on ``chapter``'s reference at ``profile``: stamp and metrics."""
    reference = references.get(profile, {}).get(chapter)
    if reference is None:
        return (
            f"No `{profile}` reference has been recorded for this chapter "
            f"(`make reference PROFILE={profile}`).\n"
        )
    entry = reference.record["reference"]
    duration = format_duration(entry["run_wall_time_s"])
    return (
        f"Reference: {reference_stamp(reference)}{stale_mark(reference)}; data "
        f"**{_provenance_text(reference.record['provenance'])}**; {duration} on "
        f"{entry['machine']}.\n\n"
        f":::{{dropdown}} All metrics of the `{profile}` reference\n"
        f"{metrics_table(reference.record['metrics'])}:::\n"
    )


def _chapter_section(
    chapter: str,
    record: Mapping[str, Any],
    run: Mapping[str, Any],
    figure: str | None,
    references: References,
) -> list[str]:
    """One chapter's part of the results page: figure, run, references, metrics, notes."""
    provenance = _provenance_text(record["provenance"])
    out = [f"## {chapter_label(chapter)}\n"]
    if figure:
        out.append(f"![{chapter_label(chapter)}: headline beside its anchor]({figure})\n")
    memory = f", peak memory {run['peak_memory_mb']:.0f} MB" if "peak_memory_mb" in run else ""
    out.append(
        f"From `results/{chapter}.json`: profile **{record['profile']}**, "
        f"data **{provenance}**, wall time {record['wall_time_s']:.1f} s{memory}.\n"
    )
    if record.get("headline"):
        model = _model(record)
        method = record["headline"]["compared"][model]["interval"]["method"]
        out.append(f"Headline interval ({model}): {method}.\n")
    if "synthetic" in provenance or "stand-in" in provenance:
        out.append(
            ":::{note}\nPart of this chapter's data or weights are synthetic stand-ins (named "
            "in the line above): what is computed from them shows the pipeline works, not what "
            "real data or the published models give. The headline's data are named in its "
            "row of the dashboard.\n:::\n"
        )
    out += [
        reference_paragraph(chapter, p, references)
        for p in shown_profiles(record["profile"], references)
    ]
    out.append(":::{dropdown} All metrics and anchors of this chapter\n")
    out += ["**Metrics**\n", metrics_table(record["metrics"])]
    methods = record.get("uncertainty", [])
    out.append("".join(f"\n- interval: {m}" for m in methods) + "\n" if methods else "")
    out += ["\n**Published anchors**\n", anchors_table(record["anchors"]), ":::\n"]
    out += [f"\n- {note}" for note in record.get("notes", [])]
    out.append("\n")
    return out


def render_results_page(
    results: Mapping[str, Mapping[str, Any]],
    runs: Mapping[str, Any],
    figures: Mapping[str, str] | None = None,
    references: References | None = None,
) -> str:
    """Markdown of the results page: the dashboard, then each chapter's full tables, folded.

    ``figures`` maps a chapter to its headline figure's path relative to the page;
    ``references`` (see :func:`load_references`) are shown beside this build's numbers.
    """
    references = references or {}
    out = ["# Results\n", INTRO, "## Dashboard\n"]
    if results:
        out.append(dashboard_table(results, references))
    else:
        out.append("_No results files were found: run `make book` first._\n")
    for chapter, record in results.items():
        figure = (figures or {}).get(chapter)
        out += _chapter_section(chapter, record, runs.get(chapter, {}), figure, references)
    return "\n".join(out)


def reference_note(
    chapter: str, profile: str, record: Mapping[str, Any] | None, references: References
) -> str | None:
    """A chapter page's note: its ``profile`` headline beside the references (``None``: none).

    Parameters
    ----------
    chapter, profile
        The chapter's stem and the profile its page was executed at.
    record
        This build's results record of the chapter, if any.
    references
        See :func:`load_references`.
    """
    shown = shown_profiles(profile, references)
    if not shown:
        return None
    found = {p: references[p][chapter] for p in shown if chapter in references.get(p, {})}
    missing = [p for p in shown if p not in found]
    lines = []
    if record and record.get("headline"):
        model, value = _headline_value(record)
        metric, data = record["headline"]["metric"], record["headline"]["data"]
        lines.append(f"- this page (`{profile}`): {model}, {metric} {value} on {data}")
    lines += [
        f"- `{p}`: {reference_cell(chapter, _model(record), p, references, short=False)}"
        for p in found
    ]
    intro = f"This page was executed at `{profile}`."
    if found:
        intro += " A run at a larger profile gives the numbers a reader should expect:"
    for other in missing:
        intro += (
            f" No `{other}` reference has been recorded for this chapter yet, so this page "
            f"shows no `{other}` number."
        )
    stale = any(r.stale for r in found.values())
    kind = "warning" if stale or missing else "note"
    body = "\n".join(lines)
    link = "Every number of the references: {doc}`/book/results`." if found else ""
    head = f":::{{admonition}} Reference results\n:class: {kind}\n"
    return f"{head}{intro}\n\n{body}\n\n{link}\n:::"


def _model(record: Mapping[str, Any] | None) -> str | None:
    """The first headline model of ``record``, if it has a headline."""
    return _headline_value(record)[0] if record and record.get("headline") else None


TIMES_MARK = "<!-- chapter-times -->"
#: Where ``book/intro.md`` gets the chapter table generated from the manifest.
CHAPTERS_MARK = "<!-- chapters: generated from course_lib/manifest.py -->"
#: The caption of the table of contents' part that lists the chapters.
CHAPTERS_CAPTION = "Chapters"


def chapters_toc(toc: Mapping[str, Any]) -> dict[str, Any]:
    """``toc`` (a parsed ``_toc.yml``) with its ``Chapters`` part listing the manifest's notebooks.

    The part is inserted after the first part when ``toc`` has none; its entries are replaced.
    """
    out = {**toc, "parts": [dict(part) for part in toc["parts"]]}
    entries = [{"file": str(chapter.notebook.with_suffix(""))} for chapter in CHAPTERS]
    parts = [p for p in out["parts"] if p.get("caption") == CHAPTERS_CAPTION]
    if parts:
        parts[0]["chapters"] = entries
    else:
        out["parts"].insert(1, {"caption": CHAPTERS_CAPTION, "chapters": entries})
    return out


def chapters_table() -> str:
    """The introduction's chapter table (chapter, what you build, data) from the manifest."""
    rows = [
        f"| [{c.number}. {c.title}](../{c.notebook.as_posix()}) | {c.teaches} | {c.data} |"
        for c in CHAPTERS
    ]
    return "\n".join(["| chapter | you build | data |", "|---|---|---|", *rows])


def publish_notebook(
    executed: Path,
    target: Path,
    times: Mapping[str, str] | None = None,
    note: str | None = None,
) -> Path:
    """Copy an executed notebook for the site, folding away papermill's injected parameters.

    The injected cell stays in the page (readers can see which profile produced it) but is
    collapsed behind a toggle like the exercise solutions. ``times`` (``{profile: measured
    time}``, see :func:`course_book.timings.chapter_times`) becomes a line under the title and
    ``note`` (see :func:`reference_note`) a markdown cell after it.
    """
    import nbformat

    nb = nbformat.read(executed, as_version=4)
    for cell in nb.cells:
        tags = cell.metadata.get("tags", [])
        if "injected-parameters" in tags and "hide-cell" not in tags:
            cell.metadata["tags"] = [*tags, "hide-cell"]
    added = []
    if times:
        line = "**Time to run this chapter**: " + "; ".join(
            f"`{profile}` {time}" for profile, time in times.items()
        )
        added.append(nbformat.v4.new_markdown_cell(line))
    if note:
        added.append(nbformat.v4.new_markdown_cell(note))
    nb.cells[1:1] = added
    nbformat.write(nb, target)
    return target


def executed_profile(notebook: Path, runs: Mapping[str, Any]) -> str:
    """The profile an executed chapter ran at: the run summary's, else papermill's parameter."""
    run = runs.get(notebook.stem, {})
    if "profile" in run:
        return run["profile"]
    metadata = json.loads(notebook.read_text()).get("metadata", {})
    return metadata.get("papermill", {}).get("parameters", {}).get("profile", "laptop")


def stage(root: Path, executed: Path, staging: Path, results: Path) -> Path:
    """Copy configuration, prose and executed notebooks into ``staging``; write the results page.

    The chapter pages and the results page show the reference results of
    ``book/reference_results`` (see :mod:`course_book.reference`) beside this build's numbers.

    Raises
    ------
    FileNotFoundError
        A chapter of the manifest has no executed copy (run the chapters first).
    """
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir(parents=True)
    shutil.copy(root / "_config.yml", staging / "_config.yml")
    toc = chapters_toc(yaml.safe_load((root / "_toc.yml").read_text()))
    (staging / "_toc.yml").write_text(yaml.safe_dump(toc, sort_keys=False))
    ignore = shutil.ignore_patterns(REFERENCE_DIR.name)
    shutil.copytree(root / "book", staging / "book", ignore=ignore)
    intro = staging / "book" / "intro.md"
    intro.write_text(intro.read_text().replace(CHAPTERS_MARK, chapters_table()))
    summary = executed / "run_summary.json"
    runs = json.loads(summary.read_text()) if summary.exists() else {}
    records, references = read_results(results), load_references(root)
    _stage_chapters(root, executed, staging / "notebooks", runs, records, references)
    setup = staging / "book" / "setup.md"
    table = times_table(CHAPTERS, read_times(root / TIMES_FILE), runs)
    setup.write_text(setup.read_text().replace(TIMES_MARK, table))
    stage_concepts(root, staging)
    stage_teaching(root, staging, runs)
    figures = {}
    for chapter, record in records.items():
        shown = shown_profiles(record["profile"], references)
        refs = [references[p][chapter] for p in shown if chapter in references.get(p, {})]
        if draw_headline_figure(record, staging / "book" / "figures" / f"{chapter}.png", refs):
            figures[chapter] = f"figures/{chapter}.png"
    page = render_results_page(records, runs, figures, references)
    (staging / "book" / "results.md").write_text(page)
    return staging


def _stage_chapters(
    root: Path,
    executed: Path,
    folder: Path,
    runs: Mapping[str, Any],
    records: Mapping[str, Mapping[str, Any]],
    references: References,
) -> None:
    """Publish every chapter's executed copy into ``folder`` with its times and reference note."""
    folder.mkdir()
    recorded = read_times(root / TIMES_FILE)
    for chapter in CHAPTERS:
        name = chapter.notebook.name
        executed_copy = executed / "notebooks" / name
        if not executed_copy.exists():
            raise FileNotFoundError(
                f"no executed copy of {name} in {executed_copy.parent}; "
                "run `python -m course_book.run --profile smoke` first"
            )
        times = chapter_times(chapter.stem, recorded, runs)
        profile = executed_profile(executed_copy, runs)
        note = reference_note(chapter.stem, profile, records.get(chapter.stem), references)
        publish_notebook(executed_copy, folder / name, times, note)


def build(staging: Path, output_root: Path) -> Path:
    """Run ``jupyter-book build`` (warnings are errors) and return the HTML folder."""
    html = output_root / "_build" / "html"
    if html.exists():
        shutil.rmtree(html)
    command = [
        str(Path(sys.executable).with_name("jupyter-book")),
        "build",
        str(staging),
        "--path-output",
        str(output_root),
        "--builder",
        "html",
        "-W",
        "-n",
        "--keep-going",
    ]
    completed = subprocess.run(command, check=False)
    if completed.returncode != 0:
        raise RuntimeError(f"jupyter-book build failed (exit {completed.returncode}); see above")
    return html


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m course_book.site", description=__doc__.split("\n")[0]
    )
    parser.add_argument(
        "--executed", default=None, help="executed notebooks (default _build/executed)"
    )
    args = parser.parse_args(argv)
    root = project_root()
    executed = Path(args.executed) if args.executed else root / "_build" / "executed"
    try:
        staging = stage(root, executed, root / "_build" / "site_src", results_dir())
        html = build(staging, root)
    except (FileNotFoundError, RuntimeError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(
        f"\nThe course website is in {html}\nopen {html / 'index.html'} or serve it with\n"
        f"  python -m http.server --directory {html.relative_to(root)} 8000"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
