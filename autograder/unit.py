"""Grade one (student, lesson) submission: ``python -m autograder.unit SPEC.json``.

Runs in its own process and its own course folder (a copy of the lesson's
template: master, released version, a gradebook holding the lesson's cells),
so that nothing is shared with other submissions: not the gradebook (SQLite
allows one writer), not files. nbgrader's Autograde runs the notebook in a
jailed kernel (``autograder.sandbox``; ZeroMQ over IPC), then the judge
(``autograder.judge``) decides every test cell's points from what the kernel
reported — never from the kernel's own pass or fail — and nbgrader's
GenerateFeedback makes the page, which is sanitised. Writes RESULT.json (see
``UnitResult``) next to the spec.
"""

from __future__ import annotations

import json
import re
import shutil
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import nbformat
import nbgrader.converters  # noqa: F401 -- preloaded by the grader's forkserver
from nbgrader.api import Gradebook

from autograder import nbgrader_speedups
from autograder.plan import graded_skips
from autograder.planned_execute import BoundedExecute
from autograder.unit_kernel import autograde

nbgrader_speedups.install()  # nbgrader's constant lookups, answered once

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
    # where the unit's time went: prepare, kernel_start, setup_cell, execute, judge, feedback
    phase_seconds: dict[str, float] = field(default_factory=dict)
    # how each kernel of the unit was started: "zygote", "bubblewrap (why)", "limits only"
    kernels: list[str] = field(default_factory=list)

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
    isolation: str = "limits-only"  # autograder.sandbox's mode for this run
    uid: int = 0  # the kernel's own user where isolation is "isolated"
    kernel_site: str = ""  # the kernel side of autograder, shown to the kernel
    plan: bool = True  # skip the cells the master's grading plan names (autograder.plan)
    zygote: str = ""  # socket of the kernel zygote (autograder.zygote); "": bubblewrap only


def _clean(text: str) -> str:
    text = _ANSI.sub("", text).strip()
    return text if len(text) <= MAX_MESSAGE else text[: MAX_MESSAGE - 1] + "…"


def zero_result(
    student: str,
    lesson: str,
    max_cells: list[dict],
    status: str,
    reason: str,
    notes: list[str] | None = None,
) -> UnitResult:
    """A unit that earns nothing: every test cell 0 points, with ``reason`` as its message."""
    cells = [CellResult(c["grade_id"], 0.0, c["max_points"], False, reason) for c in max_cells]
    total = sum(c["max_points"] for c in max_cells)
    return UnitResult(student, lesson, status, 0.0, total, reason, notes or [], cells)


def _zero(spec: UnitSpec, status: str, reason: str, notes: list[str] | None = None) -> UnitResult:
    return zero_result(spec.student, spec.lesson, spec.max_cells, status, reason, notes)


def _judged_cells(
    spec: UnitSpec, autograded_nb: Path, master: dict, gradebook: Path
) -> tuple[list[CellResult], list[str]]:
    """Points of every test cell decided by the judge (never by the kernel), written into the
    unit's gradebook and shown in the executed notebook for the feedback; and what looked
    tampered with."""
    from autograder.judge.verdicts import judge_notebook

    executed = json.loads(autograded_nb.read_text())
    verdicts = judge_notebook(executed, master, spec.lesson)
    cells, tampered = [], []
    with Gradebook(f"sqlite:///{gradebook}") as gb:
        grades = gb.find_submission_notebook(spec.lesson, spec.lesson, spec.student).grades
        by_id = {g.name: g for g in grades}
        for cell in spec.max_cells:
            verdict = verdicts.get(cell["grade_id"])
            passed = verdict is not None and verdict.passed
            points = cell["max_points"] if passed else 0.0
            message = "not run" if verdict is None else _clean(verdict.message)
            if verdict is not None and verdict.tampered:
                tampered.append(f"{cell['grade_id']}: {verdict.tampered}")
            if cell["grade_id"] in by_id:
                by_id[cell["grade_id"]].auto_score = points
                by_id[cell["grade_id"]].needs_manual_grade = False
            cells.append(CellResult(cell["grade_id"], points, cell["max_points"], passed, message))
        gb.db.commit()
    by_grade_id = {c.grade_id: c for c in cells}
    for nb_cell in executed["cells"]:  # the judge's word, for the feedback
        grade_id = nb_cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        result = by_grade_id.get(grade_id)
        if result is not None:
            text = f"Graded outside your kernel: {result.points:g} / {result.max_points:g}"
            text += "" if result.passed else f" ({result.message})"
            nb_cell.setdefault("outputs", []).append(
                {"output_type": "stream", "name": "stdout", "text": text + "\n"}
            )
    autograded_nb.write_text(json.dumps(executed))
    return cells, tampered


def _failed_autograde(spec: UnitSpec, log: str, notes: list[str]) -> UnitResult:
    """The zero result of a unit whose notebook nbgrader could not run to the end."""
    if "DeadKernelError" in log or "Kernel died" in log or "kernel died" in log.lower():
        return _zero(
            spec,
            STATUS_KERNEL_DIED,
            "the kernel died while running the notebook (os._exit, a crash, or the memory "
            "limit): nothing could be graded",
            notes,
        )
    if "Timeout" in log or "timeout" in log:  # the kernel stopped answering
        return _zero(
            spec, STATUS_TIMEOUT, "the kernel stopped answering: " + _clean(log[-300:]), notes
        )
    return _zero(spec, STATUS_ERROR, "nbgrader could not grade it: " + _clean(log[-400:]), notes)


def grade_unit(spec: UnitSpec) -> UnitResult:
    """Grade one submission with nbgrader; never raises for a bad submission."""
    with nbgrader_speedups.one_engine_per_database():  # its gradebooks share compiled SQL
        return _grade_unit(spec)


def _grade_unit(spec: UnitSpec) -> UnitResult:
    from autograder.config import course_config
    from autograder.nbgrader_run import NbgraderFailed
    from autograder.rebuild import InvalidSubmission, load_submission, rebuild
    from autograder.sandbox import LAUNCHES

    started = time.perf_counter()
    phases: dict[str, float] = {}
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
        graded, notes = rebuild(released, submission)
    except InvalidSubmission as exc:
        return _zero(spec, STATUS_INVALID, f"the submission could not be read: {exc}")
    target = course / "submitted" / spec.student / spec.lesson
    target.mkdir(parents=True)
    nbformat.write(graded, target / f"{spec.lesson}.ipynb")
    # the plan is the master's (the template's copy), matched by position and source: the
    # submission's metadata never reaches here (rebuild keeps only its answer sources)
    skip = graded_skips(master, graded) if spec.plan else set()
    if skip:
        notes.append(
            f"{len(skip)} cell(s) of experiments and figures were not run for grading "
            "(the lesson's grading plan: no graded cell needs them)"
        )
    autograded = course / "autograded" / spec.student / spec.lesson

    from nbgrader.converters import Autograde
    from nbgrader.preprocessors import Execute

    config = course_config(course, cell_timeout=spec.cell_timeout)
    config.CourseDirectory.assignment_id = spec.lesson
    config.CourseDirectory.student_id = spec.student
    config.Autograde.create_student = True
    config.Autograde.autograde_preprocessors = [
        BoundedExecute if pp is Execute else pp
        for pp in Autograde.class_traits()["autograde_preprocessors"].default()
    ]
    # a kernel that withholds its "idle" status must not make the run an error: move on
    config.Execute.raise_on_iopub_timeout = False
    BoundedExecute.seconds = None
    BoundedExecute.skip = frozenset(skip)
    phases["prepare"] = time.perf_counter() - started
    failed = None
    try:
        autograde(spec, root, config, notes)
    except NbgraderFailed as exc:
        failed = _failed_autograde(spec, str(exc), notes)
    launches = root / LAUNCHES
    kernels = launches.read_text().splitlines() if launches.exists() else []
    if failed is not None:
        failed.kernels = kernels
        return failed
    phases["autograde"] = time.perf_counter() - started - phases["prepare"]
    phases.update(BoundedExecute.phases)
    phases["execute"] = BoundedExecute.seconds or 0.0

    mark = time.perf_counter()
    cells, tampered = _judged_cells(
        spec, autograded / f"{spec.lesson}.ipynb", master, course / "gradebook.db"
    )
    phases["judge"] = time.perf_counter() - mark
    status, reason = STATUS_GRADED, ""
    if tampered:
        status = STATUS_TAMPERED
        reason = "the kernel's reports did not hold up: " + "; ".join(tampered)[:400]
    mark = time.perf_counter()
    feedback = _feedback(spec, config, course, notes)
    phases["feedback"] = time.perf_counter() - mark
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
        BoundedExecute.seconds,
        {k: round(v, 3) for k, v in phases.items()},
        kernels,
    )


def _feedback(spec: UnitSpec, config, course: Path, notes: list[str]) -> str | None:
    """nbgrader's feedback page, sanitised, at ``spec.feedback_out``; None if it failed."""
    from nbgrader.converters import GenerateFeedback

    from autograder.feedback_exporter import FeedbackExporter
    from autograder.feedback_html import write_sanitized_feedback
    from autograder.nbgrader_run import run_converter

    config.GenerateFeedback.exporter_class = FeedbackExporter  # templates compiled once
    try:
        run_converter(GenerateFeedback, config, force=True)
        html = course / "feedback" / spec.student / spec.lesson / f"{spec.lesson}.html"
        Path(spec.feedback_out).parent.mkdir(parents=True, exist_ok=True)
        # nbgrader's page stays in the unit's folder: only a sanitised page is ever put in
        # the output (no script of the student's runs where the instructor opens it)
        write_sanitized_feedback(html, spec.feedback_out, mode=0o644)
        return spec.feedback_out
    except Exception as exc:  # noqa: BLE001 -- a page we cannot make safe is not kept
        notes.append(f"feedback could not be generated: {_clean(str(exc))[:200]}")
        return None


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
