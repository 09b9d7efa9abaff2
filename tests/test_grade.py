"""autograder grade: a class of ordinary, broken and hostile submissions, graded end to end.

One class is graded once (module fixture), in parallel; each test then checks one case.
The fixture course keeps each notebook to a few seconds.
"""

from __future__ import annotations

import csv
import json
import shutil
import signal
import subprocess
import sys
import time
import zipfile

import pytest

from autograder.cli import main
from autograder.course import Course
from autograder.release import release
from tests.conftest import FIXTURE_COURSE, with_answers

pytestmark = pytest.mark.slow
LESSON = "fixture_sum"
GOOD = {"add": "def add(a, b):\n    return a + b", "answer_sqrt": "answer_sqrt = 4.0"}


_notebook = with_answers


def _leak_probe(paths: list[str]) -> str:
    """An answer cell that looks for what it must not see, and answers wrongly if it finds any:
    the course's masters, the submissions of others, the results and gradebooks, other units,
    and its own unit's gradebook and master next to its folder."""
    return (
        "import glob, os, pathlib, autograder\n"
        "leaks = [str(p) for p in (pathlib.Path(autograder.__file__).parent / 'source').rglob('*.ipynb')]\n"
        f"for root in {paths!r}:\n"
        "    leaks += glob.glob(root + '/**/*.ipynb', recursive=True)\n"
        "    leaks += glob.glob(root + '/**/*.db', recursive=True)\n"
        "leaks += glob.glob('/tmp/gf-grade-*/**/*.ipynb', recursive=True)\n"
        "leaks += glob.glob('/tmp/gf-grade-*/**/*.db', recursive=True)\n"
        "for up in ('../../..', '../../../..', os.getcwd() + '/../../..'):\n"
        "    leaks += [p for p in ('gradebook.db', 'source', 'submitted') if os.path.exists(f'{up}/{p}')]\n"
        "print('LEAKS', leaks)\n"
        "answer_sqrt = 4.0 if not leaks else -1.0"
    )


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    root = tmp_path_factory.mktemp("grade")
    course = Course(root=root / "course", notebooks=root / "released")
    shutil.copytree(FIXTURE_COURSE, course.root)
    student_version = json.loads(release(course, LESSON).read_text())
    master = json.loads(course.master(LESSON).read_text())
    subs, out = root / "submissions", root / "results"

    def put(student: str, content, name: str = f"{LESSON}.ipynb") -> None:
        folder = subs / student
        folder.mkdir(parents=True, exist_ok=True)
        data = content if isinstance(content, (str, bytes)) else json.dumps(content)
        (folder / name).write_bytes(data if isinstance(data, bytes) else data.encode())

    put("good", _notebook(student_version, GOOD))
    put("blank", student_version)
    put("master_copy", master)
    put("loop", _notebook(student_version, {**GOOD, "add": "while True:\n    pass"}))
    put(
        "membomb",
        _notebook(student_version, {**GOOD, "add": "hog = bytearray(8 * 2**30)\n" + GOOD["add"]}),
    )
    put("sysexit", _notebook(student_version, {**GOOD, "add": "import sys\nsys.exit()"}))
    put("osexit", _notebook(student_version, {**GOOD, "add": "import os\nos._exit(1)"}))
    put(
        "segfault",
        _notebook(student_version, {**GOOD, "add": "import ctypes\nctypes.string_at(0)"}),
    )
    no_tests = _notebook(student_version, GOOD)
    no_tests["cells"] = [
        c for c in no_tests["cells"] if not c["metadata"].get("nbgrader", {}).get("grade")
    ]
    put("deleted_tests", no_tests)
    edited = _notebook(
        student_version, {"add": "def add(a, b):\n    return 0", "answer_sqrt": "answer_sqrt = 1.0"}
    )
    for cell in edited["cells"]:
        if cell["metadata"].get("nbgrader", {}).get("grade"):
            cell["source"] = "pass  # tests removed"
    put("edited_tests", edited)
    shuffled = _notebook(student_version, GOOD)
    dup = json.loads(
        json.dumps(
            next(
                c
                for c in shuffled["cells"]
                if c["metadata"].get("nbgrader", {}).get("grade_id") == "add"
            )
        )
    )
    dup["source"] = "def add(a, b):\n    return -1"
    shuffled["cells"] = list(reversed(shuffled["cells"])) + [dup]
    put("duplicated_reordered", shuffled)
    put("not_json", "this is not a notebook")
    put("empty", b"")
    put("not_notebook", {"hello": "world"})
    (subs / "missing_lesson").mkdir(parents=True)
    (subs / "missing_lesson" / "notes.txt").write_text("I forgot")
    put("stray_files", _notebook(student_version, GOOD))
    put("stray_files", "some text", name="README.txt")
    put("stray_files", student_version, name="other_lesson.ipynb")
    huge = _notebook(student_version, GOOD)
    huge["cells"][1]["outputs"] = [
        {"output_type": "stream", "name": "stdout", "text": "x" * 30_000_000}
    ]
    put("gigantic_outputs", huge)
    put(
        "monkeypatch",
        _notebook(
            student_version,
            {
                "add": "import math\nmath.isclose = lambda *a, **k: True\ndef add(a, b):\n    return 0",
                "answer_sqrt": "answer_sqrt = 1.0",
            },
        ),
    )
    put(
        "snoop",
        _notebook(student_version, {**GOOD, "answer_sqrt": _leak_probe([str(subs), str(out)])}),
    )
    put(
        "warnings",
        _notebook(
            student_version,
            {
                **GOOD,
                "add": "import warnings\ndef add(a, b):\n    warnings.warn('careful', UserWarning)\n    return a + b",
            },
        ),
    )

    args = [
        str(subs),
        "--out",
        str(out),
        "--course",
        str(course.root),
        "--workers",
        "2",
        "--timeout",
        "10",
        "--notebook-timeout",
        "120",
        "--memory",
        "1500M",
        "--quiet",
    ]
    started = time.perf_counter()
    code = main(["grade", *args])
    elapsed = time.perf_counter() - started
    results = {r["student"]: r for r in json.loads((out / "report.json").read_text())}
    return {
        "code": code,
        "results": results,
        "out": out,
        "subs": subs,
        "args": args,
        "course": course,
        "elapsed": elapsed,
    }


def _result(graded, student):
    return graded["results"][student]


def _cells(result):
    return {c["grade_id"]: c for c in result["cells"]}


def test_every_submission_gets_a_grade_and_the_run_succeeds(graded):
    assert graded["code"] == 0
    assert len(graded["results"]) == 20
    for student, r in graded["results"].items():
        assert r["max_score"] == 3, student
        assert 0 <= r["score"] <= 3, student
        assert r["status"], student


def test_each_unit_reports_how_long_its_notebook_executed(graded):
    def unit(student):
        return json.loads((graded["out"] / "units" / f"{student}__{LESSON}.json").read_text())

    good = unit("good")
    assert 0 < good["executing_seconds"] < good["seconds"], good
    assert unit("not_json")["executing_seconds"] is None  # nothing was executed


def test_good_and_master_copy_earn_everything(graded):
    for student in ("good", "master_copy", "stray_files", "deleted_tests", "duplicated_reordered"):
        r = _result(graded, student)
        assert (r["status"], r["score"]) == ("graded", 3), (student, r)


def test_blank_earns_nothing_and_says_not_implemented(graded):
    r = _result(graded, "blank")
    assert r["score"] == 0
    assert "not implemented yet" in _cells(r)["test_add"]["message"]


def test_infinite_loop_times_out_in_its_cell_only(graded):
    r = _result(graded, "loop")
    assert r["status"] == "graded" and r["score"] == 1  # the other answer still counts
    assert "add" in _cells(r)["test_add"]["message"]


def test_memory_bomb_is_stopped_by_the_limit(graded):
    r = _result(graded, "membomb")
    assert r["score"] < 3
    assert r["status"] in ("graded", "kernel_died")


def test_sys_exit_does_not_stop_grading(graded):
    r = _result(graded, "sysexit")
    assert r["status"] == "graded" and r["score"] == 1


@pytest.mark.parametrize("student", ["osexit", "segfault"])
def test_a_dead_kernel_gets_zero_and_a_reason(graded, student):
    r = _result(graded, student)
    assert (r["status"], r["score"]) == ("kernel_died", 0)
    assert "kernel died" in r["reason"]


def test_edited_tests_are_restored_from_the_master(graded):
    r = _result(graded, "edited_tests")
    assert r["score"] == 0
    assert "expected 3, got 0" in _cells(r)["test_add"]["message"]


def test_duplicated_answer_cells_grade_the_first(graded):
    r = _result(graded, "duplicated_reordered")
    assert any("more than once" in n for n in r["notes"])


@pytest.mark.parametrize(
    ("student", "why"),
    [
        ("not_json", "not valid JSON"),
        ("empty", "empty"),
        ("not_notebook", "not a Jupyter notebook"),
    ],
)
def test_unreadable_files_get_zero_and_a_reason(graded, student, why):
    r = _result(graded, student)
    assert (r["status"], r["score"]) == ("invalid", 0)
    assert why in r["reason"]


def test_missing_lesson_gets_zero(graded):
    r = _result(graded, "missing_lesson")
    assert (r["status"], r["score"]) == ("missing", 0)


def test_gigantic_outputs_are_ignored(graded):
    r = _result(graded, "gigantic_outputs")
    assert (r["status"], r["score"]) == ("graded", 3)


def test_replacing_functions_the_tests_use_earns_nothing(graded):
    # math.isclose patched: the kernel's checks believe anything; the judge does not
    r = _result(graded, "monkeypatch")
    assert r["score"] == 0, r


def test_a_submission_cannot_read_masters_gradebook_or_others(graded):
    r = _result(graded, "snoop")
    assert _cells(r)["test_answer_sqrt"]["passed"], r


def test_warnings_from_a_correct_solution_cost_nothing(graded):
    r = _result(graded, "warnings")
    assert (r["status"], r["score"]) == ("graded", 3), r


def test_others_are_graded_exactly_as_if_alone(graded, tmp_path):
    alone = tmp_path / "alone"
    shutil.copytree(graded["subs"] / "good", alone / "good")
    args = [str(alone), "--out", str(tmp_path / "out")] + graded["args"][3:]
    assert main(["grade", *args]) == 0
    result = json.loads((tmp_path / "out" / "report.json").read_text())[0]
    mine = _result(graded, "good")
    assert [(c["grade_id"], c["points"]) for c in result["cells"]] == [
        (c["grade_id"], c["points"]) for c in mine["cells"]
    ]


def test_outputs_csv_gradebook_and_feedback(graded):
    out = graded["out"]
    rows = list(csv.DictReader((out / "grades.csv").open()))
    assert {r["student"] for r in rows} == set(graded["results"])
    assert set(rows[0]) == {"student", "lesson", "score", "max_score", "status"}
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{out / 'gradebook.db'}", "gradient-flow") as gb:
        assert gb.find_submission(LESSON, "good").score == 3
        assert len(gb.find_assignment(LESSON).submissions) == 20
        # autograded, as nbgrader's own tools read it: formgrader lists nobody as waiting
        waiting = [
            s.student.id for s in gb.find_assignment(LESSON).submissions if s.needs_manual_grade
        ]
        assert waiting == []
    html = (out / "feedback" / "good" / f"{LESSON}.html").read_text()
    # nbgrader's feedback shows the hidden tests (in the lessons: calls into autograder.checks
    # only, see test_notebooks_drift); it never shows the master's solutions
    assert "BEGIN SOLUTION" not in html
    assert "test_add" in html and "3.0" in html  # the cells and the score are shown
    export_csv = out / "export.csv"
    assert main(["export", "--results", str(out), "--out", str(export_csv)]) == 0
    exported = list(csv.DictReader(export_csv.open()))
    assert {(r["student"], r["score"]) for r in exported} >= {("good", "3"), ("blank", "0")}


def test_regrading_one_student_leaves_the_others(graded):
    out = graded["out"]
    before = {p.name: p.stat().st_mtime_ns for p in (out / "units").glob("*.json")}
    assert main(["grade", *graded["args"], "--students", "blank", "--fresh"]) == 0
    after = {p.name: p.stat().st_mtime_ns for p in (out / "units").glob("*.json")}
    changed = {name for name in before if before[name] != after[name]}
    assert changed == {f"blank__{LESSON}.json"}
    rows = {r["student"]: r for r in csv.DictReader((out / "grades.csv").open())}
    assert rows["good"]["score"] == "3" and rows["blank"]["score"] == "0"


def test_bad_arguments_exit_2(graded, tmp_path, capsys):
    assert main(["grade", str(tmp_path / "nowhere"), "--out", str(tmp_path / "o")]) == 2
    assert "no such folder" in capsys.readouterr().err
    bad_zip = tmp_path / "class.zip"
    bad_zip.write_text("not a zip")
    assert main(["grade", str(bad_zip), "--out", str(tmp_path / "o")]) == 2
    assert "not a readable zip" in capsys.readouterr().err
    assert (
        main(["grade", str(graded["subs"]), "--out", str(tmp_path / "o"), "--lessons", "nope"]) == 2
    )
    assert "unknown lesson 'nope'" in capsys.readouterr().err


def test_zip_of_a_class_and_nbgrader_layout(graded, tmp_path):
    archive = tmp_path / "lms.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for student in ("good", "blank"):
            zf.write(
                graded["subs"] / student / f"{LESSON}.ipynb", f"export/{student}/{LESSON}.ipynb"
            )
    assert main(["grade", str(archive), "--out", str(tmp_path / "z")] + graded["args"][3:]) == 0
    rows = {
        r["student"]: r["score"] for r in csv.DictReader((tmp_path / "z" / "grades.csv").open())
    }
    assert rows == {"good": "3", "blank": "0"}
    layout = tmp_path / "nb"
    (layout / "submitted" / "good" / LESSON).mkdir(parents=True)
    shutil.copy(graded["subs"] / "good" / f"{LESSON}.ipynb", layout / "submitted" / "good" / LESSON)
    assert main(["grade", str(layout), "--out", str(tmp_path / "n")] + graded["args"][3:]) == 0
    assert "good,fixture_sum,3,3,graded" in (tmp_path / "n" / "grades.csv").read_text()


def test_same_input_twice_gives_identical_grades(graded, tmp_path):
    subset = tmp_path / "subset"
    for student in ("good", "blank", "loop", "monkeypatch"):
        shutil.copytree(graded["subs"] / student, subset / student)
    out = tmp_path / "twice"
    extra = graded["args"][3:]
    assert main(["grade", str(subset), "--out", str(out)] + extra) == 0
    first = (out / "grades.csv").read_text()
    assert main(["grade", str(subset), "--out", str(out), "--fresh"] + extra) == 0
    assert (out / "grades.csv").read_text() == first


def test_an_interrupted_run_resumes_and_records_each_grade_once(graded, tmp_path):
    subset = tmp_path / "subset"
    for student in ("good", "blank", "loop", "sysexit", "stray_files", "warnings"):
        shutil.copytree(graded["subs"] / student, subset / student)
    out = tmp_path / "resume"
    cmd = [
        sys.executable,
        "-m",
        "autograder",
        "grade",
        str(subset),
        "--out",
        str(out),
        *graded["args"][3:],
    ]
    # A job started in the background by a shell without job control (as a CI runner may
    # start this suite) inherits SIGINT ignored, and Python then never sees Ctrl-C:
    # the grader gets the default disposition back, as in a terminal.
    proc = subprocess.Popen(
        cmd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    deadline = time.time() + 120
    while time.time() < deadline and len(list((out / "units").glob("*.json"))) < 1:
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    proc.wait(timeout=60)
    done_before = len(list((out / "units").glob("*.json")))
    assert 1 <= done_before < 6
    assert subprocess.run(cmd, capture_output=True).returncode == 0
    rows = list(csv.DictReader((out / "grades.csv").open()))
    assert sorted(r["student"] for r in rows) == sorted(p.name for p in subset.iterdir())
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{out / 'gradebook.db'}", "gradient-flow") as gb:
        assert len(gb.find_assignment(LESSON).submissions) == 6


def test_a_broken_master_stops_the_run_with_exit_1_and_says_why(graded, tmp_path, capsys):
    course_root = tmp_path / "course"
    shutil.copytree(graded["course"].root, course_root)
    master_path = course_root / "source" / LESSON / f"{LESSON}.ipynb"
    master = json.loads(master_path.read_text())
    ids = [c for c in master["cells"] if c["metadata"].get("nbgrader", {}).get("grade_id")]
    ids[1]["metadata"]["nbgrader"]["grade_id"] = ids[0]["metadata"]["nbgrader"]["grade_id"]
    master_path.write_text(json.dumps(master))
    args = ["grade", str(graded["subs"]), "--out", str(tmp_path / "o"), "--quiet"]
    assert main([*args, "--course", str(course_root)]) == 1
    err = capsys.readouterr().err
    assert "a master notebook cannot be used" in err and "is used by 2 cells" in err, err
    assert not (tmp_path / "o" / "units").exists() or not any((tmp_path / "o" / "units").iterdir())


def test_a_submission_changed_while_graded_is_graded_again(tmp_path):
    """The recorded digest is the submission's as it was before grading: a file that
    changes while it is graded (red team: it was taken after, so the changed file counted
    as graded) is graded again by the next run; an unchanged one is not."""
    from concurrent.futures import ThreadPoolExecutor

    from autograder.grade import ClassGrader
    from autograder.grade_options import GradeOptions

    course = Course(root=tmp_path / "course", notebooks=tmp_path / "released")
    shutil.copytree(FIXTURE_COURSE, course.root)
    student_version = json.loads(release(course, LESSON).read_text())
    subs = tmp_path / "subs"
    for student in ("steady", "changing"):
        (subs / student).mkdir(parents=True)
        (subs / student / f"{LESSON}.ipynb").write_text(json.dumps(student_version))
    submitted: list[str] = []

    class Changing(ThreadPoolExecutor):
        def submit(self, fn, spec, *args):
            submitted.append(spec["student"])
            if spec["student"] == "changing":  # the file changes once the unit is on its way
                answer = json.dumps(with_answers(student_version, GOOD))
                (subs / "changing" / f"{LESSON}.ipynb").write_text(answer)
            return super().submit(fn, spec, *args)

    options = GradeOptions(workers=1, progress=False, notebook_timeout=300)
    ClassGrader(course, subs, tmp_path / "out", options, executor_factory=Changing).run()
    assert sorted(submitted) == ["changing", "steady"]
    submitted.clear()
    ClassGrader(course, subs, tmp_path / "out", options, executor_factory=Changing).run()
    assert submitted == ["changing"]
