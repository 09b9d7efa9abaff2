"""Each lesson's master top to bottom with torch on 1 thread and on 2, on two CPUs.

    taskset -c 0,1 python -m bench.threads [--repeats N] [LESSON ...]

The lessons' models are tiny: splitting their matrix products over two threads costs more in
synchronisation than it saves, and on a machine whose two CPUs are shared a second thread waits
for a busy core. This measures it. The kernel (and everything it starts) is pinned to CPUs 0 and
1; the thread count is set by OMP_NUM_THREADS and by ``torch.set_num_threads`` in a cell run
right after the lesson's set-up cell (so it wins over whatever the set-up cell chose). Runs
alternate 1, 2, 1, 2, ... so that a change of load on the machine hits both settings alike;
the table gives the median and the range.

Writes bench/results/threads.md.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from traitlets.config import Config

from autograder.course import Course
from autograder.ready_client import configure
from bench.machine import describe

RESULTS = Path(__file__).parent / "results"
CPUS = {0, 1}
SETTINGS = (1, 2)


def _setup_index(nb) -> int:
    return next(i for i, c in enumerate(nb.cells) if c.cell_type == "code")


def run_lesson(master: Path, threads: int) -> tuple[float, int]:
    """(seconds, cells with an error) for one master with torch on ``threads`` threads."""
    nb = nbformat.read(master, as_version=4)
    at = _setup_index(nb) + 1
    nb.cells.insert(
        at,
        nbformat.v4.new_code_cell(
            f"import torch\ntorch.set_num_threads({threads})\nassert torch.get_num_threads() == "
            f"{threads}"
        ),
    )
    env = {
        **os.environ,
        "OMP_NUM_THREADS": str(threads),
        "MKL_NUM_THREADS": str(threads),
        "OPENBLAS_NUM_THREADS": str(threads),
    }
    with tempfile.TemporaryDirectory() as tmp:
        config = Config()
        configure(config, Path(tmp) / "k")  # IPC, as graded: no TCP port, no warning
        client = NotebookClient(
            nb,
            timeout=600,
            config=config,
            kernel_name="python3",
            allow_errors=True,
            resources={"metadata": {"path": tmp}},
        )
        # the kernel's start-up is the same for both settings: time the cells only
        with client.setup_kernel(env=env):
            start = time.perf_counter()
            for index, cell in enumerate(nb.cells):
                client.execute_cell(cell, index)
            seconds = time.perf_counter() - start
    errors = sum(
        1 for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"
    )
    return seconds, errors


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("lessons", nargs="*")
    parser.add_argument("--repeats", type=int, default=3, help="runs per setting and lesson")
    args = parser.parse_args(argv)
    os.sched_setaffinity(0, CPUS)  # inherited by the kernel, as `taskset -c 0,1` would do
    course = Course()
    lessons = args.lessons or course.lessons()
    times: dict[tuple[str, int], list[float]] = {}
    for lesson in lessons:
        for _ in range(args.repeats):
            for threads in SETTINGS:
                seconds, errors = run_lesson(course.master(lesson), threads)
                if errors:
                    raise SystemExit(f"{lesson} with {threads} thread(s): {errors} cell(s) failed")
                times.setdefault((lesson, threads), []).append(seconds)
                print(f"{lesson:26s} {threads} thread(s) {seconds:6.1f} s", flush=True)
    lines = [
        "# torch on 1 thread or 2, on two CPUs",
        "",
        describe(),
        "",
        "Each lesson's master executed top to bottom by nbclient (cells only, not the kernel's "
        "start), the kernel pinned to CPUs 0 and 1 (`taskset -c 0,1`), torch's intra-op "
        "threads set to 1 or 2 (and OMP/MKL/OpenBLAS alike), runs alternating "
        f"1, 2, 1, 2, … ({args.repeats} per setting). Median (min – max). The two CPUs are "
        "shared with other work, as on a laptop running a browser or a shared course server.",
        "",
        "| lesson | 1 thread | 2 threads | 2 threads / 1 thread |",
        "|---|---|---|---|",
    ]
    ratios = []
    for lesson in lessons:
        one, two = times[(lesson, 1)], times[(lesson, 2)]
        ratio = statistics.median(two) / statistics.median(one)
        ratios.append(ratio)
        lines.append(
            f"| {lesson} | {statistics.median(one):.1f} s ({min(one):.1f} – {max(one):.1f}) | "
            f"{statistics.median(two):.1f} s ({min(two):.1f} – {max(two):.1f}) | {ratio:.2f} |"
        )
    total_one = sum(statistics.median(times[(lesson, 1)]) for lesson in lessons)
    total_two = sum(statistics.median(times[(lesson, 2)]) for lesson in lessons)
    faster = 1 if total_one <= total_two else 2
    lines += [
        f"| all lessons | {total_one:.1f} s | {total_two:.1f} s | {total_two / total_one:.2f} |",
        "",
        f"Faster overall: **{faster} thread{'s' if faster > 1 else ''}**. The lessons' set-up "
        "cells call `coursekit.configure_threads()`, whose default is "
        "`coursekit.runtime.LESSON_THREADS` threads (never more than the CPUs available).",
        "",
    ]
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "threads.md").write_text("\n".join(lines), encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
