"""``autograder publish OUT``: the repository that a graded class's students get.

This repository holds the masters (solutions, hidden tests) and the hidden-check logic: a
student who clones it can read every answer. :func:`publish` writes what a student needs and
nothing else: the released notebooks (byte for byte), ``coursekit``, a ``make lab`` set-up,
the Binder files, a pyproject that packages ``coursekit`` only, an MIT LICENSE and a student
README. Before and after writing, every file is scanned (:func:`leaks`); any master, solution
or hidden-test marker, or ``autograder`` code, and nothing is published.

It reads a clone of this repository (notebooks/, coursekit/, scripts/, environment.yml,
pyproject.toml) and the templates in ``autograder/student_repo/``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from autograder.course import LESSONS, REPO_DIR, Course, UsageError

#: Runtime dependencies that only the grader uses (feedback_html): not in the student's copy.
GRADER_ONLY = frozenset({"nh3", "tinycss2"})
#: Text that only a master holds (nbgrader's solution and hidden-test delimiters).
MARKERS = (b"BEGIN SOLUTION", b"END SOLUTION", b"BEGIN HIDDEN TESTS", b"END HIDDEN TESTS")
_IMPORTS_GRADER = re.compile(rb"^\s*(from|import)\s+autograder\b", re.M)
_SKIP = {"__pycache__", ".ipynb_checkpoints", ".pytest_cache"}
EXECUTABLE = ("scripts/setup.sh", "scripts/student-jupyter.sh", "postBuild")


class PublishError(Exception):
    """The student repository would leak something (or could not be made)."""


@dataclass
class Published:
    """What :func:`publish` wrote into ``out``, and what it found there and left alone."""

    out: Path
    files: list[str]
    lessons: list[str]
    untouched: list[str] = field(default_factory=list)

    def summary(self) -> str:
        lines = [f"published {len(self.files)} files to {self.out}: {', '.join(self.lessons)}"]
        if self.untouched:
            lines.append(f"left as they were (not written by publish): {', '.join(self.untouched)}")
        return "\n".join(lines)


def publish(
    out: Path, *, force: bool = False, course: Course | None = None, binder: str | None = None
) -> Published:
    """Write the student repository into ``out``; return what was written.

    ``out`` must be empty or missing unless ``force`` (then the files written replace theirs,
    and ``.git`` and other files are kept). ``binder`` (``owner/name`` or ``owner/name@ref``
    on GitHub) adds a Binder badge per lesson to the README.
    Raises UsageError for a bad ``out``, PublishError when a file would leak an answer.
    """
    course = course or Course()
    out = Path(out).resolve()
    _check_out(out, force)
    files = student_files(course, binder)
    found = [problem for name, data in files.items() for problem in _leaks(name, data, course)]
    if found:
        raise PublishError("the student repository would leak:\n  " + "\n  ".join(found))
    for name, data in files.items():
        path = out / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        path.chmod(0o755 if name in EXECUTABLE else 0o644)
    found = leaks(out, course)
    if found:  # something already in OUT (with --force)
        raise PublishError(f"{out} holds what students must not see:\n  " + "\n  ".join(found))
    untouched = sorted(str(p.relative_to(out)) for p in _walk(out)) if force else []
    lessons = [n[len("notebooks/") : -len(".ipynb")] for n in files if n.startswith("notebooks/")]
    return Published(out, sorted(files), lessons, [u for u in untouched if u not in files])


def student_files(course: Course, binder: str | None = None) -> dict[str, bytes]:
    """Every file of the student repository: path inside it -> content."""
    files: dict[str, bytes] = {}
    notebooks = sorted(course.notebooks.glob("*.ipynb"), key=_lesson_order)
    if not notebooks:
        raise PublishError(f"no student notebooks in {course.notebooks}: run autograder release")
    for nb in notebooks:
        files[f"notebooks/{nb.name}"] = nb.read_bytes()
    for path in _walk(REPO_DIR / "coursekit"):
        files[path.relative_to(REPO_DIR).as_posix()] = path.read_bytes()
    helper = "scripts/student-jupyter.sh"
    files[helper] = (REPO_DIR / helper).read_bytes()
    text = {
        "README.md": _readme(notebooks, binder),
        "Makefile": _template("Makefile"),
        "scripts/setup.sh": _student_setup(),
        "postBuild": _template("postBuild"),
        "environment.yml": _environment(),
        "pyproject.toml": _pyproject(),
        "LICENSE": _template("LICENSE"),
        ".gitignore": ".venv/\n__pycache__/\n.ipynb_checkpoints/\n*.egg-info/\nbuild/\n",
    }
    files.update({name: content.encode() for name, content in text.items()})
    return files


def leaks(root: Path, course: Course | None = None) -> list[str]:
    """What under ``root`` (its ``.git`` aside) a student must not see; empty when nothing."""
    course = course or Course()
    return [
        problem
        for path in _walk(root)
        for problem in _leaks(path.relative_to(root).as_posix(), path.read_bytes(), course)
    ]


def _leaks(name: str, data: bytes, course: Course) -> Iterable[str]:
    if "autograder" in Path(name).parts[:-1] or name.startswith("source/"):
        yield f"{name}: part of the grader"
    for marker in MARKERS:
        if marker in data:
            yield f"{name}: contains {marker.decode()!r}"
    if name.endswith(".py") and _IMPORTS_GRADER.search(data):
        yield f"{name}: imports the autograder package"
    if name.endswith(".ipynb") and any(data == m.read_bytes() for m in _masters(course)):
        yield f"{name}: a master notebook"


def _masters(course: Course) -> list[Path]:
    return sorted(course.source.glob("*/*.ipynb")) if course.source.is_dir() else []


def _walk(root: Path) -> list[Path]:
    skip = _SKIP | {".git"}
    return sorted(
        p
        for p in root.rglob("*")
        if p.is_file() and not skip & set(p.relative_to(root).parts) and p.suffix != ".pyc"
    )


def _check_out(out: Path, force: bool) -> None:
    if out.exists() and not out.is_dir():
        raise UsageError(f"{out} is a file, not a folder")
    if out == REPO_DIR or REPO_DIR.is_relative_to(out):
        raise UsageError(f"{out} holds this repository: publish into a folder of its own")
    for source in ("autograder", "coursekit", "notebooks", "scripts"):
        if out.is_relative_to(REPO_DIR / source):
            raise UsageError(f"{out} is inside {source}/, which publish reads")
    if out.is_dir() and any(out.iterdir()) and not force:
        raise UsageError(f"{out} is not empty (--force writes into it anyway)")


def _lesson_order(path: Path) -> tuple[int, str]:
    order = {lesson: i for i, lesson in enumerate(LESSONS)}
    return order.get(path.stem, len(order)), path.stem


def _readme(notebooks: list[Path], binder: str | None) -> str:
    rows = []
    for i, path in enumerate(notebooks, 1):
        nb = json.loads(path.read_text(encoding="utf-8"))
        first = next((c for c in nb["cells"] if c["cell_type"] == "markdown"), None)
        title = "".join(first["source"]).splitlines()[0] if first else path.stem
        title = re.sub(r"^#+\s*(Lesson \d+\s*[—-]\s*)?", "", title).strip()
        points = sum(
            c["metadata"].get("nbgrader", {}).get("points", 0)
            for c in nb["cells"]
            if c["metadata"].get("nbgrader", {}).get("grade")
        )
        row = f"| {i} | [{path.stem}](notebooks/{path.name}) | {title} | {points:g} |"
        if binder:
            repo, _, ref = binder.partition("@")
            url = f"https://mybinder.org/v2/gh/{repo}/{ref or 'main'}"
            badge = "https://mybinder.org/badge_logo.svg"
            row += f" [![Binder]({badge})]({url}?urlpath=lab/tree/notebooks/{path.name}) |"
        rows.append(row)
    head = "| # | lesson | what it is about | points |" + (" Binder |" if binder else "")
    rule = "|---|---|---|---|" + ("---|" if binder else "")
    return _template("README.md").replace("@TABLE@", "\n".join([head, rule, *rows]))


def _student_setup() -> str:
    """The course's own set-up script, installing coursekit alone (no dev extra)."""
    text = (REPO_DIR / "scripts" / "setup.sh").read_text()
    default = 'COURSE_EXTRAS="${COURSE_EXTRAS-[dev]}"'
    if default not in text:
        raise PublishError("scripts/setup.sh no longer sets COURSE_EXTRAS: update publish.py")
    return text.replace(default, 'COURSE_EXTRAS="${COURSE_EXTRAS-}"')


def _dependency_name(requirement: str) -> str:
    return re.split(r"[<>=!~ \[;]", requirement.strip(), maxsplit=1)[0].lower()


def _environment() -> str:
    lines = (REPO_DIR / "environment.yml").read_text().splitlines(keepends=True)
    entry = re.compile(r"^\s*-\s*([A-Za-z0-9_.-]+)")
    return "".join(
        line
        for line in lines
        if not ((m := entry.match(line)) and _dependency_name(m.group(1)) in GRADER_ONLY)
        and not (line.startswith("#") and "tests/" in line)  # the student has no tests/
    )


def _pyproject() -> str:
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10: tomli comes with the dev extra
        import tomli as tomllib
    project = tomllib.loads((REPO_DIR / "pyproject.toml").read_text())["project"]
    deps = [d for d in project["dependencies"] if _dependency_name(d) not in GRADER_ONLY]
    fields = {k: project[k] for k in ("name", "version", "description", "requires-python")}
    return _template("pyproject.toml.in").format(
        **{k.replace("-", "_"): json.dumps(v, ensure_ascii=False) for k, v in fields.items()},
        dependencies="".join(f"    {json.dumps(d)},\n" for d in deps),
    )


_TEMPLATES = Path(__file__).resolve().parent / "student_repo"


def _template(name: str) -> str:
    return (_TEMPLATES / name).read_text(encoding="utf-8")
