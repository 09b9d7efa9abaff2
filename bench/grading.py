"""Grading a class: `autograder grade` (parallel, with and without grading plans) against a
sequential `nbgrader autograde`.

    python -m bench.grading [--students 3] [--workers 2]

A generated class: every student hands in every lesson, as the lesson's solution, a
blank student version, or a partial one (half the answers), in rotation. All graders
get the same notebooks on the same machine in one run. Writes bench/results/grading.md.
Goal (issue 20, DESIGN.md section 5): >= 5x faster than sequential nbgrader on 2 cores
(plans + parallelism), <= 1 s overhead per notebook beyond executing it.

Measured, in this order:
1. `autograder grade --workers N` on the class (grades, feedback, reports), with the
   masters' grading plans (autograder.plan);
2. the same with `--no-plan` (every cell run);
2b. the same with `--no-zygote` (plans, but every kernel started afresh under bubblewrap,
   its imports paid in each unit; autograder.zygote);
3. nbgrader's CLI, one notebook after another: `autograde`, then `generate_feedback`
   (the same deliverables as 1);
4. the overhead, from the units of runs 1 and 2: each unit's wall time minus the time
   nbgrader's Execute took (the unit reports it), and where a unit's time goes (each unit
   records its phases: autograder.unit.UnitResult.phase_seconds).
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
from bench.machine import describe, load_note, load_now

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


def time_ours(submissions: Path, out: Path, workers: int, *flags: str) -> tuple[float, list[dict]]:
    """Wall time of `autograder grade` (with ``flags``: ``--no-plan``, ``--no-zygote``), and
    its units' results."""
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
            *flags,
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
    # nbclient's and nbgrader's defaults, whatever the environment's configuration says (the
    # student's: the Validate button skips the plans; kernels over IPC): plain nbgrader
    (root / "nbgrader_config.py").write_text(
        f"c = get_config()\nc.CourseDirectory.root = {str(root)!r}\nc.Execute.timeout = 300\n"
        "c.Execute.skip_cells_with_tag = 'skip-execution'\n"
        "c.KernelManager.transport = 'tcp'\n"  # nbgrader's default, whatever the environment's
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


PHASES = ("prepare", "kernel_start", "setup_cell", "execute", "judge", "feedback")


def _overheads(course: Course, units: list[dict]) -> list[tuple[str, float, float]]:
    """(lesson, mean unit seconds, mean executing seconds) per lesson."""
    return [
        (
            lesson,
            statistics.mean(u["seconds"] for u in mine),
            statistics.mean(u["executing_seconds"] for u in mine),
        )
        for lesson in course.lessons()
        if (mine := [u for u in units if u["lesson"] == lesson and u.get("executing_seconds")])
    ]


def _mean_overhead(units: list[dict]) -> float:
    return statistics.mean(
        u["seconds"] - u["executing_seconds"] for u in units if u.get("executing_seconds")
    )


def _phases(units: list[dict]) -> dict[str, float]:
    """Mean seconds of each phase of the executed units, and the rest (the unit's process,
    nbgrader's bookkeeping around Execute)."""
    ran = [u for u in units if u.get("phase_seconds", {}).get("execute")]
    means = {k: statistics.mean(u["phase_seconds"].get(k, 0.0) for u in ran) for k in PHASES}
    # execute includes the kernel's start and the set-up cell: show the rest of it
    means["execute"] -= means["kernel_start"] + means["setup_cell"]
    means["rest"] = statistics.mean(u["seconds"] for u in ran) - sum(means.values())
    return means


def main() -> None:
    parser = argparse.ArgumentParser(description="Benchmark autograder grade against nbgrader.")
    parser.add_argument("--students", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    course = Course()
    with tempfile.TemporaryDirectory(prefix="gf-bench-") as tmp:
        tmp = Path(tmp)
        load_before = load_now()
        kinds = make_class(course, args.students, tmp / "class")
        n = len(kinds)
        ours, units = time_ours(tmp / "class", tmp / "ours", args.workers)
        print(f"autograder grade: {ours:.1f} s for {n} notebooks", flush=True)
        ours_all, units_all = time_ours(tmp / "class", tmp / "all", args.workers, "--no-plan")
        print(f"autograder grade --no-plan: {ours_all:.1f} s", flush=True)
        fresh, units_fresh = time_ours(tmp / "class", tmp / "fresh", args.workers, "--no-zygote")
        print(f"autograder grade --no-zygote: {fresh:.1f} s", flush=True)
        theirs = time_nbgrader(course, tmp / "class", tmp / "nbgrader")
        print(f"nbgrader: {theirs}", flush=True)
    scores = [
        {(u["student"], u["lesson"]): u["score"] for u in run}
        for run in (units, units_all, units_fresh)
    ]
    same = scores[0] == scores[1]
    same_fresh = scores[0] == scores[2]
    autograde = theirs["autograde"]
    both = autograde + theirs["generate_feedback"]
    busy = sum(u["seconds"] for u in units) / (args.workers * ours)
    phases = _phases(units)
    fresh_phases = _phases(units_fresh)
    lines = [
        "# Grading a class",
        "",
        describe(),
        "",
        load_note(load_before),
        "",
        f"{args.students} students × {len(course.lessons())} lessons = {n} notebooks "
        "(solution, blank and partial versions in rotation), graded in one run.",
        "",
        "| grader | wall time | per notebook | speed-up of `autograder grade` (with plans) |",
        "|---|---|---|---|",
        f"| nbgrader, sequential: `autograde` | {autograde:.1f} s | {autograde / n:.1f} s | "
        f"**{autograde / ours:.2f}×** |",
        f"| nbgrader, sequential: `autograde` + `generate_feedback` (the same deliverables) | "
        f"{both:.1f} s | {both / n:.1f} s | **{both / ours:.2f}×** |",
        f"| `autograder grade --workers {args.workers} --no-plan` (every cell) | "
        f"{ours_all:.1f} s | {ours_all / n:.1f} s | {ours_all / ours:.2f}× |",
        f"| `autograder grade --workers {args.workers} --no-zygote` (every kernel started "
        f"afresh under bubblewrap) | {fresh:.1f} s | {fresh / n:.1f} s | {fresh / ours:.2f}× |",
        f"| `autograder grade --workers {args.workers}` (grading plans, kernels forked from the "
        f"zygote; grades, feedback, reports) | {ours:.1f} s | {ours / n:.1f} s | |",
        "",
        f"Goal ≥ 5×: {'met' if autograde / ours >= 5 else 'not met'} against `autograde` alone "
        f"({autograde / ours:.2f}×), {'met' if both / ours >= 5 else 'not met'} against the "
        f"same deliverables ({both / ours:.2f}×). Without plans: {autograde / ours_all:.2f}× "
        f"and {both / ours_all:.2f}×. Grades with and without plans: "
        f"{'identical' if same else 'DIFFERENT'}; with and without the zygote: "
        f"{'identical' if same_fresh else 'DIFFERENT'}. The workers were busy {busy:.0%} of the "
        "run with plans (the rest: set-up and the last unit).",
        "",
        "**Overhead per notebook** beyond executing it: each unit's wall time (as its worker "
        "saw it) minus the time nbgrader's Execute took to run the notebook (kernel start to "
        "shutdown; the unit times it). Means per lesson:",
        "",
        "| lesson | unit, plans | executing it | overhead | unit, no plan | executing it "
        "| overhead |",
        "|---|---|---|---|---|---|---|",
        *(
            f"| {lesson} | {unit:.1f} s | {execution:.1f} s | {unit - execution:.1f} s | "
            f"{unit2:.1f} s | {execution2:.1f} s | {unit2 - execution2:.1f} s |"
            for (lesson, unit, execution), (_, unit2, execution2) in zip(
                _overheads(course, units), _overheads(course, units_all), strict=True
            )
        ),
        "",
        f"Mean overhead **{_mean_overhead(units):.1f} s** per notebook with plans, "
        f"{_mean_overhead(units_all):.1f} s without (goal ≤ 1 s: "
        f"{'met' if _mean_overhead(units) <= 1 else 'NOT met'}).",
        "",
        "**Where a unit's time goes** (means over the executed units with plans; "
        "`phase_seconds` of each unit's result):",
        "",
        "| phase | seconds | what |",
        "|---|---|---|",
        f"| prepare | {phases['prepare']:.2f} | copy the lesson's template, rebuild the notebook "
        "from the submission's answers, write the jail's kernelspec |",
        f"| kernel start | {phases['kernel_start']:.2f} | nbclient starts the jailed kernel "
        "(forked from the zygote into its jail) until it answers |",
        f"| set-up cell | {phases['setup_cell']:.2f} | the lesson's first cell: imports "
        "(torch, coursekit, matplotlib), seeds, data |",
        f"| rest of execution | {phases['execute']:.2f} | the cells that run: solutions, "
        "tests, the cells the plan keeps; the kernel's shutdown |",
        f"| judge | {phases['judge']:.2f} | the trusted judge re-runs each check on the "
        "reports; the unit's gradebook |",
        f"| feedback | {phases['feedback']:.2f} | nbgrader's generate_feedback (HTML; "
        "templates compiled once in the forkserver, `autograder.feedback_exporter`), sanitised |",
        f"| rest | {phases['rest']:.2f} | the unit's process (forked), nbgrader's autograde "
        "around Execute (the gradebook's queries and commits: init_assignment, "
        "SaveAutoGrades; the notebook written as JSON three times) |",
        "",
        f"With `--no-zygote` the same phases took: kernel start {fresh_phases['kernel_start']:.2f} "
        f"s, set-up cell {fresh_phases['setup_cell']:.2f} s, rest of execution "
        f"{fresh_phases['execute']:.2f} s, rest {fresh_phases['rest']:.2f} s (each kernel "
        "imports torch, coursekit and matplotlib itself, and torch._dynamo at its first "
        "optimizer).",
        "",
    ]
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "grading.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
