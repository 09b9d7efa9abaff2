"""Every lesson validates end to end through nbgrader, under Binder's limits (1 CPU, 2 GB):
the master (solution) runs top to
bottom without an error and passes every test; the student version passes none.

The lessons selected in this run are validated together, two at a time (as `autograder
validate` does), once; each test reads its lesson's result."""

import pytest

from autograder.course import Course
from autograder.validate import validate_course
from tests.conftest import LESSON_MARKERS, selected_params

COURSE = Course()
MARKERS = LESSON_MARKERS


@pytest.fixture(scope="module")
def validated(request) -> dict:
    chosen = selected_params(request, "lesson")
    return {result.lesson: result for result in validate_course(COURSE, chosen, workers=2)}


@pytest.mark.slow
@pytest.mark.parametrize(
    "lesson", [pytest.param(lesson, marks=MARKERS[lesson]) for lesson in COURSE.lessons()]
)
def test_lesson_validates(lesson, validated):
    result = validated[lesson]
    assert result.ok, "\n".join(result.problems)
