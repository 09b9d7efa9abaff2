"""Bad input never stops the class: spreadsheet-safe CSVs, one run per RESULTS, and
(slow) a class of bad inputs graded end to end with a row for every unit."""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
import time
import warnings
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from autograder.cli import main
from autograder.csv_safe import FORMULA_STARTS, safe_cell, safe_row, safe_writer
from autograder.results_lock import LOCK_NAME, results_lock
from tests.conftest import FIXTURE_COURSE, REPO, with_answers

LESSON = "fixture_sum"
GOOD = {"add": "def add(a, b):\n    return a + b", "answer_sqrt": "answer_sqrt = 4.0"}

# -- CSV cells a spreadsheet would run -------------------------------------------------------


@pytest.mark.parametrize(
    ("cell", "written"),
    [
        ("=1+2", "'=1+2"),
        ("+1+2", "'+1+2"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1:A9)", "'@SUM(A1:A9)"),
        ("\t=cmd", "'\t=cmd"),
        ("\r=cmd", "'\r=cmd"),
        ('=HYPERLINK("http://x","y")', '\'=HYPERLINK("http://x","y")'),
        ("ann", "ann"),
        ("张伟", "张伟"),
        ("a=b", "a=b"),
        ("", ""),
        ("-1", "-1"),
        ("-1.5", "-1.5"),
        ("+3e-2", "+3e-2"),
        ("-", "'-"),
        ("-1-1", "'-1-1"),
        (3.0, 3.0),
        (None, None),
    ],
)
def test_formula_like_cells_are_neutralised(cell, written):
    assert safe_cell(cell) == written


@given(st.text())
def test_no_written_text_cell_starts_a_formula(text):
    cell = safe_cell(text)
    assert cell == text or cell == "'" + text
    if cell == text and text.startswith(FORMULA_STARTS):
        float(text)  # only plain numbers keep their sign


def test_safe_writer_writes_what_a_spreadsheet_shows_as_text(tmp_path):
    path = tmp_path / "x.csv"
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = safe_writer(f)
        writer.writerow(["student", "score"])
        writer.writerows([["=1+2", "3"], ["@x", "-1"]])
    rows = list(csv.reader(path.open(encoding="utf-8")))
    assert rows == [["student", "score"], ["'=1+2", "3"], ["'@x", "-1"]]
    assert safe_row(["-x", 1]) == ["'-x", 1]


def _unit_result(student: str, lesson: str = LESSON) -> dict:
    return {
        "student": student,
        "lesson": lesson,
        "status": "graded",
        "score": 1.0,
        "max_score": 3.0,
        "reason": "",
        "notes": [],
        "cells": [],
        "feedback": None,
    }


def test_grades_csv_neutralises_formulas(tmp_path):
    from autograder.reports import write_reports

    units_dir = tmp_path / "units"
    units_dir.mkdir()
    for i, student in enumerate(["=1+2", "@cmd", "张伟", "-2+3", "ann"]):
        (units_dir / f"u{i}.json").write_text(json.dumps(_unit_result(student)))
    write_reports(tmp_path, units_dir)
    students = [r["student"] for r in csv.DictReader((tmp_path / "grades.csv").open())]
    assert students == ["'=1+2", "'@cmd", "张伟", "'-2+3", "ann"]


def test_export_neutralises_formulas(tmp_path):
    from nbgrader.api import Gradebook

    from autograder.grade import export

    db = tmp_path / "gradebook.db"
    with warnings.catch_warnings(), Gradebook(f"sqlite:///{db}", "gradient-flow") as gb:
        warnings.simplefilter("ignore")  # nbgrader's own SQLAlchemy autoflush warnings
        gb.add_assignment(LESSON)
        for student in ("=1+2", "ann", "+SUM(1)"):
            gb.add_student(student)
            gb.add_submission(LESSON, student)
    assert export(db, tmp_path / "out.csv") == 3
    rows = list(csv.DictReader((tmp_path / "out.csv").open(encoding="utf-8")))
    assert sorted(r["student"] for r in rows) == ["'+SUM(1)", "'=1+2", "ann"]


# -- one run at a time into RESULTS ----------------------------------------------------------


def _grade_args(subs: Path, out: Path) -> list[str]:
    return ["grade", str(subs), "--out", str(out), "--course", str(FIXTURE_COURSE), "--quiet"]


def _tiny_class(root: Path) -> Path:
    (root / "subs" / "ann").mkdir(parents=True)
    (root / "subs" / "ann" / f"{LESSON}.ipynb").write_text(json.dumps({"cells": []}))
    return root / "subs"


def test_a_second_run_into_the_same_results_stops_at_once_with_exit_2(tmp_path, capsys):
    subs, out = _tiny_class(tmp_path), tmp_path / "results"
    with results_lock(out):
        started = time.perf_counter()
        assert main(_grade_args(subs, out)) == 2
        assert time.perf_counter() - started < 30
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "another run" in err and f"process {os.getpid()}" in err, err
    assert not (out / "units").exists()  # it touched nothing


def test_the_lock_is_held_by_the_process_and_let_go_with_it(tmp_path, capsys):
    out = tmp_path / "results"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys; from pathlib import Path\n"
            "from autograder.results_lock import results_lock\n"
            "with results_lock(Path(sys.argv[1])):\n"
            "    print('held', flush=True); sys.stdin.read()",
            str(out),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        cwd=REPO,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        assert main(_grade_args(_tiny_class(tmp_path), out)) == 2
        assert f"process {holder.pid}" in capsys.readouterr().err
    finally:
        holder.communicate("", timeout=30)
    with results_lock(out):  # gone with its process; the stale .lock file does not block
        assert (out / LOCK_NAME).read_text().strip() == str(os.getpid())
    with results_lock(out):  # and let go when the block ends
        pass


def test_the_lock_is_let_go_when_the_run_fails(tmp_path):
    out = tmp_path / "results"
    assert main(_grade_args(tmp_path / "nowhere", out)) == 2  # no such folder
    with results_lock(out):
        pass


# -- a class of bad inputs, graded end to end ------------------------------------------------


_notebook = with_answers


@pytest.mark.slow
def test_a_class_of_bad_inputs_gets_a_row_for_every_unit_and_exit_0(tmp_path):
    from autograder.course import Course
    from autograder.release import release

    course = Course(root=tmp_path / "course", notebooks=tmp_path / "released")
    shutil.copytree(FIXTURE_COURSE, course.root)
    student_version = json.loads(release(course, LESSON).read_text())
    subs, out = tmp_path / "subs", tmp_path / "results"
    long_name = "ü" * 120  # 240 bytes: its results' file names would not fit
    for student in ("张伟", "李娜", long_name, "-2+3"):
        (subs / student / LESSON).mkdir(parents=True)
    good = json.dumps(_notebook(student_version, GOOD))
    # two files for one lesson: the flat one is graded, the note names both
    (subs / "张伟" / f"{LESSON}.ipynb").write_text(good)
    (subs / "张伟" / LESSON / f"{LESSON}.ipynb").write_text(json.dumps(student_version))
    # a link to the master, which would score full marks if it were followed
    (subs / "李娜" / f"{LESSON}.ipynb").symlink_to(course.master(LESSON))
    # a lone surrogate in an answer: graded, written as U+FFFD
    surrogate = {**GOOD, "add": GOOD["add"] + "  # \ud800"}
    text = json.dumps(_notebook(student_version, surrogate))  # escaped: "\ud800"
    (subs / long_name / f"{LESSON}.ipynb").write_text(text)
    (subs / "-2+3" / f"{LESSON}.ipynb").write_text("[" * 200_000 + "]" * 200_000)

    command = [sys.executable, "-m", "autograder", "grade", str(subs), "--out", str(out)]
    command += ["--course", str(course.root), "--workers", "2", "--timeout", "30", "--quiet"]
    first = subprocess.Popen(command, cwd=REPO, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while time.time() < deadline and not (out / ".work").exists() and first.poll() is None:
        time.sleep(0.1)
    second = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert second.returncode == 2, second.stderr
    assert "another run" in second.stderr and "Traceback" not in second.stderr
    assert first.wait(timeout=600) == 0, first.stderr.read()

    results = {r["student"]: r for r in json.loads((out / "report.json").read_text())}
    assert len(results) == 4, results.keys()
    assert {"张伟", "李娜"} <= set(results)
    zhang, li = results["张伟"], results["李娜"]
    assert (zhang["status"], zhang["score"]) == ("graded", 3), zhang
    both = (f"'张伟/{LESSON}.ipynb'", f"'张伟/{LESSON}/{LESSON}.ipynb'")
    assert any(all(name in n for name in both) for n in zhang["notes"]), zhang["notes"]
    assert (li["status"], li["score"]) == ("invalid", 0), li
    assert "symbolic link" in li["reason"] and "not graded" in li["reason"]
    (long_id,) = [s for s in results if s.startswith("ü")]
    assert len(long_id.encode()) <= 90
    assert (results[long_id]["status"], results[long_id]["score"]) == ("graded", 3)
    assert any("U+FFFD" in n for n in results[long_id]["notes"])
    (nested,) = [r for s, r in results.items() if s.startswith("2+3")]
    assert nested["status"] == "invalid" and "nested too deeply" in nested["reason"]
    rows = list(csv.DictReader((out / "grades.csv").open(encoding="utf-8")))
    assert len(rows) == 4 and all(r["status"] for r in rows)
    assert not any(str(v).startswith(FORMULA_STARTS) for r in rows for v in r.values())
    assert all(len(p.name.encode()) < 255 for p in out.rglob("*"))
