"""Files kept by content: ``<lesson>-<key>.<suffix>`` in a cache folder, where the key is a
digest of what the file was made from. Written whole or not at all; keeping one drops the
same lesson's files of older keys (they would only pile up)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path


def keep(path: Path, write: Callable[[Path], None]) -> Path:
    """Make the file at ``path`` by ``write(partial)`` then a rename, so that no reader (nor a
    later run, after a crash) ever finds half of it; drop the lesson's older files."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    try:
        write(partial)
        partial.replace(path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    lesson = path.name.rsplit("-", 1)[0]
    for older in path.parent.glob(f"{lesson}-*{path.suffix}"):
        if older != path and older.name.rsplit("-", 1)[0] == lesson:
            older.unlink(missing_ok=True)
    return path
