"""The ``autograder`` command: release, validate (and grade) the course's lessons.

Exit status: 0 success, 1 a lesson failed or the tool itself failed, 2 bad arguments.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from autograder.course import Course, UsageError

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def _course(args: argparse.Namespace) -> Course:
    course = Course()
    if args.course is not None:
        if not (args.course / "source").is_dir():
            raise UsageError(f"--course {args.course}: no source/ folder of masters there")
        course = Course(root=args.course.resolve(), notebooks=course.notebooks)
    if args.notebooks is not None:
        course = Course(root=course.root, notebooks=args.notebooks.resolve())
    return course


def cmd_release(args: argparse.Namespace) -> int:
    from autograder.lint import MasterError
    from autograder.nbgrader_run import NbgraderFailed
    from autograder.release import release

    course = _course(args)
    status = EXIT_OK
    for lesson in course.select(args.lessons):
        try:
            path = release(course, lesson)
        except (MasterError, NbgraderFailed) as exc:
            print(f"{lesson}: NOT released\n{exc}", file=sys.stderr)
            status = EXIT_FAILED
            continue
        print(f"{lesson}: released -> {path}")
    return status


def cmd_validate(args: argparse.Namespace) -> int:
    import time

    from autograder.proof_cache import default_folder
    from autograder.validate import ValidationResult, validate_course
    from coursekit.runtime import available_cpus

    course = _course(args)
    lessons = course.select(args.lessons)
    started = time.perf_counter()

    def done(result: ValidationResult) -> None:
        print(result.line(), flush=True)
        for problem in result.problems:
            print(f"    {problem}", flush=True)
        for note in result.notes:
            print(f"    note: {note}", flush=True)

    results = validate_course(
        course,
        lessons,
        workers=args.workers or available_cpus(),
        on_start=lambda lesson, at: print(f"{lesson}: started at {at:.0f} s", flush=True),
        on_done=done,
        timeout=args.timeout,
        plan=not args.no_plan,
        quick=args.quick,
        proofs=default_folder(course.root),
        reprove=args.reprove,
    )
    failed = [r.lesson for r in results if not r.ok]
    print(
        f"{len(results) - len(failed)}/{len(results)} lesson(s) valid in "
        f"{time.perf_counter() - started:.1f} s"
        + (f"; FAILED: {', '.join(failed)}" if failed else "")
    )
    return EXIT_FAILED if failed else EXIT_OK


def cmd_grade(args: argparse.Namespace) -> int:
    from autograder.results_lock import results_lock

    # taken first: a second run into the same RESULTS stops at once, having loaded nothing
    with results_lock(args.out):
        return _grade(args)


def _grade(args: argparse.Namespace) -> int:
    from autograder.forkserver import start

    start()  # it loads nbgrader and torch while this process loads the grader
    from autograder.grade import ClassGrader, GradeOptions, parse_size, summary
    from autograder.lint import MasterError

    course = _course(args)
    options = GradeOptions(
        workers=args.workers,
        lessons=args.lessons,
        students=args.students,
        cell_timeout=args.timeout,
        notebook_timeout=args.notebook_timeout,
        memory_bytes=parse_size(args.memory),
        fresh=args.fresh,
        progress=not args.quiet,
        plans=not args.no_plan,
        zygote=not args.no_zygote,
    )
    if args.workers is not None and args.workers < 1:
        raise UsageError("--workers must be at least 1")
    grader = ClassGrader(course, args.submissions, args.out, options)
    try:
        results = grader.run(locked=True)  # cmd_grade holds RESULTS' lock
    except MasterError as exc:  # the course, not a submission: nothing could be graded
        print(f"autograder grade: a master notebook cannot be used:\n{exc}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print(
            "\ninterrupted: grades recorded so far are kept; run the same command to finish",
            file=sys.stderr,
        )
        return 130
    print(summary(results))
    print(f"\nresults in {args.out}: grades.csv, report.json, gradebook.db, feedback/")
    failed = [f"{r['student']}/{r['lesson']}" for r in results if r["status"] == "grader_error"]
    if failed:  # each still has its row and reason: no submission makes the run fail
        print(
            f"the grader failed on {len(failed)} unit(s): {', '.join(failed[:10])}", file=sys.stderr
        )
    return EXIT_OK


def cmd_export(args: argparse.Namespace) -> int:
    from autograder.exports import export

    for line in export(args.format, args.results, args.out, args.roster, args.visibility):
        print(line)
    return EXIT_OK


def cmd_publish(args: argparse.Namespace) -> int:
    from autograder.publish import PublishError, publish

    try:
        result = publish(args.out, force=args.force, binder=args.binder)
    except PublishError as exc:
        print(f"autograder publish: NOT published\n{exc}", file=sys.stderr)
        return EXIT_FAILED
    print(result.summary())
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="autograder", description="Release, validate and grade the Gradient Flow course."
    )
    sub = parser.add_subparsers(dest="command", required=True)

    def lesson_command(name: str, help_text: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.add_argument("lessons", nargs="*", metavar="LESSON", help="lesson ids (default: all)")
        p.add_argument("--course", type=Path, help="course root (default: the autograder folder)")
        p.add_argument(
            "--notebooks", type=Path, help="student notebooks folder (default: notebooks/)"
        )
        return p

    p = lesson_command("release", "Write each lesson's student version to notebooks/.")
    p.set_defaults(func=cmd_release)
    p = lesson_command(
        "validate", "Check that every master passes its tests and every student version none."
    )
    p.add_argument("--timeout", type=int, default=300, help="seconds per cell (default 300)")
    p.add_argument("--workers", type=int, help="lessons at once (default: the CPUs available)")
    p.add_argument(
        "--no-plan", action="store_true", help="run every cell (ignore the grading plans)"
    )
    p.add_argument(
        "--quick",
        action="store_true",
        help="do not prove the plans (no run of each master without its plan)",
    )
    p.add_argument(
        "--reprove",
        action="store_true",
        help="prove every plan again, even one proven before on the same master, coursekit "
        "and libraries (proofs are kept in build/plan-proofs beside the course)",
    )
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser(
        "grade",
        help="Grade a class's submissions in parallel.",
        description="Grade every (student, lesson) submission in its own kernel, "
        "in parallel, under limits; write grades.csv, report.json, the gradebook "
        "and feedback to --out.",
    )
    p.add_argument(
        "submissions",
        type=Path,
        metavar="SUBMISSIONS",
        help="a folder <student>/<lesson>.ipynb, nbgrader's submitted/ layout, or a .zip",
    )
    p.add_argument("--out", type=Path, required=True, metavar="RESULTS")
    p.add_argument("--workers", type=int, help="parallel notebooks (default: the CPUs available)")
    p.add_argument("--lessons", nargs="+", metavar="L", help="only these lessons")
    p.add_argument("--students", nargs="+", metavar="S", help="only these students")
    p.add_argument(
        "--timeout", type=int, default=120, metavar="SECONDS", help="limit per cell (default 120)"
    )
    p.add_argument(
        "--notebook-timeout",
        type=int,
        default=900,
        metavar="SECONDS",
        help="wall-clock limit per notebook (default 900)",
    )
    p.add_argument(
        "--memory",
        default="2G",
        metavar="SIZE",
        help="memory of a kernel and all it starts, where cgroups allow (a lesson's kernel "
        "holds about 0.5G); else the address space of each of its processes (a lesson's "
        "kernel maps up to 1.7G) (default 2G, at least 512M)",
    )
    p.add_argument("--fresh", action="store_true", help="regrade units already graded in RESULTS")
    p.add_argument(
        "--no-plan",
        action="store_true",
        help="run every cell, even those the masters' grading plans skip (slower, same grades)",
    )
    p.add_argument(
        "--no-zygote",
        action="store_true",
        help="start every kernel afresh under bubblewrap, not forked from the preloaded "
        "zygote (slower, same jail, same grades)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--course", type=Path, help="course root (default: the autograder folder)")
    p.add_argument("--notebooks", type=Path, help=argparse.SUPPRESS)
    p.set_defaults(func=cmd_grade)

    p = sub.add_parser(
        "export",
        help="Export grades from the gradebook: CSV, Gradescope or Canvas.",
        description="Export the grades of a graded class. csv: student, lesson, score, "
        "max_score (FILE). gradescope: Gradescope's results.json per submission "
        "(OUT/<lesson>/<student>/results.json, or one FILE.json for a class of one "
        "submission, as in Gradescope's run_autograder). canvas: a CSV for Canvas's "
        "Grades > Import; --roster maps the grader's student ids to Canvas's.",
    )
    p.add_argument("--out", type=Path, required=True, metavar="FILE|DIR")
    p.add_argument(
        "--format", choices=("csv", "gradescope", "canvas"), default="csv", help="default csv"
    )
    p.add_argument(
        "--roster",
        type=Path,
        metavar="CSV",
        help="canvas: Canvas's gradebook export (or a CSV with its columns); a student is "
        "the row whose 'Autograder ID', else 'SIS Login ID', 'SIS User ID' or 'ID' is the "
        "student's folder name. Without it the folder name is written as 'SIS User ID'",
    )
    p.add_argument(
        "--visibility",
        default="visible",
        choices=("visible", "hidden", "after_due_date", "after_published"),
        help="gradescope: when students see the tests (default visible)",
    )
    p.add_argument(
        "--results",
        type=Path,
        default=Path("results"),
        help="the --out folder of `autograder grade` (default: results)",
    )
    p.set_defaults(func=cmd_export)

    p = sub.add_parser(
        "publish",
        help="Write the student repository (no masters, solutions or hidden checks) to OUT.",
        description="Write what students of a graded class get into OUT: the released "
        "notebooks, coursekit, make lab, the Binder files, a student README. No master, "
        "solution, hidden test or autograder code.",
    )
    p.add_argument("out", type=Path, metavar="OUT", help="an empty or new folder")
    p.add_argument("--force", action="store_true", help="write into OUT even if not empty")
    p.add_argument(
        "--binder", metavar="OWNER/NAME[@REF]", help="GitHub repository for the Binder badges"
    )
    p.set_defaults(func=cmd_publish)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except UsageError as exc:
        print(f"autograder {args.command}: {exc}", file=sys.stderr)
        return EXIT_USAGE
