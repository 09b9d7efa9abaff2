"""autograder release: masters become student versions through nbgrader."""

import json

from autograder.cli import main
from autograder.release import release


def _sources(path):
    return [
        "".join(c["source"]) if isinstance(c["source"], list) else c["source"]
        for c in json.loads(path.read_text())["cells"]
    ]


def test_release_strips_solutions_and_hidden_tests(fixture_course):
    student = release(fixture_course, "fixture_sum")
    text = "\n".join(_sources(student))
    assert "raise NotImplementedError()" in text
    assert "return a + b" not in text, "the solution leaked into the student version"
    assert "add(-1, 1)" not in text, "a hidden test leaked into the student version"
    assert 'checks.expect_close(add(1, 2), 3, "add(1, 2)")' in text, "the visible test is missing"


def test_release_is_deterministic(fixture_course):
    first = release(fixture_course, "fixture_sum").read_bytes()
    second = release(fixture_course, "fixture_sum").read_bytes()
    assert first == second


def test_cli_release_writes_the_notebook(fixture_course, capsys):
    args = ["--course", str(fixture_course.root), "--notebooks", str(fixture_course.notebooks)]
    assert main(["release", *args]) == 0
    assert fixture_course.student("fixture_sum").is_file()
    assert "fixture_sum: released" in capsys.readouterr().out


def test_cli_release_unknown_lesson_exits_2(fixture_course, capsys):
    assert main(["release", "02_nope", "--course", str(fixture_course.root)]) == 2
    err = capsys.readouterr().err
    assert "unknown lesson '02_nope'" in err and "fixture_sum" in err


def test_cli_release_broken_master_names_the_cell(fixture_course, capsys):
    path = fixture_course.master("fixture_sum")
    nb = json.loads(path.read_text())
    nb["cells"][1]["source"] = "### BEGIN SOLUTION\n### END SOLUTION"
    path.write_text(json.dumps(nb))
    args = ["--course", str(fixture_course.root), "--notebooks", str(fixture_course.notebooks)]
    assert main(["release", *args]) == 1
    err = capsys.readouterr().err
    assert "NOT released" in err and "fixture_sum.ipynb: cell 1" in err


def test_cli_missing_course_folder_exits_2(tmp_path, capsys):
    assert main(["release", "--course", str(tmp_path / "nowhere")]) == 2
    assert "no source/ folder" in capsys.readouterr().err
