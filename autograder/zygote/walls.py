"""The jail of ``autograder.jail_plan``, built with system calls in the calling process.

What bubblewrap does for ``autograder.sandbox``, done in a process forked from the zygote
(root): new namespaces, a root file system of its own, then no privileges. Standard library
only: the zygote imports this by path, never through the ``autograder`` package.
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import os
import platform
import resource
import signal
import socket
import struct

_libc = ctypes.CDLL(None, use_errno=True)

CLONE_NEWNS = 0x00020000
CLONE_NEWCGROUP = 0x02000000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 32, 4096, 16384, 1 << 18
MNT_DETACH = 2
PR_SET_PDEATHSIG, PR_SET_DUMPABLE, PR_CAPBSET_DROP, PR_SET_NO_NEW_PRIVS = 1, 4, 24, 38
_PIVOT_ROOT = {"x86_64": 155, "aarch64": 41}
_KEYCTL = {"x86_64": 250, "aarch64": 219}
KEYCTL_JOIN_SESSION_KEYRING, KEYCTL_CLEAR, KEYCTL_UNLINK, KEYCTL_GET_PERSISTENT = 1, 7, 9, 22
KEY_SPEC_SESSION_KEYRING, KEY_SPEC_USER_KEYRING, KEY_SPEC_USER_SESSION_KEYRING = -3, -4, -5
DEVICES = ("null", "zero", "full", "random", "urandom", "tty")
# bwrap's --proc also covers these read-only: the jail's root may not write them
PROC_READ_ONLY = ("sys", "sysrq-trigger", "irq", "bus")


def _call(result: int, what: str) -> None:
    if result != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def mount(src: str | None, dst: str, fstype: str | None, flags: int, data: str = "") -> None:
    def c(text: str | None) -> bytes | None:
        return None if text is None else text.encode()

    _call(_libc.mount(c(src), c(dst), c(fstype), flags, c(data) if data else None), f"mount {dst}")


def die_with_parent() -> None:
    """SIGKILL this process when its parent ends (set again after every change of user)."""
    parent = os.getppid()
    _call(_libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0), "prctl PDEATHSIG")
    if os.getppid() != parent:  # the parent ended before the call took hold
        os._exit(1)


def enter_namespaces(mount_ns_fd: int) -> None:
    """Join the mount namespace of ``mount_ns_fd`` (the unit's: its shared folder is mounted
    there), then leave it and every other namespace for new ones of this process's own; its
    next child is PID 1 of a new PID namespace."""
    _call(_libc.setns(mount_ns_fd, CLONE_NEWNS), "setns")
    flags = CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS
    _call(_libc.unshare(flags), "unshare")
    _libc.unshare(CLONE_NEWCGROUP)  # where allowed, as bwrap's --unshare-cgroup-try
    mount(None, "/", None, MS_REC | MS_PRIVATE)  # nothing mounted here reaches the grader


def _mount_points_under(path: str) -> list[str]:
    def unescape(field: str) -> str:
        return field.encode().decode("unicode_escape")

    with open("/proc/self/mountinfo") as info:
        points = [unescape(line.split()[4]) for line in info]
    return [p for p in points if p == path or p.startswith(path.rstrip("/") + "/")]


def _bind(src: str, dst: str, flags: int) -> None:
    """Bind ``src`` (and what is mounted under it) onto ``dst`` with ``flags`` (MS_RDONLY,
    MS_NOSUID, …) on every mount of it: a bind mount takes its flags only when remounted."""
    if os.path.isdir(src):
        os.makedirs(dst, exist_ok=True)
    else:
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        open(dst, "a").close()
    mount(src, dst, None, MS_BIND | MS_REC)
    for point in _mount_points_under(dst):
        mount(None, point, None, MS_BIND | MS_REMOUNT | flags)


def _proc(dst: str) -> None:
    os.makedirs(dst, exist_ok=True)
    mount("proc", dst, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    for name in PROC_READ_ONLY:
        path = os.path.join(dst, name)
        if os.path.exists(path):
            _bind(path, path, MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC)


def _dev(dst: str) -> None:
    """A /dev of its own, as bwrap's --dev makes it: a few devices, a private devpts."""
    os.makedirs(dst, exist_ok=True)
    mount("tmpfs", dst, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755")
    for name in DEVICES:
        if os.path.exists(f"/dev/{name}"):
            _bind(f"/dev/{name}", f"{dst}/{name}", MS_NOSUID)
    os.mkdir(f"{dst}/shm", 0o755)
    os.mkdir(f"{dst}/pts", 0o755)
    options = "newinstance,ptmxmode=0666,mode=620"
    mount("devpts", f"{dst}/pts", "devpts", MS_NOSUID | MS_NOEXEC, options)
    links = {"ptmx": "pts/ptmx", "fd": "/proc/self/fd", "core": "/proc/kcore"}
    for n, name in enumerate(("stdin", "stdout", "stderr")):
        links[name] = f"/proc/self/fd/{n}"
    for name, target in links.items():
        os.symlink(target, f"{dst}/{name}")


def build_root(steps: list[dict], staging: str) -> None:
    """Build the jail's root in ``staging`` (an empty folder) step by step and make it this
    process's ``/``; nothing of the old root stays reachable. Run as PID 1 of the new PID
    namespace (its /proc shows that namespace)."""
    mount("tmpfs", staging, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755")
    for step in steps:
        kind, dst, src = step["kind"], staging + step["dst"], step["src"]
        if kind == "proc":
            _proc(dst)
        elif kind == "dev":
            _dev(dst)
        elif kind == "tmpfs":
            os.makedirs(dst, exist_ok=True)
            data = f"mode={step['mode']:o},size={step['size']}"
            mount("tmpfs", dst, "tmpfs", MS_NOSUID | MS_NODEV, data)
        elif kind == "dir":  # as bwrap's --dir: the mode is a new folder's, not a mount's
            if not os.path.isdir(dst):
                os.makedirs(dst)
                os.chmod(dst, step["mode"])
        elif kind == "symlink":
            os.symlink(src, dst)
        elif kind in ("bind", "ro-bind"):
            _bind(src, dst, MS_NOSUID | MS_NODEV | (MS_RDONLY if kind == "ro-bind" else 0))
        else:
            raise ValueError(f"unknown step {kind!r}")
    os.chdir(staging)
    number = _PIVOT_ROOT[platform.machine()]
    _call(_libc.syscall(number, b".", b"."), "pivot_root")
    _call(_libc.umount2(b".", MNT_DETACH), "umount the old root")
    os.chdir("/")


def network_and_name(hostname: str) -> None:
    """The new network namespace's loopback up (as bwrap does), and the jail's host name."""
    socket.sethostname(hostname)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        request = struct.pack("16sH14s", b"lo", 0, b"")
        flags = struct.unpack("16sH", fcntl.ioctl(sock, 0x8913, request)[:18])[1]  # GIFFLAGS
        fcntl.ioctl(sock, 0x8914, struct.pack("16sH14s", b"lo", flags | 1, b""))  # IFF_UP


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [(n, ctypes.c_uint32) for n in ("effective", "permitted", "inheritable")]


def drop_privileges(uid: int, dumpable: bool = False) -> None:
    """Become ``uid`` (its group too, no other group) with no capability left in any set,
    the bounding set empty and ``no_new_privs``; checked, not assumed.

    ``dumpable``: its /proc files its own again, as after an exec (a change of user makes
    them root's); other processes of ``uid`` (only the jail's: a uid per unit) may then
    trace it, as they may a kernel bubblewrap started."""
    with open("/proc/sys/kernel/cap_last_cap") as last:
        for cap in range(int(last.read()) + 1):
            _call(_libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0), "drop a capability")
    os.setgroups([])
    os.setresgid(uid, uid, uid)
    os.setresuid(uid, uid, uid)
    header = _CapHeader(0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3
    data = (_CapData * 2)()
    _call(_libc.capset(ctypes.byref(header), data), "capset")
    _call(_libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "no_new_privs")
    _call(_libc.prctl(PR_SET_DUMPABLE, int(dumpable), 0, 0, 0), "dumpable")
    with open("/proc/self/status") as status:
        fields = dict(line.split(":", 1) for line in status if ":" in line)
    caps = [int(fields[k], 16) for k in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb")]
    ids = set(os.getresuid()) | set(os.getresgid())
    if any(caps) or ids != {uid} or os.getgroups() or fields["NoNewPrivs"].strip() != "1":
        raise OSError(f"privileges not dropped: caps {caps}, ids {ids}")


def own_session_keyring() -> None:
    """Join a new, empty session keyring: what this process and its children start
    (a kernel) no longer possess the session keyring it inherited (the grader's: a login
    gives it one), so they can neither read keys there nor leave one for the next kernel."""
    if _libc.syscall(_KEYCTL[platform.machine()], KEYCTL_JOIN_SESSION_KEYRING, None) < 0:
        if ctypes.get_errno() not in (errno.ENOSYS, errno.EPERM):  # no keyrings: none to share
            raise OSError(ctypes.get_errno(), "keyctl: a new session keyring")


def fresh_keyrings() -> None:
    """Join a new session keyring and empty the calling uid's keyrings: its user, user
    session and persistent keyrings. The kernel keeps those after the uid's processes end
    (the persistent one for days): keys an earlier kernel of this uid left there (another
    run, another student) would otherwise be readable."""
    number = _KEYCTL[platform.machine()]
    own_session_keyring()
    for keyring in (KEY_SPEC_USER_KEYRING, KEY_SPEC_USER_SESSION_KEYRING):
        _call(_libc.syscall(number, KEYCTL_CLEAR, keyring), "clear a keyring")
    # the persistent keyring is reached by linking it into the (new, own) session keyring
    persistent = _libc.syscall(number, KEYCTL_GET_PERSISTENT, -1, KEY_SPEC_SESSION_KEYRING)
    if persistent >= 0:
        _call(_libc.syscall(number, KEYCTL_CLEAR, persistent), "clear the persistent keyring")
        _libc.syscall(number, KEYCTL_UNLINK, persistent, KEY_SPEC_SESSION_KEYRING)
    elif ctypes.get_errno() not in (errno.EOPNOTSUPP, errno.ENOSYS):  # no such keyrings here
        raise OSError(ctypes.get_errno(), "keyctl: the persistent keyring")


def fresh_keyrings_of(uid: int) -> None:
    """``fresh_keyrings`` for ``uid``, from a root process (in a child that becomes it)."""
    child = os.fork()
    if child == 0:
        try:
            os.setresgid(uid, uid, uid)
            os.setresuid(uid, uid, uid)
            fresh_keyrings()
        except BaseException:
            os._exit(1)
        os._exit(0)
    _, status = os.waitpid(child, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise OSError(f"the keyrings of uid {uid} could not be emptied")


def join_cgroup(path: str) -> None:
    """Move this process, and so everything it starts from now on, into the unit's memory
    cgroup at ``path`` (``autograder.unit_memory``); "": none."""
    if not path:
        return
    if not os.path.basename(path).startswith("gf-unit-"):
        raise ValueError(f"not a unit's cgroup: {path}")
    flags = os.O_WRONLY | os.O_NOFOLLOW | os.O_CLOEXEC
    fd = os.open(os.path.join(path, "cgroup.procs"), flags)
    try:
        os.write(fd, str(os.getpid()).encode())
    finally:
        os.close(fd)


#: What a kernel may map beyond its memory limit where a memory cgroup bounds what it holds:
#: a lesson's kernel maps 1.5-1.7 GB (threads' stacks, malloc's arenas, torch's reserved
#: regions) to hold about 400 MB, so an address space limited at the memory limit killed
#: kernels that fit it (``--memory 1G``: every kernel died). Mapped, not held: bounded loosely.
GROUPED_ADDRESS_HEADROOM = 2 * 2**30


def address_space(memory: int, grouped: bool) -> int:
    """The address-space limit of a kernel of ``memory`` bytes (0: none): ``memory`` itself
    where nothing else bounds what it holds, ``GROUPED_ADDRESS_HEADROOM`` more where the
    unit's memory cgroup does (``grouped``)."""
    if memory <= 0:
        return 0
    return memory + GROUPED_ADDRESS_HEADROOM if grouped else memory


#: the most files a kernel may hold open (it inherited the grader's 20000): what the Linux
#: kernel keeps per open file or socket and a memory cgroup does not charge (a netlink route
#: socket's queue: at most its default receive buffer, ~200 KiB) is bounded by this many
#: (a lesson's kernel holds about 60)
KERNEL_FILES = 1024


def set_limits(memory: int = 0, nproc: int = 0, cpus: int = 0, fsize: int = 0) -> None:
    """A kernel's limits (0: none): address space in bytes, processes (counted per uid: per
    unit, each unit has its own), ``cpus`` CPUs (like Binder's quota; those no other pinned
    kernel holds: ``autograder.cpu_slots``), the largest file (the jail's tmpfs); never a
    core dump; at most ``KERNEL_FILES`` open files."""
    if memory > 0:
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    files = [  # RLIM_INFINITY is -1 here
        limit if 0 <= limit < KERNEL_FILES else KERNEL_FILES
        for limit in resource.getrlimit(resource.RLIMIT_NOFILE)
    ]
    resource.setrlimit(resource.RLIMIT_NOFILE, (files[0], files[1]))
    if nproc > 0:
        resource.setrlimit(resource.RLIMIT_NPROC, (nproc, nproc))
    if fsize > 0:
        resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    if cpus > 0:
        # imported here: the zygote imports this module, and its kernels hold nothing of
        # the grader's (only validation pins kernels to CPUs)
        from autograder import cpu_slots

        os.sched_setaffinity(0, cpu_slots.claim(cpus))
