"""notebooks/ is exactly what nbgrader releases from the masters, and masters are clean."""

import json
import re

import pytest

from autograder.course import Course
from autograder.lint import master_problems
from autograder.release import generate_student_version

COURSE = Course()


@pytest.mark.parametrize("lesson", COURSE.lessons())
def test_master_is_clean(lesson):
    assert master_problems(COURSE.master(lesson)) == []


@pytest.mark.parametrize("lesson", COURSE.lessons())
def test_student_notebook_matches_a_fresh_release(lesson, tmp_path):
    fresh = generate_student_version(COURSE, lesson, tmp_path).read_bytes()
    committed = COURSE.student(lesson)
    assert committed.is_file(), f"{committed} missing: run `autograder release {lesson}`"
    assert committed.read_bytes() == fresh, (
        f"{committed} differs from its master's release: never edit notebooks/ by hand; "
        f"run `autograder release {lesson}` and commit the result"
    )


def test_no_stray_student_notebooks():
    stray = {p.stem for p in COURSE.notebooks.glob("*.ipynb")} - set(COURSE.lessons())
    assert not stray, f"notebooks/ holds notebooks with no master: {sorted(stray)}"


_HIDDEN_LINE = re.compile(
    r"^(from autograder\.kernel\.collect import \w+ as hidden|hidden\.\w+\([\w, ]*\))$"
)


@pytest.mark.parametrize("lesson", COURSE.lessons())
def test_hidden_tests_only_call_the_autograder_package(lesson):
    """Feedback shows hidden tests: they must reveal a call, never an answer or an oracle."""
    cells = json.loads(COURSE.master(lesson).read_text())["cells"]
    for cell in cells:
        source = "".join(cell["source"])
        if "### BEGIN HIDDEN TESTS" not in source:
            continue
        region = source.split("### BEGIN HIDDEN TESTS")[1].split("### END HIDDEN TESTS")[0]
        lines = [line.strip() for line in region.strip().splitlines() if line.strip()]
        assert lines, f"{lesson}: an empty hidden region"
        odd = [line for line in lines if not _HIDDEN_LINE.match(line)]
        assert not odd, f"{lesson}: hidden region holds more than calls: {odd}"
