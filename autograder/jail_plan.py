"""What a graded kernel's jail holds, written once as a plan and built two ways.

``jail_plan`` lists the jail's file system (mounts, folders, links), its environment, its
working folder and its user. ``bwrap_args`` turns the plan into bubblewrap's command line
(``autograder.sandbox``); ``autograder.zygote.walls`` builds the same plan with system calls
in a process forked from the preloaded zygote. One plan: the two cannot drift apart.
"""

from __future__ import annotations

import os
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

from autograder.course import PACKAGE_DIR

HOME = "/home/student"


@dataclass
class Step:
    """One step of building the jail's root, in order.

    kind: ``proc`` | ``dev`` | ``tmpfs`` (size, mode) | ``dir`` (mode) | ``ro-bind`` and
    ``bind`` (src onto dst) | ``symlink`` (src is the link's target).
    """

    kind: str
    dst: str
    src: str = ""
    mode: int | None = None
    size: int | None = None


@dataclass
class JailPlan:
    steps: list[Step]
    env: dict[str, str]
    chdir: str
    hostname: str = "sandbox"
    uid: int | None = None  # the kernel's own user; None: stay the caller's (user namespace)
    same_user: bool = False  # isolated-same-user: a user namespace, no uid of its own

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> JailPlan:
        return cls(**{**data, "steps": [Step(**s) for s in data["steps"]]})


def read_only_roots() -> list[str]:
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


def _parents(path: str) -> list[Step]:
    """A path's ancestors as world-traversable folders (bwrap would make them 0700)."""
    parts = Path(path).parts[1:-1]
    return [Step("dir", "/" + "/".join(parts[: i + 1]), mode=0o755) for i in range(len(parts))]


def jail_plan(jail) -> JailPlan:
    """The plan of ``jail`` (an ``autograder.sandbox.Jail``)."""
    # the private tmpfs first: what is bound below may live under /tmp (a course cloned there)
    steps = [Step("proc", "/proc"), Step("dev", "/dev")]
    for tmpfs in ("/tmp", HOME):
        steps.append(Step("tmpfs", tmpfs, mode=0o1777, size=jail.tmp_bytes))
    for name in ("bin", "sbin", "lib", "lib32", "lib64", "libx32"):
        path = Path("/" + name)
        if path.is_symlink():
            steps.append(Step("symlink", str(path), src=os.readlink(path)))
        elif path.is_dir():
            steps.append(Step("ro-bind", str(path), src=str(path)))
    for root in read_only_roots():
        steps += [*_parents(root), Step("ro-bind", root, src=root)]
    package = str(PACKAGE_DIR)
    site_package = str(Path(jail.kernel_site) / "autograder")
    steps += [*_parents(package), Step("ro-bind", package, src=site_package)]
    steps += [*_parents(jail.ipc_dir), Step("bind", jail.ipc_dir, src=jail.ipc_dir)]
    mpl = f"{HOME}/.matplotlib"
    steps.append(Step("dir", mpl, mode=0o1777))
    for cache in sorted((Path(jail.kernel_site) / "mpl").glob("fontlist-*.json")):
        steps.append(Step("ro-bind", f"{mpl}/{cache.name}", src=str(cache)))
    env = {
        "HOME": HOME,
        "MPLCONFIGDIR": mpl,
        "PATH": f"{os.path.dirname(sys.executable)}:/usr/local/bin:/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "TMPDIR": "/tmp",
        **jail.env,
    }
    same_user = jail.mode == "isolated-same-user"
    uid = jail.uid if jail.mode == "isolated" else None
    return JailPlan(steps, env, HOME, uid=uid, same_user=same_user)


def bwrap_args(plan: JailPlan) -> list[str]:
    """bubblewrap's options that build ``plan`` (the command follows them, after ``--``)."""
    # --new-session: the kernel leads its own process group, so that its interrupt (sent as a
    # message, see write_kernelspec) reaches it and its children, never bwrap itself
    argv = ["bwrap", "--die-with-parent", "--new-session", "--clearenv"]
    argv += ["--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts"]
    argv += ["--unshare-cgroup-try", "--hostname", plan.hostname]
    if plan.same_user:
        argv += ["--unshare-user", "--disable-userns", "--cap-drop", "ALL"]
    for step in plan.steps:
        if step.mode is not None and step.kind in ("dir", "tmpfs"):
            argv += ["--perms", f"{step.mode:04o}"]
        if step.size is not None:
            argv += ["--size", str(step.size)]
        if step.kind == "symlink":
            argv += ["--symlink", step.src, step.dst]
        elif step.kind in ("ro-bind", "bind"):
            argv += [f"--{step.kind}", step.src, step.dst]
        else:
            argv += [f"--{step.kind}", step.dst]
    argv += ["--chdir", plan.chdir]
    for key, value in plan.env.items():
        argv += ["--setenv", key, value]
    argv.append("--")
    if plan.uid is not None:
        uid = str(plan.uid)
        argv += [_setpriv(), "--reuid", uid, "--regid", uid]
        argv += ["--clear-groups", "--no-new-privs", "--inh-caps=-all", "--bounding-set=-all"]
    return argv


def _setpriv() -> str:
    import shutil

    return shutil.which("setpriv") or "setpriv"
