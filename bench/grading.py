"""Grading a class: `autograder grade` (parallel) against a sequential `nbgrader autograde`.

    python -m bench.grading [--students 3] [--workers 2]

A generated class: every student hands in every lesson, as the lesson's solution, a
blank student version, or a partial one (half the answers), in rotation. Both graders
get the same notebooks on the same machine in one run. Writes bench/results/grading.md.
Goal (issue 9): >= 1.7x faster than sequential nbgrader on 2 cores, < 3 s overhead
per notebook beyond executing it.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

from autograder.course import Course
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


def time_nbgrader(course: Course, submissions: Path, root: Path) -> float:
    """nbgrader's own CLI: generate_assignment (not timed), then autograde lesson by lesson."""
    nbgrader = Path(sys.executable).with_name("nbgrader")
    # nbgrader runs `alembic` by name: put this environment's tools first on PATH
    os.environ["PATH"] = f"{nbgrader.parent}{os.pathsep}{os.environ.get('PATH', '')}"
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
    start = time.perf_counter()
    for lesson in course.lessons():
        subprocess.run(
            [str(nbgrader), "autograde", lesson, "--force"],
            cwd=root,
            check=True,
            capture_output=True,
        )
    return time.perf_counter() - start


def execution_seconds(path: Path) -> float:
    """Executing the notebook alone (nbclient, a plain kernel), for the overhead."""
    nb = nbformat.read(path, as_version=4)
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        NotebookClient(
            nb,
            timeout=600,
            kernel_name="python3",
            allow_errors=True,
            resources={"metadata": {"path": tmp}},
        ).execute()
        return time.perf_counter() - start


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
        theirs = time_nbgrader(course, tmp / "class", tmp / "nbgrader")
        executing = {}
        for (student, lesson), kind in kinds.items():
            if (lesson, kind) not in executing:
                executing[(lesson, kind)] = execution_seconds(
                    tmp / "class" / student / f"{lesson}.ipynb"
                )
        overheads = [
            u["seconds"] - executing[(u["lesson"], kinds[(u["student"], u["lesson"])])]
            for u in units
        ]
    ratio = theirs / ours
    lines = [
        "# Grading a class",
        "",
        describe(),
        "",
        f"{args.students} students × {len(course.lessons())} lessons = {n} notebooks "
        "(solution, blank and partial versions in rotation).",
        "",
        "| grader | wall time | per notebook |",
        "|---|---|---|",
        f"| sequential `nbgrader autograde` (one lesson after another) | {theirs:.1f} s | "
        f"{theirs / n:.1f} s |",
        f"| `autograder grade --workers {args.workers}` | {ours:.1f} s | {ours / n:.1f} s |",
        "",
        f"**Speed-up: {ratio:.2f}×** (goal ≥ 1.7× on 2 cores: "
        f"{'met' if ratio >= 1.7 else 'NOT met'}).",
        "",
        "Overhead per notebook beyond executing it (a unit's wall time minus the time nbclient "
        "takes to execute the same notebook with a plain kernel): "
        f"mean **{statistics.mean(overheads):.1f} s**, max {max(overheads):.1f} s "
        f"(goal < 3 s: {'met' if statistics.mean(overheads) < 3 else 'NOT met'}). It covers "
        "nbgrader's own autograde and feedback steps, the sandbox and the integrity checks.",
        "",
    ]
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "grading.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
