"""autograder.rebuild: the graded notebook is the released one with the answers filled in."""

import json
import os

import nbformat
import pytest
from hypothesis import given
from hypothesis import strategies as st

from autograder import notebook_file
from autograder.course import Course
from autograder.rebuild import (
    LOAD_NOTES,
    InvalidSubmission,
    answers_of,
    load_submission,
    rebuild,
)

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
    graded, notes = rebuild(released, master)
    assert _answer_cells(graded) == {k: v for k, v in _answer_cells(master).items()}
    tests = [c for c in graded.cells if c.metadata.get("nbgrader", {}).get("grade")]
    released_tests = [
        c for c in released["cells"] if c["metadata"].get("nbgrader", {}).get("grade")
    ]
    assert [_text(c.source) for c in tests] == [_text(c["source"]) for c in released_tests]
    assert len(graded.cells) == len(released["cells"])  # nothing inserted: the judge decides
    assert notes == []


def test_edits_outside_answers_are_ignored_and_noted(lesson):
    master, released = lesson
    sub = json.loads(json.dumps(master))
    sub["cells"] = (
        list(reversed(sub["cells"]))[:-3]
        + [{"cell_type": "code", "source": "x", "metadata": {}, "outputs": []}] * 40
    )
    graded, notes = rebuild(released, sub)
    assert len(graded.cells) == len(released["cells"])
    assert any("were not run" in n for n in notes)


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


# -- bad input: load_submission and answers_of never crash, and say why --------------------


def _answer(source, grade_id="a"):
    meta = {"nbgrader": {"solution": True, "grade_id": grade_id}}
    return {"cell_type": "code", "source": source, "metadata": meta, "outputs": []}


def _load(tmp_path, content: bytes | str):
    path = tmp_path / "x.ipynb"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return load_submission(path)


@pytest.mark.parametrize(
    "content",
    [
        "[" * 200_000 + "]" * 200_000,
        '{"cells": ' + "[" * 200_000 + "]" * 200_000 + "}",
        '{"cells": [], "metadata": ' + '{"a": ' * 200_000 + "1" + "}" * 200_001,
        '{"cells": ' + "[" * 200_000,  # deep and not even closed
    ],
)
def test_json_nested_too_deeply_is_invalid(tmp_path, content):
    with pytest.raises(InvalidSubmission, match="nested too deeply"):
        _load(tmp_path, content)


@pytest.mark.parametrize(
    "escaped", ["\\ud800", "\\udfff", "x\\udc80y", "\\ude00\\ud83d", "\\ud83d\\ud83d"]
)
def test_lone_surrogates_become_replacement_characters(tmp_path, escaped, lesson):
    source = f'"def f():\\n    return \\"{escaped}\\""'
    sub = _load(tmp_path, f'{{"cells": [{json.dumps(_answer("?"))[:-1]}, "source": {source}}}]}}')
    answers, notes = answers_of(sub)
    answers["a"].encode("utf-8")  # writable as UTF-8 now
    assert "\ufffd" in answers["a"]
    assert any("surrogate" in n and "U+FFFD" in n for n in notes)
    master, released = lesson
    grade_id = next(iter(_answer_cells(released)))
    sub["cells"][0]["metadata"]["nbgrader"]["grade_id"] = grade_id
    graded, _ = rebuild(released, sub)
    nbformat.writes(graded).encode("utf-8")  # what the unit writes to disk


def test_an_escaped_surrogate_pair_is_a_character_not_a_problem(tmp_path):
    cell = json.dumps(_answer("\U0001f600"), ensure_ascii=True)  # "\ud83d\ude00" in the file
    sub = _load(tmp_path, f'{{"cells": [{cell}]}}')
    answers, notes = answers_of(sub)
    assert answers == {"a": "\U0001f600"} and notes == []


@pytest.mark.parametrize(
    "source", [[1, 2, 3], ["ok", 1], {"a": "b"}, None, 42, 1.5, True, [["x"]], [None]]
)
def test_sources_that_are_not_text_are_unanswered_with_a_note(source, lesson):
    answers, notes = answers_of({"cells": [_answer(source), _answer("y = 1", "b")]})
    assert answers == {"b": "y = 1"}
    assert any("'a'" in n and "not text" in n for n in notes)
    master, released = lesson
    grade_id = next(iter(_answer_cells(released)))
    graded, _ = rebuild(released, {"cells": [_answer(source, grade_id)]})
    assert _answer_cells(graded)[grade_id] == _answer_cells(released)[grade_id]


def test_many_odd_cells_give_a_few_notes():
    cells = [_answer("x", "dup")] * 1000 + [_answer(7, f"bad{i}") for i in range(1000)]
    answers, notes = answers_of({"cells": cells})
    assert answers == {"dup": "x"} and len(notes) == 2
    assert "and 990 more" in notes[1] and all(len(n) < 1500 for n in notes)


ANY_TEXT = st.text(st.characters(blacklist_categories=()))  # lone surrogates too
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | ANY_TEXT,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(
                ["source", "metadata", "nbgrader", "solution", "grade_id", "cells", "x"]
            ),
            children,
            max_size=4,
        )
    ),
    max_leaves=30,
)


@given(st.lists(JSON | st.builds(_answer, JSON, st.text() | JSON), max_size=8))
def test_answers_of_never_raises(cells):
    answers, notes = answers_of({"cells": cells})
    for grade_id, text in answers.items():
        assert isinstance(grade_id, str) and isinstance(text, str)
        text.encode("utf-8")
    assert all(isinstance(n, str) for n in notes)


def _v3(source="x = 1", grade_id="a"):
    cell = {
        "cell_type": "code",
        "input": source,
        "language": "python",
        "outputs": [],
        "metadata": {"nbgrader": {"solution": True, "grade_id": grade_id}},
    }
    return {
        "nbformat": 3,
        "nbformat_minor": 0,
        "metadata": {"name": ""},
        "worksheets": [{"cells": [cell], "metadata": {}}],
    }


def test_nbformat_3_is_converted_by_nbformat_and_noted(tmp_path):
    sub = _load(tmp_path, json.dumps(_v3()))
    answers, notes = answers_of(sub)
    assert answers == {"a": "x = 1"}
    assert any("nbformat 3" in n and "converted" in n for n in notes)


@pytest.mark.parametrize(
    "broken",
    [
        {"nbformat": 3, "worksheets": "not a list"},
        {"nbformat": 3, "worksheets": [{"cells": [42]}]},
        {"worksheets": []},
    ],
)
def test_nbformat_3_that_does_not_convert_is_invalid_and_says_nbformat(tmp_path, broken):
    with pytest.raises(InvalidSubmission, match="nbformat .* could not convert"):
        _load(tmp_path, json.dumps(broken))


def test_a_student_cannot_write_the_notes(tmp_path):
    sub = _load(tmp_path, json.dumps({"cells": [], LOAD_NOTES: ["full marks, says the grader"]}))
    assert answers_of(sub) == ({}, [])


def test_a_file_above_the_cap_is_refused_before_reading(tmp_path):
    path = tmp_path / "x.ipynb"
    with open(path, "wb") as f:
        f.truncate(100 * 2**20)  # sparse: reading it would take 100 MiB
    with pytest.raises(InvalidSubmission, match=r"100\.0 MiB; notebooks above 50 MiB"):
        load_submission(path)


def test_many_small_json_values_are_refused_within_a_memory_limit(tmp_path, monkeypatch):
    monkeypatch.setattr(notebook_file, "PARSE_IN_PROCESS_BYTES", 0)
    monkeypatch.setattr(notebook_file, "PARSE_BASE_BYTES", 48 * 2**20)
    monkeypatch.setattr(notebook_file, "PARSE_BYTES_PER_BYTE", 2)
    lists = b'{"cells": [' + b"[]," * 2**20 + b"[]]}"  # 3 MiB of empty lists: ~70 MB parsed
    with pytest.raises(InvalidSubmission, match=r"more JSON values than a notebook.* MiB"):
        _load(tmp_path, lists)
    text = json.dumps({"cells": [_answer("x" * 3 * 2**20)]})  # 3 MiB of text: fits
    assert answers_of(_load(tmp_path, text))[0]["a"] == "x" * 3 * 2**20


def test_links_and_special_files_are_refused(tmp_path):
    real = tmp_path / "real.ipynb"
    real.write_text(json.dumps({"cells": []}))
    (tmp_path / "link.ipynb").symlink_to(real)
    with pytest.raises(InvalidSubmission, match="symbolic link: not graded"):
        load_submission(tmp_path / "link.ipynb")
    os.mkfifo(tmp_path / "fifo.ipynb")
    with pytest.raises(InvalidSubmission, match="not a regular file"):
        load_submission(tmp_path / "fifo.ipynb")  # without blocking on the pipe
    with pytest.raises(InvalidSubmission, match="not a regular file"):
        load_submission(tmp_path)
    with pytest.raises(InvalidSubmission, match="cannot be read"):
        load_submission(tmp_path / "gone.ipynb")
