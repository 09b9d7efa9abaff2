"""Every lesson validates end to end through nbgrader, under Binder's limits (1 CPU, 2 GB):
the master (solution) runs top to
bottom without an error and passes every test; the student version passes none."""

import pytest

from autograder.course import Course
from autograder.validate import validate_lesson

COURSE = Course()
MARKERS = {
    "01_backprop": pytest.mark.backprop,
    "02_vanishing_gradients": pytest.mark.vanishing,
    "03_exploding_gradients": pytest.mark.exploding,
    "04_dead_relu": pytest.mark.dead_relu,
    "05_dropout": pytest.mark.dropout,
    "06_diagnosis": pytest.mark.diagnosis,
}


@pytest.mark.slow
@pytest.mark.parametrize(
    "lesson", [pytest.param(lesson, marks=MARKERS[lesson]) for lesson in COURSE.lessons()]
)
def test_lesson_validates(lesson):
    result = validate_lesson(COURSE, lesson)
    assert result.ok, "\n".join(result.problems)
