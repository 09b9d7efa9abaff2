"""Start a kernel inside limits and, when grading, inside a bubblewrap sandbox.

``python -m autograder.sandbox [--memory B] [--nproc N] [--cpus C] [--jail JAIL.json] -- ARGV``

This runs on the trusted side: it builds the student's jail and then replaces
itself with the kernel. Without ``--jail`` it only sets resource limits (address space,
processes, no core dumps, CPU affinity): enough for the course's own masters
(``autograder validate``, benchmarks). With ``--jail`` (``autograder grade``)
the kernel also runs under Debian's ``bwrap``:

- as an unprivileged user of its own (a uid per unit, so that process limits
  and files are not shared between students), with no capabilities and
  ``no_new_privs``, when the grader is root (mode ``isolated``); as the
  grader's own uid inside a user namespace otherwise (``isolated-same-user``);
- in its own PID, network (no interfaces but its own loopback), IPC, UTS and
  mount namespaces; it sees read-only the Python environment, ``coursekit``
  and the kernel side of ``autograder`` (``protocol`` and ``kernel/``, copied
  into ``kernel_site``) and nothing of the repository, the masters, the other
  submissions, RESULTS or the grader's ``/proc``; ``/tmp`` and its home are
  private size-limited tmpfs, and no file it writes may outgrow them; the
  kernel's sockets live in ``ipc_dir``, the only folder it shares with the
  grader (ZeroMQ's IPC transport; in a 4 MB tmpfs of the unit's own, see
  ``private_tmpfs``; the grader moves each socket out of the kernel's reach once bound,
  ``autograder.kernel_sockets``); it inherits no descriptor of the grader's (stdio goes to
  /dev/null: it speaks over its sockets only);
- when its process ends or the unit ends (``--die-with-parent``), the PID
  namespace goes, and with it everything it started;
- where the grader may make cgroups, it and all it starts share the unit's memory limit
  (``autograder.unit_memory``).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

from autograder.course import PACKAGE_DIR
from autograder.jail_plan import HOME as HOME  # where a kernel starts (tests read it)
from autograder.jail_plan import bwrap_args, jail_plan
from autograder.zygote import syscall_filter
from autograder.zygote.walls import (
    address_space,
    fresh_keyrings_of,
    join_cgroup,
    own_session_keyring,
    set_limits,
)

ISOLATED = "isolated"
ISOLATED_SAME_USER = "isolated-same-user"
LIMITS_ONLY = "limits-only"
MODE_TEXT = {
    ISOLATED: "each kernel runs as its own unprivileged user under bubblewrap "
    "(own PID, network, IPC and mount namespaces; sees only its folder and the read-only "
    "environment)",
    ISOLATED_SAME_USER: "each kernel runs under bubblewrap in its own user, PID, network, "
    "IPC and mount namespaces, as the grader's own user (not root: no separate uid)",
    LIMITS_ONLY: "NO isolation: bubblewrap (or user namespaces) is not available, so kernels "
    "run as the grader's user and could read or change anything that user can; only the "
    "memory, process and time limits apply (install Debian's bubblewrap, grade as root)",
}
SCRATCH_PREFIX = "gf-grade-"  # the grader's scratch folders (autograder.grade)
LAUNCHES = "launches"  # beside the jail's file: how each kernel of the unit was started


@dataclass
class Jail:
    """How to wall one kernel in; written as JSON by the unit, read by this launcher."""

    mode: str
    uid: int  # the kernel's user (mode isolated)
    ipc_dir: str  # shared with the grader: the kernel's sockets and its connection file
    kernel_site: str  # the kernel-side autograder package, shown instead of the real one
    tmp_bytes: int = 256 * 2**20  # each of /tmp and the home folder
    env: dict[str, str] = field(default_factory=dict)
    zygote: str = ""  # socket of a kernel zygote (autograder.zygote); "": bubblewrap only
    cgroup: str = ""  # the unit's memory cgroup (autograder.unit_memory); "": none

    def write(self, path: Path) -> Path:
        path.write_text(json.dumps(asdict(self)))
        return path


def _works(argv: list[str]) -> bool:
    try:
        return subprocess.run(argv, capture_output=True, timeout=20).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def isolation_mode() -> str:
    """Which of ISOLATED, ISOLATED_SAME_USER, LIMITS_ONLY this machine allows."""
    bwrap = shutil.which("bwrap")
    if bwrap is None or not sys.platform.startswith("linux"):
        return LIMITS_ONLY
    if os.geteuid() == 0:
        setpriv = shutil.which("setpriv")
        probe = [bwrap, "--unshare-pid", "--unshare-net", "--ro-bind", "/", "/", "true"]
        return ISOLATED if setpriv and _works(probe) else LIMITS_ONLY
    probe = [bwrap, "--unshare-user", "--unshare-pid", "--unshare-net"]
    return ISOLATED_SAME_USER if _works([*probe, "--ro-bind", "/", "/", "true"]) else LIMITS_ONLY


#: the system call filter's file: a jailed kernel executes its copy in the kernel site, at
#: the same path, to seal itself (``syscall_filter.seal``)
FILTER_FILE = PACKAGE_DIR / "zygote" / "syscall_filter.py"


def kernel_package_files() -> list[Path]:
    """The files of ``autograder`` a kernel may see: the protocol, the collectors, and the
    system call filter (to seal itself)."""
    files = [PACKAGE_DIR / "protocol.py", FILTER_FILE]
    files += sorted((PACKAGE_DIR / "kernel").rglob("*.py"))
    return files


def build_kernel_site(dest: Path) -> Path:
    """A copy of the kernel side of ``autograder`` (no masters, no verdicts) in ``dest``."""
    target = dest / "autograder"
    target.mkdir(parents=True, exist_ok=True)
    (target / "__init__.py").write_text('"""The kernel side of the grader: collectors."""\n')
    for path in kernel_package_files():
        out = target / path.relative_to(PACKAGE_DIR)
        out.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, out)
    _matplotlib_cache(dest / "mpl")
    for folder in [dest, *dest.rglob("*")]:
        os.chmod(folder, 0o755 if folder.is_dir() else 0o644)
    return target


def _matplotlib_cache(folder: Path) -> None:
    """Matplotlib's font list, built once: a kernel's home starts empty, and building the
    list again in every unit costs about a second of every kernel's start."""
    folder.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "MPLCONFIGDIR": str(folder)}
    code = "import matplotlib.font_manager"
    subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, timeout=300)


def private_tmpfs(path: Path, size: int = 4 * 2**20) -> bool:
    """Put the calling process in a mount namespace of its own and mount a small tmpfs at
    ``path`` (root's, mode 0755): the only folder a kernel shares with its grader then cannot
    fill the grader's disk. Nothing is left mounted when the process ends. False where not
    allowed."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(0x00020000) != 0:  # CLONE_NEWNS
        return False
    options = f"size={size},mode=0755"
    for argv in (["mount", "--make-rprivate", "/"], ["mount", "-t", "tmpfs", "-o", options]):
        done = subprocess.run(
            argv + (["tmpfs", str(path)] if "-t" in argv else []), capture_output=True
        )
        if done.returncode != 0:
            return False
    return True


def remove_shared_folder(path: Path) -> None:
    """Remove a kernel's shared folder, unmounting its tmpfs first (``private_tmpfs``): the
    mount point itself, a folder on the grader's disk, would otherwise stay behind."""
    subprocess.run(["umount", str(path)], capture_output=True)  # fails harmlessly: no tmpfs
    shutil.rmtree(path, ignore_errors=True)


def bwrap_argv(jail: Jail, kernel: list[str]) -> list[str]:
    """The bubblewrap command line that starts ``kernel`` walled in."""
    return bwrap_args(jail_plan(jail)) + kernel


def _private_connection_file(jail: Jail, kernel: list[str]) -> list[str]:
    """Copy the kernel's connection file (in the grader's runtime folder) into ipc_dir, as a
    new file (a kernel that started in this folder before could have put a link there), its
    sockets to be bound in ipc_dir (the grader moves them out: autograder.kernel_sockets)."""
    if "-f" not in kernel[:-1]:
        return kernel
    index = kernel.index("-f") + 1
    private = Path(jail.ipc_dir) / "connection.json"
    info = json.loads(Path(kernel[index]).read_text())
    if info.get("transport") == "ipc":
        info["ip"] = str(Path(jail.ipc_dir) / Path(info["ip"]).name)
    # ipc_dir is the kernel's to write: never follow a link it left there, never reuse a file
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    with os.fdopen(os.open(private, flags, 0o600), "w") as out:
        if jail.mode == ISOLATED:
            os.fchown(out.fileno(), jail.uid, jail.uid)
        json.dump(info, out)
    return [*kernel[:index], str(private), *kernel[index + 1 :]]


def _forked_from_zygote(jail: Jail, opts: argparse.Namespace, kernel: list[str]) -> None:
    """Have the zygote fork the kernel into the same jail and exit with the kernel's code;
    return (having said why) where it could not."""
    from autograder.zygote.client import Unavailable, launch

    limits = {"memory": opts.memory, "nproc": opts.nproc, "cpus": opts.cpus}
    limits |= {"fsize": jail.tmp_bytes, "cgroup": jail.cgroup}
    try:
        code = launch(
            jail.zygote, jail_plan(jail).to_json(), kernel, limits, lambda: _note(opts, "zygote")
        )
    except Unavailable as exc:
        _note(opts, f"bubblewrap ({exc})")
        print(f"autograder.sandbox: {exc}: the kernel starts under bubblewrap", file=sys.stderr)
        return
    raise SystemExit(code)


def _note(opts: argparse.Namespace, how: str) -> None:
    """Say how the kernel was started, in LAUNCHES beside the jail's file (the unit reads it)."""
    with open(opts.jail.with_name(LAUNCHES), "a") as launches:
        launches.write(how + "\n")


def kernel_env() -> dict[str, str]:
    """What every graded kernel's environment adds to the jail's: one thread each, a fixed
    hash seed (also the zygote's: it is fixed when an interpreter starts), no display."""
    threads = {k: "1" for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")}
    return {**threads, "PYTHONHASHSEED": "0", "MPLBACKEND": "agg"}


def zygote_env(kernel_site: Path) -> dict[str, str]:
    """The zygote's whole environment: the kernels' own, but matplotlib's font list read
    from ``kernel_site`` (the jail's home does not exist outside it)."""
    env = jail_plan(Jail(ISOLATED, 0, "/", str(kernel_site), env=kernel_env())).env
    return env | {"MPLCONFIGDIR": str(kernel_site / "mpl")}


def _parse(argv: list[str]) -> tuple[argparse.Namespace, list[str]]:
    if "--" not in argv:
        raise SystemExit("usage: python -m autograder.sandbox [options] -- KERNEL ARGV")
    split = argv.index("--")
    parser = argparse.ArgumentParser(prog="autograder.sandbox")
    parser.add_argument(
        "--memory",
        type=int,
        default=0,
        help="memory limit, bytes: the address space's (with headroom in a memory cgroup)",
    )
    parser.add_argument("--nproc", type=int, default=0, help="process limit (0: none)")
    parser.add_argument("--cpus", type=int, default=0, help="pin to this many CPUs (0: all)")
    parser.add_argument("--jail", type=Path, help="a Jail as JSON: run under bubblewrap")
    return parser.parse_args(argv[:split]), argv[split + 1 :]


def main(argv: list[str] | None = None) -> None:
    opts, kernel = _parse(sys.argv[1:] if argv is None else argv)
    if opts.jail is not None:
        jail = Jail(**json.loads(opts.jail.read_text()))
        join_cgroup(jail.cgroup)  # with everything the kernel will start
        if jail.mode == LIMITS_ONLY:
            _note(opts, "limits only")
        else:
            kernel = _private_connection_file(jail, kernel)
            if jail.zygote and jail.mode == ISOLATED:
                _forked_from_zygote(jail, opts, kernel)  # returns only where it could not
            else:
                _note(opts, "bubblewrap")
            if jail.mode == ISOLATED:  # keys an earlier kernel of this uid left behind
                fresh_keyrings_of(jail.uid)
            own_session_keyring()  # not the grader's (bwrap and the kernel inherit it)
            kernel = bwrap_argv(jail, kernel)
        _nothing_inherited()
        if jail.mode != LIMITS_ONLY:  # bubblewrap applies it just before it starts the kernel
            kernel = [kernel[0], "--seccomp", str(_filter_fd()), *kernel[1:]]
    # jailed, no file the kernel writes may outgrow its tmpfs (its only writable places)
    fsize = jail.tmp_bytes if opts.jail is not None else 0
    grouped = opts.jail is not None and bool(jail.cgroup)  # joined above: it bounds memory
    set_limits(address_space(opts.memory, grouped), opts.nproc, opts.cpus, fsize)
    os.execvp(kernel[0], kernel)


def _filter_fd() -> int:
    """A descriptor bubblewrap reads the kernel's system call filter from (``--seccomp``)."""
    fd = os.memfd_create("gf-syscall-filter", 0)  # inherited by bwrap: no close-on-exec
    os.write(fd, syscall_filter.program())
    os.lseek(fd, 0, os.SEEK_SET)
    return fd


def _nothing_inherited() -> None:
    """The kernel talks over its sockets only: its stdin, stdout and stderr go nowhere and no
    other descriptor of the grader's (its log, say) survives into the jail."""
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    os.closerange(3, resource.getrlimit(resource.RLIMIT_NOFILE)[0])


def write_kernelspec(folder: Path, sandbox_args: list[str], env: dict[str, str]) -> Path:
    """A 'python3' kernelspec under ``folder`` that starts ipykernel through this wrapper.

    Put ``folder`` first on JUPYTER_PATH and Jupyter picks it instead of the default. A
    jailed kernel is interrupted by a message (a signal to bwrap's group would end the jail).
    """
    kernel_dir = folder / "kernels" / "python3"
    kernel_dir.mkdir(parents=True, exist_ok=True)
    argv = [sys.executable, "-m", "autograder.sandbox", *sandbox_args, "--"]
    argv += [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    spec = {"argv": argv, "display_name": "Python 3 (limited)", "language": "python", "env": env}
    if "--jail" in sandbox_args:
        # sealed once its sockets are bound (in the jail: the kernel site's copy of the file)
        argv.append(f"--IPKernelApp.exec_lines={syscall_filter.seal_line(str(FILTER_FILE))}")
        spec["interrupt_mode"] = "message"
    (kernel_dir / "kernel.json").write_text(json.dumps(spec))
    return folder


if __name__ == "__main__":
    main()
