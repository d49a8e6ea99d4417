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
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from course_book.timings import TIMES_FILE, chapter_times, read_times, times_table
from course_lib.manifest import CHAPTERS, chapter_label
from course_lib.paths import project_root, results_dir
from course_lib.results import read_results

INTERVAL_KEYS = {"low", "high", "method"}


def _is_interval(value: Any) -> bool:
    """Whether ``value`` is an interval as the results files write it: low, high, method."""
    return isinstance(value, Mapping) and set(value) == INTERVAL_KEYS


def _flatten(prefix: tuple[str, ...], value: Any, rows: list[tuple[tuple[str, ...], Any]]) -> None:
    if isinstance(value, Mapping) and not _is_interval(value):
        for key, inner in value.items():
            _flatten((*prefix, str(key)), inner, rows)
    else:
        rows.append((prefix, value))


def _format(value: Any) -> str:
    if _is_interval(value):
        return f"[{_format(value['low'])}, {_format(value['high'])}]"
    if isinstance(value, float):
        return f"{value:.4g}"
    if value is None:
        return "n/a"
    return str(value).replace("|", "\\|")


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
            f"| {label} | " + " | ".join(_format(values.get(c, "")) for c in columns) + " |"
        )
    return "\n".join(lines) + "\n"


def anchors_table(anchors: list[Mapping[str, Any]]) -> str:
    """A markdown table of a results file's anchors: name, metric, value, protocol, source."""
    if not anchors:
        return "_no anchors recorded_\n"
    keys = ("name", "metric", "value", "protocol", "source")
    lines = ["| " + " | ".join(keys) + " |", "|---" * len(keys) + "|"]
    lines += ["| " + " | ".join(_format(a[k]) for k in keys) + " |" for a in anchors]
    return "\n".join(lines) + "\n"


def _provenance_text(provenance: Any) -> str:
    if isinstance(provenance, Mapping):
        return ", ".join(f"{k}: {v}" for k, v in provenance.items())
    return str(provenance)


def _headline_cells(record: Mapping[str, Any]) -> list[str]:
    """The dashboard row of one chapter: headline, value [interval], data, profile, anchor."""
    headline = record.get("headline")
    if not headline:
        return ["_no headline recorded_", "", _provenance_text(record["provenance"]), "", ""]
    model, row = next(iter(headline["compared"].items()))
    interval = row["interval"]
    anchor = headline.get("anchor")
    anchor_text = (
        f"{anchor['name']}: {_format(anchor['value'])} ({anchor['protocol']})" if anchor else ""
    )
    return [
        f"{model}, {headline['metric']}",
        f"{_format(row['value'])} {_format(interval)}",
        headline["data"],
        anchor_text,
        interval["method"],
    ]


def dashboard_table(results: Mapping[str, Mapping[str, Any]]) -> str:
    """One compact row per chapter: its headline with interval, data, profile and anchor."""
    lines = [
        "| chapter | headline | value [interval] | data | anchor (protocol) | interval | profile |",
        "|---" * 7 + "|",
    ]
    for chapter, record in results.items():
        cells = _headline_cells(record)
        cells = [c.replace("|", "\\|") for c in cells]
        name = chapter_label(chapter).replace("|", "\\|")
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {record['profile']} |")
    return "\n".join(lines) + "\n"


def draw_headline_figure(record: Mapping[str, Any], path: Path) -> Path | None:
    """A figure of the headline models with their intervals beside the anchor; ``None`` if none."""
    headline = record.get("headline")
    if not headline:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    compared = headline["compared"]
    names = list(compared)
    values = [compared[n]["value"] for n in names]
    errors = [
        [v - compared[n]["interval"]["low"] for n, v in zip(names, values, strict=True)],
        [compared[n]["interval"]["high"] - v for n, v in zip(names, values, strict=True)],
    ]
    fig, ax = plt.subplots(figsize=(6, 0.5 + 0.45 * len(names)))
    ax.errorbar(values, range(len(names)), xerr=errors, fmt="o", capsize=3, label="this run")
    anchor = headline.get("anchor")
    if anchor:
        ax.axvline(anchor["value"], color="C3", ls="--", label=f"anchor ({anchor['protocol']})")
    ax.set_yticks(range(len(names)), names)
    ax.invert_yaxis()
    ax.set_xlabel(f"{headline['metric']} ({compared[names[0]]['interval']['method']})")
    ax.set_title(
        f"{record['chapter']}: {headline['data']}, profile {record['profile']}", fontsize=9
    )
    ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def render_results_page(
    results: Mapping[str, Mapping[str, Any]],
    runs: Mapping[str, Any],
    figures: Mapping[str, str] | None = None,
) -> str:
    """Markdown of the results page: the dashboard, then each chapter's full tables, folded.

    ``figures`` maps a chapter to its headline figure's path relative to the page.
    """
    out = [
        "# Results\n",
        "Every number on this page was computed by the run that built this site and read from "
        "`results/<chapter>.json`. Each chapter states its **profile** and the **provenance** of "
        "its data. Numbers from `smoke` runs or synthetic data check that the code works; they "
        "are not comparable with the published anchors, which come from real data at paper "
        "scale. An anchor obtained by selecting on the test set is labelled so: a clean protocol "
        "is expected to score lower.\n",
        "## Dashboard\n",
        dashboard_table(results) if results else "",
    ]
    if not results:
        out.append("_No results files were found: run `make book` first._\n")
    for chapter, record in results.items():
        provenance = _provenance_text(record["provenance"])
        out.append(f"## {chapter_label(chapter)}\n")
        if figures and chapter in figures:
            out.append(f"![{chapter} headline beside its anchor]({figures[chapter]})\n")
        run = runs.get(chapter, {})
        memory = f", peak memory {run['peak_memory_mb']:.0f} MB" if "peak_memory_mb" in run else ""
        out.append(
            f"From `results/{chapter}.json`: profile **{record['profile']}**, "
            f"data **{provenance}**, wall time "
            f"{record['wall_time_s']:.1f} s{memory}.\n"
        )
        if "synthetic" in str(provenance) or "stand-in" in str(provenance):
            out.append(
                ":::{note}\nThese figures come from synthetic data or stand-in weights: "
                "they show the pipeline works, not what the published models achieve.\n:::\n"
            )
        out.append(":::{dropdown} All metrics and anchors of this chapter\n")
        out.append("**Metrics**\n")
        out.append(metrics_table(record["metrics"]))
        methods = record.get("uncertainty", [])
        out.append("".join(f"\n- interval: {m}" for m in methods) + "\n" if methods else "")
        out.append("\n**Published anchors**\n")
        out.append(anchors_table(record["anchors"]))
        out.append(":::\n")
        for note in record.get("notes", []):
            out.append(f"\n- {note}")
        out.append("\n")
    return "\n".join(out)


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


def publish_notebook(executed: Path, target: Path, times: Mapping[str, str] | None = None) -> Path:
    """Copy an executed notebook for the site, folding away papermill's injected parameters.

    The injected cell stays in the page (readers can see which profile produced it) but is
    collapsed behind a toggle like the exercise solutions. ``times`` (``{profile: measured
    time}``, see :func:`course_book.timings.chapter_times`) becomes a line under the title.
    """
    import nbformat

    nb = nbformat.read(executed, as_version=4)
    for cell in nb.cells:
        tags = cell.metadata.get("tags", [])
        if "injected-parameters" in tags and "hide-cell" not in tags:
            cell.metadata["tags"] = [*tags, "hide-cell"]
    if times:
        line = "**Time to run this chapter**: " + "; ".join(
            f"`{profile}` {time}" for profile, time in times.items()
        )
        nb.cells.insert(1, nbformat.v4.new_markdown_cell(line))
    nbformat.write(nb, target)
    return target


def stage(root: Path, executed: Path, staging: Path, results: Path) -> Path:
    """Copy configuration, prose and executed notebooks into ``staging``; write the results page.

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
    shutil.copytree(root / "book", staging / "book")
    intro = staging / "book" / "intro.md"
    intro.write_text(intro.read_text().replace(CHAPTERS_MARK, chapters_table()))
    (staging / "notebooks").mkdir()
    summary = executed / "run_summary.json"
    runs = json.loads(summary.read_text()) if summary.exists() else {}
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
        publish_notebook(executed_copy, staging / "notebooks" / name, times)
    setup = staging / "book" / "setup.md"
    table = times_table(CHAPTERS, recorded, runs)
    setup.write_text(setup.read_text().replace(TIMES_MARK, table))
    records = read_results(results)
    figures = {}
    for chapter, record in records.items():
        if draw_headline_figure(record, staging / "book" / "figures" / f"{chapter}.png"):
            figures[chapter] = f"figures/{chapter}.png"
    page = render_results_page(records, runs, figures)
    (staging / "book" / "results.md").write_text(page)
    return staging


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
