"""The kernel zygote: a process that has imported what every graded kernel imports, once,
and forks each unit's kernel from that state into a jail of its own.

``python -s server.py``, its socket and staging folder given on stdin as JSON (started by
``autograder.zygote.client.start``, as root, with the kernels' environment and nothing of the
grader's). It imports only the standard library, ``walls`` beside it, ``CORE`` and
``EXTRA``: never the grader, its masters or its verdicts, so a kernel forked from it holds
nothing a student may not see.

For each request on its socket (one JSON line: the jail's plan, the kernel's command line and
limits, with the unit's mount namespace as a descriptor), it forks:

- a guard, which enters new namespaces and answers the client: ``{"started": true}`` or
  ``{"error": …}``, then ``{"exit": code}``; when the client goes (the kernel manager killed
  it), the guard kills the jail;
- the jail's PID 1 (builds the root, then no privileges, reaps), which forks
- the kernel: its own user, no capabilities, its limits; then ipykernel runs in the
  preloaded interpreter (any other command line is executed, preloading unused).
"""

from __future__ import annotations

import atexit
import gc
import importlib
import json
import os
import resource
import select
import signal
import socket
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
if sys.path[0] != HERE:
    sys.path.insert(0, HERE)
import syscall_filter  # noqa: E402 -- beside this file, not through the autograder package
import walls  # noqa: E402

#: What a fresh kernel imports anyway: ipykernel's own, then a lesson's set-up cell.
CORE = [
    "ipykernel.kernelapp",
    "ipykernel.ipkernel",
    "ipykernel.debugger",  # debugpy, imported while a kernel starts
    "numpy",
    "torch",
    "matplotlib",
    "matplotlib.pyplot",
    "matplotlib_inline.backend_inline",
    "coursekit",
]
#: What a lesson's kernel imports later, at its first use: preloaded too, every module of
#: coursekit and what torch imports on first use.
EXTRA = [
    "torch._dynamo",  # imported by the first optimizer step: 1 s
    "torch.fx.experimental.symbolic_shapes",  # the first backward with a given gradient
]
# A kernel's memory limit (address space) grows by what EXTRA maps, measured when preloaded:
# a forked kernel then has the headroom a fresh one has after its set-up cell, not less.
_extra_bytes = 0
MAX_REQUEST = 2**20


def _address_space() -> int:
    with open("/proc/self/status") as status:
        line = next(line for line in status if line.startswith("VmSize:"))
    return int(line.split()[1]) * 1024


def preload() -> None:
    """Import CORE, then EXTRA and every module of coursekit, measuring what the latter map;
    freeze what is loaded (a kernel's collections then never walk, nor copy, its pages)."""
    import pkgutil

    global _extra_bytes
    for name in CORE:
        importlib.import_module(name)
    before = _address_space()
    for name in EXTRA:
        importlib.import_module(name)
    coursekit = sys.modules["coursekit"]
    for module in pkgutil.walk_packages(coursekit.__path__, "coursekit."):
        importlib.import_module(module.name)
    _extra_bytes = max(0, _address_space() - before)
    gc.collect()
    gc.freeze()


def _threads() -> int:
    return len(os.listdir("/proc/self/task"))


def _send(conn: socket.socket, message: dict) -> None:
    try:
        conn.sendall(json.dumps(message).encode() + b"\n")
    except OSError:
        pass


def _receive(conn: socket.socket) -> tuple[dict, list[int]]:
    conn.settimeout(5)
    data, fds, _, _ = socket.recv_fds(conn, MAX_REQUEST, 1)
    # The zygote serves one connection at a time. Anything of the grader's that a kernel can
    # point here (its ZeroMQ client reconnects through the socket paths in the kernel's
    # folder, which the kernel can replace by links) is refused at its first byte.
    if not data.startswith(b"{"):
        raise ValueError("not a request")
    while not data.endswith(b"\n"):
        more = conn.recv(MAX_REQUEST)
        if not more or len(data) > MAX_REQUEST:
            raise ValueError("incomplete request")
        data += more
    conn.settimeout(None)
    return json.loads(data), fds


def _fresh_interpreter_state() -> None:
    """What a new interpreter would not share with its siblings: random seeds, import
    caches of the zygote's file system, matplotlib's folders chosen outside the jail."""
    import random

    random.seed()
    if "numpy" in sys.modules:
        sys.modules["numpy"].random.seed()
    if "torch" in sys.modules:
        sys.modules["torch"].seed()
    while HERE in sys.path:  # the kernel's path is a kernel's, not the zygote's
        sys.path.remove(HERE)
    importlib.invalidate_caches()
    sys.path_importer_cache.clear()
    mpl = sys.modules.get("matplotlib")
    if mpl is not None:  # chosen once and cached: choose again, inside the jail
        mpl.get_configdir = mpl._logged_cached("CONFIGDIR=%s", mpl.get_configdir.__wrapped__)
        mpl.get_cachedir = mpl._logged_cached("CACHEDIR=%s", mpl.get_cachedir.__wrapped__)


def _kernel(request: dict, report: int) -> None:
    """The kernel's process, forked by the jail's PID 1 (still root, inside the new root)."""
    plan = request["plan"]
    os.setsid()  # its own process group: an interrupt reaches it and its children only
    walls.drop_privileges(plan["uid"], dumpable=True)
    walls.fresh_keyrings()
    walls.die_with_parent()
    os.chdir(plan["chdir"])
    os.environ.clear()
    os.environ.update(plan["env"])
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    _fresh_interpreter_state()
    inherited = resource.getrlimit(resource.RLIMIT_NOFILE)[0]  # before set_limits lowers it
    limits = request["limits"]
    memory = limits.get("memory", 0)  # plus what EXTRA maps, where limited at all
    walls.set_limits(
        walls.address_space(memory, bool(limits.get("cgroup"))) + (_extra_bytes if memory else 0),
        limits.get("nproc", 0),
        limits.get("cpus", 0),
        limits.get("fsize", 0),
    )
    syscall_filter.install()  # no keyrings, sessions or user namespaces (after fresh_keyrings)
    os.write(report, b"ok")
    os.closerange(3, inherited)  # report and null too
    argv = request["argv"]
    if argv[1:3] != ["-m", "ipykernel_launcher"]:
        os.execv(argv[0], argv)
    code = 0
    try:
        from ipykernel import kernelapp

        sys.argv = ["ipykernel_launcher", *argv[3:]]
        kernelapp.launch_new_instance()
    except SystemExit as exc:
        code = 0 if exc.code is None else exc.code if isinstance(exc.code, int) else 1
    except BaseException:
        code = 1
    finally:
        atexit._run_exitfuncs()
        os._exit(code)


def _init(request: dict, staging: str, report: int) -> None:
    """PID 1 of the jail: builds its root, forks the kernel, then reaps until it ends."""
    try:
        walls.die_with_parent()
        plan = request["plan"]
        walls.build_root(plan["steps"], staging)
        walls.network_and_name(plan["hostname"])
        kernel = os.fork()
        if kernel == 0:
            try:
                _kernel(request, report)
            except BaseException as exc:
                os.write(report, f"the kernel's set-up failed: {exc!r}".encode())
            os._exit(71)
        os.closerange(3, resource.getrlimit(resource.RLIMIT_NOFILE)[0])
        # Python's own SIGINT handler would let the kernel end its jail by signalling PID 1
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        walls.drop_privileges(plan["uid"])
        walls.die_with_parent()
    except BaseException as exc:
        os.write(report, f"the jail could not be built: {exc!r}".encode())
        os._exit(70)
    while True:
        try:
            pid, status = os.wait()
        except ChildProcessError:
            os._exit(0)
        if pid == kernel:
            code = os.waitstatus_to_exitcode(status)
            os._exit(code if code >= 0 else 128 - code)


def _guard(conn: socket.socket, request: dict, mount_ns: int, staging: str) -> None:
    """Between the client and the jail: enters the namespaces, says whether the kernel
    started, and how it ended; kills the jail when the client goes."""
    try:
        walls.die_with_parent()
        walls.join_cgroup(request["limits"].get("cgroup", ""))  # the jail's processes with it
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        walls.enter_namespaces(mount_ns)
        os.close(mount_ns)
        read, write = os.pipe()
        init = os.fork()
        if init == 0:
            os.close(read)
            conn.close()
            _init(request, staging, write)
        os.close(write)
        said = b""
        while chunk := os.read(read, 4096):
            said += chunk
        if said != b"ok":
            _send(conn, {"error": said.decode(errors="replace") or "the jail ended at once"})
            os.kill(init, signal.SIGKILL)
            os._exit(1)
        _send(conn, {"started": True})
        ended = os.pidfd_open(init)
        ready, _, _ = select.select([conn, ended], [], [])
        if ended not in ready:  # the client went (killed with the kernel manager's kernel)
            os.kill(init, signal.SIGKILL)
        code = os.waitstatus_to_exitcode(os.waitpid(init, 0)[1])
        _send(conn, {"exit": code if code >= 0 else 128 - code})
    except BaseException as exc:
        _send(conn, {"error": f"the zygote's guard failed: {exc!r}"})
    os._exit(0)


def _peer_uid(conn: socket.socket) -> int:
    creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    return struct.unpack("3i", creds)[1]


def serve(path: str, staging: str) -> None:
    walls.die_with_parent()  # a grader killed outright must not leave a root zygote behind
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    os.chmod(path, 0o600)
    listener.listen(64)  # clients wait in the backlog while it preloads
    preload()
    threads = _threads()
    hash_seed = os.environ.get("PYTHONHASHSEED")
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # guards are reaped by the kernel
    while True:
        conn, _ = listener.accept()
        fds: list[int] = []
        try:
            if _peer_uid(conn) != os.getuid():
                raise PermissionError("only the grader's user may ask for a kernel")
            request, fds = _receive(conn)
            if len(fds) != 1:
                raise ValueError("a request carries the unit's mount namespace")
            if request["plan"]["env"].get("PYTHONHASHSEED") != hash_seed:
                raise ValueError("the kernel's PYTHONHASHSEED differs from the zygote's")
            if _threads() != threads:  # a fork copies one thread: the others' locks would hang
                raise RuntimeError("the zygote has started a thread: it can no longer fork")
            if os.fork() == 0:
                listener.close()
                _guard(conn, request, fds[0], staging)
        except Exception as exc:  # noqa: BLE001 -- one bad request must not stop the zygote
            _send(conn, {"error": f"refused: {exc!r}"})
        conn.close()
        for fd in fds:
            os.close(fd)


if __name__ == "__main__":
    # its folders come on stdin, not in argv: a kernel's /proc/self/cmdline is the zygote's
    where = json.loads(sys.stdin.readline())
    sys.stdin.close()
    serve(where["socket"], where["staging"])
