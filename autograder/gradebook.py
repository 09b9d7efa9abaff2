"""The nbgrader side of a run: each lesson's template course, and the class's gradebook.

The class gradebook (SQLite) has one writer: a set-up process makes it, then the
run merges each unit into it as its result arrives.
"""

from __future__ import annotations

import json
import shutil
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from autograder.config import course_config
from autograder.course import Course, UsageError
from autograder.csv_safe import safe_writer


@dataclass
class Template:
    lesson: str
    folder: Path
    max_cells: list[dict] = field(default_factory=list)


def build_template(course: Course, lesson: str, folder: Path) -> Template:
    """A course folder for one lesson: master, released version, gradebook with its cells."""
    from nbgrader.converters import GenerateAssignment

    from autograder.lint import check_master
    from autograder.nbgrader_run import course_copy, run_converter

    check_master(course.master(lesson))
    master = course_copy(course.root, lesson, folder)
    config = course_config(folder)
    config.CourseDirectory.assignment_id = lesson
    run_converter(GenerateAssignment, config, force=True)
    cells = json.loads(master.read_text())["cells"]
    max_cells = [
        {
            "grade_id": c["metadata"]["nbgrader"]["grade_id"],
            "max_points": float(c["metadata"]["nbgrader"]["points"]),
        }
        for c in cells
        if c.get("metadata", {}).get("nbgrader", {}).get("grade")
    ]
    return Template(lesson, folder, max_cells)


def prepare_class_gradebook(course_root: Path, lessons: list[str], root: Path, url: str) -> None:
    """The class's gradebook at ``url``: every lesson's cells, by nbgrader's generate_assignment."""
    from nbgrader.converters import GenerateAssignment

    from autograder.nbgrader_run import course_copy, run_converter

    for lesson in lessons:
        shutil.rmtree(root / "source" / lesson, ignore_errors=True)
        course_copy(course_root, lesson, root)
        config = course_config(root)
        config.CourseDirectory.db_url = url
        config.CourseDirectory.assignment_id = lesson
        run_converter(GenerateAssignment, config, force=True)


def merge_unit(url: str, result: dict) -> None:
    """Put one unit's points into the class gradebook at ``url`` (replacing earlier ones)."""
    from nbgrader.api import Gradebook, MissingEntry
    from sqlalchemy.exc import SAWarning

    # nbgrader's add_submission trips SQLAlchemy's autoflush warnings; they are harmless
    with warnings.catch_warnings(), Gradebook(url, "gradient-flow") as gb:
        warnings.simplefilter("ignore", SAWarning)
        gb.update_or_create_student(result["student"])
        try:
            gb.remove_submission(result["lesson"], result["student"])
        except MissingEntry:
            pass
        submission = gb.add_submission(result["lesson"], result["student"])
        points = {c["grade_id"]: c["points"] for c in result["cells"]}
        for notebook in submission.notebooks:
            for grade in notebook.grades:
                grade.auto_score = points.get(grade.name, 0.0)
                # decided by the judge: nothing waits for a person (formgrader's view)
                grade.needs_manual_grade = False
        gb.db.commit()


def export(gradebook: Path, out: Path) -> int:
    """Write student, lesson, score, max_score for every submission in the gradebook."""
    from nbgrader.api import Gradebook

    if not gradebook.is_file():
        raise UsageError(f"{gradebook}: no gradebook there (run `autograder grade` first)")
    rows = 0
    with (
        Gradebook(f"sqlite:///{gradebook}", "gradient-flow") as gb,
        open(out, "w", newline="", encoding="utf-8") as f,
    ):
        writer = safe_writer(f)  # no cell a spreadsheet runs as a formula
        writer.writerow(["student", "lesson", "score", "max_score"])
        for assignment in sorted(gb.assignments, key=lambda a: a.name):
            for submission in sorted(assignment.submissions, key=lambda s: s.student.id):
                writer.writerow(
                    [
                        submission.student.id,
                        assignment.name,
                        f"{submission.score:g}",
                        f"{submission.max_score:g}",
                    ]
                )
                rows += 1
    return rows
