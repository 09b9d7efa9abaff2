"""Each lesson's solution version top to bottom on 1 CPU (wall time, peak memory), and the
time to open the course (set-up done -> JupyterLab serving lesson 1). Each lesson runs
``--repeats`` times (default 3), the lessons in turns; the table gives the median.

    python -m bench.lessons                      (make bench: every lesson, writes the results)
    python -m bench.lessons --lessons 02_vanishing_gradients   (prints only)

Writes bench/results/lessons.md (or ``--out``) when every lesson was measured. Budgets
(DESIGN.md section 5): <= 60 s per lesson (aim <= 20 s), peak memory <= 1.5 GB.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
import urllib.request
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from traitlets.config import Config

from autograder.course import Course
from autograder.ready_client import configure
from autograder.sandbox import write_kernelspec
from bench.machine import describe, load_note, load_now
from tests.lab_server import running_lab

RESULTS = Path(__file__).parent / "results"
BUDGET_SECONDS, AIM_SECONDS, BUDGET_BYTES = 60, 20, 1.5 * 2**30


def _peak_rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return 0


def run_lesson(master: Path) -> tuple[float, int, int]:
    """(seconds, peak RSS of the kernel in bytes, cells with an error) for one master on 1 CPU."""
    nb = nbformat.read(master, as_version=4)
    with tempfile.TemporaryDirectory() as tmp:
        kernels = write_kernelspec(Path(tmp) / "jupyter", ["--cpus", "1"], {})
        os.environ["JUPYTER_PATH"] = str(kernels)
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
        start = time.perf_counter()
        with client.setup_kernel():
            pid = client.km.provisioner.process.pid
            for index, cell in enumerate(nb.cells):
                client.execute_cell(cell, index)
            seconds = time.perf_counter() - start
            peak = _peak_rss(pid)
        del os.environ["JUPYTER_PATH"]
    errors = sum(
        1
        for c in nb.cells
        if c.cell_type == "code"
        for o in c.outputs
        if o.output_type == "error" or getattr(o, "name", "") == "stderr"
    )
    return seconds, peak, errors


def open_course_seconds() -> float:
    """From `jupyter lab` to lesson 1's page served (the set-up is already done)."""
    root = Path(__file__).resolve().parent.parent
    start = time.perf_counter()
    with running_lab(root) as lab:
        with urllib.request.urlopen(
            lab.url("/lab/tree/notebooks/01_backprop.ipynb"), timeout=60
        ) as response:
            if response.status != 200:
                raise RuntimeError(f"JupyterLab answered {response.status} for lesson 1")
        return time.perf_counter() - start


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lessons", nargs="+", help="measure only these (printed, not written)")
    parser.add_argument("--out", type=Path, help=f"results file (default {RESULTS / 'lessons.md'})")
    parser.add_argument(
        "--repeats", type=int, default=3, help="runs per lesson (the table gives the median)"
    )
    args = parser.parse_args(argv)
    course = Course()
    chosen = course.select(args.lessons) if args.lessons else course.lessons()
    load_before = load_now()
    runs: dict[str, list[tuple[float, int, int]]] = {lesson: [] for lesson in chosen}
    for _ in range(args.repeats):  # lessons in turns: the machine's speed drifts over minutes
        for lesson in chosen:
            seconds, peak, errors = run_lesson(course.master(lesson))
            runs[lesson].append((seconds, peak, errors))
            print(
                f"{lesson:26s} {seconds:6.1f} s  {peak / 2**20:7.0f} MiB  errors {errors}",
                flush=True,
            )
    rows = []
    for lesson, found in runs.items():
        times = [r[0] for r in found]
        seconds, peak = statistics.median(times), max(r[1] for r in found)
        errors = max(r[2] for r in found)
        ok = seconds <= BUDGET_SECONDS and peak <= BUDGET_BYTES and errors == 0
        rows.append((lesson, seconds, min(times), max(times), peak, errors, ok))
    if args.lessons and not args.out:
        return  # a subset does not replace the committed table
    opened = open_course_seconds()
    lines = [
        "# Lessons on one CPU",
        "",
        describe(),
        "",
        load_note(load_before),
        "",
        "Each lesson's solution version (the master) executed top to bottom by nbclient, its "
        "kernel pinned to one CPU (`autograder.sandbox --cpus 1`, like Binder's quota). "
        f"{args.repeats} runs per lesson, the lessons in turns: the median wall time and the "
        "range. Peak memory is the kernel's largest peak RSS (VmHWM).",
        "",
        "| lesson | wall time | range | peak memory | errors | budget (≤ 60 s, aim ≤ 20 s; "
        "≤ 1.5 GB) |",
        "|---|---|---|---|---|---|",
    ]
    for lesson, seconds, low, high, peak, errors, ok in rows:
        aim = "" if seconds <= AIM_SECONDS else " (over the 20 s aim)"
        lines.append(
            f"| {lesson} | {seconds:.1f} s | {low:.1f}–{high:.1f} s | {peak / 2**20:.0f} MiB | "
            f"{errors} | {'within' if ok else 'OVER'}{aim} |"
        )
    lines += [
        "",
        f"Time to open the course (set-up done → JupyterLab serving lesson 1): **{opened:.1f} s**.",
        "",
    ]
    out = args.out or RESULTS / "lessons.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
