"""Read a submitted file as notebook JSON, whatever it holds, in bounded size, memory and depth.

``read_notebook_json`` refuses (``Unreadable``, whose message is the reason) symbolic links
and other files that are not regular files, files above ``MAX_NOTEBOOK_BYTES`` (before
reading them), JSON nested too deeply, JSON too costly to hold in memory (a file above
``PARSE_IN_PROCESS_BYTES`` is parsed first by a child process under the address-space limit
``parse_memory_limit``) and JSON that is not a notebook; it converts nbformat 3 (and older)
notebooks with nbformat's own converter and says so in its notes.
"""

from __future__ import annotations

import gc
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

MAX_NOTEBOOK_BYTES = 50 * 2**20
PARSE_IN_PROCESS_BYTES = 2**20  # JSON takes up to ~25x its size in memory: 1 MiB parses here
# The child's address space: 256 MiB and 8 bytes a byte of the file. A notebook is mostly
# text, which needs at most ~2-9x its size (bytes, str, and the strings parsed); many small
# JSON values need up to ~25x: a 100 MiB file of ``[],`` needs 2.5 GB.
PARSE_BASE_BYTES = 256 * 2**20
PARSE_BYTES_PER_BYTE = 8
PARSE_SECONDS = 120
_TOO_BIG = 3  # the child's exit status when the JSON does not fit in its memory

# Run as ``python -I -S -c _CHILD PATH LIMIT``: exit 0 when the file parses or fails to parse
# for any reason but memory (the parent then parses it and says why), _TOO_BIG on MemoryError.
_CHILD = f"""
import gc, json, resource, sys
limit = int(sys.argv[2])
resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
gc.disable()
try:
    with open(sys.argv[1], "rb") as f:
        json.loads(f.read())
except MemoryError:
    sys.exit({_TOO_BIG})
except BaseException:
    sys.exit(0)
"""


class Unreadable(Exception):
    """The file is not read as a notebook: the message says why."""


def size_problem(size: int) -> str | None:
    """Why a file of ``size`` bytes is not read, or None when it may be."""
    if size <= MAX_NOTEBOOK_BYTES:
        return None
    return (
        f"the file is {size / 2**20:.1f} MiB; notebooks above "
        f"{MAX_NOTEBOOK_BYTES // 2**20} MiB are not read"
    )


def read_notebook_json(path: Path) -> tuple[dict, list[str]]:
    """The notebook JSON in ``path`` (nbformat 4) and notes on what was done to it."""
    try:
        info = os.lstat(path)
    except OSError as exc:
        raise Unreadable(f"the file cannot be read ({exc.strerror})") from None
    if stat.S_ISLNK(info.st_mode):
        raise Unreadable("the file is a symbolic link: not graded (links are never followed)")
    if not stat.S_ISREG(info.st_mode):
        raise Unreadable("it is not a regular file: not graded")
    if info.st_size == 0:
        raise Unreadable("the file is empty")
    problem = size_problem(info.st_size)
    if problem:
        raise Unreadable(problem)
    if info.st_size > PARSE_IN_PROCESS_BYTES:
        _parse_in_child(path, info.st_size)
    nb = _parse(_read(path))
    if not isinstance(nb, dict):
        raise Unreadable("the file is JSON but not a Jupyter notebook (no list of cells)")
    notes = []
    if "cells" not in nb and "worksheets" in nb:
        nb = _upgrade(nb)
        notes.append(
            f"an nbformat {nb['metadata'].get('orig_nbformat')} notebook: converted to "
            "nbformat 4 by nbformat's converter before grading"
        )
    if not isinstance(nb.get("cells"), list):
        raise Unreadable("the file is JSON but not a Jupyter notebook (no list of cells)")
    return nb, notes


def _read(path: Path) -> bytes:
    """The file's bytes, never through a symbolic link, never more than the cap."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError as exc:
        raise Unreadable(f"the file cannot be read ({exc.strerror})") from None
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
            raise Unreadable("it is not a regular file: not graded")
        data = f.read(MAX_NOTEBOOK_BYTES + 1)
    problem = size_problem(len(data))
    if problem:  # it grew since it was measured
        raise Unreadable(problem)
    return data


def parse_memory_limit(size: int) -> int:
    """The address space in which a file of ``size`` bytes must parse."""
    return PARSE_BASE_BYTES + PARSE_BYTES_PER_BYTE * size


def _parse(data: bytes) -> object:
    collecting = gc.isenabled()
    gc.disable()  # JSON makes no cycles; collecting while it builds millions of lists is slow
    try:
        return json.loads(data)
    except RecursionError:
        raise Unreadable(
            "the JSON is nested too deeply to be a notebook (more levels than Python's "
            f"limit of {sys.getrecursionlimit()})"
        ) from None
    except MemoryError:
        raise Unreadable("the JSON needs more memory than a notebook can") from None
    except (UnicodeDecodeError, ValueError) as exc:
        raise Unreadable(f"the file is not valid JSON ({exc.__class__.__name__})") from None
    finally:
        if collecting:
            gc.enable()


def _parse_in_child(path: Path, size: int) -> None:
    """Parse the file in a child process under PARSE_MEMORY_BYTES of address space first,
    so that a file of many small JSON values cannot take the grader's memory."""
    memory = parse_memory_limit(size)
    command = [sys.executable, "-I", "-S", "-c", _CHILD, str(path), str(memory)]
    try:
        proc = subprocess.run(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=PARSE_SECONDS,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise Unreadable(
            f"reading the {size / 2**20:.1f} MiB file as JSON took more than {PARSE_SECONDS} s"
        ) from None
    except OSError as exc:
        raise Unreadable(f"no process could be started to read the file ({exc})") from None
    if proc.returncode == 0:
        return
    limit = f"{memory // 2**20} MiB"
    if proc.returncode == _TOO_BIG:
        raise Unreadable(
            f"the {size / 2**20:.1f} MiB file holds more JSON values than a notebook: "
            f"reading it needs more than {limit} of memory"
        )
    raise Unreadable(
        f"the {size / 2**20:.1f} MiB file could not be read as JSON within {limit} of memory "
        f"(the reading process ended with status {proc.returncode})"
    )


def _upgrade(nb: dict) -> dict:
    """An nbformat 3 (or older) notebook as nbformat 4, by nbformat's own converter."""
    import nbformat

    version = nb.get("nbformat")
    try:
        upgraded = nbformat.convert(nbformat.from_dict(nb), 4)
    except Exception as exc:  # the converter on arbitrary JSON: any failure is a reason
        raise Unreadable(
            f"an nbformat {version!r} notebook (it has worksheets, no cells) that nbformat "
            f"could not convert to nbformat 4 ({exc.__class__.__name__})"
        ) from None
    if not isinstance(upgraded.get("metadata"), dict):
        upgraded["metadata"] = {}
    upgraded["metadata"].setdefault("orig_nbformat", version)
    return upgraded
