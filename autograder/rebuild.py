"""Turn a submission into the notebook that is graded.

The graded notebook is the lesson's released student version with the
student's answer cells (solution cells, matched by grade id) filled in. So
deleted, edited, duplicated or reordered cells, extra cells and outputs in
the submission change nothing about what is tested; the report says what was
ignored. What the test cells report is judged outside the kernel
(autograder.judge).
"""

from __future__ import annotations

import copy
import re
from pathlib import Path

import nbformat

from autograder.notebook_file import MAX_NOTEBOOK_BYTES, Unreadable, read_notebook_json

MAX_SUBMISSION_BYTES = MAX_NOTEBOOK_BYTES
LOAD_NOTES = "__autograder_load_notes__"  # load_submission's notes, read by answers_of
_SURROGATE = re.compile("[\ud800-\udfff]")  # after json.loads, a surrogate is unpaired
_DUPLICATE = "answer cell(s) {ids} appear more than once: the first one is graded"
_NOT_TEXT = (
    "answer cell(s) {ids}: the source is not text (a string or a list of strings): "
    "graded as unanswered"
)
_SURROGATES = (
    "answer cell(s) {ids} held unpaired surrogate characters, which are not text: "
    "replaced by U+FFFD"
)


class InvalidSubmission(Exception):
    """The file cannot be read as a notebook: the reason is the message."""


def load_submission(path: Path) -> dict:
    """The submission's JSON, or InvalidSubmission saying why it is not a notebook.

    Bounded in size, memory and depth and never through a symbolic link (see
    autograder.notebook_file); notes on what was done to it go to ``answers_of``.
    """
    try:
        nb, notes = read_notebook_json(path)
    except Unreadable as exc:
        raise InvalidSubmission(str(exc)) from None
    nb.pop(LOAD_NOTES, None)  # only this function writes there
    if notes:
        nb[LOAD_NOTES] = notes
    return nb


def _answer_text(cell: dict) -> str | None:
    """The source of a submitted cell, or None when it is neither text nor a list of texts."""
    src = cell.get("source", "")
    if isinstance(src, str):
        return src
    if isinstance(src, list) and all(isinstance(line, str) for line in src):
        return "".join(src)
    return None


def _grouped(notes: dict[str, list[str]], limit: int = 10) -> list[str]:
    """One note per problem: {template with {ids}: grade ids}, at most ``limit`` ids shown."""
    out = []
    for template, ids in notes.items():
        shown = ", ".join(repr(g[:60]) for g in ids[:limit])
        if len(ids) > limit:
            shown += f" and {len(ids) - limit} more"
        out.append(template.format(ids=shown))
    return out


def answers_of(submission: dict) -> tuple[dict[str, str], list[str]]:
    """{grade id: source} of the submission's answer cells, and notes on what was odd.

    Never raises for odd content: a source that is not text is graded as unanswered, an
    unpaired surrogate (not writable as UTF-8) becomes U+FFFD; both are noted.
    """
    answers: dict[str, str] = {}
    notes: list[str] = list(submission.get(LOAD_NOTES, []))
    odd: dict[str, list[str]] = {}
    seen: set[str] = set()
    cells = submission.get("cells")
    for cell in cells if isinstance(cells, list) else []:
        if not isinstance(cell, dict):
            continue
        meta = cell.get("metadata", {})
        meta = meta.get("nbgrader", {}) if isinstance(meta, dict) else {}
        if not isinstance(meta, dict) or not meta.get("solution"):
            continue
        grade_id = meta.get("grade_id")
        if not isinstance(grade_id, str):
            continue
        if grade_id in seen:
            odd.setdefault(_DUPLICATE, []).append(grade_id)
            continue
        seen.add(grade_id)
        text = _answer_text(cell)
        if text is None:
            odd.setdefault(_NOT_TEXT, []).append(grade_id)
            continue
        if _SURROGATE.search(text):
            text = _SURROGATE.sub("\ufffd", text)
            odd.setdefault(_SURROGATES, []).append(grade_id)
        answers[grade_id] = text
    return answers, notes + _grouped({k: list(dict.fromkeys(v)) for k, v in odd.items()})


def rebuild(released: dict, submission: dict) -> tuple[nbformat.NotebookNode, list[str]]:
    """The notebook to grade (the released version with the student's answer cells), and
    notes for the report."""
    answers, notes = answers_of(submission)
    graded = nbformat.from_dict(copy.deepcopy(released))
    expected = []
    cells = []
    for cell in graded.cells:
        meta = cell.get("metadata", {}).get("nbgrader", {})
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
