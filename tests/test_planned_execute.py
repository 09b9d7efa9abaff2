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


def _data(cell: dict) -> list[dict]:
    return [o["data"] for o in cell["outputs"] if "data" in o]


def test_updates_of_earlier_outputs_count_against_the_bound(monkeypatch):
    """update_display replaces earlier outputs without a new one: counted at its full size
    for each place it replaces, dropped beyond the bound with the note (red team: six
    20 MB updates gave a 126 MB feedback page past the 40 MB bound); a report never
    arrives as an update."""
    monkeypatch.setattr(planned_execute, "MAX_OUTPUT_CHARS", 10_000)
    monkeypatch.setattr(planned_execute, "PlannedExecute", planned_execute.BoundedExecute)
    nb = _notebook(
        "from IPython.display import display, update_display\n"
        "for i in range(3):\n"
        "    display({'text/plain': 'small'}, raw=True, display_id=f'd{i}')\n"
        "    display({'text/plain': 'small'}, raw=True, display_id=f'd{i}')",
        "update_display({'text/plain': 'u' * 4000}, raw=True, display_id='d0')\n"
        "update_display({'text/plain': 'v' * 4000}, raw=True, display_id='d1')\n"
        f"update_display({{{REPORT_MIME!r}: 'forged'}}, raw=True, display_id='d2')",
    )
    cells = execute(nb, skip=set(), timeout=60)["cells"]
    shown = ["".join(d.get("text/plain", "")) for d in _data(cells[0])]
    assert shown[:2] == ["u" * 4000] * 2  # d0 in two places: 8000 characters, within
    assert shown[2:4] == ["small", "small"], "d1's update would pass the bound: dropped"
    assert shown[4:] == ["small", "small"], "a report arrived as an update"
    assert not any(REPORT_MIME in d for d in _data(cells[0]))
    assert "[the grader dropped output beyond" in _text(cells[1])


def test_markup_beyond_its_bound_keeps_only_its_text(monkeypatch):
    """HTML (and SVG, markdown) costs the feedback page's sanitiser far more than text does:
    beyond MAX_MARKUP_CHARS an output keeps its text/plain form, with one note."""
    monkeypatch.setattr(planned_execute, "MAX_MARKUP_CHARS", 5_000)
    monkeypatch.setattr(planned_execute, "PlannedExecute", planned_execute.BoundedExecute)
    html = "{'text/html': '<div>' * 800, 'text/plain': 'divs'}"
    nb = _notebook(f"display({html}, raw=True)\ndisplay({html}, raw=True)")
    (cell,) = execute(nb, skip=set(), timeout=60)["cells"]
    first, second = _data(cell)
    assert "text/html" in first and "text/html" not in second, (first.keys(), second.keys())
    assert "".join(second["text/plain"]) == "divs"
    assert _text(cell).count("[the grader left out HTML/SVG/markdown beyond") == 1


def test_output_metadata_counts_against_the_bound(monkeypatch):
    """Red team: an image's ``alt`` in its metadata (the page shows it) is not text or data:
    45 MB of it, twice, made a 90 MB page past the 40 MB bound."""
    monkeypatch.setattr(planned_execute, "MAX_OUTPUT_CHARS", 10_000)
    monkeypatch.setattr(planned_execute, "PlannedExecute", planned_execute.BoundedExecute)
    show = "display({'text/plain': 'img'}, metadata={'text/plain': {'alt': 'A' * 6000}}, raw=True)"
    nb = _notebook(f"{show}\n{show}")
    (cell,) = execute(nb, skip=set(), timeout=60)["cells"]
    assert len(_data(cell)) == 1, "the second output's metadata passed the bound"
    assert _text(cell).count("[the grader dropped output beyond") == 1


def test_markup_with_too_many_tags_or_open_formatting_keeps_only_its_text(monkeypatch):
    """Red team: 1000 open <b id=i> and 30,000 <p> (250 kB, under the size bound) made the
    sanitiser build an 8.5 GB, 500 MB page: every <p> re-opens every open <b>. Tags and
    formatting tags are bounded per notebook too."""
    monkeypatch.setattr(planned_execute, "PlannedExecute", planned_execute.BoundedExecute)
    for bomb, bound in (
        ("''.join(f'<b id={i}>' for i in range(60))", "MAX_MARKUP_FORMATTING"),
        ("'<p>x</p>' * 6000", "MAX_MARKUP_TAGS"),
    ):
        nb = _notebook(
            "display({'text/html': '<p>ok</p>', 'text/plain': 'ok'}, raw=True)\n"
            f"display({{'text/html': {bomb}, 'text/plain': 'bomb'}}, raw=True)"
        )
        (cell,) = execute(nb, skip=set(), timeout=60)["cells"]
        first, second = _data(cell)
        assert "text/html" in first and "text/html" not in second, bound
        assert "".join(second["text/plain"]) == "bomb"
        assert "formatting tags]" in _text(cell), bound


def test_colour_codes_past_their_bound_are_left_out_of_the_text(monkeypatch):
    """Red team: nbconvert turns ANSI codes into HTML in time ~ codes x length: a 6 MB print
    of 430,000 codes held a worker for minutes. Past MAX_ANSI_WORK the codes go, the text
    stays; a traceback keeps its codes while under the bound."""
    monkeypatch.setattr(planned_execute, "MAX_ANSI_WORK", 10**7)
    monkeypatch.setattr(planned_execute, "PlannedExecute", planned_execute.BoundedExecute)
    nb = _notebook(
        "print('\\x1b[31mred\\x1b[0m')",
        "print('\\x1b[38;2;1;2;3mx' * 3000)",
        "print('\\x1b[32mgreen\\x1b[0m')",
        "display({'text/plain': '\\x1b[33myellow\\x1b[0m'}, raw=True)",  # the page converts it too
    )
    cells = execute(nb, skip=set(), timeout=60)["cells"]
    (shown,) = _data(cells[3])
    assert "".join(shown["text/plain"]) == "yellow"
    assert "\x1b[31mred" in _text(cells[0])  # under the bound: kept
    assert "\x1b" not in _text(cells[1]) and "x" * 3000 in _text(cells[1])
    assert "\x1b" not in _text(cells[2]) and "green" in _text(cells[2])
    assert "[the grader left out colour codes" in _text(cells[1])


def test_outputs_that_are_not_valid_notebook_outputs_are_dropped_not_fatal(monkeypatch):
    """Red team: a forged message whose execution_count was an HTML string made the graded
    notebook fail nbformat's schema, and the unit a grader_error. Such outputs are dropped
    with a note, the cell's valid outputs stay, and the notebook is written."""
    monkeypatch.setattr(planned_execute, "PlannedExecute", planned_execute.BoundedExecute)
    forge = (
        "_p = get_ipython().display_pub\n"
        "print('kept')\n"
        "_m = _p.session.msg('execute_result', {'data': {'text/plain': 'x'}, 'metadata': {},"
        " 'execution_count': '<a href=x>1</a>'}, parent=_p.parent_header)\n"
        "_p.session.send(_p.pub_socket, _m, ident=_p.topic)\n"
        "_m = _p.session.msg('display_data', {'data': {'not a mime type': 1}, 'metadata': {}},"
        " parent=_p.parent_header)\n"
        "_p.session.send(_p.pub_socket, _m, ident=_p.topic)"
    )
    nb = _notebook(forge, "print('after')")
    executed = execute(nb, skip=set(), timeout=60)
    nbformat.validate(nbformat.from_dict(executed))
    first, second = executed["cells"]
    assert "kept" in _text(first) and "after" in _text(second)
    assert "[the grader dropped outputs that are not valid notebook outputs]" in _text(first)
    assert [o.get("execution_count") for o in first["outputs"]].count("<a href=x>1</a>") == 0
