"""autograder.submissions: the three layouts, zips, student ids, bad input."""

import json
import zipfile

import pytest

from autograder.course import UsageError
from autograder.submissions import find_units, safe_student_id, unpack

LESSONS = ["01_backprop", "02_vanishing_gradients"]


def _touch(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"cells": []}))


def test_flat_layout_and_missing_lessons(tmp_path):
    _touch(tmp_path / "ann" / "01_backprop.ipynb")
    _touch(tmp_path / "bo" / "02_vanishing_gradients" / "02_vanishing_gradients.ipynb")
    (tmp_path / "bo" / "notes.txt").write_text("stray")
    units = {(u.student, u.lesson): u.path for u in find_units(tmp_path, LESSONS)}
    assert units[("ann", "01_backprop")].name == "01_backprop.ipynb"
    assert units[("ann", "02_vanishing_gradients")] is None
    assert units[("bo", "02_vanishing_gradients")] is not None
    assert len(units) == 4


def test_nbgrader_layout_and_wrapping_folder(tmp_path):
    _touch(tmp_path / "export" / "submitted" / "cy" / "01_backprop" / "01_backprop.ipynb")
    (units,) = [u for u in find_units(tmp_path / "export", LESSONS[:1])]
    assert units.student == "cy" and units.path is not None
    _touch(tmp_path / "wrap" / "course-2026" / "dee" / "01_backprop.ipynb")
    (unit,) = find_units(tmp_path / "wrap", LESSONS[:1])
    assert unit.student == "dee"


def test_student_ids_are_made_safe_and_collisions_refused(tmp_path):
    assert safe_student_id(" Ann Lee (42) ") == "Ann_Lee__42"
    _touch(tmp_path / "a b" / "01_backprop.ipynb")
    _touch(tmp_path / "a_b" / "01_backprop.ipynb")
    with pytest.raises(UsageError, match="give the same student id 'a_b'"):
        find_units(tmp_path, LESSONS[:1])


def test_students_filter_and_unknown_student(tmp_path):
    _touch(tmp_path / "ann" / "01_backprop.ipynb")
    _touch(tmp_path / "bo" / "01_backprop.ipynb")
    assert [u.student for u in find_units(tmp_path, LESSONS[:1], ["bo"])] == ["bo"]
    with pytest.raises(UsageError, match="no submissions from zed"):
        find_units(tmp_path, LESSONS[:1], ["zed"])


def test_zip_is_unpacked_safely(tmp_path):
    archive = tmp_path / "class.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("ann/01_backprop.ipynb", "{}")
        zf.writestr("../escape.txt", "outside")
    out = unpack(archive, tmp_path / "out")
    assert (out / "ann" / "01_backprop.ipynb").is_file()
    assert not (tmp_path / "escape.txt").exists()


def test_bad_inputs(tmp_path):
    with pytest.raises(UsageError, match="no such folder"):
        find_units(tmp_path / "nope", LESSONS)
    bad = tmp_path / "x.zip"
    bad.write_text("nope")
    with pytest.raises(UsageError, match="not a readable zip"):
        unpack(bad, tmp_path / "o")
    (tmp_path / "empty").mkdir()
    with pytest.raises(UsageError, match="no student folders"):
        find_units(tmp_path / "empty", LESSONS)
