"""The papermill runner, the site builder's pages and the data_scripts command line."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest

from course_book.run import find_chapters, run_chapter
from course_book.site import dashboard_table, metrics_table, render_results_page
from course_lib.manifest import CHAPTERS, Chapter
from data_scripts.__main__ import main as data_main


def _manifest(*stems: str) -> tuple[Chapter, ...]:
    """A manifest of made-up chapters ``stems`` (``"00_a"`` is chapter 0, titled ``"A"``)."""
    return tuple(Chapter(int(s[:2]), s, s[3:].upper(), f"m.{s}") for s in stems)


def _notebook(path: Path, sources: list[str]) -> Path:
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell('profile = "laptop"')
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params] + [nbformat.v4.new_code_cell(s) for s in sources]
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nbformat.write(nb, path)
    return path


def test_find_chapters_by_number_and_stem(tmp_path: Path) -> None:
    manifest = _manifest("00_a", "01_b", "02_c")
    for stem in ("02_c", "00_a", "01_b", "03_not_listed"):
        _notebook(tmp_path / f"{stem}.ipynb", [])
    assert [p.stem for p in find_chapters([], tmp_path, manifest)] == ["00_a", "01_b", "02_c"]
    assert [p.stem for p in find_chapters(["02", "00_a"], tmp_path, manifest)] == ["02_c", "00_a"]
    with pytest.raises(ValueError, match="no chapter '07'.*00_a, 01_b, 02_c"):
        find_chapters(["07"], tmp_path, manifest)
    with pytest.raises(ValueError, match="no chapter '03'"):
        find_chapters(["03"], tmp_path, manifest)
    (tmp_path / "01_b.ipynb").unlink()
    with pytest.raises(ValueError, match="lacks 01_b.ipynb, listed in course_lib/manifest.py"):
        find_chapters([], tmp_path, manifest)


def test_the_runner_reads_the_manifest() -> None:
    notebooks = find_chapters([], Path(__file__).resolve().parents[1] / "notebooks")
    assert [p.stem for p in notebooks] == [c.stem for c in CHAPTERS]


def test_runner_reports_the_failing_cell(tmp_path: Path) -> None:
    nb = _notebook(tmp_path / "01_fail.ipynb", ["x = 1", "raise ValueError('planted failure')"])
    result = run_chapter(nb, tmp_path / "out", "smoke", timeout=120)
    assert not result.ok
    assert "ValueError: planted failure" in result.error and "planted failure')" in result.error
    assert (tmp_path / "out" / "01_fail.ipynb").exists()
    assert result.peak_memory_mb > 10


def test_runner_injects_the_profile(tmp_path: Path) -> None:
    nb = _notebook(tmp_path / "01_ok.ipynb", ["assert profile == 'smoke'"])
    result = run_chapter(nb, tmp_path / "out", "smoke", timeout=120)
    assert result.ok, result.error


def test_kernels_talk_over_private_sockets_not_tcp_ports(tmp_path: Path) -> None:
    """Two kernels started at once over TCP can be handed the same free port (CI saw it)."""
    check = (
        "import json, os\n"
        "from ipykernel.connect import get_connection_info\n"
        "info = json.loads(get_connection_info())\n"
        "assert info['transport'] == 'ipc', info\n"
        "assert os.path.dirname(info['ip']) != os.getcwd(), info"
    )
    nb = _notebook(tmp_path / "01_ipc.ipynb", [check])
    result = run_chapter(nb, tmp_path / "out", "smoke", timeout=120)
    assert result.ok, result.error
    assert sorted(p.name for p in tmp_path.iterdir()) == ["01_ipc.ipynb", "out"]


def test_metrics_table_flattens_nested_metrics() -> None:
    interval = {"low": 0.25, "high": 0.75, "method": "bootstrap"}
    table = metrics_table(
        {
            "cnn": {"test": {"R2": 0.5, "MSE": 1.25, "R2 interval": interval}},
            "rnn": {"test": {"R2": None}},
        }
    )
    lines = table.strip().splitlines()
    assert lines[0] == "| | R2 | MSE | R2 interval |"
    assert "| cnn / test | 0.500 | 1.25 | [0.250, 0.750] |" in lines
    assert "| rnn / test | n/a |  |  |" in lines


def test_results_page_flags_synthetic_data() -> None:
    record = {
        "chapter": "01_x",
        "profile": "smoke",
        "provenance": "synthetic",
        "wall_time_s": 3.0,
        "metrics": {"m": {"R2": 0.1}},
        "uncertainty": ["95 % bootstrap"],
        "anchors": [
            {"name": "paper", "value": 0.8, "metric": "R2", "protocol": "paper", "source": "x"}
        ],
        "notes": [],
    }
    page = render_results_page({"01_x": record}, {"01_x": {"peak_memory_mb": 512.0}})
    assert "## 01_x" in page and "peak memory 512 MB" in page
    assert "synthetic data" in page and "| paper | R2 | 0.800 | paper | x |" in page
    assert "- interval: 95 % bootstrap" in page


def test_results_page_names_chapters_by_their_manifest_title() -> None:
    first = CHAPTERS[0]
    record = {
        "chapter": first.stem,
        "profile": "smoke",
        "provenance": "real",
        "wall_time_s": 1.0,
        "metrics": {},
        "anchors": [],
    }
    page = render_results_page({first.stem: record}, {})
    assert f"## Chapter {first.number}: {first.title}\n" in page
    assert f"`results/{first.stem}.json`" in page
    row = dashboard_table({first.stem: record}).splitlines()[2]
    assert row.startswith(f"| Chapter {first.number}: {first.title} |")


def test_dashboard_row_and_figure_from_a_headline(tmp_path: Path) -> None:
    from course_book.site import draw_headline_figure
    from course_lib.report import Anchor, Estimate, Headline, Interval

    folds = "range over 5 folds"
    headline = Headline(
        "ROC AUC",
        "real PUM2 (6,000 sites)",
        {
            "BiLSTM": Estimate(0.937, Interval(0.926, 0.953, folds)),
            "k-mer LR": Estimate(0.912, Interval(0.905, 0.919, folds)),
        },
        Anchor("BiLSTM seed exercise", 0.941, "ROC AUC", "one split, test-selected", "seed"),
    )
    record = {
        "chapter": "03_x",
        "profile": "laptop",
        "provenance": "real",
        "headline": headline.to_json(),
    }
    table = dashboard_table({"03_x": record, "04_y": {**record, "headline": None}})
    row = "| 03_x | BiLSTM, ROC AUC: real PUM2 (6,000 sites) | 0.937 [0.926, 0.953] (laptop) |"
    assert row in table and "reference" not in table.splitlines()[0]  # laptop: nothing larger
    assert "0.941 (one split, test-selected)" in table and "| 04_y | _no headline" in table
    figure = draw_headline_figure(record, tmp_path / "f.png")
    assert figure.read_bytes()[:4] == b"\x89PNG"
    assert draw_headline_figure({**record, "headline": None}, tmp_path / "g.png") is None


def test_headline_figure_fits_its_column_with_title_and_legend_inside(tmp_path: Path) -> None:
    from course_book.site import FIGURE_DPI, Reference, headline_figure

    interval = {"low": -0.06, "high": -0.04, "method": "95 % bootstrap over Human7600 UTRs " * 3}
    compared = {
        f"a long model name number {i} with details": {"value": -0.05, "interval": interval}
        for i in range(3)
    }
    anchor = {
        "name": "UTR-LM + ResNet head, fine-tuned " * 3,
        "value": 0.806,
        "protocol": "paper",
        "metric": "R2",
        "source": "s",
    }
    record = {
        "chapter": CHAPTERS[-1].stem,
        "profile": "smoke",
        "headline": {
            "metric": "R2",
            "data": "real Human7600 (7,600 UTRs), " * 6,
            "compared": compared,
            "anchor": anchor,
        },
    }
    for n_models in (1, 3):
        one = {
            **record,
            "headline": {**record["headline"], "compared": dict(list(compared.items())[:n_models])},
        }
        fig = headline_figure(one, [Reference("laptop", one, True)])
        fig.canvas.draw()
        renderer = fig.canvas.get_renderer()
        page = fig.bbox
        assert page.width <= 7 * FIGURE_DPI  # the results page's column, not wider
        axes = fig.axes[0].get_tightbbox(renderer)
        parts = {"title": fig._suptitle.get_window_extent(renderer), "axes": axes}
        parts["legend"] = fig.legends[0].get_window_extent(renderer)
        for name, box in parts.items():
            inside = (
                box.x0 >= -1 and box.y0 >= -1 and box.x1 <= page.x1 + 1 and box.y1 <= page.y1 + 1
            )
            assert inside, f"{n_models} model(s): the {name} {box} leaves the figure {page}"
        assert not parts["legend"].overlaps(fig.axes[0].bbox), "the legend covers the axes"
        assert fig.axes[0].bbox.height >= 60, "the axes are squashed"
        labels = [t.get_text() for t in fig.legends[0].get_texts()]
        assert any("laptop reference (STALE)" in t for t in labels)


def test_values_have_three_significant_digits_and_nested_values_no_python_dicts() -> None:
    from course_book.formatting import format_value, significant

    assert [significant(v) for v in (0.80612, -0.048357, 3420.4, 0.0, 12.345)] == [
        "0.806",
        "-0.0484",
        "3,420",
        "0",
        "12.3",
    ]
    # a count stored as a float, and the float rounding of a spread over identical scores
    assert [significant(v) for v in (3.0, 4000.0, 1.36e-16, -2e-13, 1.0e-9)] == [
        "3",
        "4,000",
        "0",
        "0",
        "1e-09",
    ]
    assert format_value({"low": 0.79123, "high": 0.99511, "method": "m"}) == "[0.791, 0.995]"
    folds = {k: {"fit": 3420, "val": 380} for k in range(2)}
    assert format_value(folds) == "each of 0, 1: fit 3,420, val 380"
    assert format_value({"train": {"chr22": (0, 210000)}}) == "train (chr22 0\u2013210,000)"


def test_data_scripts_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path / "cache"))
    assert data_main(["synth", "pum2"]) == 0
    assert (tmp_path / "cache" / "synthetic" / "pum2" / "PUM2_PARCLIP.positives.fa").exists()
    assert data_main(["fetch", "no_such_set"]) == 2
    assert "unknown data set 'no_such_set'" in capsys.readouterr().err
    assert data_main(["list"]) == 0
    out = capsys.readouterr().out
    assert "pum2" in out and "synthetic" in out


def test_data_scripts_prepare_seeds_real_files(tmp_path: Path, monkeypatch, capsys) -> None:
    from course_lib.datasets.pum2 import synthesize_pum2

    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path / "cache"))
    shared = tmp_path / "shared"
    synthesize_pum2(shared / "pum2", seed=1, n_per_class=10)  # wrong checksum on purpose
    from course_lib.registry import ChecksumError

    with pytest.raises(ChecksumError, match="expected sha256 19e09a68"):
        data_main(["prepare", "--offline", "--shared", str(shared)])
    assert not (tmp_path / "cache" / "pum2" / "PUM2_PARCLIP.positives.fa").exists()


def test_run_summary_is_json(tmp_path: Path) -> None:
    nb = _notebook(tmp_path / "00_ok.ipynb", ["print('hi')"])
    from course_book.run import main

    (tmp_path / "pyproject.toml").write_text("")
    (tmp_path / "course_lib").mkdir()
    (tmp_path / "notebooks").mkdir()
    nb.rename(tmp_path / "notebooks" / nb.name)
    import os

    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        assert main(["00", "--output", str(tmp_path / "exec")], _manifest("00_ok")) == 0
    finally:
        os.chdir(cwd)
    summary = json.loads((tmp_path / "exec" / "run_summary.json").read_text())
    assert summary["00_ok"]["ok"] and summary["00_ok"]["profile"] == "smoke"


def test_published_notebook_folds_the_injected_parameters(tmp_path: Path) -> None:
    from course_book.site import publish_notebook

    nb = nbformat.v4.new_notebook()
    injected = nbformat.v4.new_code_cell('profile = "smoke"')
    injected.metadata["tags"] = ["injected-parameters"]
    nb.cells = [injected, nbformat.v4.new_code_cell("x = 1")]
    nbformat.write(nb, tmp_path / "in.ipynb")
    out = nbformat.read(publish_notebook(tmp_path / "in.ipynb", tmp_path / "out.ipynb"), 4)
    assert out.cells[0].metadata["tags"] == ["injected-parameters", "hide-cell"]
    assert "tags" not in out.cells[1].metadata


def test_parallel_jobs_keep_order_limit_threads_and_report_failures(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os

    from course_book.run import main

    (tmp_path / "pyproject.toml").write_text("")
    (tmp_path / "course_lib").mkdir()
    folder = tmp_path / "notebooks"
    folder.mkdir()
    threads = str(max(1, (os.cpu_count() or 1) // 2))
    # each kernel gets its share of the cores and OpenMP's default wait policy (PASSIVE slowed
    # a kernel that owns its cores 1.4-2.2x: benchmarks/bench_wait_policy.py)
    kernel_env = f"assert os.environ['OMP_NUM_THREADS'] == {threads!r}"
    kernel_env += " and 'OMP_WAIT_POLICY' not in os.environ"
    _notebook(folder / "00_a.ipynb", [f"import os; {kernel_env}"])
    _notebook(folder / "01_b.ipynb", ["raise RuntimeError('planted in b')"])
    _notebook(folder / "02_c.ipynb", ["print('c')"])
    for name in (
        "OMP_NUM_THREADS",
        "MKL_NUM_THREADS",
        "OMP_WAIT_POLICY",
        "COURSE_PROFILE",
        "COURSE_STRICT_CHECKS",
    ):
        monkeypatch.setenv(name, "")  # records the current value, restored after the test
        monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    manifest = _manifest("00_a", "01_b", "02_c")
    assert main(["--jobs", "2", "--output", str(tmp_path / "exec")], manifest) == 1
    summary = json.loads((tmp_path / "exec" / "run_summary.json").read_text())
    assert list(summary) == ["00_a", "01_b", "02_c"]
    assert summary["00_a"]["ok"] and summary["02_c"]["ok"]
    assert "planted in b" in summary["01_b"]["error"]
    with pytest.raises(SystemExit):
        main(["--jobs", "2", "--record-times"])


def test_tiny_reaches_the_notebook_as_a_parameter_not_an_environment_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from course_book.run import main

    (tmp_path / "pyproject.toml").write_text("")
    (tmp_path / "course_lib").mkdir()
    (tmp_path / "notebooks").mkdir()
    check = "import os\nassert tiny is True and 'COURSE_TINY' not in os.environ"
    _notebook(tmp_path / "notebooks" / "00_t.ipynb", [check])
    for name in ("COURSE_TINY", "COURSE_PROFILE", "COURSE_RESULTS_DIR", "COURSE_CHECKPOINT_DIR"):
        monkeypatch.setenv(name, "")  # records the current value, restored after the test
        monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "tiny"
    assert main(["--profile", "laptop", "--tiny", "--output", str(out)], _manifest("00_t")) == 0
    summary = json.loads((out / "run_summary.json").read_text())
    assert summary["00_t"]["tiny"] and summary["00_t"]["profile"] == "laptop"
    executed = nbformat.read(out / "notebooks" / "00_t.ipynb", as_version=4)
    assert executed.metadata["papermill"]["parameters"] == {"profile": "laptop", "tiny": True}


def test_staged_site_takes_its_chapters_and_titles_from_the_manifest(tmp_path: Path) -> None:
    import shutil

    from course_book.site import stage

    root = Path(__file__).resolve().parents[1]
    executed = tmp_path / "executed"
    (executed / "notebooks").mkdir(parents=True)
    for chapter in CHAPTERS:
        shutil.copy(root / chapter.notebook, executed / "notebooks")
    (tmp_path / "results").mkdir()
    staging = stage(root, executed, tmp_path / "site_src", tmp_path / "results")
    staged = sorted(p.stem for p in (staging / "notebooks").glob("*.ipynb"))
    assert staged == sorted(c.stem for c in CHAPTERS)
    setup = (staging / "book" / "setup.md").read_text()
    for chapter in CHAPTERS:
        assert f"| {chapter.number}. {chapter.title} | " in setup
    (executed / "notebooks" / CHAPTERS[-1].notebook.name).unlink()
    with pytest.raises(FileNotFoundError, match=f"no executed copy of {CHAPTERS[-1].stem}"):
        stage(root, executed, tmp_path / "site_src", tmp_path / "results")
