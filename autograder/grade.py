"""``autograder grade``: grade a whole class, in parallel, under limits, resumably.

Each (student, lesson) unit is graded by ``python -m autograder.unit`` in its own
process and folder with its own gradebook; ``grade_in_subprocess`` is the task
handed to a ``concurrent.futures.Executor`` (local threads by default; a
cluster's executor, e.g. Dask's ``Client.get_executor()``, works the same where
the workers share the file system). The class's gradebook has one writer at a
time: a set-up process makes it, then this process merges each unit into it as
results arrive. A unit's result is kept in
``RESULTS/units/<student>__<lesson>.json``: a run that is interrupted and
started again grades only what is missing.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import shutil
import signal
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import (
    FIRST_COMPLETED,
    Executor,
    Future,
    ProcessPoolExecutor,
    ThreadPoolExecutor,
    wait,
)
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from autograder.config import course_config
from autograder.course import Course, UsageError
from autograder.csv_safe import safe_writer
from autograder.results_lock import results_lock
from autograder.sandbox import MODE_TEXT, SCRATCH_PREFIX, build_kernel_site, isolation_mode
from autograder.submissions import Unit, digest, find_units, unpack
from autograder.unit import STATUS_ERROR, STATUS_INVALID, STATUS_TIMEOUT, UnitResult, UnitSpec

# Kernels run as users 61000-64999 (no such accounts need to exist): one per unit in flight.
KERNEL_UID_BASE = 61000
KERNEL_UIDS = 4000


@dataclass
class GradeOptions:
    workers: int | None = None  # default: the CPUs this process may use
    lessons: list[str] | None = None
    students: list[str] | None = None
    cell_timeout: int = 120
    notebook_timeout: int = 900
    memory_bytes: int = 2 * 2**30
    nproc: int = 256
    fresh: bool = False  # regrade everything, even units already graded
    isolation: str | None = None  # autograder.sandbox's mode; None: the best this machine has
    progress: bool = True


@dataclass
class Template:
    lesson: str
    folder: Path
    max_cells: list[dict] = field(default_factory=list)


def parse_size(text: str) -> int:
    """``2G``, ``1500M``, ``512k`` or a number of bytes."""
    units = {"k": 2**10, "m": 2**20, "g": 2**30}
    raw = text.strip().lower().removesuffix("b").removesuffix("i")
    try:
        if raw and raw[-1] in units:
            value = int(float(raw[:-1]) * units[raw[-1]])
        else:
            value = int(raw)
    except ValueError:
        raise UsageError(f"--memory {text!r}: give a size like 2G or 1500M") from None
    if value < 64 * 2**20:
        raise UsageError(f"--memory {text!r}: at least 64M is needed to start a kernel")
    return value


def _cpus() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:
        return os.cpu_count() or 1


def _digest(path: Path | None) -> str | None:
    return None if path is None else digest(path)  # in chunks; a symbolic link is not followed


def build_template(course: Course, lesson: str, folder: Path) -> Template:
    """A course folder for one lesson: master, released version, gradebook with its cells."""
    from nbgrader.converters import GenerateAssignment

    from autograder.lint import check_master
    from autograder.nbgrader_run import course_copy, run_converter

    check_master(course.master(lesson))
    master = course_copy(course.root, lesson, folder)
    config = course_config(folder)
    config.CourseDirectory.assignment_id = lesson
    run_converter(GenerateAssignment, config, force=True)
    cells = json.loads(master.read_text())["cells"]
    max_cells = [
        {
            "grade_id": c["metadata"]["nbgrader"]["grade_id"],
            "max_points": float(c["metadata"]["nbgrader"]["points"]),
        }
        for c in cells
        if c.get("metadata", {}).get("nbgrader", {}).get("grade")
    ]
    return Template(lesson, folder, max_cells)


def prepare_class_gradebook(course_root: Path, lessons: list[str], root: Path, url: str) -> None:
    """The class's gradebook at ``url``: every lesson's cells, by nbgrader's generate_assignment."""
    from nbgrader.converters import GenerateAssignment

    from autograder.nbgrader_run import course_copy, run_converter

    for lesson in lessons:
        shutil.rmtree(root / "source" / lesson, ignore_errors=True)
        course_copy(course_root, lesson, root)
        config = course_config(root)
        config.CourseDirectory.db_url = url
        config.CourseDirectory.assignment_id = lesson
        run_converter(GenerateAssignment, config, force=True)


_CONTEXT = None


def _context():
    """A forkserver that has nbgrader imported once: each unit forks from it in
    milliseconds instead of paying nbgrader's import (seconds) in a fresh interpreter."""
    global _CONTEXT
    if _CONTEXT is None:
        import multiprocessing

        _CONTEXT = multiprocessing.get_context("forkserver")
        _CONTEXT.set_forkserver_preload(["autograder.unit"])
    return _CONTEXT


def _unit_process(spec_path: str) -> None:
    """The unit's process: its own session (so the kernel dies with it), its own log."""
    os.setsid()
    log = os.open(Path(spec_path).with_name("grader.log"), os.O_WRONLY | os.O_CREAT, 0o644)
    os.dup2(log, 1)  # the kernel inherits both: its chatter goes to the log
    os.dup2(log, 2)
    from autograder.unit import main as unit_main

    unit_main(spec_path)


def grade_in_subprocess(spec: dict, wall_timeout: float) -> dict:
    """Grade one unit in its own process under a wall-clock limit; return its result dict.

    A top-level function of plain data, so that any Executor can run it.
    """
    workdir = Path(spec["workdir"])
    workdir.mkdir(parents=True, exist_ok=True)
    spec_path = workdir / "SPEC.json"
    spec_path.write_text(json.dumps(spec))
    started = time.perf_counter()
    result = _run_unit(spec, spec_path, workdir, wall_timeout)
    result["seconds"] = round(time.perf_counter() - started, 3)
    return result


def _run_unit(spec: dict, spec_path: Path, workdir: Path, wall_timeout: float) -> dict:
    proc = _context().Process(target=_unit_process, args=(str(spec_path),), daemon=False)
    proc.start()
    proc.join(wall_timeout)
    timed_out = proc.is_alive()
    try:  # the unit's whole session: its kernel and anything the submission started
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    proc.join()
    if timed_out:
        return _failed(
            spec, STATUS_TIMEOUT, f"the notebook ran longer than the limit of {wall_timeout:g} s"
        )
    result_path = workdir / "RESULT.json"
    if not result_path.is_file():
        log_path = workdir / "grader.log"
        log = log_path.read_text(errors="replace")[-500:] if log_path.exists() else ""
        return _failed(spec, STATUS_ERROR, f"the grading process ended without a result: {log}")
    return json.loads(result_path.read_text())


def _failed(spec: dict, status: str, reason: str) -> dict:
    cells = [
        {
            "grade_id": c["grade_id"],
            "points": 0.0,
            "max_points": c["max_points"],
            "passed": False,
            "message": reason,
        }
        for c in spec["max_cells"]
    ]
    return UnitResult.from_json(
        {
            "student": spec["student"],
            "lesson": spec["lesson"],
            "status": status,
            "score": 0.0,
            "max_score": sum(c["max_points"] for c in spec["max_cells"]),
            "reason": reason,
            "notes": [],
            "cells": cells,
            "feedback": None,
        }
    ).to_json()


class LongestFirst:
    """Pending units, handed out longest expected first, so that the run does not end
    with one long notebook on one worker while the others sit idle.

    A unit's expected time is the mean of its lesson's units timed so far (in this
    run or an earlier one); lessons not timed yet come first, in the given order.
    """

    def __init__(self, units: list[Unit], seconds: dict[str, list[float]]):
        self._units = list(units)
        self._seconds = {lesson: list(times) for lesson, times in seconds.items()}

    def __bool__(self) -> bool:
        return bool(self._units)

    def _expected(self, unit: Unit) -> float:
        times = self._seconds.get(unit.lesson)
        return statistics.mean(times) if times else math.inf

    def pop(self) -> Unit:
        best = max(range(len(self._units)), key=lambda i: self._expected(self._units[i]))
        return self._units.pop(best)

    def timed(self, lesson: str, seconds: float) -> None:
        self._seconds.setdefault(lesson, []).append(seconds)


class ClassGrader:
    """Grade SUBMISSIONS into RESULTS; see the module docstring."""

    def __init__(
        self,
        course: Course,
        submissions: Path,
        out: Path,
        options: GradeOptions,
        executor_factory: Callable[[int], Executor] | None = None,
    ):
        self.course = course
        self.submissions = submissions.absolute()
        self.out = out.absolute()  # nbgrader's converters chdir: relative paths would move
        self.options = options
        self.executor_factory = executor_factory or (lambda n: ThreadPoolExecutor(n))
        self.lessons = course.select(options.lessons)
        self.units_dir = out / "units"
        self.work = out / ".work"
        self._gradebook_ready: Future | None = None  # set by _set_up
        self.isolation = options.isolation or isolation_mode()
        self._uids = itertools.count()

    def _next_uid(self) -> int:
        """A user of its own for each unit's kernel: process limits and files are per uid."""
        return KERNEL_UID_BASE + next(self._uids) % KERNEL_UIDS

    # -- set-up -----------------------------------------------------------
    def _input_root(self) -> Path:
        if self.submissions.is_file():
            target = self.work / "unzipped"
            shutil.rmtree(target, ignore_errors=True)
            return unpack(self.submissions, target)
        if not self.submissions.exists():
            raise UsageError(f"{self.submissions}: no such folder or zip file")
        return self.submissions

    def _gradebook_url(self) -> str:
        return f"sqlite:///{self.out / 'gradebook.db'}"

    def _set_up(self, setup: Executor) -> dict[str, Template]:
        """Every lesson's template, built side by side; the class's gradebook is prepared
        meanwhile, and ``_merge_into_gradebook`` waits for it (units take far longer)."""
        self._gradebook_ready = setup.submit(
            prepare_class_gradebook,
            self.course.root,
            self.lessons,
            self.work / "class-course",
            self._gradebook_url(),
        )
        jobs = {}
        for lesson in self.lessons:
            folder = self.work / "templates" / lesson
            shutil.rmtree(folder, ignore_errors=True)
            jobs[lesson] = setup.submit(build_template, self.course, lesson, folder)
        return {lesson: job.result() for lesson, job in jobs.items()}

    # -- results ----------------------------------------------------------
    def _result_path(self, unit: Unit) -> Path:
        return self.units_dir / f"{unit.key}.json"

    def _already_graded(self, unit: Unit) -> bool:
        path = self._result_path(unit)
        if self.options.fresh or not path.is_file():
            return False
        try:
            stored = json.loads(path.read_text())
        except ValueError:
            return False
        return stored.get("submission_sha256") == _digest(unit.path)

    def _seconds_so_far(self) -> dict[str, list[float]]:
        """{lesson: seconds of each unit graded in RESULTS}, to schedule this run."""
        found: dict[str, list[float]] = {}
        for path in self.units_dir.glob("*.json"):
            try:
                result = json.loads(path.read_text())
                found.setdefault(result["lesson"], []).append(float(result["seconds"]))
            except (ValueError, KeyError, TypeError):
                continue
        return found

    def _record(self, unit: Unit, result: dict) -> None:
        """Write the unit's grades to the gradebook, then keep its result file.

        In that order: a result file on disk means the gradebook has the grades,
        so a run interrupted between the two grades the unit again, once.
        """
        result["submission_sha256"] = _digest(unit.path)
        result["isolation"] = self.isolation  # what walled this unit's kernel in
        result["notes"] = [*unit.notes, *result["notes"]]
        self._merge_into_gradebook(result)
        path = self._result_path(unit)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(result, indent=1))
        os.replace(tmp, path)

    def _merge_into_gradebook(self, result: dict) -> None:
        import warnings

        from nbgrader.api import Gradebook, MissingEntry
        from sqlalchemy.exc import SAWarning

        # nbgrader's add_submission trips SQLAlchemy's autoflush warnings; they are harmless
        assert self._gradebook_ready is not None, "_set_up() makes the class gradebook first"
        self._gradebook_ready.result()  # raises if it could not be made
        with warnings.catch_warnings(), Gradebook(self._gradebook_url(), "gradient-flow") as gb:
            warnings.simplefilter("ignore", SAWarning)
            gb.update_or_create_student(result["student"])
            try:
                gb.remove_submission(result["lesson"], result["student"])
            except MissingEntry:
                pass
            submission = gb.add_submission(result["lesson"], result["student"])
            points = {c["grade_id"]: c["points"] for c in result["cells"]}
            for notebook in submission.notebooks:
                for grade in notebook.grades:
                    grade.auto_score = points.get(grade.name, 0.0)
            gb.db.commit()

    # -- the run ----------------------------------------------------------
    def _spec(self, unit: Unit, templates: dict[str, Template], scratch: Path) -> dict:
        template = templates[unit.lesson]
        return asdict(
            UnitSpec(
                student=unit.student,
                lesson=unit.lesson,
                submission=None if unit.path is None else str(unit.path.resolve()),
                template=str(template.folder),
                workdir=str(scratch / unit.key),
                feedback_out=str(self.out / "feedback" / unit.student / f"{unit.lesson}.html"),
                max_cells=template.max_cells,
                cell_timeout=self.options.cell_timeout,
                memory_bytes=self.options.memory_bytes,
                nproc=self.options.nproc,
                isolation=self.isolation,
                uid=self._next_uid(),
                kernel_site=str(scratch / "kernel-site"),
            )
        )

    def run(self) -> list[dict]:
        """Grade what needs grading; return every selected unit's result.

        One run at a time into RESULTS: another one running there is a UsageError.
        """
        with results_lock(self.out):
            return self._run()

    def _run(self) -> list[dict]:
        if self.options.progress:
            print(f"isolation: {self.isolation}: {MODE_TEXT[self.isolation]}", file=sys.stderr)
        self.out.mkdir(parents=True, exist_ok=True)
        self.units_dir.mkdir(exist_ok=True)
        root = self._input_root()
        units = find_units(root, self.lessons, self.options.students)
        pending = [u for u in units if not self._already_graded(u)]
        workers = max(1, min(self.options.workers or _cpus(), len(pending) or 1))
        # nbgrader's converters chdir: set-up runs in processes, not threads. Forked from
        # the units' forkserver, which is thereby started (and nbgrader loaded) meanwhile.
        setup = ProcessPoolExecutor(workers + 1, mp_context=_context())
        scratch = Path(tempfile.mkdtemp(prefix=SCRATCH_PREFIX))
        try:
            templates = self._set_up(setup)
            build_kernel_site(scratch / "kernel-site")  # what of autograder a kernel sees
            self._grade(pending, templates, scratch, workers)
            self._gradebook_ready.result()  # exists for export even when nothing was pending
        finally:
            setup.shutdown(cancel_futures=True)
            if os.environ.get("AUTOGRADER_KEEP_WORK"):  # to inspect what a kernel saw
                print(f"kept the work folders in {scratch}", file=sys.stderr)
            else:
                shutil.rmtree(scratch, ignore_errors=True)
        results = [json.loads(self._result_path(u).read_text()) for u in units]
        self._write_reports()
        return results

    def _grade(self, pending: list[Unit], templates, scratch: Path, workers: int) -> None:
        if not pending:
            return
        bar = None
        if self.options.progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=len(pending), desc="grading", unit="notebook")
        pool = self.executor_factory(workers)
        queue = LongestFirst(pending, self._seconds_so_far())
        running: dict[Future, Unit] = {}

        def submit(unit: Unit) -> None:
            if unit.refused:  # a file that is not graded (a link, too big): nothing to run
                spec = self._spec(replace(unit, path=None), templates, scratch)
                future: Future = Future()
                future.set_result({**_failed(spec, STATUS_INVALID, unit.refused), "seconds": 0.0})
            else:
                spec = self._spec(unit, templates, scratch)
                future = pool.submit(grade_in_subprocess, spec, self.options.notebook_timeout)
            running[future] = unit

        try:
            # As many units in flight as workers, not all: the next one is chosen when a
            # worker frees, by what the run has learnt of each lesson's time.
            while queue and len(running) < workers:
                submit(queue.pop())
            while running:
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                finished = [(running.pop(future), future.result()) for future in done]
                for unit, result in finished:
                    if not unit.refused:
                        queue.timed(unit.lesson, result["seconds"])
                while queue and len(running) < workers:  # refill first: recording takes time
                    submit(queue.pop())
                for unit, result in finished:
                    self._record(unit, result)
                    if bar is not None:
                        bar.set_postfix_str(f"{unit.student}/{unit.lesson}", refresh=False)
                        bar.update()
        except BaseException:  # Ctrl-C: what is recorded stays; nothing new is started
            pool.shutdown(wait=False, cancel_futures=True)
            raise
        pool.shutdown()
        if bar is not None:
            bar.close()

    def _write_reports(self) -> None:
        """grades.csv and report.json over every unit graded so far in RESULTS."""
        results = [json.loads(p.read_text()) for p in sorted(self.units_dir.glob("*.json"))]
        with open(self.out / "grades.csv", "w", newline="", encoding="utf-8") as f:
            writer = safe_writer(f)  # no cell a spreadsheet runs as a formula
            writer.writerow(["student", "lesson", "score", "max_score", "status"])
            for r in results:
                writer.writerow(
                    [
                        r["student"],
                        r["lesson"],
                        f"{r['score']:g}",
                        f"{r['max_score']:g}",
                        r["status"],
                    ]
                )
        report = [
            {
                k: r.get(k)
                for k in (
                    "student",
                    "lesson",
                    "status",
                    "score",
                    "max_score",
                    "reason",
                    "notes",
                    "cells",
                    "feedback",
                    "isolation",
                )
            }
            for r in results
        ]
        (self.out / "report.json").write_text(json.dumps(report, indent=1))


def summary(results: list[dict]) -> str:
    """The table printed at the end of a run."""
    students = sorted({r["student"] for r in results})
    lines = [
        f"{len(students)} student(s), {len(results)} notebook(s)",
        "",
        f"{'lesson':26s} {'mean score':>12s} {'max':>6s} {'graded':>8s}",
    ]
    for lesson in sorted({r["lesson"] for r in results}):
        rows = [r for r in results if r["lesson"] == lesson]
        mean = statistics.mean(r["score"] for r in rows)
        lines.append(f"{lesson:26s} {mean:12.2f} {rows[0]['max_score']:6g} {len(rows):8d}")
    problems = Counter(r["status"] for r in results if r["status"] != "graded")
    lines.append("")
    if problems:
        lines.append(
            "not fully graded, by reason: "
            + ", ".join(f"{status} {count}" for status, count in sorted(problems.items()))
        )
    else:
        lines.append("every notebook ran and was graded")
    return "\n".join(lines)


def export(gradebook: Path, out: Path) -> int:
    """Write student, lesson, score, max_score for every submission in the gradebook."""
    from nbgrader.api import Gradebook

    if not gradebook.is_file():
        raise UsageError(f"{gradebook}: no gradebook there (run `autograder grade` first)")
    rows = 0
    with (
        Gradebook(f"sqlite:///{gradebook}", "gradient-flow") as gb,
        open(out, "w", newline="", encoding="utf-8") as f,
    ):
        writer = safe_writer(f)  # no cell a spreadsheet runs as a formula
        writer.writerow(["student", "lesson", "score", "max_score"])
        for assignment in sorted(gb.assignments, key=lambda a: a.name):
            for submission in sorted(assignment.submissions, key=lambda s: s.student.id):
                writer.writerow(
                    [
                        submission.student.id,
                        assignment.name,
                        f"{submission.score:g}",
                        f"{submission.max_score:g}",
                    ]
                )
                rows += 1
    return rows
