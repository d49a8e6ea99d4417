"""Tests of course_book.timings: measured chapter times, recorded and shown."""

from __future__ import annotations

from course_book.timings import (
    chapter_times,
    cpu_model,
    format_duration,
    read_times,
    record_times,
    times_table,
)
from course_lib.manifest import Chapter


def test_record_keeps_successful_runs_with_date_and_machine(tmp_path):
    path = tmp_path / "times.json"
    assert read_times(path) == {}
    runs = [
        {"chapter": "03_pum2", "ok": True, "wall_time_s": 1860.0},
        {"chapter": "05_utr_lm", "ok": False, "wall_time_s": 12.0},
    ]
    record_times(path, "laptop", runs)
    recorded = read_times(path)
    assert list(recorded["laptop"]) == ["03_pum2"]
    assert recorded["laptop"]["03_pum2"]["wall_time_s"] == 1860.0
    assert "CPU cores" in recorded["laptop"]["03_pum2"]["machine"]
    assert "load" in recorded["laptop"]["03_pum2"]["machine"]


def test_the_machine_names_its_processor(tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD  EPYC 7B13\n")
    assert cpu_model(cpuinfo) == "AMD EPYC 7B13"
    assert cpu_model(tmp_path / "absent")  # the platform's name where there is no cpuinfo


def test_this_build_comes_first_then_records_then_not_measured():
    recorded = {"laptop": {"02_x": {"wall_time_s": 780.0, "date": "2026-12-01", "machine": "m"}}}
    current = {"02_x": {"ok": True, "profile": "smoke", "wall_time_s": 42.2, "tiny": False}}
    times = chapter_times("02_x", recorded, current)
    assert times == {
        "smoke": "42 s (this build)",
        "laptop": "13 min (measured 2026-12-01, m)",
        "full": "not measured yet",
    }
    tiny = {"02_x": {"ok": True, "profile": "laptop", "wall_time_s": 9.0, "tiny": True}}
    assert chapter_times("02_x", {}, tiny)["laptop"] == "not measured yet"
    table = times_table([Chapter(2, "02_x", "A title", "m")], recorded, current)
    assert table.splitlines()[0] == "| chapter | smoke | laptop | full |"
    assert "| 2. A title | 42 s (this build) | 13 min" in table


def test_format_duration():
    assert [format_duration(s) for s in (5, 600, 9000)] == ["5 s", "10 min", "2.5 h"]
