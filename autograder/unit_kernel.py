"""How a unit starts its student's kernel: the jail's kernelspec, the folder the kernel
shares with the grader, and nbgrader's Autograde run through them (once more, in a fresh
folder, when the kernel failed before any cell ran)."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from traitlets.config import Config

from autograder.kernel_sockets import GRADER, KERNEL, make_folders
from autograder.planned_execute import BoundedExecute
from autograder.ready_client import configure
from autograder.unit_memory import UnitMemory

if TYPE_CHECKING:
    from autograder.unit import UnitSpec

SHARED_ROOT, SHARED_PREFIX = "/tmp", "gfk-"  # a unit's folder: gfk-<its process>-<random>


def remove_leftover_folders(pid: int) -> None:
    """Remove the shared folders that the unit process ``pid`` left (it was killed, at the
    notebook's time limit say, before it could): empty mount points, or a kernel's files
    where no tmpfs could be mounted. Links are not followed."""
    for path in Path(SHARED_ROOT).glob(f"{SHARED_PREFIX}{pid}-*"):
        shutil.rmtree(path, ignore_errors=True)


def write_unit_kernelspec(spec: UnitSpec, root: Path, cgroup: Path | None = None) -> Path:
    """A 'python3' kernelspec that starts the kernel through autograder.sandbox, walled in
    (and in the memory ``cgroup``, when given); returns the unit's shared folder (ZeroMQ IPC:
    no TCP port to reach): its ``kernel`` folder is the jail's, its ``grader`` folder the
    grader's (``autograder.kernel_sockets``)."""
    from autograder.sandbox import Jail, kernel_env, private_tmpfs, write_kernelspec

    # local and short (a socket path has at most 107 bytes), even where TMPDIR is shared
    shared = Path(tempfile.mkdtemp(prefix=f"{SHARED_PREFIX}{os.getpid()}-", dir=SHARED_ROOT))
    if spec.isolation == "isolated":
        private_tmpfs(shared)  # where not allowed (no mount namespace): a plain folder
        os.chmod(shared, 0o755)
    kernel, _ = make_folders(shared, spec.uid if spec.isolation == "isolated" else None)
    env = kernel_env()
    jail = Jail(spec.isolation, spec.uid, str(kernel), spec.kernel_site, env=env)
    jail.zygote, jail.cgroup = spec.zygote, str(cgroup or "")
    args = ["--memory", str(spec.memory_bytes), "--nproc", str(spec.nproc)]
    args += ["--jail", str(jail.write(root / "jail.json"))]
    write_kernelspec(root / "jupyter", args, env)
    os.environ["JUPYTER_PATH"] = str(root / "jupyter")
    os.environ["JUPYTER_RUNTIME_DIR"] = str(root / "runtime")
    return shared


def autograde(spec: UnitSpec, root: Path, config: Config, notes: list[str]) -> None:
    """nbgrader's Autograde, its kernel started through a folder of its own (``shared``);
    when the kernel failed before any cell ran, once more through a fresh folder.

    "Before any cell ran" is read from ``BoundedExecute.phases`` (set by the grader when the
    first code cell starts), never from nbgrader's log: a kernel can write to that log (a
    comm's target name is logged), and the kernel's first folder is not to be trusted."""
    from nbgrader.converters import Autograde

    from autograder.nbgrader_run import NbgraderFailed, run_converter
    from autograder.sandbox import remove_shared_folder

    for attempt in (1, 2):
        BoundedExecute.phases = {}
        isolated = spec.isolation == "isolated"  # (a cgroup needs root)
        with UnitMemory(spec.memory_bytes if isolated else 0) as cgroup:
            shared = write_unit_kernelspec(spec, root, cgroup)
            jailed = spec.isolation != "limits-only"
            configure(config, shared / GRADER / "k", shared / KERNEL if jailed else None)
            try:
                run_converter(Autograde, config, force=True)
                return
            except NbgraderFailed:
                if attempt == 2 or "kernel_start" in BoundedExecute.phases:
                    raise
                notes.append("the kernel failed to start and was started again")
            finally:
                remove_shared_folder(shared)
