"""Grading a class: `autograder grade` (parallel) against a sequential `nbgrader autograde`.

    python -m bench.grading [--students 3] [--workers 2]

A generated class: every student hands in every lesson, as the lesson's solution, a
blank student version, or a partial one (half the answers), in rotation. Both graders
get the same notebooks on the same machine in one run. Writes bench/results/grading.md.
Goal (issue 9): >= 1.7x faster than sequential nbgrader on 2 cores, < 3 s overhead
per notebook beyond executing it.

Measured, in this order:
1. `autograder grade --workers N` on the class (grades, feedback, reports);
2. nbgrader's CLI, one notebook after another: `autograde`, then `generate_feedback`
   (the same deliverables as 1);
3. the overhead, from the units of run 1: each unit's wall time minus the time nbgrader's
   Execute took (the unit reports it).
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from autograder.course import Course
from autograder.nbgrader_run import put_own_tools_on_path
from bench.machine import describe

RESULTS = Path(__file__).parent / "results"
KINDS = ("solution", "blank", "partial")


def _partial(master: dict, student: dict) -> dict:
    """The student version with the first half of the master's answers filled in."""
    answers = {
        c["metadata"]["nbgrader"]["grade_id"]: c["source"]
        for c in master["cells"]
        if c.get("metadata", {}).get("nbgrader", {}).get("solution")
    }
    keep = set(list(answers)[: len(answers) // 2])
    nb = json.loads(json.dumps(student))
    for cell in nb["cells"]:
        grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if grade_id in keep:
            cell["source"] = answers[grade_id]
    return nb


def make_class(course: Course, students: int, root: Path) -> dict[tuple[str, str], str]:
    """root/<student>/<lesson>.ipynb; returns {(student, lesson): kind}."""
    kinds = {}
    for s in range(students):
        student = f"s{s + 1:02d}"
        for i, lesson in enumerate(course.lessons()):
            kind = KINDS[(s + i) % len(KINDS)]
            master = json.loads(course.master(lesson).read_text())
            released = json.loads(course.student(lesson).read_text())
            nb = {"solution": master, "blank": released, "partial": _partial(master, released)}[
                kind
            ]
            (root / student).mkdir(parents=True, exist_ok=True)
            (root / student / f"{lesson}.ipynb").write_text(json.dumps(nb))
            kinds[(student, lesson)] = kind
    return kinds


def time_ours(submissions: Path, out: Path, workers: int) -> tuple[float, list[dict]]:
    """Wall time of `autograder grade`, and its units' results."""
    start = time.perf_counter()
    subprocess.run(
        [
            sys.executable,
            "-m",
            "autograder",
            "grade",
            str(submissions),
            "--out",
            str(out),
            "--workers",
            str(workers),
            "--quiet",
        ],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    elapsed = time.perf_counter() - start
    return elapsed, [json.loads(p.read_text()) for p in (out / "units").glob("*.json")]


def time_nbgrader(course: Course, submissions: Path, root: Path) -> dict[str, float]:
    """nbgrader's own CLI: generate_assignment (not timed), then autograde lesson by lesson,
    then generate_feedback lesson by lesson; seconds of each step."""
    nbgrader = Path(sys.executable).with_name("nbgrader")
    put_own_tools_on_path()  # nbgrader's CLI runs `alembic` by name
    root.mkdir(parents=True, exist_ok=True)
    (root / "nbgrader_config.py").write_text(
        f"c = get_config()\nc.CourseDirectory.root = {str(root)!r}\nc.Execute.timeout = 300\n"
    )
    for lesson in course.lessons():
        shutil.copytree(course.source / lesson, root / "source" / lesson)
        subprocess.run(
            [str(nbgrader), "generate_assignment", lesson, "--force"],
            cwd=root,
            check=True,
            capture_output=True,
        )
    for student_dir in submissions.iterdir():
        for nb in student_dir.glob("*.ipynb"):
            target = root / "submitted" / student_dir.name / nb.stem
            target.mkdir(parents=True, exist_ok=True)
            shutil.copy(nb, target / nb.name)
    timings = {}
    for step in ("autograde", "generate_feedback"):
        start = time.perf_counter()
        for lesson in course.lessons():
            subprocess.run(
                [str(nbgrader), step, lesson, "--force"],
                cwd=root,
                check=True,
                capture_output=True,
            )
        timings[step] = time.perf_counter() - start
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description="Benchmark autograder grade against nbgrader.")
    parser.add_argument("--students", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    course = Course()
    with tempfile.TemporaryDirectory(prefix="gf-bench-") as tmp:
        tmp = Path(tmp)
        kinds = make_class(course, args.students, tmp / "class")
        n = len(kinds)
        ours, units = time_ours(tmp / "class", tmp / "ours", args.workers)
        print(f"autograder grade: {ours:.1f} s for {n} notebooks", flush=True)
        theirs = time_nbgrader(course, tmp / "class", tmp / "nbgrader")
        print(f"nbgrader: {theirs}", flush=True)
    autograde = theirs["autograde"]
    both = autograde + theirs["generate_feedback"]
    busy = sum(u["seconds"] for u in units) / (args.workers * ours)
    overheads = [
        (
            lesson,
            statistics.mean(u["seconds"] for u in mine),
            statistics.mean(u["executing_seconds"] for u in mine),
        )
        for lesson in course.lessons()
        if (mine := [u for u in units if u["lesson"] == lesson and u.get("executing_seconds")])
    ]
    mean_overhead = statistics.mean(
        u["seconds"] - u["executing_seconds"] for u in units if u.get("executing_seconds")
    )
    lines = [
        "# Grading a class",
        "",
        describe(),
        "",
        f"{args.students} students × {len(course.lessons())} lessons = {n} notebooks "
        "(solution, blank and partial versions in rotation), graded in one run.",
        "",
        "| grader | wall time | per notebook | speed-up of `autograder grade` |",
        "|---|---|---|---|",
        f"| nbgrader, sequential: `autograde` | {autograde:.1f} s | {autograde / n:.1f} s | "
        f"**{autograde / ours:.2f}×** |",
        f"| nbgrader, sequential: `autograde` + `generate_feedback` (the same deliverables) | "
        f"{both:.1f} s | {both / n:.1f} s | **{both / ours:.2f}×** |",
        f"| `autograder grade --workers {args.workers}` (grades, feedback, reports) | "
        f"{ours:.1f} s | {ours / n:.1f} s | |",
        "",
        f"Goal ≥ 1.7×: {'met' if autograde / ours >= 1.7 else 'not met'} against `autograde` "
        f"alone ({autograde / ours:.3f}×), {'met' if both / ours >= 1.7 else 'not met'} against "
        f"the same deliverables ({both / ours:.3f}×). "
        f"The workers were busy {busy:.0%} of the run (the rest: set-up and the last unit).",
        "",
        "**Overhead per notebook** beyond executing it, from the same run: each unit's wall "
        "time (as its worker saw it) minus the time nbgrader's Execute took to run the "
        "notebook (kernel start to shutdown; the unit times it). The rest is the grader's: "
        "the forked unit process, rebuilding the notebook, the sandbox, nbgrader's autograde "
        "bookkeeping and its feedback HTML. Means per lesson:",
        "",
        "| lesson | unit | executing it | overhead |",
        "|---|---|---|---|",
        *(
            f"| {lesson} | {unit:.1f} s | {execution:.1f} s | {unit - execution:.1f} s |"
            for lesson, unit, execution in overheads
        ),
        "",
        f"Mean overhead **{mean_overhead:.1f} s** per notebook (goal < 3 s: "
        f"{'met' if mean_overhead < 3 else 'NOT met'}).",
        "",
    ]
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "grading.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
