"""environment.yml (Binder) agrees with pyproject.toml, and repo2docker picks it up."""

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import urllib.parse
import zipfile
from pathlib import Path

import pytest
import yaml

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

from tests.conftest import REPO

# pyproject name -> conda-forge name, where they differ.
CONDA_NAME = {"torch": "pytorch-cpu"}


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~ \[;]", requirement.strip(), maxsplit=1)[0].lower()


def _runtime_deps() -> list[str]:
    with open(REPO / "pyproject.toml", "rb") as f:
        return tomllib.load(f)["project"]["dependencies"]


def _env() -> dict:
    return yaml.safe_load((REPO / "environment.yml").read_text())


def test_environment_is_conda_forge_only_python_311():
    env = _env()
    assert env["channels"][0] == "conda-forge"
    assert set(env["channels"]) <= {"conda-forge", "nodefaults"}
    assert "python=3.11" in env["dependencies"]


def test_environment_names_every_runtime_dependency_of_pyproject():
    conda = {_name(d) for d in _env()["dependencies"] if isinstance(d, str)}
    missing = [d for d in _runtime_deps() if CONDA_NAME.get(_name(d), _name(d)) not in conda]
    assert not missing, f"environment.yml lacks pyproject dependencies: {missing}"


def test_environment_has_cpu_only_torch():
    names = {_name(d) for d in _env()["dependencies"] if isinstance(d, str)}
    assert "pytorch-cpu" in names
    assert not names & {"pytorch", "pytorch-gpu", "torch", "pytorch-cuda", "cudatoolkit"}


def test_version_bounds_agree():
    conda = {_name(d): d for d in _env()["dependencies"] if isinstance(d, str)}
    for dep in _runtime_deps():
        name = CONDA_NAME.get(_name(dep), _name(dep))
        bounds = dep[len(_name(dep)) :].replace(" ", "")
        assert conda[name].replace(" ", "").endswith(bounds), f"{dep} vs {conda[name]}"


def test_postbuild_installs_the_course_and_hides_instructor_extensions():
    text = (REPO / "postBuild").read_text()
    assert "pip install" in text and "student-jupyter.sh" in text
    helper = (REPO / "scripts" / "student-jupyter.sh").read_text()
    assert all(p in helper for p in ("formgrader", "create-assignment"))


def test_readme_badges_open_each_lesson():
    from autograder.course import LESSONS

    readme = (REPO / "README.md").read_text()
    for lesson in LESSONS:
        assert f"?urlpath=lab/tree/notebooks/{lesson}.ipynb" in readme, lesson


def test_repo2docker_picks_the_conda_build_pack(tmp_path):
    """`repo2docker --no-build` on a copy of the repo chooses the conda build pack."""
    here = str(Path(sys.executable).parent)  # the venv's bin, even when not activated
    exe = shutil.which("repo2docker", path=here) or shutil.which("repo2docker")
    if exe is None:
        pytest.skip("repo2docker is not installed (pip install jupyter-repo2docker)")
    for name in ("environment.yml", "postBuild", "pyproject.toml"):
        shutil.copy(REPO / name, tmp_path / name)
    run = subprocess.run(
        [exe, "--no-build", "--debug", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    text = run.stdout + run.stderr
    assert run.returncode == 0, text[-2000:]
    assert "Building conda environment for python=3.11" in text, text[-2000:]
    assert '--file "environment.yml"' in text, "the conda build pack did not use environment.yml"
    assert "./postBuild" in text, "postBuild (course install, student extensions) is not run"


def test_installed_environment_hides_instructor_extensions():
    """The same script postBuild runs on Binder has run here (scripts/setup.sh): JupyterLab
    lists formgrader and create-assignment as disabled, and formgrader's server extension too."""
    jupyter = str(Path(sys.executable).with_name("jupyter"))
    labext = subprocess.run([jupyter, "labextension", "list"], capture_output=True, text=True)
    text = labext.stdout + labext.stderr
    disabled = text.split("Disabled extensions:")[-1] if "Disabled extensions:" in text else ""
    hidden = ("formgrader", "create-assignment", "assignment-list")  # the list needs an exchange
    for plugin in (f"@jupyter/nbgrader:{name}" for name in hidden):
        assert plugin in disabled, text
    assert "@jupyter/nbgrader:validate-assignment" not in disabled, "the Validate button stays"
    paths = subprocess.run([jupyter, "lab", "path"], capture_output=True, text=True).stdout
    app_dir = Path(re.search(r"Application directory:\s*(\S+)", paths).group(1))
    overrides = json.loads((app_dir / "settings" / "overrides.json").read_text())
    notification = overrides["@jupyterlab/apputils-extension:notification"]
    assert notification["fetchNews"] == "false" and notification["checkForUpdates"] is False
    # widget state is saved with the notebook: a saved explorer reopens, not "model not found"
    assert overrides["@jupyter-widgets/jupyterlab-manager:plugin"]["saveState"] is True
    # kernels use Unix sockets: no "Kernel is running over TCP without encryption" per start
    config = subprocess.run(
        [jupyter, "server", "--show-config"], capture_output=True, text=True
    ).stdout
    assert re.search(r"^KernelManager\n\s+\.transport = 'ipc'", config, re.M), config
    server = subprocess.run(
        [jupyter, "server", "extension", "list"], capture_output=True, text=True
    )
    status = [
        ln
        for ln in (server.stdout + server.stderr).splitlines()
        if "formgrader" in ln and ("enabled" in ln or "disabled" in ln)
    ]
    assert status and all("disabled" in ln for ln in status), status


# --- scripts/setup.sh: PyTorch's CPU build, from PyTorch's CPU index first ----------------

SETUP = REPO / "scripts" / "setup.sh"


def _torch_command(index: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "TORCH_INDEX": index, "TORCH_SPEC": "torch==2.13.0"}
    return subprocess.run(
        ["bash", str(SETUP), "--torch-command"], capture_output=True, text=True, env=env
    )


def _fake_torch_wheel(index: Path) -> None:
    """A PEP 503 file index holding a metadata-only torch 2.13.0+cpu wheel."""
    name = "torch-2.13.0+cpu-py3-none-any.whl"
    (index / "torch").mkdir(parents=True)
    with zipfile.ZipFile(index / "torch" / name, "w") as whl:
        info = "torch-2.13.0+cpu.dist-info"
        whl.writestr(f"{info}/METADATA", "Metadata-Version: 2.1\nName: torch\nVersion: 2.13.0+cpu")
        whl.writestr(f"{info}/WHEEL", "Wheel-Version: 1.0\nRoot-Is-Purelib: true\n")
        whl.writestr(f"{info}/RECORD", "")
    href = urllib.parse.quote(name)
    (index / "torch" / "index.html").write_text(f'<a href="{href}">{name}</a>')


def test_setup_installs_torch_from_the_cpu_index_when_it_answers(tmp_path):
    index = tmp_path / "simple"
    _fake_torch_wheel(index)
    run = _torch_command(index.as_uri())
    assert run.returncode == 0 and run.stderr == "", run.stderr
    command = run.stdout.split()
    assert command == ["pip", "install", "torch==2.13.0", "--index-url", index.as_uri()], command
    # pip, on its own (no config, no find-links), takes that command's torch from that index
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    report = subprocess.run(
        [sys.executable, "-m", "pip", *command[1:], "--dry-run", "--no-deps"]
        + ["--ignore-installed", "--quiet", "--report", "-"],
        capture_output=True,
        text=True,
        env={**env, "PIP_CONFIG_FILE": os.devnull},
        timeout=120,
    )
    assert report.returncode == 0, report.stderr
    (install,) = json.loads(report.stdout)["install"]
    assert install["download_info"]["url"].startswith(index.as_uri() + "/torch/")
    assert install["metadata"]["version"] == "2.13.0+cpu"


def test_setup_falls_back_to_the_default_index_with_a_one_line_note():
    with socket.socket() as s:  # a port nothing listens on: the index cannot be reached
        s.bind(("127.0.0.1", 0))
        unreachable = f"http://127.0.0.1:{s.getsockname()[1]}/whl/cpu"
    run = _torch_command(unreachable)
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == ["pip", "install", "torch==2.13.0"]
    notes = run.stderr.splitlines()
    assert len(notes) == 1 and "cannot be reached" in notes[0] and unreachable in notes[0], notes


def test_setup_never_imports_torch_before_numpy_is_installed():
    """Importing torch without numpy warns "Failed to initialize NumPy": set-up reads torch's
    version from its metadata, and imports it only in its last step, after the course."""
    lines = SETUP.read_text().splitlines()
    imports = [i for i, ln in enumerate(lines) if re.search(r"import (numpy, )?torch\b", ln)]
    course = next(i for i, ln in enumerate(lines) if 'install "${PIP_VERBOSITY[@]}" -c' in ln)
    assert imports and all(i > course for i in imports), imports


def test_the_installed_torch_is_pinned_for_every_pip_install_in_the_venv():
    """scripts/setup.sh ran here: .venv/pip.conf hands its constraints file to any
    `pip install` in the venv, and that file pins the torch installed."""
    import importlib.metadata

    venv = Path(sys.prefix)
    if not (venv / "pip.conf").exists():
        pytest.skip(f"{venv} was not set up by scripts/setup.sh")
    pip_config = subprocess.run(
        [sys.executable, "-m", "pip", "config", "list"], capture_output=True, text=True
    ).stdout
    constraints = venv / "constraints.txt"
    setting = rf"^install\.constraint='[^']*{re.escape(str(constraints))}'"
    assert re.search(setting, pip_config, re.M), pip_config
    pinned = constraints.read_text().split()
    assert pinned == [f"torch=={importlib.metadata.version('torch')}"], pinned


def test_a_plain_install_packages_every_package_of_the_course():
    """Binder's postBuild runs `pip install --no-deps .` (not editable): every folder of
    coursekit and autograder holding an __init__.py must be in the wheel, or lessons break."""
    import fnmatch

    with open(REPO / "pyproject.toml", "rb") as f:
        include = tomllib.load(f)["tool"]["setuptools"]["packages"]["find"]["include"]
    packages = [
        ".".join(init.parent.relative_to(REPO).parts)
        for top in ("coursekit", "autograder")
        for init in (REPO / top).rglob("__init__.py")
        if "source" not in init.parts  # autograder/source holds notebooks, not code
    ]
    left_out = [p for p in packages if not any(fnmatch.fnmatchcase(p, i) for i in include)]
    assert "coursekit.monitor" in packages and not left_out, left_out


@pytest.mark.slow
def test_the_validate_button_starts_its_kernel_without_the_plain_tcp_warning(tmp_path):
    """nbgrader's Validate button (the server extension) runs the notebook in a kernel of its
    own; student-jupyter.sh gives it the Unix-socket transport too (nbgrader_config.json) and
    has it skip the grading plan's cells, for a lesson in a folder below the server's root."""
    import tempfile
    import urllib.request

    import nbformat

    from tests.lab_server import running_lab

    nb = nbformat.v4.new_notebook()
    # an experiment of the grading plan: it leaves a mark if the Validate button runs it
    mark = tmp_path / "the-experiment-ran"
    experiment = nbformat.v4.new_code_cell(f"open({str(mark)!r}, 'w').close()")
    experiment.metadata["tags"] = ["skip-when-grading"]
    nb.cells = [nbformat.v4.new_code_cell("print('ran', 6 * 7)"), experiment]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3"}
    (tmp_path / "notebooks").mkdir()  # as the course: lessons in a folder below the server's
    nbformat.write(nb, tmp_path / "notebooks" / "tiny.ipynb")
    log = tmp_path / "lab.log"
    # a short runtime folder: a Unix socket's path holds ~100 bytes
    with tempfile.TemporaryDirectory(prefix="gf-rt-") as runtime:
        with running_lab(tmp_path, log=log, env={"JUPYTER_RUNTIME_DIR": runtime}) as server:
            request = urllib.request.Request(
                server.url("/assignments/validate"),
                data=b"path=notebooks/tiny.ipynb",
                method="POST",
            )
            with urllib.request.urlopen(request, timeout=240) as answer:
                result = json.load(answer)
    assert result["success"], result
    assert not mark.exists(), "the Validate button ran a cell the grading plan skips"
    assert "without encryption" not in log.read_text(), log.read_text()[-2000:]


@pytest.mark.slow
def test_nbgrader_autograde_in_this_environment_runs_its_kernels(tmp_path):
    """The environment's nbgrader settings (student-jupyter.sh) give kernels Unix sockets; an
    instructor's own `nbgrader autograde` in the same environment must still reach its kernel,
    which runs in another folder than nbgrader does (a relative socket path did not)."""
    import nbformat

    def cell(source: str, **grading) -> nbformat.NotebookNode:
        node = nbformat.v4.new_code_cell(source)
        node.metadata["nbgrader"] = {"schema_version": 3, "locked": False, **grading}
        return node

    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3"}
    nb.cells = [
        cell("answer = 42", grade=False, solution=True, grade_id="answer"),
        cell("assert answer == 42", grade=True, solution=False, grade_id="check", points=1),
    ]
    submitted = tmp_path / "submitted" / "s1" / "ps1"
    submitted.mkdir(parents=True)
    nbformat.write(nb, submitted / "p.ipynb")
    (tmp_path / "source" / "ps1").mkdir(parents=True)
    nbformat.write(nb, tmp_path / "source" / "ps1" / "p.ipynb")
    (tmp_path / "nbgrader_config.py").write_text("c = get_config()\n")
    bin_dir = Path(sys.executable).parent  # nbgrader db runs alembic from PATH
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}
    nbgrader = str(bin_dir / "nbgrader")
    for command in (["generate_assignment", "ps1", "--create"], ["db", "student", "add", "s1"]):
        subprocess.run([nbgrader, *command], cwd=tmp_path, env=env, check=True, capture_output=True)
    run = subprocess.run(
        [nbgrader, "autograde", "ps1"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0 and "Kernel didn't respond" not in run.stderr, run.stderr[-2000:]
    assert "without encryption" not in run.stderr, "autograde's kernel ran over TCP"
    subprocess.run([nbgrader, "export"], cwd=tmp_path, env=env, check=True, capture_output=True)
    grades = (tmp_path / "grades.csv").read_text().splitlines()
    assert grades[1].split(",")[-2:] == ["1.0", "1.0"], grades
    # a course that wants nbgrader's default transport back gets it, on localhost
    (tmp_path / "nbgrader_config.py").write_text(
        "c = get_config()\nc.KernelManager.transport = 'tcp'\n"
    )
    again = subprocess.run(
        [nbgrader, "autograde", "ps1", "--force"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert again.returncode == 0, again.stderr[-2000:]
    assert "without encryption" in again.stderr, "the course's TCP setting was not used"
