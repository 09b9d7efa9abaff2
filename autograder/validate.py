"""``autograder validate``: every master passes all its tests, every student version none.

nbgrader's own ``validate`` command exits 0 even when validation fails, so this
uses its Python API (``nbgrader.validator.Validator``) and decides itself.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from nbgrader.validator import Validator

from autograder.config import course_config
from autograder.course import Course
from autograder.lint import master_problems
from autograder.nbgrader_run import put_own_tools_on_path


@dataclass
class ValidationResult:
    """The outcome for one lesson: an empty ``problems`` list means it is valid."""

    lesson: str
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def line(self) -> str:
        """One line for the summary, e.g. ``01_backprop  ok``."""
        if self.ok:
            return f"{self.lesson}: ok"
        return f"{self.lesson}: FAILED ({len(self.problems)} problem(s))"


def _first_line(text: str, limit: int = 300) -> str:
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    last = lines[-1] if lines else "(no message)"
    return last if len(last) <= limit else last[: limit - 1] + "…"


#: Binder's limits: one CPU and 2 GB. Masters and student versions are validated in them.
BINDER_CPUS = 1
BINDER_MEMORY = 2 * 2**30


def _run_validator(notebook: Path, *, invert: bool, timeout: int) -> dict:
    """Execute a copy of ``notebook`` in a scratch folder under nbgrader's Validator.

    The kernel runs as on Binder: pinned to one CPU, with a 2 GB memory limit.
    For a master (``invert=False``) every code cell must run without an error
    or stderr output, not only the graded ones (nbgrader's ``validate_all``).
    """
    from autograder.sandbox import write_kernelspec

    put_own_tools_on_path()
    with tempfile.TemporaryDirectory(prefix="gf-validate-") as tmp:
        limits = ["--cpus", str(BINDER_CPUS), "--memory", str(BINDER_MEMORY)]
        kernels = write_kernelspec(Path(tmp) / "jupyter", limits, {})
        previous = os.environ.get("JUPYTER_PATH")
        os.environ["JUPYTER_PATH"] = os.pathsep.join(filter(None, [str(kernels), previous]))
        copy = Path(tmp) / notebook.name
        shutil.copyfile(notebook, copy)
        validator = Validator(config=course_config(Path(tmp), cell_timeout=timeout))
        validator.invert = invert
        validator.validate_all = not invert
        try:
            return validator.validate(str(copy))
        finally:
            if previous is None:
                os.environ.pop("JUPYTER_PATH", None)
            else:
                os.environ["JUPYTER_PATH"] = previous


def _count_grade_cells(notebook: Path) -> int:
    import json

    cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
    return sum(1 for c in cells if c.get("metadata", {}).get("nbgrader", {}).get("grade"))


def validate_lesson(course: Course, lesson: str, *, timeout: int = 300) -> ValidationResult:
    """Validate the master and the student version of ``lesson``."""
    result = ValidationResult(lesson)
    master, student = course.master(lesson), course.student(lesson)
    result.problems += master_problems(master)
    if result.problems:
        return result
    if _count_grade_cells(master) == 0:
        result.problems.append(f"{master.name}: has no graded test cell")
        return result

    found = _run_validator(master, invert=False, timeout=timeout)
    for cell in found.get("failed", []):
        result.problems.append(
            f"master: a cell fails: {_first_line(cell['source'], 80)!r} -> "
            f"{_first_line(cell.get('raw_error', ''))}"
        )
    if not student.is_file():
        result.problems.append(f"student version {student} missing: run `autograder release`")
        return result
    found = _run_validator(student, invert=True, timeout=timeout)
    for key, what in (
        ("type_changed", "a cell changed type"),
        ("changed", "a locked cell differs from the master"),
        ("passed", "a test passes without a solution"),
    ):
        for cell in found.get(key, []):
            result.problems.append(f"student version: {what}: {_first_line(cell['source'], 80)!r}")
    return result
