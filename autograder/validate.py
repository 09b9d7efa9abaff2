"""``autograder validate``: every master earns every point, every student version none,
and every grading plan is safe.

For each lesson, with its grading plan (``autograder.plan``), under Binder's limits (one
CPU, 2 GB), the kernel's reports judged by the trusted judge (``autograder.judge``) as
``autograder grade`` judges them:

1. the master is well formed (``autograder.lint``), has graded cells, and its plan tags
   only free code cells (a tagged cell that a running cell needs runs: a note says so);
2. the plan is proven on the master (``autograder.plan_proof``): run without and with it,
   every cell that runs starts alike (the names it reads, the random generators it draws
   from, torch's settings); a difference is an error naming the cells. Both runs: every
   test cell earns its points, and no cell that runs raises or writes to stderr
   (``quick``: only the run with the plan, nothing proven). A proof is kept
   (``autograder.proof_cache``) and not made again while nothing it ran on changes;
3. the student version: no locked cell differs from the master (nbgrader's checksums), and
   graded as a submission (the master's test cells, hidden regions included, after the
   student version's answer cells), run with the plan: it earns 0 and no test cell passes
   even its visible checks.

Lessons are validated in parallel (``validate_course``), one line as each starts and ends.
That every plausible wrong implementation of tests/ earns the same with and without the
plan is tests/test_plan.py's (it needs the test suite's lists of wrong answers, and runs
each lesson a few times more: too slow for an instructor's check).
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path

from autograder.course import Course
from autograder.lint import master_problems
from autograder.plan import graded_skips, plan_notes, plan_problems, skipped
from autograder.plan_proof import prove
from autograder.proof_cache import Proofs

#: Binder's limits: one CPU and 2 GB. Masters and student versions are validated in them.
BINDER_CPUS = 1
BINDER_MEMORY = 2 * 2**30


@dataclass
class ValidationResult:
    """The outcome for one lesson: an empty ``problems`` list means it is valid."""

    lesson: str
    problems: list[str] = field(default_factory=list)
    checked: list[str] = field(default_factory=list)  # what was checked, for the summary
    notes: list[str] = field(default_factory=list)  # worth knowing, not wrong
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.problems

    def line(self) -> str:
        """One line for the summary, e.g. ``01_backprop: ok (12.3 s): master 20/20 ...``."""
        what = "; ".join(self.checked)
        if self.ok:
            return f"{self.lesson}: ok ({self.seconds:.1f} s): {what}"
        return f"{self.lesson}: FAILED ({len(self.problems)} problem(s), {self.seconds:.1f} s)"


def _first_line(text: str, limit: int = 300) -> str:
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    last = lines[-1] if lines else "(no message)"
    return last if len(last) <= limit else last[: limit - 1] + "…"


def _source(cell: dict) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else str(src)


def execute(nb: dict, *, skip: set[int], timeout: int) -> dict:
    """``nb`` executed in a scratch folder by nbgrader's Execute, under Binder's limits, the
    cells at ``skip`` not run (``autograder.planned_execute.PlannedExecute``); returns the
    executed notebook. Set up as nbgrader's Validator does (NBGRADER_EXECUTION)."""
    import nbformat
    from nbgrader.utils import setenv

    from autograder.config import course_config
    from autograder.nbgrader_run import put_own_tools_on_path
    from autograder.planned_execute import PlannedExecute
    from autograder.ready_client import configure
    from autograder.sandbox import write_kernelspec

    put_own_tools_on_path()
    with tempfile.TemporaryDirectory(prefix="gf-validate-") as tmp:
        limits = ["--cpus", str(BINDER_CPUS), "--memory", str(BINDER_MEMORY)]
        kernels = write_kernelspec(Path(tmp) / "jupyter", limits, {})
        path = os.pathsep.join(filter(None, [str(kernels), os.environ.get("JUPYTER_PATH")]))
        config = course_config(Path(tmp), cell_timeout=timeout)
        configure(config, Path(tmp) / "k")  # the course's own kernel: not jailed
        node = nbformat.reads(json.dumps(nb), as_version=4)  # sources joined, as read
        PlannedExecute.skip = frozenset(skip)
        with setenv(JUPYTER_PATH=path, NBGRADER_VALIDATING="1", NBGRADER_EXECUTION="validate"):
            executed, _ = PlannedExecute(config=config).preprocess(
                node, {"metadata": {"path": tmp}}
            )
        return json.loads(nbformat.writes(executed))


def _judged(executed: dict, master: dict, lesson: str) -> dict:
    from autograder.judge.verdicts import judge_notebook

    return judge_notebook(executed, master, lesson)


def _errors(executed: dict) -> list[tuple[dict, str]]:
    """(cell, error) of every code cell that raised or wrote to stderr (nbgrader's
    validate_all), skipped cells aside (they did not run)."""
    found = []
    for cell in executed["cells"]:
        for out in cell.get("outputs", []) if cell["cell_type"] == "code" else []:
            if out.get("output_type") == "error":
                found.append((cell, f"{out.get('ename')}: {out.get('evalue')}"))
                break
            if out.get("output_type") == "stream" and out.get("name") == "stderr":
                found.append((cell, _first_line(_source({"source": out.get("text", "")}))))
                break
    return found


def as_graded(master: dict, student: dict) -> dict:
    """What grading runs for a submission of ``student``: the master, whose test cells keep
    their hidden regions, with the student's answer cells (by grade id) in place."""
    answers = {
        c["metadata"]["nbgrader"]["grade_id"]: _source(c)
        for c in student["cells"]
        if c.get("metadata", {}).get("nbgrader", {}).get("solution")
    }
    nb = json.loads(json.dumps(master))
    for cell in nb["cells"]:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if meta.get("solution") and meta.get("grade_id") in answers:
            cell["source"] = answers[meta["grade_id"]]
    return nb


def _locked_problems(student: dict) -> list[str]:
    """nbgrader's own checks of a student version: types and locked cells unchanged."""
    import nbformat
    from nbgrader import utils

    problems = []
    for cell in nbformat.reads(json.dumps(student), as_version=4).cells:
        meta = cell.metadata.get("nbgrader", {})
        if not meta:
            continue
        if meta.get("cell_type") and meta["cell_type"] != cell.cell_type:
            shown = _first_line(cell.source, 80)
            problems.append(f"student version: a cell changed type: {shown!r}")
        if utils.is_locked(cell) and "checksum" in meta:
            if meta["checksum"] != utils.compute_checksum(cell):
                problems.append(
                    "student version: a locked cell differs from the master: "
                    f"{_first_line(cell.source, 80)!r}"
                )
    return problems


def _check_master(
    result: ValidationResult,
    master: dict,
    lesson: str,
    skip: set[int],
    timeout: int,
    quick: bool,
    proofs: Proofs | None,
) -> None:
    def run(nb: dict, cells: set[int]) -> dict:
        return execute(nb, skip=cells, timeout=timeout)

    kept = proofs.kept(lesson) if skip and not quick and proofs else None
    if kept:
        runs = {"master with the plan": run(master, skip)}
        result.checked.append(
            f"plan of {len(skip)} cells proven on {kept.get('proven', '?')} (this master, "
            "coursekit and libraries, unchanged since: not proven again)"
        )
    elif skip and not quick:
        found, full, planned = prove(master, run)
        result.problems += [f"grading plan: {problem}" for problem in found]
        runs = {"master": full, "master with the plan": planned}
        if not found:
            result.checked.append(f"plan of {len(skip)} cells proven (every cell that runs "
                                  "starts alike)")  # fmt: skip
    elif skip:
        runs = {"master with the plan": run(master, skip)}
        result.checked.append(f"plan of {len(skip)} cells (not proven: --quick)")
    else:
        runs = {"master": run(master, set())}
    for name, executed in runs.items():
        for cell, error in _errors(executed):
            result.problems.append(
                f"{name}: a cell fails: {_first_line(_source(cell), 80)!r} -> {_first_line(error)}"
            )
        verdicts = _judged(executed, master, lesson)
        for grade_id, verdict in verdicts.items():
            if not verdict.passed or verdict.tampered:
                result.problems.append(
                    f"{name}: {grade_id} does not earn its points: "
                    f"{_first_line(verdict.tampered or verdict.message)}"
                )
    earned = sum(v.passed for v in verdicts.values())
    result.checked.append(f"{' and '.join(runs)} {earned}/{len(verdicts)} test cells")
    if "master" in runs and skip and proofs and not result.problems:
        proofs.keep(lesson, {"proven": time.strftime("%Y-%m-%d %H:%M"), "skipped": sorted(skip)})


def _check_student(result, master: dict, student: dict, lesson: str, skip, timeout) -> None:
    result.problems += _locked_problems(student)
    graded = as_graded(master, student)
    skip = graded_skips(master, graded) if skip else set()
    executed = execute(graded, skip=skip, timeout=timeout)
    verdicts = _judged(executed, master, lesson)
    passed = [g for g, v in verdicts.items() if v.passed]
    for grade_id in passed:
        result.problems.append(f"student version: {grade_id} earns points without a solution")
    for cell in executed["cells"]:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if meta.get("grade") and not any(o.get("output_type") == "error" for o in cell["outputs"]):
            if meta["grade_id"] not in passed:
                result.problems.append(
                    "student version: a test passes without a solution (its visible checks): "
                    f"{_first_line(_source(cell), 80)!r}"
                )
    result.checked.append(f"blank student version {len(passed)}/{len(verdicts)}")


def validate_lesson(
    course: Course,
    lesson: str,
    *,
    timeout: int = 300,
    plan: bool = True,
    quick: bool = False,
    proofs: Path | None = None,
    reprove: bool = False,
) -> ValidationResult:
    """Validate the master, the student version and the grading plan of ``lesson``.

    ``proofs``: a folder of plans proven before (``autograder.proof_cache``): a plan kept
    there for the master as it is now is not proven again (unless ``reprove``), a plan
    proven now is kept."""
    started = time.perf_counter()
    result = ValidationResult(lesson)
    try:
        cache = Proofs(proofs, course.master(lesson), not reprove) if proofs else None
        _validate(result, course, lesson, timeout=timeout, plan=plan, quick=quick, proofs=cache)
    finally:
        result.seconds = time.perf_counter() - started
    return result


def _validate(
    result, course: Course, lesson: str, *, timeout: int, plan: bool, quick: bool, proofs
):
    master_path, student_path = course.master(lesson), course.student(lesson)
    result.problems += master_problems(master_path)
    if result.problems:
        return
    master = json.loads(master_path.read_text(encoding="utf-8"))
    if not any(c.get("metadata", {}).get("nbgrader", {}).get("grade") for c in master["cells"]):
        result.problems.append(f"{master_path.name}: has no graded test cell")
        return
    result.problems += [f"grading plan: {p}" for p in plan_problems(master)]
    result.notes += [f"grading plan: {n}" for n in plan_notes(master)] if plan else []
    if result.problems:
        return
    skip = skipped(master) if plan else set()
    _check_master(result, master, lesson, skip, timeout, quick, proofs)
    if not student_path.is_file():
        result.problems.append(f"student version {student_path} missing: run `autograder release`")
        return
    student = json.loads(student_path.read_text(encoding="utf-8"))
    _check_student(result, master, student, lesson, skip, timeout)


def _start(course: Course, lesson: str, options: dict) -> ValidationResult:
    return validate_lesson(course, lesson, **options)


def validate_course(
    course: Course,
    lessons: list[str],
    *,
    workers: int = 2,
    on_start: Callable[[str, float], None] = lambda lesson, at: None,
    on_done: Callable[[ValidationResult], None] = lambda result: None,
    **options,
) -> list[ValidationResult]:
    """Validate ``lessons``, ``workers`` at a time, each in a process of its own;
    ``on_start(lesson, seconds since the start)`` and ``on_done(result)`` are called as
    each lesson starts and ends. Results in the order of ``lessons``."""
    import multiprocessing

    results: dict[str, ValidationResult] = {}
    pending = list(lessons)
    started = time.perf_counter()
    workers = max(1, min(workers, len(lessons)))
    context = multiprocessing.get_context("forkserver")
    with ProcessPoolExecutor(workers, mp_context=context) as pool:
        running: dict[Future, str] = {}

        def submit() -> None:
            lesson = pending.pop(0)
            on_start(lesson, time.perf_counter() - started)
            running[pool.submit(_start, course, lesson, options)] = lesson

        while pending and len(running) < workers:
            submit()
        while running:
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                lesson = running.pop(future)
                results[lesson] = future.result()
                on_done(results[lesson])
                if pending:
                    submit()
    return [results[lesson] for lesson in lessons]
