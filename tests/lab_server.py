"""JupyterLab on a free loopback port with a random token, for the browser tests and
bench/lessons.py: started, waited for, and always stopped."""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class LabServer:
    base: str  # http://127.0.0.1:PORT
    token: str

    def url(self, path: str) -> str:
        """``path`` (starting with /) on this server, with the token."""
        sep = "&" if "?" in path else "?"
        return f"{self.base}{path}{sep}token={self.token}"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def running_lab(
    root: Path,
    extra_args: Sequence[str] = (),
    log: Path | None = None,
    env: Mapping[str, str] | None = None,
    start_timeout: float = 120,
) -> Iterator[LabServer]:
    """``jupyter lab`` serving ``root``, ready (its API answers) when the block starts.

    Raises RuntimeError with the end of the server's log if it does not answer
    within ``start_timeout`` seconds or exits early.
    """
    server = LabServer(f"http://127.0.0.1:{_free_port()}", secrets.token_hex(16))
    jupyter = Path(sys.executable).with_name("jupyter")
    args = [
        str(jupyter),
        "lab",
        "--no-browser",
        "--ip=127.0.0.1",
        f"--port={server.base.rsplit(':', 1)[1]}",
        f"--ServerApp.token={server.token}",
        f"--ServerApp.root_dir={root}",
        *extra_args,
        *(["--allow-root"] if os.geteuid() == 0 else []),  # JupyterLab refuses root otherwise
    ]
    out = log.open("w") if log else subprocess.DEVNULL
    proc = subprocess.Popen(args, stdout=out, stderr=out, env={**os.environ, **(env or {})})
    try:
        deadline = time.monotonic() + start_timeout
        while True:
            try:
                urllib.request.urlopen(server.url("/api/status"), timeout=2).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    tail = log.read_text()[-2000:] if log else "(no log kept)"
                    raise RuntimeError(f"JupyterLab did not start:\n{tail}") from None
                time.sleep(0.1)
        yield server
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
        if log:
            out.close()
