"""Every lesson validates end to end through nbgrader, under Binder's limits (1 CPU, 2 GB):
the master (solution) runs top to
bottom without an error and passes every test; the student version passes none."""

import pytest

from autograder.course import Course
from autograder.validate import validate_lesson
from tests.conftest import LESSON_MARKERS

COURSE = Course()
MARKERS = LESSON_MARKERS


@pytest.mark.slow
@pytest.mark.parametrize(
    "lesson", [pytest.param(lesson, marks=MARKERS[lesson]) for lesson in COURSE.lessons()]
)
def test_lesson_validates(lesson):
    result = validate_lesson(COURSE, lesson)
    assert result.ok, "\n".join(result.problems)
