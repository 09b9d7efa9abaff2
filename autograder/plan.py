"""Grading plans: the cells of a lesson that grading may skip.

Schema: a code cell of the MASTER whose ``metadata.tags`` holds ``skip-when-grading``
(``PLAN_TAG``) is an experiment or a figure that no graded cell needs. Such a cell is

- not run by ``autograder grade``: the cell is matched in the graded notebook by its
  position and its source, both taken from the master (the submission's metadata is
  never read: a student cannot mark their own cells), and its feedback says it was not
  run for grading (``NOT_RUN``);
- not run by ``autograder validate``, which proves the plan safe (``autograder.validate``);
- not run by the student's **Validate** button, whose nbgrader configuration
  (``STUDENT_NBGRADER_CONFIG``) sets nbclient's ``skip_cells_with_tag`` to the same tag.

Students still run every cell: JupyterLab ignores the tag. A cell without the tag is run
(the safe default), and so is a tagged cell whose source in the graded notebook differs
from the master's. Only free code cells may be tagged: never the set-up cell (the first
code cell), a solution or a test cell, nor any cell with nbgrader metadata.

The static part of the proof is ``needed``: a tagged cell that binds a global name a
later cell that runs reads (or a function of one) runs all the same, so that no cell that
runs sees another value, or none; ``plan_notes`` says which and why (the student's Validate
button skips by the tag alone: tag such cells, or untag them). The dynamic part is
``autograder validate`` (``autograder.plan_proof``); that every wrong implementation in
tests/ earns the same with and without the plan is tests/test_plan.py's slow part.
"""

from __future__ import annotations

import builtins
import re
import symtable
from collections.abc import Iterable

PLAN_TAG = "skip-when-grading"
NOT_RUN = (
    "[not run for grading: this cell is an experiment or a figure that no graded cell "
    "needs (the lesson's grading plan); run it yourself in the lesson]\n"
)
#: The student's nbgrader configuration (the Validate button): skip the plan's cells.
STUDENT_NBGRADER_CONFIG = f"""\
# Gradient Flow: the Validate button runs the set-up, your answers and the checks, and
# skips the experiments and figures that no check needs (cells tagged {PLAN_TAG!r}).
c = get_config()  # noqa: F821
c.Execute.skip_cells_with_tag = {PLAN_TAG!r}
"""

_MAGIC = re.compile(r"^\s*[%!].*$", re.MULTILINE)
_BUILTINS = frozenset(dir(builtins))


def _source(cell: dict) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else str(src)


def _tags(cell: dict) -> list:
    tags = cell.get("metadata", {}).get("tags", [])
    return tags if isinstance(tags, list) else []


def _is_free_code(cell: dict) -> bool:
    """A code cell nbgrader knows nothing about (no solution, test or locked cell)."""
    return cell.get("cell_type") == "code" and not cell.get("metadata", {}).get("nbgrader")


def tagged(nb: dict) -> list[int]:
    """Indices of the cells tagged ``PLAN_TAG``, whatever they are."""
    return [i for i, c in enumerate(nb.get("cells", [])) if PLAN_TAG in _tags(c)]


def _setup_index(nb: dict) -> int | None:
    return next((i for i, c in enumerate(nb["cells"]) if c.get("cell_type") == "code"), None)


def _tagged_free(master: dict) -> set[int]:
    setup = _setup_index(master)
    cells = master["cells"]
    return {i for i in tagged(master) if i != setup and _is_free_code(cells[i])}


def skipped(master: dict) -> set[int]:
    """Indices of the master's cells that grading skips: its tagged free code cells, less
    those a cell that runs needs (``needed``): a cell added later without the tag that
    reads what a tagged cell defines makes that cell run too."""
    return _tagged_free(master) - set(needed(master))


def graded_skips(master: dict, graded: dict) -> set[int]:
    """Indices of ``graded``'s cells to skip: the master's plan, where the graded notebook
    holds the master's very cell at the same position (anything else runs), less the cells
    that what runs in ``graded`` needs: a student's answer may read a name that an
    experiment binds, where the master's solution does not (``needed``, on the cells that
    will run: the student's own included)."""
    cells = graded.get("cells", [])
    candidates = {
        i
        for i in skipped(master)
        if i < len(cells) and _source(cells[i]) == _source(master["cells"][i])
    }
    return candidates - set(_needed(cells, candidates))


def _scopes(table: symtable.SymbolTable) -> Iterable[symtable.SymbolTable]:
    yield table
    for child in table.get_children():
        yield from _scopes(child)


def names_bound(source: str) -> set[str]:
    """Global names a cell binds (assigns, imports, defines) at its top level."""
    top = symtable.symtable(_MAGIC.sub("", source), "<cell>", "exec")
    return {
        s.get_name()
        for s in top.get_symbols()
        if s.is_assigned() or s.is_imported() or s.is_namespace()
    }


def _reads(source: str) -> tuple[set[str], set[str]]:
    """(global names a cell reads at its top level, those its functions and classes read
    as globals when they run), less what the cell binds itself and builtins."""
    top = symtable.symtable(_MAGIC.sub("", source), "<cell>", "exec")
    own = names_bound(source) | _BUILTINS
    at_top = {s.get_name() for s in top.get_symbols() if s.is_referenced()}
    inside = {
        s.get_name()
        for scope in _scopes(top)
        if scope is not top
        for s in scope.get_symbols()
        if s.is_global() and s.is_referenced()
    }
    return at_top - own, inside - own


def names_read(source: str) -> set[str]:
    """Global names a cell reads that it does not bind itself: at its top level, and as
    globals inside its functions and classes (read when they are called)."""
    at_top, inside = _reads(source)
    return at_top | inside


def plan_problems(master: dict) -> list[str]:
    """What is wrong with the master's plan: a tag on a cell that must run (the set-up
    cell, an nbgrader cell, markdown). Empty when it is well formed."""
    cells = master.get("cells", [])
    setup = _setup_index(master)
    problems = []
    for i in tagged(master):
        if i == setup:
            problems.append(f"cell {i}: the set-up cell is tagged {PLAN_TAG!r}: it must run")
        elif not _is_free_code(cells[i]):
            what = "a markdown cell" if cells[i].get("cell_type") != "code" else "an nbgrader cell"
            problems.append(f"cell {i}: {what} is tagged {PLAN_TAG!r}: only free code cells may be")
    return problems


def needed(master: dict) -> dict[int, str]:
    """{tagged cell: why it runs all the same}: it binds a global name that a cell that runs
    reads later, or that a function of one reads (it may be called after), or it cannot be
    analysed. Computed until nothing changes (a cell made to run may need others)."""
    return _needed(master["cells"], _tagged_free(master))


def _needed(cells: list[dict], tagged_: set[int]) -> dict[int, str]:
    """``needed`` for ``cells`` whose cells at ``tagged_`` would be skipped."""
    why: dict[int, str] = {}
    while True:
        running = {
            k
            for k, c in enumerate(cells)
            if c.get("cell_type") == "code" and (k not in tagged_ or k in why)
        }
        reads: dict[int, tuple[set[str], set[str]]] = {}
        for k in running:
            try:
                reads[k] = _reads(_source(cells[k]))
            except SyntaxError:
                continue  # a stub or a student's cell that does not parse reads nothing
        found = {}
        for i in sorted(tagged_ - set(why)):
            try:
                bound = names_bound(_source(cells[i]))
            except SyntaxError as exc:
                found[i] = f"it cannot be analysed ({exc.msg})"
                continue
            for k, (at_top, inside) in sorted(reads.items()):
                clash = bound & (inside | (at_top if k > i else set()))
                if clash:
                    found[i] = f"cell {k}, which runs, reads {', '.join(sorted(clash))}"
                    break
        if not found:
            return why
        why.update(found)


def plan_notes(master: dict) -> list[str]:
    """One line per tagged cell that runs all the same (``needed``), naming the reason."""
    out = []
    for i, reason in sorted(needed(master).items()):
        first = _source(master["cells"][i]).strip().splitlines()[0][:60]
        out.append(f"cell {i} ({first!r}) is tagged but runs: {reason}")
    return out


def mark(master: dict, indices: Iterable[int]) -> dict:
    """Tag the cells at ``indices`` ``PLAN_TAG`` (metadata only; sources untouched)."""
    for i in indices:
        meta = master["cells"][i].setdefault("metadata", {})
        tags = meta.setdefault("tags", [])
        if PLAN_TAG not in tags:
            tags.append(PLAN_TAG)
    return master


def free_cells(master: dict) -> list[int]:
    """Every free code cell after the set-up cell: what a plan may skip at most."""
    setup = _setup_index(master)
    return [i for i, c in enumerate(master["cells"]) if i != setup and _is_free_code(c)]
