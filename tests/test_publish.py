"""autograder publish: the student repository holds what students need and no answer."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
import yaml

from autograder.cli import main
from autograder.course import Course
from autograder.publish import GRADER_ONLY, MARKERS, leaks, publish
from tests.conftest import REPO

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~ \[;]", requirement.strip(), maxsplit=1)[0].lower()


@pytest.fixture(scope="module")
def published(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("student") / "gradient-flow"
    assert main(["publish", str(out)]) == 0
    return out


def _files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


def test_no_master_solution_hidden_test_or_grader_code_anywhere(published):
    masters = {p.read_bytes() for p in Course().source.glob("*/*.ipynb")}
    assert masters, "no masters to compare against"
    for path in _files(published):
        name = path.relative_to(published).as_posix()
        data = path.read_bytes()
        assert "autograder" not in Path(name).parts, name
        for marker in (*MARKERS, b"### BEGIN SOLUTION", b"BEGIN HIDDEN TESTS"):
            assert marker not in data, (name, marker)
        assert data not in masters, f"{name} is a master"
        if name.endswith(".py"):
            assert not re.search(rb"^\s*(from|import)\s+autograder", data, re.M), name
    assert not (published / "autograder").exists()
    assert leaks(published) == []


def test_student_notebooks_are_byte_identical_to_the_released_ones(published):
    released = sorted(p.name for p in (REPO / "notebooks").glob("*.ipynb"))
    assert sorted(p.name for p in (published / "notebooks").iterdir()) == released
    for name in released:
        assert (published / "notebooks" / name).read_bytes() == (
            REPO / "notebooks" / name
        ).read_bytes(), name


def test_coursekit_is_copied_whole(published):
    ours = {p.relative_to(REPO).as_posix() for p in (REPO / "coursekit").glob("*.py")}
    theirs = {p.relative_to(published).as_posix() for p in (published / "coursekit").rglob("*")}
    assert ours <= theirs and not any("__pycache__" in t for t in theirs)


def test_pyproject_packages_only_coursekit_with_the_runtime_dependencies(published):
    student = tomllib.loads((published / "pyproject.toml").read_text())
    ours = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    found = student["tool"]["setuptools"]["packages"]["find"]["include"]
    assert found == ["coursekit", "coursekit.*"]  # its subpackages too: monitor, plots, diagnosis
    assert student["tool"]["setuptools"]["package-data"]["coursekit"] == ["glossary.json"]
    assert "scripts" not in student["project"] and "optional-dependencies" not in student["project"]
    assert student["project"]["license"] == "MIT"
    expected = [d for d in ours["dependencies"] if _name(d) not in GRADER_ONLY]
    assert student["project"]["dependencies"] == expected
    names = {_name(d) for d in expected}
    assert {"nbgrader", "jupyterlab", "torch"} <= names and not names & GRADER_ONLY


def test_environment_agrees_with_the_published_pyproject(published):
    env = yaml.safe_load((published / "environment.yml").read_text())
    deps = tomllib.loads((published / "pyproject.toml").read_text())["project"]["dependencies"]
    conda = {_name(d) for d in env["dependencies"] if isinstance(d, str)}
    wanted = {{"torch": "pytorch-cpu"}.get(_name(d), _name(d)) for d in deps}
    assert wanted <= conda and not conda & GRADER_ONLY
    assert env["channels"][0] == "conda-forge"


def test_setup_files_install_coursekit_and_jupyterlab_without_the_grader(published):
    makefile = (published / "Makefile").read_text()
    targets = set(re.findall(r"^([A-Za-z_][\w-]*):", makefile, re.M))
    assert targets == {"lab"}
    # make lab opens the lesson itself, as the course's own Makefile does
    assert "--LabApp.default_url=/lab/tree/notebooks/$(LESSON).ipynb" in makefile
    assert "--ServerApp.root_dir=." in makefile
    setup = (published / "scripts" / "setup.sh").read_text()
    assert 'COURSE_EXTRAS="${COURSE_EXTRAS-}"' in setup and '-e ".$COURSE_EXTRAS"' in setup
    assert "[dev]" not in setup and "autograder" not in setup and "TORCH_SPEC:-torch" in setup
    postbuild = (published / "postBuild").read_text()
    assert "pip install --no-deps ." in postbuild and "student-jupyter.sh" in postbuild
    helper = published / "scripts" / "student-jupyter.sh"
    assert helper.read_bytes() == (REPO / "scripts" / "student-jupyter.sh").read_bytes()
    for script in ("scripts/setup.sh", "scripts/student-jupyter.sh", "postBuild"):
        assert (published / script).stat().st_mode & 0o111, script
    for script in ("scripts/setup.sh", "postBuild"):
        subprocess.run(["bash", "-n", str(published / script)], check=True)


def test_readme_says_what_the_course_is_how_to_start_and_hand_in(published):
    readme = (published / "README.md").read_text()
    assert "make lab" in readme and "hand in" in readme.lower()
    for nb in (REPO / "notebooks").glob("*.ipynb"):
        assert f"[{nb.stem}](notebooks/{nb.name})" in readme, nb.stem
    assert "| 1 | [01_backprop](notebooks/01_backprop.ipynb) | Backpropagation" in readme
    assert "mybinder" not in readme
    assert "MIT License" in (published / "LICENSE").read_text()


def test_binder_badges_point_at_the_student_repository(tmp_path):
    publish(tmp_path / "out", binder="uni/gf-students@fall")
    readme = (tmp_path / "out" / "README.md").read_text()
    assert "mybinder.org/v2/gh/uni/gf-students/fall?urlpath=lab/tree/notebooks/01_backprop" in (
        readme
    )


def test_a_non_empty_out_is_refused_unless_forced(tmp_path, capsys):
    out = tmp_path / "out"
    (out / ".git").mkdir(parents=True)
    (out / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    (out / "notes.txt").write_text("mine")
    assert main(["publish", str(out)]) == 2
    assert "not empty" in capsys.readouterr().err
    assert main(["publish", str(out), "--force"]) == 0
    assert "notes.txt" in capsys.readouterr().out  # reported as left alone
    assert (out / ".git" / "HEAD").is_file() and (out / "README.md").is_file()


def test_a_master_already_in_out_fails_the_publish(tmp_path, capsys):
    out = tmp_path / "out"
    (out / "old").mkdir(parents=True)
    shutil.copy(Course().master("01_backprop"), out / "old" / "01_backprop.ipynb")
    assert main(["publish", str(out), "--force"]) == 1
    assert "old/01_backprop.ipynb" in capsys.readouterr().err


def test_out_may_not_be_the_repository_or_inside_what_publish_reads(monkeypatch):
    def must_not_get_here(*args, **kwargs):
        raise AssertionError("publish went on to write")

    monkeypatch.setattr("autograder.publish.student_files", must_not_get_here)
    for out in (REPO, REPO.parent, REPO / "notebooks" / "x", REPO / "autograder" / "y"):
        assert main(["publish", str(out), "--force"]) == 2, out
    assert not (REPO / "notebooks" / "x").exists()


@pytest.mark.slow
def test_the_published_folder_installs_and_coursekit_imports(published, tmp_path):
    """pip install --no-deps into a throwaway venv, no network; dependencies come from ours."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    site = subprocess.run(
        [
            str(venv / "bin" / "python"),
            "-c",
            "import sysconfig; print(sysconfig.get_path('purelib'))",
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    # A plain path line: our packages become importable, our .pth files (the editable
    # coursekit of this repository) do not run.
    Path(site, "_deps.pth").write_text(sysconfig.get_path("purelib") + "\n")
    source = tmp_path / "source"
    shutil.copytree(published, source)
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install", "-q"]
        + ["--no-deps", "--no-build-isolation", "--no-index", str(source)],
        check=True,
    )
    done = subprocess.run(
        [str(venv / "bin" / "python"), "-c", "import coursekit; print(coursekit.__file__)"],
        check=True,
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert done.stdout.strip().startswith(site), done.stdout
    listing = subprocess.run(
        [str(venv / "bin" / "python"), "-c", "import autograder"], capture_output=True, cwd=tmp_path
    )
    assert listing.returncode != 0, "the published package brought autograder along"
