"""A Canvas gradebook CSV: what Canvas's Grades > Import reads.

Columns as in Canvas's own gradebook export: ``Student``, ``ID`` (Canvas's user id),
``SIS User ID``, ``SIS Login ID``, ``Section``, then one column per lesson, and a second
row ``Points Possible`` with each lesson's total. Canvas finds a row's student by ``ID``,
``SIS User ID`` or ``SIS Login ID``; an assignment column named ``Name (id)`` updates that
assignment, a column of a new name becomes a new assignment.

The grader knows students only by their submission folder's name. ``--roster`` is a CSV
with Canvas's columns (best: Canvas's own gradebook export, Grades > Export): a student is
the roster row whose ``Autograder ID`` column (if the roster has one), else ``SIS Login
ID``, ``SIS User ID`` or ``ID`` equals the folder name, and a lesson's column is the
roster's ``<lesson id> (<canvas id>)`` column when there is one. Without a roster the
folder name is written as ``SIS User ID`` (and ``Student``); rows Canvas cannot match are
listed by its import for the instructor to resolve.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from pathlib import Path

from autograder.course import UsageError
from autograder.csv_safe import safe_writer
from autograder.exports.grades import Submission

IDENTITY = ("Student", "ID", "SIS User ID", "SIS Login ID", "Section")
MATCH_ORDER = ("Autograder ID", "SIS Login ID", "SIS User ID", "ID")
POINTS_POSSIBLE = "    Points Possible"  # Canvas's export indents it: never a student's name
_ASSIGNMENT = re.compile(r"^(?P<name>.*\S)\s*\((?P<id>\d+)\)$")


@dataclass
class Roster:
    """Rows of a Canvas roster (each a dict of its columns) and its assignment columns."""

    rows: list[dict[str, str]]
    assignments: dict[str, str]  # assignment name (casefolded) -> the column "Name (id)"

    def find(self, student: str) -> dict[str, str] | None:
        """The roster row of the grader's ``student`` id, or None."""
        for column in MATCH_ORDER:
            hits = [
                r for r in self.rows if r.get(column, "").strip().casefold() == student.casefold()
            ]
            if len(hits) == 1:
                return hits[0]
        return None


def read_roster(path: Path) -> Roster:
    """A roster CSV (Canvas's gradebook export, or a file with the same columns)."""
    if not path.is_file():
        raise UsageError(f"--roster {path}: no such file")
    with open(path, newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        header = [h.strip() for h in reader.fieldnames or []]
        rows = [
            {k.strip(): (v or "").strip() for k, v in row.items() if k is not None}
            for row in reader
        ]
    if "Student" not in header or not set(MATCH_ORDER) & set(header):
        raise UsageError(
            f"--roster {path}: needs a 'Student' column and one of {', '.join(MATCH_ORDER)} "
            "(Canvas: Grades > Export > Export Entire Gradebook)"
        )
    rows = [r for r in rows if r.get("Student", "").strip() != POINTS_POSSIBLE.strip()]
    assignments = {}
    for column in header:
        match = _ASSIGNMENT.match(column)
        if match and column not in IDENTITY:
            assignments[match["name"].casefold()] = column
    return Roster(rows, assignments)


@dataclass
class CanvasExport:
    """What was written: rows, students the roster does not know, lessons new to Canvas."""

    rows: int
    unmatched: list[str] = field(default_factory=list)
    new_assignments: list[str] = field(default_factory=list)


def write_canvas(
    subs: list[Submission], max_scores: dict[str, float], out: Path, roster: Roster | None = None
) -> CanvasExport:
    """Write Canvas's gradebook CSV of ``subs`` to ``out``; ``max_scores``: lesson -> points."""
    lessons = sorted(max_scores)
    columns = {
        lesson: (roster.assignments.get(lesson.casefold()) if roster else None) or lesson
        for lesson in lessons
    }
    scores: dict[str, dict[str, float]] = {}
    for sub in subs:
        scores.setdefault(sub.student, {})[sub.lesson] = sub.score
    result = CanvasExport(rows=0, new_assignments=[ls for ls in lessons if columns[ls] == ls])
    with open(out, "w", newline="", encoding="utf-8") as f:
        writer = safe_writer(f)  # a student's name or id never runs as a formula
        writer.writerow([*IDENTITY, *(columns[ls] for ls in lessons)])
        writer.writerow(
            [POINTS_POSSIBLE, "", "", "", "", *(f"{max_scores[ls]:g}" for ls in lessons)]
        )
        for student in sorted(scores):
            if roster is None:
                identity = [student, "", student, "", ""]
            else:
                row = roster.find(student)
                if row is None:
                    result.unmatched.append(student)
                    identity = [student, "", "", "", ""]
                else:
                    identity = [row.get(c, "") for c in IDENTITY]
            marks = [f"{scores[student][ls]:g}" if ls in scores[student] else "" for ls in lessons]
            writer.writerow([*identity, *marks])
            result.rows += 1
    return result
