"""`autograder validate` of the whole course: wall time on N cores, per lesson.

    python -m bench.validate [--workers 2]

Runs the command line as an instructor does, three times: with `--reprove` (every plan
proven: each master without and with its plan, the blank student version with it), then
as `autograder validate` runs on a course whose plans were proven before (the proofs that
run kept, autograder.proof_cache: each master with its plan, the blank student version),
then with `--quick` (no proof). Writes bench/results/validate.md. Goal (DESIGN.md
section 5): <= 60 s for the course on 2 cores.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import time
from pathlib import Path

from bench.machine import describe, load_note, load_now

RESULTS = Path(__file__).parent / "results"
_DONE = re.compile(r"^(\S+): (ok|FAILED) \((?:.*?, )?([\d.]+) s\)")


def run(workers: int, *extra: str) -> tuple[float, dict[str, tuple[str, float]], str]:
    """Wall time of `autograder validate`, {lesson: (ok|FAILED, seconds)}, its output."""
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "autograder", "validate", "--workers", str(workers), *extra],
        capture_output=True,
        text=True,
    )
    elapsed = time.perf_counter() - start
    lessons = {
        m.group(1): (m.group(2), float(m.group(3)))
        for line in done.stdout.splitlines()
        if (m := _DONE.match(line))
    }
    return elapsed, lessons, done.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description="Benchmark autograder validate.")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    load_before = load_now()
    full, lessons, output = run(args.workers, "--reprove")
    print(output, flush=True)
    kept, kept_lessons, output = run(args.workers)
    print(output, flush=True)
    quick, quick_lessons, _ = run(args.workers, "--quick")
    modes = (lessons, kept_lessons, quick_lessons)

    def cell(found: dict[str, tuple[str, float]], lesson: str) -> str:
        status, seconds = found.get(lesson, ("-", 0.0))
        return f"{status} {seconds:.1f} s"

    lines = [
        "# Validating the course",
        "",
        describe(),
        "",
        load_note(load_before),
        "",
        f"`autograder validate --workers {args.workers}`: lessons in parallel, each in its own "
        "process, under Binder's limits (1 CPU, 2 GB per kernel).",
        "",
        "| lesson | `--reprove` (plans proven) | plans proven before (the default) | `--quick` |",
        "|---|---|---|---|",
        *(
            f"| {lesson} | " + " | ".join(cell(m, lesson) for m in modes) + " |"
            for lesson in lessons
        ),
        f"| **the course, wall time** | **{full:.1f} s** | **{kept:.1f} s** | **{quick:.1f} s** |",
        "",
        "The first column is what `autograder validate` takes after a master, coursekit or a "
        "library changed (each changed lesson's plan is proven again); the second, when "
        "nothing of what a proof ran on changed since it was made.",
        "",
        f"Goal ≤ 60 s on 2 cores: {'met' if full <= 60 else 'NOT met'} proving every plan, "
        f"{'met' if kept <= 60 else 'NOT met'} with the plans proven before, "
        f"{'met' if quick <= 60 else 'NOT met'} with `--quick`.",
        "",
    ]
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "validate.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
