"""Every lesson's header and the README's lesson table state the points the test cells hold,
and a lesson that uses PyTorch names it among its prerequisites."""

from __future__ import annotations

import re

import nbformat
import pytest

from autograder.course import Course
from tests.claims.executed import REPO, header_points

LESSONS = Course().lessons()


@pytest.mark.parametrize("lesson", LESSONS)
def test_header_points(lesson):
    stated, total = header_points(lesson)
    assert stated == total, (
        f"{lesson}: the header says {stated} points, the test cells hold {total}"
    )


@pytest.mark.parametrize("lesson", LESSONS)
def test_readme_points(lesson):
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    row = re.search(rf"^\|[^|]*\| \[{re.escape(lesson)}\].*$", readme, re.MULTILINE)
    assert row, f"README.md has no row for {lesson}"
    points = int(row.group(0).split("|")[4])
    _, total = header_points(lesson)
    assert points == total, f"README.md gives {lesson} {points} points, its test cells hold {total}"


@pytest.mark.parametrize("lesson", LESSONS)
def test_pytorch_is_a_named_prerequisite(lesson):
    nb = nbformat.read(Course().master(lesson), as_version=4)
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    prerequisites = re.search(r"\*\*Prerequisites\*\*:(.*)", nb.cells[0].source)
    assert prerequisites, f"{lesson}: the header names no prerequisites"
    if re.search(r"^import torch|^from torch", code, re.MULTILINE):
        assert "PyTorch" in prerequisites.group(1), f"{lesson} uses PyTorch but does not say so"


@pytest.mark.parametrize("lesson", LESSONS)
def test_earlier_lessons_are_linked_where_referred_to(lesson):
    """'Lesson 2' (or 'Lessons 1 and 2') in a later lesson's text is a link to that lesson."""
    nb = nbformat.read(Course().student(lesson), as_version=4)
    me = int(lesson[:2])
    for cell in nb.cells:
        if cell.cell_type != "markdown":
            continue
        for line in cell.source.splitlines():
            if line.startswith("# Lesson"):
                continue
            bare = re.sub(r"\[[^\]]*\]\([^)]*\)", "", line)  # the links taken out
            for match in re.finditer(
                r"\b[Ll]essons? ((?:\d(?: \([^)]*\))?(?: and |–|, )?)+)", bare
            ):
                earlier = [int(n) for n in re.findall(r"\d", match.group(1)) if int(n) < me]
                assert not earlier, f"{lesson}: unlinked reference {match.group(0)!r} in {line!r}"
    links = re.findall(r"\]\((0\d_[a-z_]+)\.ipynb\)", "\n".join(c.source for c in nb.cells))
    assert all(target in LESSONS for target in links), links
