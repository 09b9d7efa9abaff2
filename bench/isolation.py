"""What the grading jail costs per unit: a kernel started, used and stopped, with and without it.

    python -m bench.isolation [--repeats N]        (make bench)

For each mode (``limits-only``: the limits alone, TCP transport; the mode this
machine grades with, e.g. ``isolated``: bubblewrap, its own uid, IPC transport),
N times in turn: start a kernel as ``autograder grade`` does, run the imports
every lesson makes (``import coursekit``), shut it down; wall time of the whole.
Writes bench/results/isolation.md. Budget (issue: trustworthy grading): the
grader's overhead per notebook stays <= 2 s.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

from jupyter_client import KernelManager

from autograder.sandbox import (
    LIMITS_ONLY,
    Jail,
    build_kernel_site,
    isolation_mode,
    write_kernelspec,
)
from bench.machine import describe

RESULTS = Path(__file__).parent / "results"
CODE = "import coursekit, torch, numpy"


def one_kernel(mode: str, site: Path) -> float:
    """Seconds to start a kernel in ``mode``, run the lessons' imports and stop it."""
    with tempfile.TemporaryDirectory(prefix="gfb-") as tmp:
        root = Path(tmp)
        args = ["--memory", str(2 * 2**30), "--nproc", "256"]
        config = {}
        if mode != LIMITS_ONLY:
            ipc = root / "ipc"
            ipc.mkdir()
            uid = 61990
            if os.geteuid() == 0:
                os.chown(ipc, uid, uid)
            args += ["--jail", str(Jail(mode, uid, str(ipc), str(site)).write(root / "jail.json"))]
            config = {"transport": "ipc", "ip": str(ipc / "k")}
        write_kernelspec(root / "jupyter", args, {"OMP_NUM_THREADS": "1"})
        os.environ["JUPYTER_PATH"] = str(root / "jupyter")
        os.environ["JUPYTER_RUNTIME_DIR"] = str(root / "runtime")
        start = time.perf_counter()
        km = KernelManager(kernel_name="python3", **config)
        km.start_kernel(cwd=tmp)
        client = km.client()
        client.start_channels()
        try:
            client.wait_for_ready(timeout=120)
            reply = client.execute_interactive(CODE, timeout=120)
            assert reply["content"]["status"] == "ok", reply["content"]
        finally:
            client.stop_channels()
            km.shutdown_kernel(now=False)
        return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    opts = parser.parse_args()
    mode = isolation_mode()
    modes = [LIMITS_ONLY] if mode == LIMITS_ONLY else [LIMITS_ONLY, mode]
    times: dict[str, list[float]] = {m: [] for m in modes}
    with tempfile.TemporaryDirectory(prefix="gfb-site-") as site:
        build_kernel_site(Path(site))
        one_kernel(modes[-1], Path(site))  # warm the file cache once
        for _ in range(opts.repeats):
            for m in modes:
                times[m].append(one_kernel(m, Path(site)))
    rows = [
        f"| `{m}` | {statistics.median(t):.2f} s | {min(t):.2f}–{max(t):.2f} s |"
        for m, t in times.items()
    ]
    extra = ""
    if len(modes) == 2:
        cost = statistics.median(times[mode]) - statistics.median(times[LIMITS_ONLY])
        extra = (
            f"\nThe jail adds **{cost:+.2f} s** per unit (median against median): "
            f"{'within' if cost <= 2 else 'OVER'} the budget of 2 s of grader overhead per "
            "notebook, which it shares with the rest of the grader's work (bench/grading.py).\n"
        )
    text = (
        "# The grading jail's cost per unit\n\n"
        f"`python -m bench.isolation --repeats {opts.repeats}`: a kernel started as "
        "`autograder grade` starts it, running the lessons' imports "
        f"(`{CODE}`), then shut down; modes measured in turn, median and range of "
        f"{opts.repeats}.\n\n"
        "| mode | median | range |\n|---|---|---|\n" + "\n".join(rows) + "\n" + extra + "\n"
        f"{describe()}\n"
    )
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "isolation.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
