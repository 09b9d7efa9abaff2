"""autograder.zygote: graded kernels forked, already imported, into jails of their own.

A kernel from the zygote must be walled in exactly as one under bubblewrap (the probe of
tests/jail_probe.py, run inside the kernel), start with the lessons' imports done, hold
nothing of the grader's or of an earlier kernel's, and die with its client. The zygote
needs root (it makes each kernel its own user); under CI=true that is a failure, not a skip.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from autograder import sandbox
from autograder.zygote.client import Unavailable, launch
from autograder.zygote.client import start as start_zygote
from tests.conftest import IN_CI
from tests.jail_probe import check_seen, listener, probe_code

pytestmark = pytest.mark.skipif(
    sandbox.isolation_mode() != sandbox.ISOLATED and not IN_CI,
    reason="the zygote needs root and Linux namespaces (where bubblewrap isolates as root)",
)
UID = 61997


@pytest.fixture(scope="module")
def zygote(tmp_path_factory):
    site = sandbox.build_kernel_site(tmp_path_factory.mktemp("site")).parent
    running = start_zygote(tmp_path_factory.mktemp("zygote"), sandbox.zygote_env(site))
    yield running, site
    running.stop()


def _jail(tmp_path: Path, zygote, env: dict | None = None) -> tuple[sandbox.Jail, Path]:
    running, site = zygote
    ipc = Path(tmp_path) / "ipc"
    ipc.mkdir()
    os.chown(ipc, UID, UID)
    os.chmod(ipc, 0o700)
    jail = sandbox.Jail(
        sandbox.ISOLATED, UID, str(ipc), str(site), env=env or sandbox.kernel_env(),
        zygote=str(running.socket),
    )  # fmt: skip
    return jail, ipc


class Kernel:
    """A kernel started as a unit starts it (kernelspec through autograder.sandbox); with
    ``fresh``, under bubblewrap instead of forked from the zygote."""

    def __init__(self, tmp_path: Path, zygote, fresh: bool = False):
        from jupyter_client import KernelManager

        self.jail, self.ipc = _jail(tmp_path, zygote)
        if fresh:
            self.jail.zygote = ""
        args = ["--memory", str(2**31), "--nproc", "64"]
        args += ["--jail", str(self.jail.write(tmp_path / "jail.json"))]
        spec = sandbox.write_kernelspec(tmp_path / "jupyter", args, sandbox.kernel_env())
        before = os.environ.get("JUPYTER_PATH")
        os.environ["JUPYTER_PATH"] = str(spec)
        try:
            self.manager = KernelManager(
                kernel_name="python3", transport="ipc", ip=str(self.ipc / "k")
            )
            self.manager.start_kernel()
        finally:  # the next test's kernels are not this one's
            os.environ.pop("JUPYTER_PATH")
            if before is not None:
                os.environ["JUPYTER_PATH"] = before
        self.client = self.manager.client()
        self.client.start_channels()
        self.client.wait_for_ready(timeout=60)

    def run(self, code: str) -> str:
        out: list[str] = []

        def hook(msg):
            if msg["msg_type"] == "stream":
                out.append(msg["content"]["text"])
            elif msg["msg_type"] == "error":
                out.append("\n".join(msg["content"]["traceback"]))

        reply = self.client.execute_interactive(code, timeout=60, output_hook=hook)
        assert reply["content"]["status"] == "ok", "".join(out)
        return "".join(out)

    def stop(self) -> None:
        self.client.stop_channels()
        self.manager.shutdown_kernel(now=True)


@pytest.fixture
def kernel(tmp_path, zygote):
    started = Kernel(tmp_path, zygote)
    yield started
    started.stop()


def test_a_kernel_from_the_zygote_starts_with_the_imports_done_and_nothing_of_the_grader(
    kernel,
):
    code = (
        "import sys\n"
        "print(sorted(m for m in ('torch', 'coursekit', 'matplotlib') if m in sys.modules))\n"
        "print([m for m in sys.modules if m.startswith(('autograder', 'nbgrader', 'pytest'))])\n"
        "print(sys.flags.hash_randomization, hash('abc'), [p for p in sys.path if 'zygote' in p])\n"
        "print(open('/proc/self/cmdline').read().split(chr(0))[1:])"
    )
    preloaded, grader, interpreter, cmdline = kernel.run(code).splitlines()
    assert "sock" not in cmdline and "root" not in cmdline, cmdline  # no grader's folder
    assert preloaded == "['coursekit', 'matplotlib', 'torch']"
    assert grader == "[]", "the zygote loaded the grader: its kernels would hold it"
    # as a kernel started afresh with the jail's PYTHONHASHSEED=0: the same hashes
    fresh = subprocess.run(
        [sys.executable, "-c", "import sys; print(sys.flags.hash_randomization, hash('abc'), [])"],
        env={"PYTHONHASHSEED": "0"}, capture_output=True, text=True,
    )  # fmt: skip
    assert interpreter == fresh.stdout.strip(), (interpreter, fresh.stdout)


def test_a_kernel_from_the_zygote_sees_only_its_own_world(kernel):
    port = listener()
    kernel.run(probe_code(kernel.ipc / "seen.json", port.getsockname()[1]))
    port.close()
    seen = json.loads((kernel.ipc / "seen.json").read_text())
    check_seen(seen, kernel.ipc, sandbox.ISOLATED, kernel_fds=True)


def test_what_one_kernel_leaves_the_next_never_sees(tmp_path, zygote):
    (tmp_path / "a").mkdir()
    first = Kernel(tmp_path / "a", zygote)
    drawn = first.run(
        "import coursekit, torch, numpy\n"
        "print(numpy.random.rand(), torch.rand(1).item())\n"
        "coursekit.LEFT_BEHIND = 1\n"
        "torch.set_default_dtype(torch.float64)\n"
        "numpy.random.seed(0)\n"
        "open('/tmp/left', 'w').write('x'); open('/home/student/left', 'w').write('x')\n"
    )
    first.stop()
    (tmp_path / "b").mkdir()
    second = Kernel(tmp_path / "b", zygote)
    seen = second.run(
        "import os, coursekit, torch, numpy\n"
        "print(numpy.random.rand(), torch.rand(1).item())\n"
        "print(hasattr(coursekit, 'LEFT_BEHIND'), torch.get_default_dtype(),\n"
        "      os.path.exists('/tmp/left'), os.path.exists('/home/student/left'),\n"
        "      numpy.random.rand() == numpy.random.RandomState(0).rand())\n"
    )
    second.stop()
    seen = seen.split()
    assert seen[2:] == ["False", "torch.float32", "False", "False", "False"], seen
    # seeded afresh, as a new interpreter is: sibling kernels draw different numbers
    assert drawn.split()[0] != seen[0] and drawn.split()[1] != seen[1], (drawn, seen)


def test_the_jail_dies_with_its_client(tmp_path, zygote):
    """The kernel manager kills the launcher (its kernel's process): the jail goes too."""
    jail, ipc = _jail(tmp_path, zygote)
    code = (
        "import time\n"
        f"open({str(ipc / 'started')!r}, 'w').write('x')\n"
        "time.sleep(3)\n"
        f"open({str(ipc / 'outlived')!r}, 'w').write('x')\n"
    )
    args = ["--jail", str(jail.write(tmp_path / "j")), "--", sys.executable, "-c", code]
    launcher = subprocess.Popen([sys.executable, "-m", "autograder.sandbox", *args])
    for _ in range(300):
        if (ipc / "started").exists():
            break
        time.sleep(0.05)
    assert (ipc / "started").exists()
    launcher.send_signal(signal.SIGKILL)
    launcher.wait()
    time.sleep(4)
    assert not (ipc / "outlived").exists(), "the jail outlived the kernel manager's process"


def test_only_the_graders_user_may_ask(zygote):
    running, _ = zygote
    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # another user knocks
        os.close(read)
        try:
            os.setresuid(UID, UID, UID)
            conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            conn.connect(str(running.socket))
            conn.sendall(b'{"plan": {}}\n')
            os.write(write, conn.recv(4096))
        except OSError as exc:
            os.write(write, f"could not connect: {exc}".encode())
        os._exit(0)
    os.close(write)
    answer = os.read(read, 4096).decode()
    os.waitpid(child, 0)
    assert "refused" in answer or "could not connect" in answer, answer


def test_a_request_it_cannot_serve_falls_back_to_bubblewrap(tmp_path, zygote, capfd):
    """A kernel whose hash seed differs from the zygote's cannot be forked from it."""
    jail, ipc = _jail(tmp_path, zygote, env={**sandbox.kernel_env(), "PYTHONHASHSEED": "1"})
    code = f"open({str(ipc / 'ran')!r}, 'w').write('x')"
    args = ["--jail", str(jail.write(tmp_path / "j")), "--", sys.executable, "-c", code]
    done = subprocess.run([sys.executable, "-m", "autograder.sandbox", *args], timeout=60)
    assert done.returncode == 0 and (ipc / "ran").exists()
    assert "PYTHONHASHSEED" in capfd.readouterr().err
    assert (tmp_path / "launches").read_text().startswith("bubblewrap (the zygote did not")


def test_a_request_refused_before_it_was_all_read_is_unavailable_not_a_crash(tmp_path, zygote):
    """The zygote answers and closes while the client is still sending (here: a request over
    its size limit; in CI once: a refusal read from the first send, before the second):
    the launcher must fall back to bubblewrap, not die of a broken pipe."""
    jail, _ = _jail(tmp_path, zygote)
    huge = ["x" * 2**21]  # over the 1 MiB a request may have (server.MAX_REQUEST)
    with pytest.raises(Unavailable, match="did not start"):
        launch(str(zygote[0].socket), sandbox.jail_plan(jail).to_json(), huge, {}, lambda: None)


def test_without_a_zygote_nothing_starts(tmp_path):
    plan = {"steps": [], "env": {}, "chdir": "/", "uid": UID}
    with pytest.raises(Unavailable, match="no zygote"):
        launch(str(tmp_path / "nothing-here"), plan, ["true"], {}, lambda: None)


def test_the_kernel_cannot_end_its_jail_by_signalling_pid_1(tmp_path, zygote):
    jail, ipc = _jail(tmp_path, zygote)
    code = (
        "import os, signal, time\n"
        "for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGUSR1):\n"
        "    os.kill(1, sig)\n"
        "time.sleep(1)\n"
        f"open({str(ipc / 'alive')!r}, 'w').write('x')\n"
    )
    args = ["--jail", str(jail.write(tmp_path / "j")), "--", sys.executable, "-c", code]
    done = subprocess.run([sys.executable, "-m", "autograder.sandbox", *args], timeout=60)
    assert done.returncode == 0 and (ipc / "alive").exists(), "a signal to PID 1 ended the jail"


def test_a_forked_kernel_has_the_memory_headroom_of_a_fresh_one(tmp_path, zygote):
    """The limit is on the address space; the zygote's kernel starts with more mapped (what
    it preloaded beyond a lesson's set-up), and gets that much more limit: a student's code
    has as much room as in a kernel started afresh, after the same imports."""
    code = (
        "import resource, numpy, torch, matplotlib.pyplot, coursekit\n"
        "size = [int(l.split()[1]) * 1024 for l in open('/proc/self/status')\n"
        "        if l.startswith('VmSize')][0]\n"
        "print(resource.getrlimit(resource.RLIMIT_AS)[0] - size)\n"
    )
    room = {}
    for fresh in (False, True):
        (tmp_path / str(fresh)).mkdir()
        started = Kernel(tmp_path / str(fresh), zygote, fresh=fresh)
        room[fresh] = int(started.run(code))
        started.stop()
    assert room[False] >= room[True] - 16 * 2**20, {k: v / 2**20 for k, v in room.items()}


def test_a_grader_killed_outright_leaves_no_zygote(tmp_path, zygote):
    _, site = zygote
    code = (
        "import sys, time\n"
        "from pathlib import Path\n"
        "from autograder import sandbox\n"
        "from autograder.zygote.client import start\n"
        f"running = start(Path({str(tmp_path / 'z')!r}), sandbox.zygote_env(Path({str(site)!r})))\n"
        "print(running.process.pid, flush=True)\n"
        "time.sleep(60)\n"
    )
    grader = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    pid = int(grader.stdout.readline())
    grader.kill()
    grader.wait()
    for _ in range(100):
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except FileNotFoundError:
            break
        if state == "Z":  # ended, not yet reaped
            break
        time.sleep(0.05)
    else:
        os.kill(pid, signal.SIGKILL)
        pytest.fail("the zygote outlived the grader that started it")


def test_what_is_not_a_request_is_refused_at_once_and_blocks_no_unit(zygote):
    """A kernel can make the grader's ZeroMQ client connect here (it replaces its socket
    files by links to this socket; the client reconnects as root): the zygote, serving one
    connection at a time, must refuse a ZeroMQ greeting at its first byte, not wait on it."""
    running, _ = zygote
    stalled = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stalled.connect(str(running.socket))
    stalled.sendall(b"\xff" + bytes(8) + b"\x7f")  # ZMTP's greeting, then nothing more
    stalled.settimeout(4)  # under the zygote's own 5 s wait for a whole request
    answer = stalled.recv(4096)
    assert b"refused" in answer and b"not a request" in answer, answer
    assert stalled.recv(4096) == b""  # and closed
    stalled.close()


def test_a_zygote_that_does_not_answer_in_time_is_unavailable(tmp_path, monkeypatch):
    """Whatever holds the zygote up, a unit waits ANSWER_SECONDS, then starts its kernel
    under bubblewrap."""
    import autograder.zygote.client as client

    monkeypatch.setattr(client, "ANSWER_SECONDS", 0.5)
    silent = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    silent.bind(str(tmp_path / "sock"))
    silent.listen(1)  # takes the connection into its backlog, never answers
    plan = {"steps": [], "env": {}, "chdir": "/", "uid": UID}
    with pytest.raises(Unavailable, match="no answer from the zygote"):
        launch(str(tmp_path / "sock"), plan, ["true"], {}, lambda: None)
    silent.close()


SEALED = (
    "import errno, socket\n"
    "try:\n"
    "    socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 0).close()\n"
    "    print('opened')\n"
    "except OSError as exc:\n"
    "    print(errno.errorcode[exc.errno])\n"
    "print(sorted(n for n in dir() if not n.startswith('_') and n not in ('In', 'Out', 'exit', "
    "'get_ipython', 'open', 'quit', 'errno', 'socket', 'exc')))\n"
)


@pytest.mark.parametrize("fresh", [False, True], ids=["zygote", "bwrap"])
def test_a_kernel_is_sealed_before_its_first_cell(tmp_path, zygote, fresh):
    """Its first filter lets the C library list interfaces (NETLINK_ROUTE: ZeroMQ aborts
    without it while ipykernel binds); the kernel then seals itself (ipykernel's
    exec_lines): no netlink socket at all, and no name left in the student's namespace."""
    started = Kernel(tmp_path, zygote, fresh=fresh)
    try:
        refused, names = started.run(SEALED).splitlines()
    finally:
        started.stop()
    assert refused == "EPROTONOSUPPORT", refused
    assert names == "[]", names
