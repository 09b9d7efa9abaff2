"""Grade one (student, lesson) submission: ``python -m autograder.unit SPEC.json``.

Runs in its own process and its own course folder (a copy of the lesson's
template: master, released version, a gradebook holding the lesson's cells),
so that nothing is shared with other submissions: not the gradebook (SQLite
allows one writer), not files. Uses nbgrader's Autograde and GenerateFeedback.
Writes RESULT.json (see ``UnitResult``) next to the spec.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import nbgrader.api
import nbgrader.converters  # noqa: F401 -- preloaded by the grader's forkserver
import nbgrader.preprocessors
from nbgrader.api import Gradebook


def _cache_alembic_head() -> None:
    """nbgrader runs ``alembic heads`` in a subprocess (~0.9 s) every time it opens a
    gradebook, about five times per graded notebook; the answer never changes while
    we run, so read it once, through alembic's own API (no subprocess), and reuse it."""
    from alembic.config import Config as AlembicConfig
    from alembic.script import ScriptDirectory

    with nbgrader.api._temp_alembic_ini("sqlite:////tmp/gradebook.db") as alembic_ini:
        head = ScriptDirectory.from_config(AlembicConfig(alembic_ini)).get_current_head()
    nbgrader.api.get_alembic_version = lambda: head


_cache_alembic_head()

STATUS_GRADED = "graded"
STATUS_MISSING = "missing"
STATUS_INVALID = "invalid"
STATUS_KERNEL_DIED = "kernel_died"
STATUS_TIMEOUT = "timeout"
STATUS_TAMPERED = "tampered"
STATUS_ERROR = "grader_error"
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
MAX_MESSAGE = 600


@dataclass
class CellResult:
    grade_id: str
    points: float
    max_points: float
    passed: bool
    message: str


@dataclass
class UnitResult:
    student: str
    lesson: str
    status: str
    score: float
    max_score: float
    reason: str = ""
    notes: list[str] = field(default_factory=list)
    cells: list[CellResult] = field(default_factory=list)
    feedback: str | None = None
    # nbgrader executing the notebook (kernel start to shutdown); the rest is the grader's
    executing_seconds: float | None = None

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> UnitResult:
        cells = [CellResult(**c) for c in data.pop("cells", [])]
        return cls(**data, cells=cells)


@dataclass
class UnitSpec:
    student: str
    lesson: str
    submission: str | None
    template: str  # the lesson's template course folder
    workdir: str  # this unit's own folder (created)
    feedback_out: str  # where to copy the feedback HTML
    max_cells: list[dict]  # [{"grade_id", "max_points"}] of the lesson's test cells
    cell_timeout: int = 120
    memory_bytes: int = 2 * 2**30
    nproc: int = 256
    hide: list[str] = field(default_factory=list)


def _clean(text: str) -> str:
    text = _ANSI.sub("", text).strip()
    return text if len(text) <= MAX_MESSAGE else text[: MAX_MESSAGE - 1] + "…"


def _zero(spec: UnitSpec, status: str, reason: str, notes: list[str] | None = None) -> UnitResult:
    cells = [CellResult(c["grade_id"], 0.0, c["max_points"], False, reason) for c in spec.max_cells]
    total = sum(c["max_points"] for c in spec.max_cells)
    return UnitResult(spec.student, spec.lesson, status, 0.0, total, reason, notes or [], cells)


def _write_kernelspec(spec: UnitSpec, root: Path, autograded: Path) -> None:
    """A 'python3' kernelspec that starts the kernel through autograder.sandbox."""
    from autograder.sandbox import write_kernelspec

    args = [
        "--memory",
        str(spec.memory_bytes),
        "--nproc",
        str(spec.nproc),
        "--workdir",
        str(autograded),
    ]
    for path in spec.hide:
        args += ["--hide", path]
    threads = {k: "1" for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")}
    env = {**threads, "PYTHONHASHSEED": "0", "MPLBACKEND": "agg"}
    write_kernelspec(root / "jupyter", args, env)
    os.environ["JUPYTER_PATH"] = str(root / "jupyter")
    os.environ["JUPYTER_RUNTIME_DIR"] = str(root / "runtime")


@dataclass
class Executed:
    """What the executed notebook shows: per-test messages and any integrity failure."""

    messages: dict[str, str]
    replaced: str | None = None  # the functions a submission replaced
    zeroed_from: str | None = None  # the first test cell that ran after that


def _read_executed(notebook: dict) -> Executed:
    from autograder.integrity import REPLACED

    found = Executed({})
    for cell in notebook["cells"]:
        outputs = cell.get("outputs", [])
        text = "".join(
            "".join(o.get("text", "")) for o in outputs if o.get("output_type") == "stream"
        )
        if "autograder-integrity" in cell.get("metadata", {}).get("tags", []):
            if found.replaced is None and REPLACED in text:
                found.replaced = text.strip().split(REPLACED, 1)[1]
            continue
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if not meta.get("grade"):
            continue
        if found.replaced is not None and found.zeroed_from is None:
            found.zeroed_from = meta["grade_id"]
        errors = [o for o in outputs if o.get("output_type") == "error"]
        if errors:
            err = errors[-1]
            message = _clean(f"{err.get('ename', '')}: {err.get('evalue', '')}")
        else:
            message = _clean(text) or "passed"
        found.messages[meta["grade_id"]] = message
    return found


class _TimedExecute(nbgrader.preprocessors.Execute):
    """nbgrader's Execute, timed: the unit reports how much of its time the notebook's own
    execution took (the rest is the grader's overhead). Configured as Execute is."""

    seconds: float | None = None

    def preprocess(self, *args, **kwargs):
        start = time.perf_counter()
        try:
            return super().preprocess(*args, **kwargs)
        finally:
            _TimedExecute.seconds = time.perf_counter() - start


# What jupyter_client says when the kernel exits before answering its first request, that
# is before any of the notebook runs: never the submission's doing. Two kernels starting at
# once can pick the same TCP port (jupyter/jupyter_client#487): the loser exits.
_NEVER_STARTED = ("Kernel died before replying to kernel_info", "Kernel didn't respond in")


def _autograde(config, notes: list[str]) -> None:
    """nbgrader's Autograde; when the kernel failed to start, start it once more."""
    from nbgrader.converters import Autograde

    from autograder.nbgrader_run import NbgraderFailed, run_converter

    try:
        run_converter(Autograde, config, force=True)
    except NbgraderFailed as exc:
        if not any(text in str(exc) for text in _NEVER_STARTED):
            raise
        notes.append("the kernel failed to start and was started again")
        run_converter(Autograde, config, force=True)


def grade_unit(spec: UnitSpec) -> UnitResult:
    """Grade one submission with nbgrader; never raises for a bad submission."""
    from autograder.config import course_config
    from autograder.nbgrader_run import NbgraderFailed, run_converter
    from autograder.rebuild import InvalidSubmission, load_submission, rebuild

    root = Path(spec.workdir)
    course = root / "course"
    shutil.copytree(spec.template, course)
    if spec.submission is None:
        return _zero(spec, STATUS_MISSING, "no notebook was submitted for this lesson")
    try:
        submission = load_submission(Path(spec.submission))
        notebook = f"{spec.lesson}/{spec.lesson}.ipynb"
        released = json.loads((course / "release" / notebook).read_text())
        master = json.loads((course / "source" / notebook).read_text())
        graded, notes = rebuild(released, submission, master)
    except InvalidSubmission as exc:
        return _zero(spec, STATUS_INVALID, f"the submission could not be read: {exc}")
    target = course / "submitted" / spec.student / spec.lesson
    target.mkdir(parents=True)
    import nbformat

    nbformat.write(graded, target / f"{spec.lesson}.ipynb")
    autograded = course / "autograded" / spec.student / spec.lesson
    _write_kernelspec(spec, root, autograded)

    from nbgrader.converters import Autograde, GenerateFeedback
    from nbgrader.preprocessors import Execute

    config = course_config(course, cell_timeout=spec.cell_timeout)
    config.CourseDirectory.assignment_id = spec.lesson
    config.CourseDirectory.student_id = spec.student
    config.Autograde.create_student = True
    config.Autograde.autograde_preprocessors = [
        _TimedExecute if pp is Execute else pp
        for pp in Autograde.class_traits()["autograde_preprocessors"].default()
    ]
    _TimedExecute.seconds = None
    try:
        _autograde(config, notes)
    except NbgraderFailed as exc:
        log = str(exc)
        if "DeadKernelError" in log or "Kernel died" in log or "kernel died" in log.lower():
            return _zero(
                spec,
                STATUS_KERNEL_DIED,
                "the kernel died while running the notebook (os._exit, a crash, or the memory "
                "limit): nothing could be graded",
                notes,
            )
        return _zero(
            spec, STATUS_ERROR, "nbgrader could not grade it: " + _clean(log[-400:]), notes
        )

    executed = _read_executed(json.loads((autograded / f"{spec.lesson}.ipynb").read_text()))
    cells = []
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        by_id = {
            g.name: g
            for g in gb.find_submission_notebook(spec.lesson, spec.lesson, spec.student).grades
        }
        zeroing = False
        for cell in spec.max_cells:
            grade = by_id.get(cell["grade_id"])
            zeroing = zeroing or cell["grade_id"] == executed.zeroed_from
            points = float(grade.score) if grade is not None and grade.score is not None else 0.0
            message = executed.messages.get(cell["grade_id"], "not run")
            if zeroing:  # ran after the submission replaced functions the tests use
                points = 0.0
                message = f"0 points: earlier code replaced {executed.replaced}"
                if grade is not None:
                    grade.auto_score = 0.0
            passed = points >= cell["max_points"]
            cells.append(CellResult(cell["grade_id"], points, cell["max_points"], passed, message))
        gb.db.commit()
    status, reason = STATUS_GRADED, ""
    if executed.replaced:
        status = STATUS_TAMPERED
        reason = f"replaced {executed.replaced}: the tests that ran afterwards score 0"
    try:
        run_converter(GenerateFeedback, config, force=True)
        html = course / "feedback" / spec.student / spec.lesson / f"{spec.lesson}.html"
        Path(spec.feedback_out).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(html, spec.feedback_out)
        feedback = spec.feedback_out
    except (NbgraderFailed, OSError) as exc:
        notes.append(f"feedback could not be generated: {_clean(str(exc))[:200]}")
        feedback = None
    score = sum(c.points for c in cells)
    total = sum(c.max_points for c in cells)
    return UnitResult(
        spec.student,
        spec.lesson,
        status,
        score,
        total,
        reason,
        notes,
        cells,
        feedback,
        _TimedExecute.seconds,
    )


def main(spec_file: str | None = None) -> None:
    spec_path = Path(spec_file or sys.argv[1])
    spec = UnitSpec(**json.loads(spec_path.read_text()))
    try:
        result = grade_unit(spec)
    except Exception as exc:  # the grader's own failure: still a result, with the reason
        result = _zero(spec, STATUS_ERROR, f"the grader failed: {type(exc).__name__}: {exc}")
    spec_path.with_name("RESULT.json").write_text(json.dumps(result.to_json(), indent=1))


if __name__ == "__main__":
    main()
