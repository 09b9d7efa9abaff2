"""autograder export: the class gradebook as a CSV, Gradescope's results.json and Canvas's CSV.

Most tests use a gradebook of the real course made as ``autograder grade`` makes it
(nbgrader's generate_assignment for every lesson, then one merge per unit) from unit
results written here: no kernel runs. One slow test grades a small class end to end and
reads its gradebook as nbgrader's formgrader does.
"""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from autograder.cli import main
from autograder.course import Course
from autograder.csv_safe import FORMULA_STARTS, safe_cell
from autograder.exports import canvas, gradescope
from autograder.exports.grades import CellGrade, Submission, read_class
from autograder.gradebook import merge_unit, prepare_class_gradebook
from tests.conftest import FIXTURE_COURSE, with_answers

COURSE_ID = "gradient-flow"
VISIBILITY = {"enum": ["hidden", "after_due_date", "after_published", "visible"]}
# Gradescope's documented results.json (gradescope-autograders.readthedocs.io, "Autograder
# Specifications", Output format), with the fields this export always writes made required.
GRADESCOPE_SCHEMA = {
    "type": "object",
    "required": ["score", "tests", "output", "visibility"],
    "additionalProperties": False,
    "properties": {
        "score": {"type": "number"},
        "execution_time": {"type": "integer", "minimum": 0},
        "output": {"type": "string"},
        "output_format": {"type": "string"},
        "test_output_format": {"type": "string"},
        "test_name_format": {"type": "string"},
        "visibility": VISIBILITY,
        "stdout_visibility": VISIBILITY,
        "extra_data": {"type": "object"},
        "leaderboard": {"type": "array"},
        "tests": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["name", "score", "max_score", "output", "visibility"],
                "additionalProperties": False,
                "properties": {
                    "score": {"type": "number", "minimum": 0},
                    "max_score": {"type": "number", "minimum": 0},
                    "status": {"enum": ["passed", "failed"]},
                    "name": {"type": "string", "minLength": 1},
                    "name_format": {"type": "string"},
                    "number": {"type": "string"},
                    "output": {"type": "string"},
                    "output_format": {"type": "string"},
                    "tags": {"type": "array", "items": {"type": "string"}},
                    "visibility": VISIBILITY,
                    "extra_data": {"type": "object"},
                },
            },
        },
    },
}
CANVAS_IDENTITY = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]
RISKY = "@SUM(1+1)"  # a student id a spreadsheet would run as a formula


def _test_cells(course: Course, lesson: str) -> list[tuple[str, float]]:
    master = json.loads(course.master(lesson).read_text())
    return [
        (c["metadata"]["nbgrader"]["grade_id"], float(c["metadata"]["nbgrader"]["points"]))
        for c in master["cells"]
        if c["metadata"].get("nbgrader", {}).get("grade")
    ]


def _unit(student: str, lesson: str, cells: list[tuple[str, float]], earn) -> dict:
    rows = [
        {
            "grade_id": gid,
            "points": pts if earn(i) else 0.0,
            "max_points": pts,
            "passed": earn(i),
            "message": "" if earn(i) else f"{gid}: expected 3, got 0",
        }
        for i, (gid, pts) in enumerate(cells)
    ]
    score = sum(r["points"] for r in rows)
    return {
        "student": student,
        "lesson": lesson,
        "status": "graded",
        "score": score,
        "max_score": sum(p for _, p in cells),
        "reason": "",
        "notes": [],
        "cells": rows,
        "seconds": 7.4,
    }


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> Path:
    """The --out folder of a graded class of the real course, three students: ``ada`` earns
    everything, ``bob`` every other cell and skipped the last lesson, ``@SUM(1+1)`` nothing;
    one of bob's cells was then regraded by hand (a manual score, as in formgrader)."""
    from nbgrader.api import Gradebook

    course = Course()
    out = tmp_path_factory.mktemp("results")
    url = f"sqlite:///{out / 'gradebook.db'}"
    lessons = course.lessons()
    prepare_class_gradebook(course.root, lessons, tmp_path_factory.mktemp("nbgrader"), url)
    units = []
    for lesson in lessons:
        cells = _test_cells(course, lesson)
        units.append(_unit("ada", lesson, cells, lambda i: True))
        if lesson != lessons[-1]:
            units.append(_unit("bob", lesson, cells, lambda i: i % 2 == 0))
        units.append(_unit(RISKY, lesson, cells, lambda i: False))
    (out / "units").mkdir()
    for unit in units:
        merge_unit(url, unit)
        path = out / "units" / f"{unit['student']}__{unit['lesson']}.json"
        path.write_text(json.dumps(unit))
    (out / "report.json").write_text(json.dumps(units))
    with Gradebook(url, COURSE_ID) as gb:
        first_lesson = lessons[0]
        grade_id = _test_cells(course, first_lesson)[1][0]  # a cell bob lost
        grade = gb.find_grade(grade_id, first_lesson, first_lesson, "bob")
        grade.manual_score = 0.5
        gb.db.commit()
    return out


def _gradebook_scores(results: Path) -> dict[tuple[str, str], float]:
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{results / 'gradebook.db'}", COURSE_ID) as gb:
        return {
            (s.student.id, a.name): float(s.score) for a in gb.assignments for s in a.submissions
        }


def test_every_grade_is_autograded_as_formgrader_reads_it(results):
    """formgrader's lists come from Gradebook.submission_dicts / notebook_submission_dicts:
    a judged cell must not show as waiting for a person."""
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{results / 'gradebook.db'}", COURSE_ID) as gb:
        for assignment in gb.assignments:
            subs = gb.submission_dicts(assignment.name)
            assert subs and not [s for s in subs if s["needs_manual_grade"]], assignment.name
            nbs = gb.notebook_submission_dicts(assignment.name, assignment.name)
            assert not [s for s in nbs if s["needs_manual_grade"]], assignment.name
            assert not gb.find_notebook(assignment.name, assignment.name).needs_manual_grade


def test_read_class_takes_scores_from_the_gradebook_and_messages_from_the_report(results):
    subs = {(s.student, s.lesson): s for s in read_class(results)}
    assert len(subs) == 3 * len(Course().lessons()) - 1  # bob skipped a lesson
    scores = _gradebook_scores(results)
    for key, sub in subs.items():
        assert sub.score == pytest.approx(scores[key])
        assert sum(c.score for c in sub.cells) == pytest.approx(sub.score)
        assert sum(c.max_score for c in sub.cells) == pytest.approx(sub.max_score)
        assert sub.status == "graded" and sub.seconds == 7.4
    lesson = Course().lessons()[0]
    bob = subs[("bob", lesson)]
    assert [c.name for c in bob.cells] == [gid for gid, _ in _test_cells(Course(), lesson)]
    assert bob.cells[1].score == 0.5  # the manual score, not the judge's 0
    assert bob.cells[1].message.endswith("expected 3, got 0")


def test_csv_is_the_default_and_holds_the_gradebooks_scores(results, tmp_path, capsys):
    out = tmp_path / "grades.csv"
    assert main(["export", "--results", str(results), "--out", str(out)]) == 0
    assert f"{3 * len(Course().lessons()) - 1} grade(s) written" in capsys.readouterr().out
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    assert list(rows[0]) == ["student", "lesson", "score", "max_score"]
    scores = _gradebook_scores(results)
    assert {(r["student"].removeprefix("'"), r["lesson"]): float(r["score"]) for r in rows} == (
        pytest.approx(scores)
    )
    assert {r["student"] for r in rows} == {"ada", "bob", "'" + RISKY}


def test_gradescope_results_follow_the_documented_schema(results, tmp_path):
    out = tmp_path / "gs"
    assert (
        main(["export", "--format", "gradescope", "--results", str(results), "--out", str(out)])
        == 0
    )
    files = sorted(out.glob("*/*/results.json"))
    assert len(files) == 3 * len(Course().lessons()) - 1
    scores = _gradebook_scores(results)
    for path in files:
        data = json.loads(path.read_text())
        jsonschema.validate(data, GRADESCOPE_SCHEMA)
        lesson, student = path.parent.parent.name, path.parent.name
        assert data["extra_data"] == {"student": student, "lesson": lesson, "status": "graded"}
        assert data["score"] == pytest.approx(scores[(student, lesson)])
        assert sum(t["score"] for t in data["tests"]) == pytest.approx(data["score"])
        assert data["execution_time"] == 7
        for test in data["tests"]:
            assert test["status"] == ("passed" if test["score"] == test["max_score"] else "failed")
    ada = json.loads(files[0].parent.parent.joinpath("ada", "results.json").read_text())
    assert all(t["status"] == "passed" and t["output"] == "" for t in ada["tests"])


def test_gradescope_one_file_for_gradescopes_own_container(results, tmp_path):
    """In Gradescope's run_autograder the class is one submission: --out results.json."""
    one = tmp_path / "one"
    (one / "units").mkdir(parents=True)
    shutil.copy(results / "gradebook.db", one / "gradebook.db")
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{one / 'gradebook.db'}", COURSE_ID) as gb:
        for assignment in gb.assignments:
            for sub in list(assignment.submissions):
                if (sub.student.id, assignment.name) != ("ada", "01_backprop"):
                    gb.remove_submission(assignment.name, sub.student.id)
    target = one / "results.json"
    args = ["export", "--format", "gradescope", "--results", str(one), "--out"]
    assert main([*args, str(target), "--visibility", "after_published"]) == 0
    data = json.loads(target.read_text())
    jsonschema.validate(data, GRADESCOPE_SCHEMA)
    assert data["visibility"] == "after_published" and "execution_time" not in data  # no units
    # a class of several submissions has no single results.json: a usage error, exit 2
    many = ["export", "--format", "gradescope", "--results", str(results), "--out"]
    assert main([*many, str(tmp_path / "x.json")]) == 2
    assert not (tmp_path / "x.json").exists()


def _read_canvas(path: Path) -> tuple[list[str], list[str], list[dict[str, str]]]:
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    header, points, body = rows[0], rows[1], rows[2:]
    return header, points, [dict(zip(header, r, strict=True)) for r in body]


def test_canvas_csv_without_roster(results, tmp_path, capsys):
    out = tmp_path / "canvas.csv"
    assert main(["export", "--format", "canvas", "--results", str(results), "--out", str(out)]) == 0
    said = capsys.readouterr().out
    assert "SIS User ID" in said and "new assignments in Canvas" in said
    header, points, rows = _read_canvas(out)
    lessons = Course().lessons()
    assert header == CANVAS_IDENTITY + lessons
    assert points[0] == "    Points Possible"
    stated = {ls: sum(p for _, p in _test_cells(Course(), ls)) for ls in lessons}
    assert [float(p) for p in points[5:]] == [stated[ls] for ls in lessons]
    by_student = {r["SIS User ID"]: r for r in rows}
    assert set(by_student) == {"ada", "bob", "'" + RISKY}  # the formula is defused
    assert by_student["'" + RISKY]["Student"] == "'" + RISKY
    assert by_student["bob"][lessons[-1]] == ""  # not submitted: left as Canvas has it
    scores = _gradebook_scores(results)
    for student, row in (("ada", by_student["ada"]), ("bob", by_student["bob"])):
        for lesson in lessons:
            if (student, lesson) in scores:
                assert float(row[lesson]) == pytest.approx(scores[(student, lesson)])


ROSTER = (
    '"Student","ID","SIS User ID","SIS Login ID","Section","01_backprop (9001)","Quiz 1 (77)"\n'
    '"    Points Possible","","","","","31","10"\n'
    '"Lovelace, Ada","4001","S-1","ada","Sec A","",""\n'
    '"=HYPERLINK(""http://evil"")","4002","S-2","BOB","Sec B","3",""\n'
    '"Student, Test","4999","","","Sec A","",""\n'
)


def test_canvas_csv_with_a_canvas_export_as_roster(results, tmp_path, capsys):
    roster = tmp_path / "roster.csv"
    roster.write_text("\ufeff" + ROSTER, encoding="utf-8")  # Excel's and Canvas's BOM
    out = tmp_path / "canvas.csv"
    args = ["export", "--format", "canvas", "--results", str(results), "--out", str(out)]
    assert main([*args, "--roster", str(roster)]) == 0
    said = capsys.readouterr().out
    assert f"not in the roster (1), written without Canvas ids: {RISKY}" in said
    lessons = Course().lessons()
    assert "01_backprop" not in said.split("new assignments in Canvas")[1]
    header, _, rows = _read_canvas(out)
    assert header == CANVAS_IDENTITY + ["01_backprop (9001)"] + lessons[1:]
    by_login = {r["SIS Login ID"]: r for r in rows}
    assert by_login["ada"]["ID"] == "4001" and by_login["ada"]["Section"] == "Sec A"
    bob = by_login["BOB"]  # matched without regard to case; the roster's name defused
    assert bob["Student"] == '\'=HYPERLINK("http://evil")' and bob["ID"] == "4002"
    scores = _gradebook_scores(results)
    assert float(bob["01_backprop (9001)"]) == pytest.approx(scores[("bob", "01_backprop")])
    unmatched = by_login[""]
    assert unmatched["Student"] == "'" + RISKY and unmatched["ID"] == ""
    assert "Student, Test" not in out.read_text()  # only students with grades are written

    # an 'Autograder ID' column wins over the logins: folder names unlike Canvas's ids
    mapped = tmp_path / "mapped.csv"
    mapped.write_text(
        "Student,ID,SIS User ID,SIS Login ID,Section,Autograder ID\n"
        "Ada Lovelace,4001,,ada.l,,ada\nBob,4002,,ada,,bob\n"
    )
    assert main([*args, "--roster", str(mapped)]) == 0
    _, _, rows = _read_canvas(out)
    assert {r["Student"]: r["ID"] for r in rows}["Ada Lovelace"] == "4001"
    assert {r["Student"]: r["ID"] for r in rows}["Bob"] == "4002"


def test_bad_export_arguments_exit_2(results, tmp_path, capsys):
    roster = tmp_path / "r.csv"
    roster.write_text("name,score\nada,1\n")
    base = ["export", "--results", str(results), "--out", str(tmp_path / "o.csv")]
    assert main([*base, "--format", "canvas", "--roster", str(roster)]) == 2
    assert "needs a 'Student' column" in capsys.readouterr().err
    assert main([*base, "--format", "canvas", "--roster", str(tmp_path / "none.csv")]) == 2
    assert main([*base, "--format", "csv", "--roster", str(roster)]) == 2
    assert main(["export", "--results", str(tmp_path), "--out", str(tmp_path / "o.csv")]) == 2
    assert "no gradebook there" in capsys.readouterr().err


_scores = st.floats(min_value=0, max_value=50, allow_nan=False).map(lambda x: round(x, 2))


@settings(max_examples=60, deadline=None)
@given(
    cells=st.lists(st.tuples(st.text(min_size=1, max_size=20), _scores, _scores), max_size=12),
    seconds=st.none() | st.floats(min_value=0, max_value=3600),
    message=st.text(max_size=50),
)
def test_results_json_is_valid_and_adds_up_for_any_grades(cells, seconds, message):
    grades = [CellGrade(n, min(a, b), max(a, b), message) for n, a, b in cells]
    sub = Submission("s", "l", sum(g.score for g in grades), sum(g.max_score for g in grades))
    sub.cells, sub.seconds, sub.reason = grades, seconds, message
    data = json.loads(json.dumps(gradescope.results_json(sub)))
    jsonschema.validate(data, GRADESCOPE_SCHEMA)
    assert sum(t["score"] for t in data["tests"]) == pytest.approx(data["score"])
    assert [t["name"] for t in data["tests"]] == [g.name for g in grades]


_ids = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
    min_size=1,
    max_size=12,
)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


@settings(max_examples=60, deadline=None)
@given(students=st.lists(_ids, min_size=1, max_size=6, unique=True))
def test_canvas_csv_runs_no_formula_whatever_the_ids(students, tmp_path_factory):
    subs = [Submission(s, "01_backprop", 1.0, 2.0) for s in students]
    out = tmp_path_factory.mktemp("c") / "canvas.csv"
    canvas.write_canvas(subs, {"01_backprop": 2.0}, out)
    with open(out, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    assert len(rows) == 2 + len(students)
    for row in rows[2:]:
        for cell in row:
            assert not cell.startswith(FORMULA_STARTS) or _is_number(cell), row
    # every id is written, with a quote in front exactly where it would be a formula
    written = {r[2] for r in rows[2:]}
    assert written == {safe_cell(s) for s in students}


@pytest.mark.slow
def test_a_class_graded_end_to_end_reads_in_formgrader_and_exports(tmp_path):
    """`autograder grade` on a small class, then formgrader's own API (NbGraderAPI, which
    serves its Manual Grading pages) and every export format on the result."""
    from nbgrader.apps.api import NbGraderAPI
    from nbgrader.coursedir import CourseDirectory

    from autograder.release import release

    lesson = "fixture_sum"
    course = Course(root=tmp_path / "course", notebooks=tmp_path / "released")
    shutil.copytree(FIXTURE_COURSE, course.root)
    student_version = json.loads(release(course, lesson).read_text())
    answers = {
        "good": {"add": "def add(a, b):\n    return a + b", "answer_sqrt": "answer_sqrt = 4.0"},
        "wrong": {"add": "def add(a, b):\n    return a * b", "answer_sqrt": "answer_sqrt = 4.0"},
        "blank": {},
    }
    subs, out = tmp_path / "submissions", tmp_path / "results"
    for student, given_answers in answers.items():
        (subs / student).mkdir(parents=True)
        nb = with_answers(student_version, given_answers)
        (subs / student / f"{lesson}.ipynb").write_text(json.dumps(nb))
    grade = [str(subs), "--out", str(out), "--course", str(course.root), "--quiet"]
    assert main(["grade", *grade, "--workers", "2", "--notebook-timeout", "300"]) == 0

    coursedir = CourseDirectory(root=str(out), db_url=f"sqlite:///{out / 'gradebook.db'}")
    api = NbGraderAPI(coursedir=coursedir)
    listed = api.get_submissions(lesson)
    assert {s["student"]: s["score"] for s in listed} == {"good": 3, "wrong": 1, "blank": 0}
    assert [s["student"] for s in listed if s["needs_manual_grade"]] == []
    assert not api.get_notebooks(lesson)[0]["needs_manual_grade"]

    gs = tmp_path / "gs"
    assert main(["export", "--format", "gradescope", "--results", str(out), "--out", str(gs)]) == 0
    wrong = json.loads((gs / lesson / "wrong" / "results.json").read_text())
    jsonschema.validate(wrong, GRADESCOPE_SCHEMA)
    assert wrong["score"] == 1 and wrong["execution_time"] >= 0
    failed = [t for t in wrong["tests"] if t["status"] == "failed"]
    assert [t["name"] for t in failed] == ["test_add"] and failed[0]["output"]
    cv = tmp_path / "canvas.csv"
    assert main(["export", "--format", "canvas", "--results", str(out), "--out", str(cv)]) == 0
    _, points, rows = _read_canvas(cv)
    assert points[5:] == ["3"]
    assert {r["SIS User ID"]: r[lesson] for r in rows} == {"good": "3", "wrong": "1", "blank": "0"}
