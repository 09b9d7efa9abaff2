"""autograder.kernel_sockets: the grader connects only through sockets the kernel cannot replace."""

from __future__ import annotations

import asyncio
import os
import socket
import threading
import time
from pathlib import Path

import pytest

from autograder import kernel_sockets
from autograder.kernel_sockets import NotASocket, make_folders, take


async def _alive() -> bool:
    return True


async def _dead() -> bool:
    return False


def _bind(path: Path) -> socket.socket:
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(path))
    server.listen()
    return server


def test_the_folders_the_kernel_and_the_grader_use(tmp_path):
    kernel, grader = make_folders(tmp_path, None)
    assert (kernel, grader) == (tmp_path / "kernel", tmp_path / "grader")
    assert grader.stat().st_mode & 0o777 == 0o700
    if os.geteuid() == 0:
        (tmp_path / "x").mkdir()
        other, _ = make_folders(tmp_path / "x", 61997)
        assert other.stat().st_uid == 61997 and (tmp_path / "x" / "grader").stat().st_uid == 0


def test_bound_sockets_are_moved_and_still_reach_the_kernel(tmp_path):
    kernel, grader = make_folders(tmp_path, None)
    servers = [_bind(kernel / f"k-{port}") for port in (1, 2)]
    asyncio.run(take(str(kernel / "k"), str(grader / "k"), [1, 2], _alive))
    assert sorted(p.name for p in grader.iterdir()) == ["k-1", "k-2"]
    assert list(kernel.iterdir()) == []
    for port, server in zip((1, 2), servers, strict=True):
        client = socket.socket(socket.AF_UNIX)
        client.connect(str(grader / f"k-{port}"))  # the listening socket followed its inode
        conn, _ = server.accept()
        client.sendall(b"hello")
        assert conn.recv(5) == b"hello"


def test_sockets_bound_later_are_waited_for(tmp_path):
    kernel, grader = make_folders(tmp_path, None)
    late = threading.Timer(0.2, lambda: _bind(kernel / "k-3"))
    started = time.monotonic()
    late.start()
    asyncio.run(take(str(kernel / "k"), str(grader / "k"), [3], _alive))
    assert time.monotonic() - started >= 0.2
    assert (grader / "k-3").is_socket()


def test_a_link_where_a_socket_should_be_is_refused(tmp_path):
    """The attack this module is for: a link to another socket of the host (here, one the
    'host' listens on) must never be connected to by the grader."""
    kernel, grader = make_folders(tmp_path, None)
    host = _bind(tmp_path / "host.sock")
    host.settimeout(0.2)
    (kernel / "k-1").symlink_to(tmp_path / "host.sock")
    with pytest.raises(NotASocket, match="k-1 is not a socket"):
        asyncio.run(take(str(kernel / "k"), str(grader / "k"), [1], _alive))
    with pytest.raises(TimeoutError):
        host.accept()
    (kernel / "k-2").write_text("a file")
    with pytest.raises(NotASocket):
        asyncio.run(take(str(kernel / "k"), str(grader / "k"), [2], _alive))


def test_a_kernel_that_dies_or_never_binds_is_an_error(tmp_path, monkeypatch):
    kernel, grader = make_folders(tmp_path, None)
    with pytest.raises(RuntimeError, match="died"):
        asyncio.run(take(str(kernel / "k"), str(grader / "k"), [1], _dead))
    monkeypatch.setattr(kernel_sockets, "POLL_SECONDS", 0.01)
    with pytest.raises(RuntimeError, match="did not bind"):
        asyncio.run(take(str(kernel / "k"), str(grader / "k"), [1], _alive, timeout=0.05))
