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
  grader (ZeroMQ's IPC transport; a 4 MB tmpfs of the unit's own, see
  ``private_tmpfs``); it inherits no descriptor of the grader's (stdio goes to
  /dev/null: it speaks over its sockets only);
- when its process ends or the unit ends (``--die-with-parent``), the PID
  namespace goes, and with it everything it started.
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
HOME = "/home/student"
SCRATCH_PREFIX = "gf-grade-"  # the grader's scratch folders (autograder.grade)


@dataclass
class Jail:
    """How to wall one kernel in; written as JSON by the unit, read by this launcher."""

    mode: str
    uid: int  # the kernel's user (mode isolated)
    ipc_dir: str  # shared with the grader: the kernel's sockets and its connection file
    kernel_site: str  # the kernel-side autograder package, shown instead of the real one
    tmp_bytes: int = 256 * 2**20  # each of /tmp and the home folder
    env: dict[str, str] = field(default_factory=dict)

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


def kernel_package_files() -> list[Path]:
    """The files of ``autograder`` a kernel may see: the protocol and the collectors."""
    files = [PACKAGE_DIR / "protocol.py"]
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


def private_tmpfs(path: Path, uid: int, size: int = 4 * 2**20) -> bool:
    """Put the calling process in a mount namespace of its own and mount a small tmpfs, owned
    by ``uid``, at ``path``: the only folder a kernel shares with its grader then cannot fill
    the grader's disk. Nothing is left mounted when the process ends. False where not allowed.
    """
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(0x00020000) != 0:  # CLONE_NEWNS
        return False
    options = f"size={size},mode=0700,uid={uid},gid={uid}"
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


def _read_only_roots() -> list[str]:
    """System folders and the Python installation, shown read-only at their own paths."""
    from importlib.util import find_spec

    roots = ["/usr", "/etc", sys.prefix, sys.base_prefix]
    coursekit = find_spec("coursekit")  # found, not imported: importing it takes a second
    if coursekit is not None and coursekit.origin:
        roots.append(str(Path(coursekit.origin).resolve().parent))
    kept: list[str] = []
    for root in sorted({os.path.realpath(r) for r in roots}, key=len):
        if os.path.isdir(root) and not any(root.startswith(k + "/") for k in kept):
            kept.append(root)
    return kept


def _parents(path: str) -> list[str]:
    """``--dir`` arguments for a path's ancestors, world-traversable (bwrap makes them 0700)."""
    out: list[str] = []
    parts = Path(path).parts[1:-1]
    for i in range(len(parts)):
        out += ["--perms", "0755", "--dir", "/" + "/".join(parts[: i + 1])]
    return out


def bwrap_argv(jail: Jail, kernel: list[str]) -> list[str]:
    """The bubblewrap command line that starts ``kernel`` walled in."""
    # --new-session: the kernel leads its own process group, so that its interrupt (sent as a
    # message, see write_kernelspec) reaches it and its children, never bwrap itself
    argv = ["bwrap", "--die-with-parent", "--new-session", "--clearenv"]
    argv += ["--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts"]
    argv += ["--unshare-cgroup-try", "--hostname", "sandbox"]
    if jail.mode == ISOLATED_SAME_USER:
        argv += ["--unshare-user", "--disable-userns", "--cap-drop", "ALL"]
    # the private tmpfs first: what is bound below may live under /tmp (a course cloned there)
    argv += ["--proc", "/proc", "--dev", "/dev"]
    for tmpfs in ("/tmp", HOME):
        argv += ["--perms", "1777", "--size", str(jail.tmp_bytes), "--tmpfs", tmpfs]
    for name in ("bin", "sbin", "lib", "lib32", "lib64", "libx32"):
        path = Path("/" + name)
        if path.is_symlink():
            argv += ["--symlink", os.readlink(path), str(path)]
        elif path.is_dir():
            argv += ["--ro-bind", str(path), str(path)]
    for root in _read_only_roots():
        argv += [*_parents(root), "--ro-bind", root, root]
    package = str(PACKAGE_DIR)
    argv += [*_parents(package), "--ro-bind", str(Path(jail.kernel_site) / "autograder"), package]
    argv += [*_parents(jail.ipc_dir), "--bind", jail.ipc_dir, jail.ipc_dir]
    mpl = f"{HOME}/.matplotlib"
    argv += ["--perms", "1777", "--dir", mpl]
    for cache in sorted((Path(jail.kernel_site) / "mpl").glob("fontlist-*.json")):
        argv += ["--ro-bind", str(cache), f"{mpl}/{cache.name}"]
    argv += ["--chdir", HOME]
    env = {
        "HOME": HOME,
        "MPLCONFIGDIR": mpl,
        "PATH": f"{os.path.dirname(sys.executable)}:/usr/local/bin:/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "TMPDIR": "/tmp",
        **jail.env,
    }
    for key, value in env.items():
        argv += ["--setenv", key, value]
    argv.append("--")
    if jail.mode == ISOLATED:
        uid = str(jail.uid)
        argv += [shutil.which("setpriv") or "setpriv", "--reuid", uid, "--regid", uid]
        argv += ["--clear-groups", "--no-new-privs", "--inh-caps=-all", "--bounding-set=-all"]
    return argv + kernel


def _private_connection_file(jail: Jail, kernel: list[str]) -> list[str]:
    """Copy the kernel's connection file (in the grader's runtime folder) into ipc_dir."""
    if "-f" not in kernel[:-1]:
        return kernel
    index = kernel.index("-f") + 1
    private = Path(jail.ipc_dir) / "connection.json"
    private.write_text(Path(kernel[index]).read_text())
    if jail.mode == ISOLATED:
        os.chown(private, jail.uid, jail.uid)
    return [*kernel[:index], str(private), *kernel[index + 1 :]]


def _limit(opts: argparse.Namespace) -> None:
    if opts.memory > 0:
        resource.setrlimit(resource.RLIMIT_AS, (opts.memory, opts.memory))
    if opts.nproc > 0:  # counted per uid: per unit where each unit has its own
        resource.setrlimit(resource.RLIMIT_NPROC, (opts.nproc, opts.nproc))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    if opts.cpus > 0:  # like Binder's CPU quota: the kernel may use only these CPUs
        allowed = sorted(os.sched_getaffinity(0))[: opts.cpus]
        os.sched_setaffinity(0, allowed)


def _parse(argv: list[str]) -> tuple[argparse.Namespace, list[str]]:
    if "--" not in argv:
        raise SystemExit("usage: python -m autograder.sandbox [options] -- KERNEL ARGV")
    split = argv.index("--")
    parser = argparse.ArgumentParser(prog="autograder.sandbox")
    parser.add_argument("--memory", type=int, default=0, help="address-space limit, bytes")
    parser.add_argument("--nproc", type=int, default=0, help="process limit (0: none)")
    parser.add_argument("--cpus", type=int, default=0, help="pin to this many CPUs (0: all)")
    parser.add_argument("--jail", type=Path, help="a Jail as JSON: run under bubblewrap")
    return parser.parse_args(argv[:split]), argv[split + 1 :]


def main(argv: list[str] | None = None) -> None:
    opts, kernel = _parse(sys.argv[1:] if argv is None else argv)
    if opts.jail is not None:
        jail = Jail(**json.loads(opts.jail.read_text()))
        if jail.mode != LIMITS_ONLY:
            kernel = bwrap_argv(jail, _private_connection_file(jail, kernel))
        _nothing_inherited()
        # no file the kernel writes may outgrow its tmpfs (its only writable places)
        resource.setrlimit(resource.RLIMIT_FSIZE, (jail.tmp_bytes, jail.tmp_bytes))
    _limit(opts)
    os.execvp(kernel[0], kernel)


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
        spec["interrupt_mode"] = "message"
    (kernel_dir / "kernel.json").write_text(json.dumps(spec))
    return folder


if __name__ == "__main__":
    main()
