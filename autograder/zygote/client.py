"""The grader's side of the zygote: start it, and ask it for a kernel.

``start`` runs ``server.py`` beside this file as a fresh interpreter (never forked from the
grader: it must hold nothing of the grader's) with the kernels' own environment.
``launch`` is what ``autograder.sandbox`` does instead of exec'ing bubblewrap when a unit
has a zygote: it returns the kernel's exit code, or raises Unavailable when the zygote could
not start the kernel (the caller then starts it under bubblewrap, as without a zygote).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

SERVER = Path(__file__).with_name("server.py")
#: how long a unit waits for the zygote to start its kernel before starting it otherwise
ANSWER_SECONDS = 120  # the zygote preloads for a few seconds first: units wait meanwhile


@dataclass
class Zygote:
    """A running zygote: the socket units ask at, and its process."""

    socket: Path
    process: subprocess.Popen

    def stop(self) -> str:
        """Stop it; returns "" or, when it had ended by itself, the end of its log."""
        ended = self.process.poll() is not None
        self.process.kill()
        self.process.wait()
        if not ended:
            return ""
        log = self.socket.with_name("zygote.log")
        tail = log.read_text(errors="replace")[-600:] if log.exists() else ""
        return f"exit {self.process.returncode}: {tail.strip()}"


def start(folder: Path, env: dict[str, str]) -> Zygote:
    """Start a zygote whose socket and staging folder are in ``folder`` (the grader's own,
    0700), with ``env`` as its whole environment (the kernels' environment: what a kernel
    inherits from the zygote's process is only that). It preloads for a few seconds; units
    asking meanwhile wait in its socket's backlog."""
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    (folder / "root").mkdir(mode=0o700, exist_ok=True)
    path = folder / "sock"
    path.unlink(missing_ok=True)
    log = open(folder / "zygote.log", "wb")  # noqa: SIM115 -- the child's, closed below
    # not -I (it implies -E: PYTHONHASHSEED would be ignored, and every kernel's hash seed
    # random); the environment is ours alone. -s: no user site of the host's.
    argv = [sys.executable, "-s", str(SERVER)]
    process = subprocess.Popen(
        argv,
        env=env,
        cwd="/",
        stdin=subprocess.PIPE,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # a Ctrl-C in the grader's terminal is the grader's
    )
    log.close()
    where = {"socket": str(path), "staging": str(folder / "root")}
    process.stdin.write(json.dumps(where).encode() + b"\n")
    process.stdin.close()
    for _ in range(500):  # bound before it preloads: the socket appears within ~0.1 s
        if path.exists() or process.poll() is not None:
            break
        time.sleep(0.01)
    return Zygote(path, process)


class Unavailable(Exception):
    """The zygote could not start the kernel (the reason is the message): start it otherwise."""


def launch(
    path: str, plan: dict, argv: list[str], limits: dict, started: Callable[[], None]
) -> int:
    """Ask the zygote at ``path`` to start ``argv`` in the jail of ``plan`` with ``limits``;
    call ``started`` once it runs, wait for it to end and return its exit code. Raises
    Unavailable when it was not started."""
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        conn.connect(path)
    except OSError as exc:
        raise Unavailable(f"no zygote at {path}: {exc.strerror}") from None
    payload = json.dumps({"plan": plan, "argv": argv, "limits": limits}).encode() + b"\n"
    namespace = os.open("/proc/self/ns/mnt", os.O_RDONLY)
    try:
        sent = socket.send_fds(conn, [payload], [namespace])
        if sent < len(payload):
            conn.sendall(payload[sent:])
    except OSError as exc:  # it refused and closed before reading all: its answer may be read
        unsent = f"the zygote closed the connection ({exc.strerror})"
    else:
        unsent = "the zygote closed the connection"
    finally:
        os.close(namespace)
    conn.settimeout(ANSWER_SECONDS)  # a zygote that cannot serve in time: bubblewrap serves
    answers = conn.makefile("rb")
    try:
        line = answers.readline()
    except OSError as exc:  # a timeout too
        line, unsent = b"", f"no answer from the zygote ({exc})"
    first = json.loads(line) if line else {"error": unsent}
    if "started" not in first:
        raise Unavailable(f"the zygote did not start the kernel: {first.get('error')}")
    conn.settimeout(None)  # the kernel runs as long as its unit
    started()
    last = answers.readline()
    return json.loads(last)["exit"] if last else 1
