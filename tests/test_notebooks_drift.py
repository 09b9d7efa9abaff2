"""notebooks/ is exactly what nbgrader releases from the masters, and masters are clean."""

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
