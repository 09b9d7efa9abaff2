"""Turn a submission into the notebook that is graded.

The graded notebook is the lesson's released student version with the
student's answer cells (solution cells, matched by grade id) filled in. So
deleted, edited, duplicated or reordered cells, extra cells and outputs in
the submission change nothing about what is tested; the report says what was
ignored. A grader cell takes an integrity snapshot before any student code,
and another checks it before every test cell (autograder.integrity).
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path

import nbformat

from autograder.integrity import CHECK_CELL, snapshot_cell

_HIDDEN_IMPORT = re.compile(r"from autograder\.checks import (\w+)")

MAX_SUBMISSION_BYTES = 200 * 2**20
GRADER_CELL_TAG = "autograder-integrity"


class InvalidSubmission(Exception):
    """The file cannot be read as a notebook: the reason is the message."""


def _source(cell: dict) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else str(src)


def load_submission(path: Path) -> dict:
    """The submission's JSON, or InvalidSubmission saying why it is not a notebook."""
    size = path.stat().st_size
    if size == 0:
        raise InvalidSubmission("the file is empty")
    if size > MAX_SUBMISSION_BYTES:
        raise InvalidSubmission(f"the file is {size / 2**20:.0f} MiB, more than a notebook can be")
    try:
        nb = json.loads(path.read_bytes())
    except (UnicodeDecodeError, ValueError) as exc:
        raise InvalidSubmission(f"the file is not valid JSON ({exc.__class__.__name__})") from None
    if not isinstance(nb, dict) or not isinstance(nb.get("cells"), list):
        raise InvalidSubmission("the file is JSON but not a Jupyter notebook (no list of cells)")
    return nb


def answers_of(submission: dict) -> tuple[dict[str, str], list[str]]:
    """{grade id: source} of the submission's answer cells, and notes on what was odd."""
    answers: dict[str, str] = {}
    notes: list[str] = []
    for cell in submission["cells"]:
        if not isinstance(cell, dict):
            continue
        meta = cell.get("metadata", {})
        meta = meta.get("nbgrader", {}) if isinstance(meta, dict) else {}
        if not isinstance(meta, dict) or not meta.get("solution"):
            continue
        grade_id = meta.get("grade_id")
        if not isinstance(grade_id, str):
            continue
        if grade_id in answers:
            notes.append(
                f"answer cell {grade_id!r} appears more than once: the first one is graded"
            )
            continue
        answers[grade_id] = _source(cell)
    return answers, notes


def rebuild(
    released: dict, submission: dict, master: dict | None = None
) -> tuple[nbformat.NotebookNode, list[str]]:
    """The notebook to grade, and notes for the report.

    ``master`` (the solution notebook) names the hidden-check modules whose
    functions the integrity snapshot must watch.
    """
    answers, notes = answers_of(submission)
    graded = nbformat.from_dict(copy.deepcopy(released))
    expected = []
    cells = [_grader_cell(snapshot_cell(hidden_modules(master or released)))]
    for cell in graded.cells:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if meta.get("grade") and cell.cell_type == "code":
            cells.append(_grader_cell(CHECK_CELL))
        if meta.get("solution"):
            expected.append(meta["grade_id"])
            if meta["grade_id"] in answers:
                cell.source = answers[meta["grade_id"]]
        cells.append(cell)
    graded.cells = cells
    missing = [g for g in expected if g not in answers]
    if missing:
        notes.append(f"answer cells missing from the submission (graded as unanswered): {missing}")
    extra = len([c for c in submission["cells"] if isinstance(c, dict)]) - len(answers)
    released_others = len(released["cells"]) - len(expected)
    if extra > released_others:
        notes.append(
            f"{extra - released_others} cell(s) added outside the answer cells were not run: "
            "only answer cells are graded"
        )
    return graded, notes


def hidden_modules(master: dict) -> list[str]:
    """The autograder.checks modules the master's (hidden) tests import."""
    found = set()
    for cell in master["cells"]:
        found.update(_HIDDEN_IMPORT.findall(_source(cell)))
    return sorted(f"autograder.checks.{name}" for name in found)


def _grader_cell(source: str) -> nbformat.NotebookNode:
    cell = nbformat.v4.new_code_cell(source)
    cell.metadata["tags"] = [GRADER_CELL_TAG]
    cell.pop("id", None)
    return cell
