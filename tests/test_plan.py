"""Grading plans (autograder.plan, autograder.plan_proof): the schema, the trust model, the
proof, and their use by grading, by validation and by the student's Validate button."""

from __future__ import annotations

import copy
import json
import multiprocessing
import os
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pytest

from autograder import plan
from autograder.course import Course
from autograder.plan_proof import differences
from tests.conftest import LESSON_MARKERS, with_answers

COURSE = Course()
MARKERS = LESSON_MARKERS
LESSONS = [pytest.param(lesson, marks=MARKERS.get(lesson, ())) for lesson in COURSE.lessons()]


def _code(source: str, nbgrader: dict | None = None, tags: list[str] | None = None) -> dict:
    meta: dict = {}
    if nbgrader:
        meta["nbgrader"] = nbgrader
    if tags:
        meta["tags"] = tags
    return {
        "cell_type": "code",
        "metadata": meta,
        "source": source,
        "outputs": [],
        "execution_count": None,
    }


SKIP = [plan.PLAN_TAG]
SOLUTION = {"solution": True, "grade": False, "grade_id": "f", "locked": False}
TEST = {"solution": False, "grade": True, "grade_id": "test_f", "locked": True, "points": 1}


def _master(*middle: dict) -> dict:
    cells = [
        {"cell_type": "markdown", "metadata": {}, "source": "# A lesson"},
        _code("import math\nrng = 3"),
        _code("def f(x):\n    return x + rng", SOLUTION),
        *middle,
        _code("assert f(1) == 4", TEST),
    ]
    return {"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 4}


# -- the schema ---------------------------------------------------------------
def test_only_tagged_free_code_cells_are_skipped_and_others_are_named():
    master = _master(_code("history = [1, 2]\nprint(history)", tags=SKIP))
    master["cells"][0]["metadata"]["tags"] = SKIP  # markdown
    master["cells"][1]["metadata"]["tags"] = SKIP  # the set-up cell
    master["cells"][2]["metadata"]["tags"] = SKIP  # a solution cell
    assert plan.skipped(master) == {3}
    problems = plan.plan_problems(master)
    assert any("cell 0: a markdown cell" in p for p in problems), problems
    assert any("cell 1: the set-up cell" in p for p in problems), problems
    assert any("cell 2: an nbgrader cell" in p for p in problems), problems


def test_a_cell_without_the_tag_runs():
    master = _master(_code("history = [1, 2]"), _code("plot(history)", tags=["other"]))
    assert plan.skipped(master) == set()
    assert plan.plan_problems(master) == []


def test_names_read_are_globals_only_and_include_those_functions_read():
    source = "def g(x, w):\n    return x * w + scale\nfig = make()\nfig.show()\nprint(len(data))"
    assert plan.names_read(source) == {"scale", "make", "data"}
    assert plan.names_bound(source) == {"g", "fig"}
    assert plan.names_bound("%matplotlib inline\nimport numpy as np\nfor i in range(3): pass") == {
        "np",
        "i",
    }


def test_a_tagged_cell_a_running_cell_needs_runs_and_a_note_names_both():
    master = _master(_code("rng = 4  # reseeds what f reads", tags=SKIP))
    assert plan.skipped(master) == set()  # f (cell 2) reads rng when the test calls it
    notes = plan.plan_notes(master)
    assert len(notes) == 1 and "cell 3" in notes[0] and "cell 2" in notes[0] and "rng" in notes[0]
    # a cell added later, untagged, that reads a tagged cell's name: both run
    later = _master(_code("h = [1]", tags=SKIP), _code("g = [2]", tags=SKIP), _code("print(h)"))
    assert plan.skipped(later) == {4}
    # needed until nothing changes: h is read by a tagged cell that a running cell needs
    chain = _master(_code("h = [1]", tags=SKIP), _code("g = h * 2", tags=SKIP), _code("print(g)"))
    assert plan.skipped(chain) == set()
    closed = _master(_code("h = [1]", tags=SKIP), _code("print(h)", tags=SKIP))
    assert plan.skipped(closed) == {3, 4} and plan.plan_notes(closed) == []


def test_an_unparsable_tagged_cell_runs():
    master = _master(_code("def broken(:\n", tags=SKIP))
    assert plan.skipped(master) == set()
    assert "cannot be analysed" in plan.plan_notes(master)[0]


def test_mark_adds_the_tag_once_and_touches_nothing_else():
    master = _master(_code("h = [1]"), _code("print(h)"))
    before = copy.deepcopy(master)
    assert plan.free_cells(master) == [3, 4]
    plan.mark(master, [3, 4])
    plan.mark(master, [3])
    assert master["cells"][3]["metadata"]["tags"] == SKIP
    for a, b in zip(master["cells"], before["cells"], strict=True):
        assert a["source"] == b["source"]
        assert {k: v for k, v in a["metadata"].items() if k != "tags"} == b["metadata"]


# -- trust: the plan is the master's ------------------------------------------
def test_grading_skips_the_masters_cells_by_position_and_source_only():
    master = _master(_code("slow_experiment()", tags=SKIP))
    graded = copy.deepcopy(master)
    for cell in graded["cells"]:
        cell["metadata"].pop("tags", None)  # the graded notebook's own metadata is not read
    assert plan.graded_skips(master, graded) == {3}
    graded["cells"][3]["source"] = "something else()"
    assert plan.graded_skips(master, graded) == set()  # not the master's cell: it runs


def test_an_answer_that_reads_an_experiments_name_makes_it_run():
    """The plan is proven on the master's solutions; a student's answer may read a name that
    only a skipped experiment binds (red team: ``float(0.25 ** depth[9])`` lost its point
    to "name 'depth' is not defined"). What the graded notebook runs decides: that
    experiment runs, the others are still skipped."""
    master = _master(_code("depth = list(range(10))", tags=SKIP), _code("figure()", tags=SKIP))
    assert plan.graded_skips(master, copy.deepcopy(master)) == {3, 4}
    graded = copy.deepcopy(master)
    graded["cells"][2]["source"] = "def f(x):\n    return x + rng + 0 * depth[9]"
    assert plan.graded_skips(master, graded) == {4}
    graded["cells"][2]["source"] = "def f(x) return"  # does not parse: reads nothing
    assert plan.graded_skips(master, graded) == {3, 4}


def test_a_submission_cannot_mark_its_own_cells(fixture_course):
    from autograder.rebuild import rebuild
    from autograder.release import release

    release(fixture_course, "fixture_sum")
    master = json.loads(fixture_course.master("fixture_sum").read_text())
    released = json.loads(fixture_course.student("fixture_sum").read_text())
    submission = copy.deepcopy(released)
    for cell in submission["cells"]:  # every cell tagged, the tests above all
        cell["metadata"]["tags"] = SKIP
    graded, _ = rebuild(released, submission)
    assert plan.graded_skips(master, graded) == set()
    assert all(plan.PLAN_TAG not in c["metadata"].get("tags", []) for c in graded["cells"])


def test_every_master_plan_is_well_formed_and_closed():
    for lesson in COURSE.lessons():
        master = json.loads(COURSE.master(lesson).read_text())
        assert plan.plan_problems(master) == [], lesson
        assert plan.plan_notes(master) == [], lesson  # tag the cells that need them too


def test_the_student_config_skips_the_plan_in_nbgrader_execute(tmp_path):
    from nbgrader.preprocessors import Execute
    from traitlets.config.loader import PyFileConfigLoader

    (tmp_path / "nbgrader_config.py").write_text(plan.STUDENT_NBGRADER_CONFIG)
    config = PyFileConfigLoader("nbgrader_config.py", str(tmp_path)).load_config()
    assert Execute(config=config).skip_cells_with_tag == plan.PLAN_TAG


# -- the proof's verdicts -----------------------------------------------------
def _probe(names: dict, **state) -> dict:
    return {"dtype": "torch.float32", "torch_rng": "r0", "random": "p0", **state, "names": names}


def test_proof_names_the_cell_that_would_start_differently_and_the_skipped_culprit():
    master = _master(_code("shuffle_in_place(rng)", tags=SKIP))
    full = {
        "before 1": _probe({}),
        "after 1": _probe({}),
        "before 2": _probe({"rng": "3"}),
        "after 2": _probe({"rng": "3"}),
        "before 3": _probe({}),
        "after 3": _probe({}, torch_rng="r1"),
        "before 4": _probe({"f": "f", "rng": "3"}, torch_rng="r1"),
        "after 4": _probe({"f": "f", "rng": "3"}, torch_rng="r2"),
    }
    planned = {k: v for k, v in full.items() if not k.endswith(" 3")}
    planned["before 4"] = _probe({"f": "f", "rng": "3"}, torch_rng="r0")
    planned["after 4"] = _probe({"f": "f", "rng": "3"}, torch_rng="r1")
    problems = differences(master, full, planned)
    assert len(problems) == 1, problems
    assert "cell 4" in problems[0] and "torch rng" in problems[0] and "[3]" in problems[0]
    # a cell that does not draw from the generator is not asked about it
    planned["after 4"] = _probe({"f": "f", "rng": "3"}, torch_rng="r0")
    full["after 4"] = _probe({"f": "f", "rng": "3"}, torch_rng="r1")
    assert differences(master, full, planned) == []
    # a global name a running cell reads, changed by the skipped cell
    planned["before 4"] = _probe({"f": "f", "rng": "2"}, torch_rng="r0")
    assert "global name 'rng'" in differences(master, full, planned)[0]


def test_proof_ignores_a_generator_the_cell_seeds():
    master = _master()
    full = {"before 1": _probe({}, random="a"), "after 1": _probe({}, random="seeded")}
    full |= {f"{w} {i}": _probe({"rng": "3"}) for w in ("before", "after") for i in (2, 3)}
    planned = {**full, "before 1": _probe({}, random="b")}
    assert differences(master, full, planned) == []


# -- end to end ---------------------------------------------------------------
SLEEPY = "import time\ntime.sleep(30)  # an experiment far longer than the cell timeout"


@pytest.mark.slow
def test_grading_skips_the_plan_says_so_and_ignores_the_submissions_tags(fixture_course, tmp_path):
    from autograder.cli import main
    from autograder.release import release

    path = fixture_course.master("fixture_sum")
    master = json.loads(path.read_text())
    master["cells"].insert(3, _code(SLEEPY, tags=SKIP))  # after add(), before its test
    path.write_text(json.dumps(master))
    release(fixture_course, "fixture_sum")
    student = json.loads(fixture_course.student("fixture_sum").read_text())
    good = {"add": "def add(a, b):\n    return a + b", "answer_sqrt": "answer_sqrt = 4.0"}
    subs = tmp_path / "subs"
    for name, nb in {
        "good": with_answers(student, good),
        "untagged": with_answers(student, good),
    }.items():
        (subs / name).mkdir(parents=True)
        (subs / name / "fixture_sum.ipynb").write_text(json.dumps(nb))
    untagged = json.loads((subs / "untagged" / "fixture_sum.ipynb").read_text())
    for cell in untagged["cells"]:  # its copy of the plan removed, its answers tagged
        cell["metadata"]["tags"] = (
            SKIP if cell["metadata"].get("nbgrader", {}).get("solution") else []
        )
    (subs / "untagged" / "fixture_sum.ipynb").write_text(json.dumps(untagged))
    out = tmp_path / "out"
    args = ["--course", str(fixture_course.root), "--timeout", "10", "--quiet", "--workers", "2"]
    started = time.perf_counter()
    assert main(["grade", str(subs), "--out", str(out), *args]) == 0
    assert time.perf_counter() - started < 60
    report = {r["student"]: r for r in json.loads((out / "report.json").read_text())}
    for name in ("good", "untagged"):
        assert report[name]["score"] == 3, report[name]
        assert any("not run for grading" in n for n in report[name]["notes"]), report[name]
        feedback = Path(report[name]["feedback"]).read_text()
        assert "not run for grading" in feedback
    # without the plan the experiment runs, and times out (its cell only)
    assert main(["grade", str(subs), "--out", str(tmp_path / "all"), "--no-plan", *args]) == 0
    report = {r["student"]: r for r in json.loads((tmp_path / "all" / "report.json").read_text())}
    assert report["good"]["score"] == 3
    assert not any("not run for grading" in n for n in report["good"]["notes"])


@pytest.mark.slow
@pytest.mark.parametrize("lesson", LESSONS)
def test_students_validate_button_skips_the_plan_and_finishes_in_time(lesson, tmp_path):
    """nbgrader's Validator, as the Lab's Validate button runs it (its default 30 s per
    cell) with the student's configuration: the student version fails its tests, the
    master passes them, each well within the limit."""
    import shutil

    from nbgrader.validator import Validator
    from traitlets.config.loader import PyFileConfigLoader

    (tmp_path / "nbgrader_config.py").write_text(plan.STUDENT_NBGRADER_CONFIG)
    config = PyFileConfigLoader("nbgrader_config.py", str(tmp_path)).load_config()
    for which, source, expect in (
        ("student", COURSE.student(lesson), "failed"),
        ("master", COURSE.master(lesson), None),
    ):
        copy_ = tmp_path / which / source.name
        copy_.parent.mkdir()
        shutil.copyfile(source, copy_)
        started = time.perf_counter()
        if which == "master":  # nbgrader validates a student's copy: no hidden tests
            nb = json.loads(copy_.read_text())
            for cell in nb["cells"]:
                text = (
                    "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
                )
                cell["source"] = text.split("### BEGIN HIDDEN TESTS", 1)[0]
            copy_.write_text(json.dumps(nb))
        found = Validator(config=config).validate(str(copy_))
        seconds = time.perf_counter() - started
        assert seconds < 30, f"{which}: {seconds:.1f} s"
        if expect is None:
            assert found == {}, found
        else:
            assert set(found) == {expect}, found
            assert all("CellTimeoutError" not in c.get("raw_error", "") for c in found[expect])


def _rounds(wrong: list) -> list[list]:
    """The wrong implementations in rounds: in each, at most one per solution cell (so that
    no two change the same function), in their order."""
    rounds: list[tuple[set, list]] = []
    for entry in wrong:
        cells = {edit[0] for edit in entry[2]}
        free = next((r for r in rounds if not r[0] & cells), None)
        if free is None:
            free = (set(), [])
            rounds.append(free)
        free[0].update(cells)
        free[1].append(entry)
    return [entries for _, entries in rounds]


def _with_edits(master: dict, entries: list) -> dict:
    nb = copy.deepcopy(master)
    by_id = {
        c["metadata"]["nbgrader"]["grade_id"]: c
        for c in nb["cells"]
        if c.get("metadata", {}).get("nbgrader", {}).get("solution")
    }
    for _, mistake, edits in entries:
        for grade_id, old, new in edits:
            cell = by_id[grade_id]
            text = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
            assert old in text, f"{mistake}: {old!r} not in {grade_id}"
            cell["source"] = text.replace(old, new)
    return nb


@pytest.mark.slow
@pytest.mark.plan_proof
@pytest.mark.parametrize("lesson", [p for p in LESSONS if p.values[0] != "06_diagnosis"])
def test_every_wrong_implementation_earns_the_same_with_and_without_the_plan(lesson):
    """Each lesson's plausible wrong implementations (tests/test_lesson_*.py), in rounds of
    one per solution cell, graded (the judge's verdict per test cell) with and without the
    master's plan: the same verdicts, and each one loses its own test cell's points.

    Every round costs two runs of the lesson: `make test` proves the first two rounds of
    each lesson (a wrong implementation of every exercise), `PLAN_PROOF=all make test`
    every round (about ten more minutes)."""
    import importlib

    from autograder.judge.verdicts import judge_notebook
    from autograder.validate import execute

    wrong = importlib.import_module(f"tests.test_lesson_{lesson}").WRONG
    master = json.loads(COURSE.master(lesson).read_text())
    skip = plan.skipped(master)
    assert skip, f"{lesson} has no grading plan"
    rounds = _rounds(wrong)
    chosen = rounds if os.environ.get("PLAN_PROOF") == "all" else rounds[:2]
    runs = [
        (i, name, _with_edits(master, entries), cells)
        for i, entries in enumerate(chosen)
        for name, cells in (("without", set()), ("with", skip))  # the long runs first
    ]
    # two kernels at a time: the runs are independent, and the test command has 2 cores
    context = multiprocessing.get_context("forkserver")
    with ProcessPoolExecutor(2, mp_context=context) as pool:
        futures = [pool.submit(execute, nb, skip=cells, timeout=300) for _, _, nb, cells in runs]
        executed = [future.result() for future in futures]
    for i, entries in enumerate(chosen):
        verdicts = {
            name: {g: v.passed for g, v in judge_notebook(done, master, lesson).items()}
            for (round_, name, _, _), done in zip(runs, executed, strict=True)
            if round_ == i
        }
        mistakes = [m for _, m, _ in entries]
        assert verdicts["with"] == verdicts["without"], (mistakes, verdicts)
        for test_id, mistake, _ in entries:
            assert not verdicts["with"][test_id], f"{mistake}: passed {test_id}"
