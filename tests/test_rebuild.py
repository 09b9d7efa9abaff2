"""autograder.rebuild: the graded notebook is the released one with the answers filled in."""

import json

import pytest

from autograder.course import Course
from autograder.integrity import CHECK_CELL
from autograder.rebuild import InvalidSubmission, hidden_modules, load_submission, rebuild

COURSE = Course()


@pytest.fixture(scope="module")
def lesson():
    master = json.loads(COURSE.master("03_exploding_gradients").read_text())
    released = json.loads(COURSE.student("03_exploding_gradients").read_text())
    return master, released


def _text(source):
    return "".join(source) if isinstance(source, list) else source


def _answer_cells(nb):
    return {
        c["metadata"]["nbgrader"]["grade_id"]: _text(c["source"])
        for c in nb["cells"]
        if c.get("metadata", {}).get("nbgrader", {}).get("solution")
    }


def test_answers_are_filled_into_the_released_notebook(lesson):
    master, released = lesson
    graded, notes = rebuild(released, master, master)
    assert _answer_cells(graded) == {k: v for k, v in _answer_cells(master).items()}
    tests = [c for c in graded.cells if c.metadata.get("nbgrader", {}).get("grade")]
    released_tests = [
        c for c in released["cells"] if c["metadata"].get("nbgrader", {}).get("grade")
    ]
    assert [_text(c.source) for c in tests] == [_text(c["source"]) for c in released_tests]
    checks = [c for c in graded.cells if _text(c.source) == CHECK_CELL]
    assert len(checks) == len(tests)
    assert "autograder.checks.exploding" in _text(graded.cells[0].source)
    assert notes == []


def test_edits_outside_answers_are_ignored_and_noted(lesson):
    master, released = lesson
    sub = json.loads(json.dumps(master))
    sub["cells"] = (
        list(reversed(sub["cells"]))[:-3]
        + [{"cell_type": "code", "source": "x", "metadata": {}, "outputs": []}] * 40
    )
    graded, notes = rebuild(released, sub, master)
    assert len(graded.cells) == len(released["cells"]) + 1 + len(
        [c for c in released["cells"] if c["metadata"].get("nbgrader", {}).get("grade")]
    )
    assert any("were not run" in n for n in notes)


def test_hidden_modules_come_from_the_master(lesson):
    master, released = lesson
    assert hidden_modules(master) == ["autograder.checks.exploding"]
    assert hidden_modules(released) == []


@pytest.mark.parametrize(
    ("content", "why"),
    [
        (b"", "empty"),
        (b"{nope", "not valid JSON"),
        (b"[1, 2]", "not a Jupyter notebook"),
        (b"\xff\xfe\x00", "not valid JSON"),
    ],
)
def test_unreadable_submissions(tmp_path, content, why):
    path = tmp_path / "x.ipynb"
    path.write_bytes(content)
    with pytest.raises(InvalidSubmission, match=why):
        load_submission(path)
