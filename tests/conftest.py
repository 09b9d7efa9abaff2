"""Shared fixtures: the repository, the real course, and a scratch fixture course."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import matplotlib
import pytest

matplotlib.use("Agg")

REPO = Path(__file__).resolve().parent.parent
FIXTURE_COURSE = REPO / "tests" / "fixtures" / "course"
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
#: the pytest marker of each lesson (pyproject.toml names them)
LESSON_MARKERS = {
    "01_backprop": pytest.mark.backprop,
    "02_vanishing_gradients": pytest.mark.vanishing,
    "03_exploding_gradients": pytest.mark.exploding,
    "04_dead_relu": pytest.mark.dead_relu,
    "05_dropout": pytest.mark.dropout,
    "06_diagnosis": pytest.mark.diagnosis,
}


@pytest.fixture
def fixture_course(tmp_path: Path):
    """A writable copy of the one-assignment fixture course, with its notebooks folder."""
    from autograder.course import Course

    root = tmp_path / "course"
    shutil.copytree(FIXTURE_COURSE, root)
    return Course(root=root, notebooks=tmp_path / "notebooks")


def with_answers(student_version: dict, answers: dict[str, str]) -> dict:
    """A copy of a student notebook with the answer cells ``answers`` (grade id: source)."""
    nb = json.loads(json.dumps(student_version))
    for cell in nb["cells"]:
        meta = cell["metadata"].get("nbgrader", {})
        if meta.get("solution") and meta.get("grade_id") in answers:
            cell["source"] = answers[meta["grade_id"]]
    return nb


def selected_params(request: pytest.FixtureRequest, name: str) -> list:
    """The values of parameter ``name`` among the tests of the requesting module that this
    run selected (``-k``, ``-m``), each once, in order: what a module fixture that prepares
    every lesson at once (two at a time) has to prepare."""
    values: list = []
    for item in request.session.items:
        callspec = getattr(item, "callspec", None)
        if item.module is request.module and callspec is not None and name in callspec.params:
            if callspec.params[name] not in values:
                values.append(callspec.params[name])
    return values
