"""Run one nbgrader converter quietly and turn its failure into an exception."""

from __future__ import annotations

import io
import logging
import os
import sys
from pathlib import Path

from nbgrader.converters.base import BaseConverter, NbGraderException
from nbgrader.coursedir import CourseDirectory
from traitlets.config import Config


class NbgraderFailed(Exception):
    """nbgrader could not convert a notebook; the message holds its log."""


def run_converter(converter: type[BaseConverter], config: Config, **traits: object) -> str:
    """Run ``converter`` (e.g. GenerateAssignment) under ``config``; return its log.

    Raises NbgraderFailed with nbgrader's own log when it fails.
    """
    put_own_tools_on_path()
    log = logging.getLogger(f"autograder.{converter.__name__}")
    log.propagate = False
    log.setLevel(logging.INFO)
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    log.addHandler(handler)
    try:
        coursedir = CourseDirectory(config=config, log=log)
        app = converter(coursedir=coursedir, config=config, log=log)
        for name, value in traits.items():
            setattr(app, name, value)
        try:
            app.start()
        except (NbGraderException, SystemExit) as exc:
            raise NbgraderFailed(buffer.getvalue().strip() or repr(exc)) from None
    finally:
        log.removeHandler(handler)
    return buffer.getvalue()


def course_copy(src_root: Path, lesson: str, dst_root: Path) -> Path:
    """Copy one lesson's source folder into a fresh course root; return the master."""
    import shutil

    dst = dst_root / "source" / lesson
    shutil.copytree(src_root / "source" / lesson, dst)
    return dst / f"{lesson}.ipynb"


def put_own_tools_on_path() -> None:
    """nbgrader runs ``alembic`` (and kernels) by name: find this environment's.

    Without it, ``.venv/bin/autograder`` fails unless the venv is activated.
    """
    bindir = os.path.dirname(sys.executable)
    if bindir not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = bindir + os.pathsep + os.environ.get("PATH", "")
