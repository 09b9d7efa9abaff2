"""A look from inside a graded kernel's jail, and what it must find.

``probe_code`` is Python run inside the jail (as a script, or in a kernel): it writes what
it sees to a JSON file in the shared folder. ``check_seen`` asserts that it saw only its
own world. tests/test_sandbox.py (bubblewrap and the zygote, running a script) and
tests/test_zygote.py (a kernel forked from the zygote) share them.
"""

from __future__ import annotations

import socket
import sys
from pathlib import Path

from autograder import sandbox
from autograder.course import PACKAGE_DIR, REPO_DIR

SECRETS = [
    PACKAGE_DIR / "source",
    PACKAGE_DIR / "judge",
    PACKAGE_DIR / "grade.py",
    REPO_DIR / ".git",
    REPO_DIR / "notebooks",
]

_PROBE = """
import glob, json, os, socket
seen = {}
seen["uid"] = os.getuid()
seen["pid"] = os.getpid()
seen["procs"] = sorted(p for p in os.listdir("/proc") if p.isdigit())
seen["secrets"] = [p for p in SECRETS if os.path.exists(p)]
seen["repo"] = os.listdir(REPO) if os.path.isdir(REPO) else []
seen["tmp"] = os.listdir("/tmp")
seen["cwd"] = os.getcwd()
import autograder
seen["autograder"] = sorted(os.listdir(os.path.dirname(autograder.__file__)))
seen["autograder_zygote"] = sorted(os.listdir(os.path.dirname(autograder.__file__) + "/zygote"))
import coursekit
try:
    open(os.path.join(os.path.dirname(coursekit.__file__), "evil.py"), "w")
    seen["coursekit_writable"] = True
except OSError:
    seen["coursekit_writable"] = False
try:  # (a jailed kernel may not even open an IP socket: its system call filter)
    with socket.socket() as s:
        s.settimeout(2)
        s.connect(("127.0.0.1", PORT))
    seen["loopback"] = True
except OSError:
    seen["loopback"] = False
seen["env"] = sorted(os.environ)
seen["environ_block"] = open("/proc/self/environ", "rb").read().decode(errors="replace")
status = dict(l.split(":", 1) for l in open("/proc/self/status") if ":" in l)
seen["caps"] = [status[k].strip() for k in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb")]
seen["no_new_privs"] = status["NoNewPrivs"].strip()
seen["fds"] = []
for fd in os.listdir("/proc/self/fd"):
    try:
        seen["fds"].append(os.readlink("/proc/self/fd/" + fd))
    except OSError:  # the listing's own descriptor, closed by now
        pass
seen["stdio"] = [os.readlink("/proc/self/fd/%d" % n) for n in (1, 2)]
seen["tmp_mode"] = oct(os.stat("/tmp").st_mode & 0o7777)
seen["hostname"] = os.uname().nodename
open(REPORT, "w").write(json.dumps(seen))
"""


def probe_code(report: Path, port: int, extra_secrets: list[str] = ()) -> str:
    """The probe, writing to ``report``; ``port`` listens on the grader's loopback."""
    secrets = [str(s) for s in SECRETS] + list(extra_secrets)
    head = f"REPORT = {str(report)!r}\nSECRETS = {secrets!r}\nREPO = {str(REPO_DIR)!r}\n"
    return head + f"PORT = {port}\n" + _PROBE


def listener() -> socket.socket:
    """A port on the grader's loopback that the jail must not reach."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    return sock


def check_seen(seen: dict, ipc: Path, mode: str, kernel_fds: bool = False) -> None:
    """What the probe must have found: its own world only.

    ``kernel_fds``: the probe ran in a kernel, whose own sockets and files are open.
    """
    if mode == sandbox.ISOLATED:
        assert seen["uid"] != 0
        assert seen["caps"] == ["0000000000000000"] * 5, seen["caps"]
    assert seen["no_new_privs"] == "1"
    assert seen["pid"] < 10 and len(seen["procs"]) < 5, seen["procs"]  # its own PID namespace
    assert seen["secrets"] == []
    assert set(seen["repo"]) <= {".venv", "coursekit", "autograder"}, seen["repo"]
    # only the ways to the shared folder and to the course and its Python, if they are in /tmp
    ways = {
        Path(p).relative_to("/tmp").parts[0]
        for p in (ipc, REPO_DIR, sys.prefix)
        if Path(p).is_relative_to("/tmp")
    }
    assert set(seen["tmp"]) <= ways, seen["tmp"]
    assert seen["tmp_mode"] == "0o1777"
    assert seen["hostname"] == "sandbox"
    assert seen["cwd"] == sandbox.HOME
    assert seen["autograder"] == ["__init__.py", "kernel", "protocol.py", "zygote"]
    assert seen["autograder_zygote"] == ["syscall_filter.py"]  # to seal itself: no server
    assert not seen["coursekit_writable"]
    assert not seen["loopback"], "the jail reached a port on the grader's loopback"
    for names in (seen["env"], seen["environ_block"]):
        grader_only = ("JPY", "AWS", "GITHUB", "SSH", "VIRTUAL_ENV", "PYTEST", "CI=")
        assert not any(g in name for name in names for g in grader_only), names
    if kernel_fds:
        return
    # nothing of the grader's is inherited: stdio goes nowhere, no other descriptor is open
    assert seen["stdio"] == ["/dev/null", "/dev/null"]
    # the others are the probe's own socket and the listing itself
    assert all(t.startswith(("socket:", "/dev/null", "/proc/")) for t in seen["fds"]), seen["fds"]
