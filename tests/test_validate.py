"""autograder validate: the fixture course passes; broken masters and students are caught."""

import json

import pytest

from autograder.cli import main
from autograder.release import release
from autograder.validate import validate_lesson

pytestmark = pytest.mark.slow


def _set_solution(path, old, new):
    nb = json.loads(path.read_text())
    for cell in nb["cells"]:
        src = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
        cell["source"] = src.replace(old, new)
    path.write_text(json.dumps(nb))


def test_valid_fixture_passes_through_cli(fixture_course, capsys):
    args = ["--course", str(fixture_course.root), "--notebooks", str(fixture_course.notebooks)]
    assert main(["release", *args]) == 0
    assert main(["validate", *args]) == 0
    assert "fixture_sum: ok" in capsys.readouterr().out


def test_wrong_master_solution_is_reported(fixture_course, capsys):
    _set_solution(fixture_course.master("fixture_sum"), "return a + b", "return a - b")
    release(fixture_course, "fixture_sum")
    args = ["--course", str(fixture_course.root), "--notebooks", str(fixture_course.notebooks)]
    assert main(["validate", *args]) == 1
    out = capsys.readouterr().out
    assert "fixture_sum: FAILED" in out and "master: a cell fails" in out
    assert "add(1, 2) is off: expected 3, got -1" in out


def test_student_version_that_passes_a_test_is_reported(fixture_course):
    release(fixture_course, "fixture_sum")
    # A student version that already holds an answer: its test passes with no work done.
    _set_solution(
        fixture_course.student("fixture_sum"), "raise NotImplementedError()", "answer_sqrt = 4.0"
    )
    result = validate_lesson(fixture_course, "fixture_sum")
    assert not result.ok
    assert any("test_answer_sqrt earns points without a solution" in p for p in result.problems), (
        result.problems
    )


def test_missing_student_version_is_reported(fixture_course):
    result = validate_lesson(fixture_course, "fixture_sum")
    assert any("run `autograder release`" in p for p in result.problems)


def test_error_in_an_ungraded_master_cell_is_reported(fixture_course):
    _set_solution(fixture_course.master("fixture_sum"), "import math", "import math\n1 / 0")
    release(fixture_course, "fixture_sum")
    result = validate_lesson(fixture_course, "fixture_sum")
    assert any("ZeroDivisionError" in p for p in result.problems), result.problems


def test_validation_runs_under_binder_limits(fixture_course):
    """One CPU and 2 GB, as on Binder: a master that checks for them still validates."""
    probe = (
        "import math, os, resource\n"
        "assert len(os.sched_getaffinity(0)) == 1, os.sched_getaffinity(0)\n"
        "assert resource.getrlimit(resource.RLIMIT_AS)[0] == 2 * 2**30"
    )
    _set_solution(fixture_course.master("fixture_sum"), "import math", probe)
    release(fixture_course, "fixture_sum")
    result = validate_lesson(fixture_course, "fixture_sum")
    assert result.ok, result.problems
