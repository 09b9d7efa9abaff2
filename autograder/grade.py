"""``autograder grade``: grade a whole class, in parallel, under limits, resumably.

Each (student, lesson) unit is graded by ``autograder.unit`` in its own process
and folder with its own gradebook (``autograder.unit_process``), handed to a
``concurrent.futures.Executor`` (local threads by default; a cluster's executor,
e.g. Dask's ``Client.get_executor()``, works the same where the workers share the
file system), longest expected first (``autograder.schedule``). The class's
gradebook has one writer (``autograder.gradebook``). A unit's result is kept in
``RESULTS/units/<student>__<lesson>.json``: a run that is interrupted and started
again grades only what is missing. Reports: ``autograder.reports``.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from collections.abc import Callable
from concurrent.futures import (
    FIRST_COMPLETED,
    Executor,
    Future,
    ProcessPoolExecutor,
    ThreadPoolExecutor,
    wait,
)
from dataclasses import asdict, replace
from pathlib import Path

from autograder.course import Course, UsageError
from autograder.forkserver import forkserver
from autograder.grade_options import GradeOptions, parse_size
from autograder.gradebook import (
    Template,
    build_template,
    export,
    merge_unit,
    prepare_class_gradebook,
)
from autograder.kernel_uids import LOCKS, UidPool
from autograder.reports import summary, write_reports
from autograder.results_lock import results_lock
from autograder.sandbox import (
    ISOLATED,
    MODE_TEXT,
    SCRATCH_PREFIX,
    build_kernel_site,
    isolation_mode,
    zygote_env,
)
from autograder.schedule import LongestFirst, worker_count
from autograder.submissions import Unit, digest, find_units, unpack
from autograder.unit import STATUS_INVALID, UnitSpec
from autograder.unit_memory import memory_mode_text
from autograder.unit_process import failed, grade_in_subprocess
from autograder.zygote.client import Zygote
from autograder.zygote.client import start as start_zygote

# What the command line, the README's Dask example and the tests import from here.
__all__ = ["ClassGrader", "GradeOptions", "LongestFirst", "export", "parse_size", "summary"]


def _digest(path: Path | None) -> str | None:
    return None if path is None else digest(path)  # in chunks; a symbolic link is not followed


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
        self.units_dir = self.out / "units"
        self.work = self.out / ".work"
        self._gradebook_ready: Future | None = None  # set by _set_up
        self.isolation = options.isolation or isolation_mode()
        # kernels run as users 61000-64999 (no such accounts need to exist) where isolated
        self._uids = UidPool(locks=LOCKS if self.isolation == ISOLATED else None)
        self._zygote: Zygote | None = None

    def _next_uid(self) -> int:
        """A user of its own for each unit's kernel: process limits and files are per uid."""
        return self._uids.take()

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

    def _set_up(self, setup: Executor) -> dict[str, Future[Template]]:
        """Every lesson's template, being built side by side; the class's gradebook is
        prepared meanwhile, and ``_record`` waits for it (units take far longer)."""
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
        return jobs

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

    def _record(self, unit: Unit, result: dict, sha256: str | None) -> None:
        """Write the unit's grades to the gradebook, then keep its result file.

        In that order: a result file on disk means the gradebook has the grades,
        so a run interrupted between the two grades the unit again, once. ``sha256``: the
        submission's, taken before it was graded (a file changed meanwhile is graded again).
        """
        result["submission_sha256"] = sha256
        result["isolation"] = self.isolation  # what walled this unit's kernel in
        result["notes"] = [*unit.notes, *result["notes"]]
        assert self._gradebook_ready is not None, "_set_up() makes the class gradebook first"
        self._gradebook_ready.result()  # raises if it could not be made
        merge_unit(self._gradebook_url(), result)
        path = self._result_path(unit)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(result, indent=1))
        os.replace(tmp, path)

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
                plan=self.options.plans,
                zygote=str(self._zygote.socket) if self._zygote else "",
            )
        )

    def run(self, *, locked: bool = False) -> list[dict]:
        """Grade what needs grading; return every selected unit's result.

        One run at a time into RESULTS: another one running there is a UsageError.
        ``locked``: the caller holds ``results_lock`` of RESULTS already (the command line
        takes it before loading the grader, so that a second run stops at once).
        """
        if locked:
            return self._run()
        with results_lock(self.out):
            return self._run()

    def _run(self) -> list[dict]:
        if self.options.progress:
            print(f"isolation: {self.isolation}: {MODE_TEXT[self.isolation]}", file=sys.stderr)
            print(f"memory: {memory_mode_text()}", file=sys.stderr)
        self.out.mkdir(parents=True, exist_ok=True)
        self.units_dir.mkdir(exist_ok=True)
        root = self._input_root()
        units = find_units(root, self.lessons, self.options.students)
        pending = [u for u in units if not self._already_graded(u)]
        workers = worker_count(self.options.workers, len(pending))
        # nbgrader's converters chdir: set-up runs in processes, not threads. Forked from
        # the units' forkserver, which is thereby started (and nbgrader loaded) meanwhile.
        setup = ProcessPoolExecutor(workers + 1, mp_context=forkserver())
        scratch = Path(tempfile.mkdtemp(prefix=SCRATCH_PREFIX))
        try:
            building = self._set_up(setup)
            build_kernel_site(scratch / "kernel-site")  # what of autograder a kernel sees
            if pending and self.options.zygote and self.isolation == ISOLATED:
                # started while the templates build: it preloads for a few seconds
                self._zygote = start_zygote(scratch / "zygote", zygote_env(scratch / "kernel-site"))
                if self.options.progress:
                    print("kernels: forked from a preloaded zygote into that jail", file=sys.stderr)
            templates = {lesson: job.result() for lesson, job in building.items()}
            self._grade(pending, templates, scratch, workers)
            self._gradebook_ready.result()  # exists for export even when nothing was pending
        finally:
            setup.shutdown(cancel_futures=True)
            self._uids.release_all()
            if self._zygote is not None:
                ended = self._zygote.stop()
                self._zygote = None
                if ended:  # its units' kernels were started under bubblewrap (report.json)
                    print(f"warning: the kernel zygote ended early ({ended})", file=sys.stderr)
            if os.environ.get("AUTOGRADER_KEEP_WORK"):  # to inspect what a kernel saw
                print(f"kept the work folders in {scratch}", file=sys.stderr)
            else:
                shutil.rmtree(scratch, ignore_errors=True)
        results = [json.loads(self._result_path(u).read_text()) for u in units]
        write_reports(self.out, self.units_dir)
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
        running: dict[Future, tuple[Unit, str | None]] = {}

        def submit(unit: Unit) -> None:
            sha256 = _digest(unit.path)  # before grading: what the recorded grades are of
            if unit.refused:  # a file that is not graded (a link, too big): nothing to run
                spec = self._spec(replace(unit, path=None), templates, scratch)
                future: Future = Future()
                future.set_result({**failed(spec, STATUS_INVALID, unit.refused), "seconds": 0.0})
            else:
                spec = self._spec(unit, templates, scratch)
                future = pool.submit(grade_in_subprocess, spec, self.options.notebook_timeout)
            future.add_done_callback(lambda _, uid=spec["uid"]: self._uids.release(uid))
            running[future] = (unit, sha256)

        try:
            # As many units in flight as workers, not all: the next one is chosen when a
            # worker frees, by what the run has learnt of each lesson's time.
            while queue and len(running) < workers:
                submit(queue.pop())
            while running:
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                finished = [(running.pop(future), future.result()) for future in done]
                for (unit, _), result in finished:
                    if not unit.refused:
                        queue.timed(unit.lesson, result["seconds"])
                while queue and len(running) < workers:  # refill first: recording takes time
                    submit(queue.pop())
                for (unit, sha256), result in finished:
                    self._record(unit, result, sha256)
                    if bar is not None:
                        bar.set_postfix_str(f"{unit.student}/{unit.lesson}", refresh=False)
                        bar.update()
        except BaseException:  # Ctrl-C: what is recorded stays; nothing new is started
            pool.shutdown(wait=False, cancel_futures=True)
            raise
        pool.shutdown()
        if bar is not None:
            bar.close()
