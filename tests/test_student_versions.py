"""The student versions degrade gracefully: run top to bottom with nothing answered,

- every test cell fails with "not implemented yet" (its own exercise, in one message);
- no other cell shows an error: a cell that runs an unfinished exercise
  (``with checks.needs(...)``) or holds an unanswered question
  (``with checks.answer(...)``) prints exactly one line naming it;
- the cells that need no student code still draw their figures (lesson 04 has none: each
  of its experiments counts dead units with the student's functions).

Each student notebook is executed once, as a student would (one thread per math library),
two at a time.
"""

from __future__ import annotations

import ast
import multiprocessing
import os
import shutil
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from autograder.course import Course
from autograder.site import KERNEL_ENV
from tests.conftest import selected_params

pytestmark = pytest.mark.slow
PAUSE = "⏸"


def _kind(cell) -> str:
    meta = cell.metadata.get("nbgrader", {})
    if meta.get("grade"):
        return "test"
    if meta.get("solution"):
        return "solution"
    return "code"


def _guard(cell) -> tuple[str, list[str]] | None:
    """("needs", [exercise names]) or ("answer", [name]) for a cell wrapped in one."""
    try:
        tree = ast.parse(cell.source)
    except SyntaxError:
        return None
    for node in tree.body:
        if not isinstance(node, ast.With):
            continue
        call = node.items[0].context_expr
        if (
            isinstance(call, ast.Call)
            and isinstance(call.func, ast.Attribute)
            and isinstance(call.func.value, ast.Name)
            and call.func.value.id == "checks"
            and call.func.attr in ("needs", "answer")
        ):
            return call.func.attr, [a.value for a in call.args if isinstance(a, ast.Constant)]
    return None


def _errors(cell) -> list[str]:
    return [f"{o.ename}: {o.evalue}" for o in cell.outputs if o.output_type == "error"]


def _stdout(cell) -> str:
    return "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream")


def _images(cell) -> int:
    return sum(1 for o in cell.outputs if "image/png" in o.get("data", {}))


def _run_student_version(lesson: str, folder: str) -> str:
    """The student version of ``lesson`` executed in ``folder``, as JSON."""
    path = Path(folder) / f"{lesson}.ipynb"
    shutil.copy(Course().student(lesson), path)
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(
        nb,
        timeout=600,
        kernel_name="python3",
        allow_errors=True,
        resources={"metadata": {"path": folder}},
    )
    client.execute(env={**os.environ, **KERNEL_ENV})
    return nbformat.writes(nb)


@pytest.fixture(scope="module")
def every_executed(request, tmp_path_factory) -> dict[str, nbformat.NotebookNode]:
    """The lessons this run selected, executed two at a time (the test command has 2 cores)."""
    chosen = selected_params(request, "executed")
    context = multiprocessing.get_context("forkserver")
    with ProcessPoolExecutor(2, mp_context=context) as pool:
        futures = {
            lesson: pool.submit(_run_student_version, lesson, str(tmp_path_factory.mktemp(lesson)))
            for lesson in chosen
        }
        return {lesson: nbformat.reads(f.result(), as_version=4) for lesson, f in futures.items()}


@pytest.fixture(scope="module", params=Course().lessons())
def executed(request, every_executed):
    lesson = request.param
    return lesson, [c for c in every_executed[lesson].cells if c.cell_type == "code"]


def test_no_cell_but_a_test_cell_shows_an_error(executed):
    lesson, cells = executed
    errors = {i: _errors(c) for i, c in enumerate(cells) if _kind(c) != "test" and _errors(c)}
    assert not errors, f"{lesson}: errors outside the test cells: {errors}"


def test_every_test_cell_fails_with_not_implemented_yet(executed):
    lesson, cells = executed
    tests = [c for c in cells if _kind(c) == "test"]
    assert tests
    for cell in tests:
        errors = _errors(cell)
        grade_id = cell.metadata["nbgrader"]["grade_id"]
        assert len(errors) == 1, f"{lesson} {grade_id}: {errors}"
        assert "not implemented yet" in errors[0], f"{lesson} {grade_id}: {errors[0]}"


def test_a_cell_that_needs_an_unfinished_exercise_says_so_in_one_line(executed):
    lesson, cells = executed
    guarded = [(c, _guard(c)) for c in cells if _guard(c) is not None]
    kinds = {kind for _, (kind, _) in guarded}
    assert kinds == {"needs", "answer"}, f"{lesson}: guarded cells {kinds}"
    for cell, (_, names) in guarded:
        lines = [line for line in _stdout(cell).splitlines() if PAUSE in line]
        assert len(lines) == 1, f"{lesson}: {cell.source[:80]!r} printed {lines}"
        assert any(name in lines[0] for name in names), (
            f"{lesson}: {lines[0]!r} names none of {names}"
        )
        assert "not implemented yet" in lines[0] or "not answered yet" in lines[0], lines[0]
        assert _images(cell) == 0, f"{lesson}: a figure drawn from an unfinished exercise"


def test_cells_that_need_no_student_code_draw_their_figures(executed):
    lesson, cells = executed
    drawing = [
        c for c in cells if _kind(c) == "code" and _guard(c) is None and "plots." in c.source
    ]
    missing = [c.source.splitlines()[0] for c in drawing if _images(c) == 0]
    assert not missing, f"{lesson}: cells that draw nothing: {missing}"
