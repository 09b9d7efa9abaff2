"""Structural checks of a master notebook, run before it is released.

nbgrader reports some of these itself, deep in a traceback; here each problem
is one line naming the notebook and the cell.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from autograder.judge.verdicts import hidden_call

SOLUTION_MARKERS = ("### BEGIN SOLUTION", "### END SOLUTION")
HIDDEN_MARKERS = ("### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS")


class MasterError(Exception):
    """A master notebook that cannot be released as it is."""


def _cell_label(index: int, cell: dict) -> str:
    meta = cell.get("metadata", {}).get("nbgrader", {})
    grade_id = meta.get("grade_id")
    return f"cell {index}" + (f" ({grade_id})" if grade_id else "")


def master_problems(path: Path) -> list[str]:
    """Every problem found in the master at ``path``, one readable line each.

    Checks: valid JSON notebook; no outputs; unique grade ids; solution markers
    only in solution cells; hidden-test markers only in grade cells; balanced
    markers; points on every grade cell; every test cell calls a hidden check.
    """
    try:
        nb = json.loads(path.read_text(encoding="utf-8"))
        cells = nb["cells"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return [f"{path}: not a readable notebook ({exc.__class__.__name__}: {exc})"]

    problems: list[str] = []
    ids: Counter[str] = Counter()
    for index, cell in enumerate(cells):
        label = f"{path.name}: {_cell_label(index, cell)}"
        source = cell.get("source", "")
        source = "".join(source) if isinstance(source, list) else source
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if cell.get("outputs") or cell.get("execution_count"):
            problems.append(f"{label}: has outputs; masters are committed without outputs")
        if meta.get("grade_id"):
            ids[meta["grade_id"]] += 1
        for begin, end, allowed, kind in (
            (*SOLUTION_MARKERS, meta.get("solution", False), "solution"),
            (*HIDDEN_MARKERS, meta.get("grade", False), "grade (test)"),
        ):
            n_begin, n_end = source.count(begin), source.count(end)
            if (n_begin or n_end) and not allowed:
                problems.append(f"{label}: '{begin}' region outside a {kind} cell")
            elif n_begin != n_end:
                problems.append(f"{label}: {n_begin} '{begin}' but {n_end} '{end}'")
        if meta.get("grade") and "points" not in meta:
            problems.append(f"{label}: grade cell without points")
        if meta.get("grade") and cell.get("cell_type") == "code" and not hidden_call(source):
            problems.append(
                f"{label}: a test cell's points are decided by the judge: its hidden region "
                "must call a check of autograder.kernel.collect (import … as hidden; "
                "hidden.<check>(…))"
            )
    for grade_id, count in ids.items():
        if count > 1:
            problems.append(f"{path.name}: grade id '{grade_id}' is used by {count} cells")
    return problems


def check_master(path: Path) -> None:
    """Raise MasterError listing every problem of the master at ``path``."""
    if not path.is_file():
        raise MasterError(f"{path}: master notebook not found")
    problems = master_problems(path)
    if problems:
        raise MasterError("\n".join(problems))
