"""``autograder release``: masters → student notebooks, through nbgrader."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from nbgrader.converters import GenerateAssignment

from autograder.config import course_config
from autograder.course import Course
from autograder.lint import check_master
from autograder.nbgrader_run import course_copy, run_converter


def generate_student_version(course: Course, lesson: str, work: Path) -> Path:
    """Run nbgrader's generate_assignment on a copy of the lesson under ``work``.

    The course folder itself is not touched (no gradebook, no release folder).
    Returns the released notebook, inside ``work``.
    """
    check_master(course.master(lesson))
    course_copy(course.root, lesson, work)
    config = course_config(work)
    config.CourseDirectory.assignment_id = lesson
    # Releasing needs no gradebook (nbgrader's --no-db); grading builds its own.
    config.GenerateAssignment.no_database = True
    config.SaveCells.enabled = False
    run_converter(GenerateAssignment, config, force=True)
    return work / "release" / lesson / f"{lesson}.ipynb"


def release(course: Course, lesson: str) -> Path:
    """Write the student version of ``lesson`` to ``course.notebooks``; return its path.

    The file is byte for byte what nbgrader's generate_assignment released.
    """
    with tempfile.TemporaryDirectory(prefix="gf-release-") as tmp:
        released = generate_student_version(course, lesson, Path(tmp))
        target = course.student(lesson)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(released, target)
    return target
