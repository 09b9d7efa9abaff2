"""autograder.lint: a broken master is reported by notebook and cell."""

import json

import pytest

from autograder.lint import MasterError, check_master, master_problems


def _edit(course, change):
    path = course.master("fixture_sum")
    nb = json.loads(path.read_text())
    change(nb["cells"])
    path.write_text(json.dumps(nb))
    return path


def _cell(cells, grade_id):
    return next(c for c in cells if c["metadata"].get("nbgrader", {}).get("grade_id") == grade_id)


def test_clean_master_has_no_problems(fixture_course):
    assert master_problems(fixture_course.master("fixture_sum")) == []


def test_duplicate_grade_id_named(fixture_course):
    def dup(cells):
        _cell(cells, "test_answer_sqrt")["metadata"]["nbgrader"]["grade_id"] = "test_add"

    path = _edit(fixture_course, dup)
    with pytest.raises(MasterError, match="grade id 'test_add' is used by 2 cells"):
        check_master(path)


def test_solution_region_outside_solution_cell_named(fixture_course):
    def stray(cells):
        cells[1]["source"] = "### BEGIN SOLUTION\nx = 1\n### END SOLUTION"

    path = _edit(fixture_course, stray)
    (problem,) = master_problems(path)
    assert "fixture_sum.ipynb: cell 1" in problem and "outside a solution cell" in problem


def test_outputs_named(fixture_course):
    def outputs(cells):
        cells[1]["outputs"] = [{"output_type": "stream", "name": "stdout", "text": "hi"}]

    (problem,) = master_problems(_edit(fixture_course, outputs))
    assert "cell 1" in problem and "has outputs" in problem


def test_unbalanced_hidden_region_named(fixture_course):
    def unbalanced(cells):
        cell = _cell(cells, "test_add")
        cell["source"] = cell["source"].replace("### END HIDDEN TESTS", "")

    (problem,) = master_problems(_edit(fixture_course, unbalanced))
    assert "(test_add)" in problem and "### BEGIN HIDDEN TESTS" in problem


def test_not_json_is_reported(fixture_course):
    path = fixture_course.master("fixture_sum")
    path.write_text("{ not json")
    (problem,) = master_problems(path)
    assert "not a readable notebook" in problem


@pytest.mark.parametrize(
    "hidden",
    [
        "",  # no hidden region at all
        "### BEGIN HIDDEN TESTS\nassert add(2, 2) == 4\n### END HIDDEN TESTS",  # judged in-kernel
        "### BEGIN HIDDEN TESTS\nfrom autograder.kernel.collect import examples as hidden\n\n"
        "hidden.no_such_check(add)\n### END HIDDEN TESTS",
    ],
    ids=["none", "plain assert", "unknown check"],
)
def test_a_test_cell_the_judge_cannot_grade_is_named(fixture_course, hidden):
    def strip(cells):
        cell = _cell(cells, "test_add")
        cell["source"] = cell["source"].split("### BEGIN HIDDEN TESTS")[0] + hidden

    problems = master_problems(_edit(fixture_course, strip))
    assert any("(test_add)" in p and "must call a check" in p for p in problems), problems
