"""autograder.course: lesson ids and selection."""

import pytest

from autograder.course import LESSONS, Course, UsageError


def test_lesson_ids_are_the_fixed_ones():
    assert LESSONS == (
        "01_backprop",
        "02_vanishing_gradients",
        "03_exploding_gradients",
        "04_dead_relu",
        "05_dropout",
        "06_diagnosis",
    )


def test_course_holds_only_fixed_lessons_each_released():
    course = Course()
    assert course.lessons(), "no lesson master found under autograder/source"
    assert set(course.lessons()) <= set(LESSONS), "a master folder is not a fixed lesson id"
    unreleased = [lesson for lesson in course.lessons() if not course.student(lesson).is_file()]
    assert not unreleased, f"run `autograder release` for: {unreleased}"


def test_all_six_lessons_are_there():
    assert Course().lessons() == list(LESSONS)


def test_select_defaults_to_all_lessons(fixture_course):
    assert fixture_course.select(None) == ["fixture_sum"]
    assert fixture_course.select(["fixture_sum", "fixture_sum"]) == ["fixture_sum"]


def test_unknown_lesson_lists_valid_ones(fixture_course):
    with pytest.raises(UsageError, match=r"unknown lesson 'nope'.*valid lessons: fixture_sum"):
        fixture_course.select(["nope"])
