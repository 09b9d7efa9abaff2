"""Start a grading kernel inside limits: ``python -m autograder.sandbox [options] -- KERNEL ARGV``.

The grader's kernelspec runs this wrapper instead of ipykernel directly. It

1. where it can (root, and ``unshare`` works): enters a private mount
   namespace, hides the paths given with ``--hide`` (masters, gradebooks,
   other submissions, results, other grading runs) under empty tmpfs mounts,
   and moves the kernel into its own notebook folder (a bind mount, so ``..``
   leads nowhere), so that a submission sees its own files and nothing else
   of the course;
2. sets resource limits: address space (``--memory``), processes
   (``--nproc``; enforced by the kernel for non-root users), no core dumps,
   and CPU affinity (``--cpus``);
3. replaces itself with the kernel (``os.execvp``).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
from pathlib import Path

MOUNT_POINT = "/mnt"  # where the unit's own folder appears inside the namespace
SCRATCH_PREFIX = "gf-grade-"  # the grader's scratch folders (autograder.grade)


def _parse(argv: list[str]) -> tuple[argparse.Namespace, list[str]]:
    if "--" not in argv:
        raise SystemExit("usage: python -m autograder.sandbox [options] -- KERNEL ARGV")
    split = argv.index("--")
    parser = argparse.ArgumentParser(prog="autograder.sandbox")
    parser.add_argument("--memory", type=int, default=0, help="address-space limit, bytes")
    parser.add_argument("--nproc", type=int, default=0, help="process limit (0: none)")
    parser.add_argument("--cpus", type=int, default=0, help="pin to this many CPUs (0: all)")
    parser.add_argument("--workdir", type=Path, help="the submission's own folder")
    parser.add_argument("--hide", type=Path, action="append", default=[])
    parser.add_argument("--inside", action="store_true", help=argparse.SUPPRESS)
    return parser.parse_args(argv[:split]), argv[split + 1 :]


def isolation_available() -> bool:
    """True where a private mount namespace can be made (root with a working unshare)."""
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        return False
    try:
        done = subprocess.run(
            ["unshare", "--mount", "--propagation", "private", "true"],
            capture_output=True,
            timeout=10,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


def _mount(*args: str) -> None:
    subprocess.run(["mount", *args], check=True, capture_output=True)


def _connection_file_index(kernel: list[str]) -> int | None:
    for i, arg in enumerate(kernel[:-1]):
        if arg == "-f":
            return i + 1
    return None


def _isolate(opts: argparse.Namespace, kernel: list[str]) -> list[str]:
    """Inside the new namespace: hide paths, give the kernel its own folder only."""
    workdir = opts.workdir.resolve()
    index = _connection_file_index(kernel)
    if index is not None:  # the connection file may live under a hidden path: bring it along
        connection = json.loads(Path(kernel[index]).read_text())
        private = workdir / ".kernel-connection.json"
        private.write_text(json.dumps(connection))
        kernel = [*kernel[:index], f"{MOUNT_POINT}/{private.name}", *kernel[index + 1 :]]
    _mount("--bind", str(workdir), MOUNT_POINT)
    hidden = list(opts.hide)
    for path in opts.hide:  # other grading runs' scratch folders, beside ours
        if path.name.startswith(SCRATCH_PREFIX):
            hidden += [p for p in path.parent.glob(f"{SCRATCH_PREFIX}*") if p != path]
    for path in hidden:
        if path.is_dir():
            _mount("-t", "tmpfs", "-o", "size=1m,mode=555", "tmpfs", str(path))
        elif path.exists():
            _mount("--bind", "/dev/null", str(path))
    # Only these paths are hidden, not all of /tmp: the course and its Python may live there.
    os.chdir(MOUNT_POINT)
    return kernel


def _limit(opts: argparse.Namespace) -> None:
    if opts.memory > 0:
        resource.setrlimit(resource.RLIMIT_AS, (opts.memory, opts.memory))
    if opts.nproc > 0:
        resource.setrlimit(resource.RLIMIT_NPROC, (opts.nproc, opts.nproc))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    if opts.cpus > 0:  # like Binder's CPU quota: the kernel may use only these CPUs
        allowed = sorted(os.sched_getaffinity(0))[: opts.cpus]
        os.sched_setaffinity(0, allowed)


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    opts, kernel = _parse(argv)
    if opts.workdir is not None and not opts.inside and isolation_available():
        # start again inside a private mount namespace
        os.execvp(
            "unshare",
            [
                "unshare",
                "--mount",
                "--propagation",
                "private",
                sys.executable,
                "-m",
                "autograder.sandbox",
                "--inside",
                *argv,
            ],
        )
    if opts.inside:
        kernel = _isolate(opts, kernel)
    _limit(opts)
    os.execvp(kernel[0], kernel)


if __name__ == "__main__":
    main()


def write_kernelspec(folder: Path, sandbox_args: list[str], env: dict[str, str]) -> Path:
    """A 'python3' kernelspec under ``folder`` that starts ipykernel through this wrapper.

    Put ``folder`` first on JUPYTER_PATH and Jupyter picks it instead of the default.
    """
    kernel_dir = folder / "kernels" / "python3"
    kernel_dir.mkdir(parents=True, exist_ok=True)
    argv = [
        sys.executable,
        "-m",
        "autograder.sandbox",
        *sandbox_args,
        "--",
        sys.executable,
        "-m",
        "ipykernel_launcher",
        "-f",
        "{connection_file}",
    ]
    spec = {"argv": argv, "display_name": "Python 3 (limited)", "language": "python", "env": env}
    (kernel_dir / "kernel.json").write_text(json.dumps(spec))
    return folder
