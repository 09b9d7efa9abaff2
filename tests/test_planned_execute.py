"""autograder.planned_execute: the plan's cells are not run, the phases are timed, and a
kernel's outputs are bounded (run through ``autograder.validate.execute``, in the jail)."""

import nbformat

from autograder import planned_execute
from autograder.plan import NOT_RUN
from autograder.protocol import REPORT_MIME
from autograder.validate import execute


def _notebook(*sources: str) -> dict:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in sources])
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    return nb


def _text(cell: dict) -> str:
    texts = [o.get("text", "") for o in cell["outputs"] if o["output_type"] == "stream"]
    return "".join("".join(t) for t in texts)  # as written to disk: a list of lines


def test_skipped_cells_say_so_and_the_others_run_with_their_phases_timed():
    nb = _notebook("x = 1", "x = 2\nprint('experiment')", "print(x)")
    executed = execute(nb, skip={1}, timeout=60)
    cells = executed["cells"]
    assert _text(cells[1]) == NOT_RUN and cells[1]["execution_count"] is None
    assert _text(cells[2]) == "1\n"  # the skipped cell did not run
    phases = planned_execute.PlannedExecute.phases
    assert set(phases) == {"kernel_start", "setup_cell"}, phases
    assert 0 < phases["kernel_start"] < planned_execute.PlannedExecute.seconds


def test_outputs_beyond_the_bound_are_dropped_once_with_a_note(monkeypatch):
    monkeypatch.setattr(planned_execute, "MAX_OUTPUT_CHARS", 10_000)
    monkeypatch.setattr(planned_execute, "PlannedExecute", planned_execute.BoundedExecute)
    nb = _notebook("for _ in range(30):\n    print('y' * 999)", "print('after')")
    cells = execute(nb, skip=set(), timeout=60)["cells"]
    text = _text(cells[0]) + _text(cells[1])
    assert text.count("y" * 999) <= 10, "output beyond the bound was kept"
    assert text.count("[the grader dropped output beyond") == 1
    assert "after" not in text  # still beyond the bound: dropped too


def test_a_third_report_in_a_cell_is_not_kept_and_oversized_ones_are_marked(monkeypatch):
    monkeypatch.setattr(planned_execute, "MAX_REPORTS_CHARS", 5_000)
    monkeypatch.setattr(planned_execute, "PlannedExecute", planned_execute.BoundedExecute)
    show = f"display({{{REPORT_MIME!r}: 'r'}}, raw=True)"
    big = f"display({{{REPORT_MIME!r}: 'z' * 9000}}, raw=True)"
    nb = _notebook("\n".join([show] * 4), big)
    cells = execute(nb, skip=set(), timeout=60)["cells"]
    reports = [
        [o["data"][REPORT_MIME] for o in c["outputs"] if REPORT_MIME in o.get("data", {})]
        for c in cells
    ]
    assert reports[0] == ["r", "r"], reports[0]  # two already make the cell tampered
    assert reports[1] == ["too large"], reports[1]
