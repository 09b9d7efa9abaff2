"""Find the (student, lesson) submissions in a folder or an LMS zip.

Accepted layouts (also inside a .zip, also under one wrapping folder):
- ``<student>/<lesson>.ipynb``
- ``<student>/<lesson>/<lesson>.ipynb``
- ``submitted/<student>/<lesson>/<lesson>.ipynb`` (nbgrader's own)
"""

from __future__ import annotations

import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

from autograder.course import UsageError

MAX_UNZIPPED_BYTES = 2 * 2**30  # an LMS export bigger than this is not a class of notebooks
_SAFE_ID = re.compile(r"[^A-Za-z0-9_.@+-]")


@dataclass(frozen=True)
class Unit:
    """One thing to grade: a student's notebook for one lesson (``path`` None if missing)."""

    student: str
    lesson: str
    path: Path | None

    @property
    def key(self) -> str:
        return f"{self.student}__{self.lesson}"


def safe_student_id(name: str) -> str:
    """A student id nbgrader and file systems accept: unsafe characters become ``_``."""
    cleaned = _SAFE_ID.sub("_", name.strip())
    return cleaned.strip("._") or "student"


def unpack(archive: Path, into: Path) -> Path:
    """Extract an LMS zip safely (no paths outside ``into``, bounded size); return ``into``."""
    if not zipfile.is_zipfile(archive):
        raise UsageError(f"{archive}: not a readable zip file")
    try:
        with zipfile.ZipFile(archive) as zf:
            total = sum(info.file_size for info in zf.infolist())
            if total > MAX_UNZIPPED_BYTES:
                raise UsageError(f"{archive}: unpacks to {total / 2**30:.1f} GiB; refusing")
            root = into.resolve()
            for info in zf.infolist():
                target = (root / info.filename).resolve()
                if root != target and root not in target.parents:
                    continue  # an entry that would land outside: skip it
                if info.is_dir():
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                with zf.open(info) as src, open(target, "wb") as dst:
                    dst.write(src.read())
    except (zipfile.BadZipFile, OSError) as exc:
        raise UsageError(f"{archive}: cannot unpack ({exc})") from None
    return into


def _students_root(root: Path, lessons: list[str]) -> Path:
    """The folder whose sub-folders are the students."""
    if (root / "submitted").is_dir():
        return root / "submitted"
    entries = [p for p in root.iterdir() if not p.name.startswith((".", "__MACOSX"))]
    dirs = [p for p in entries if p.is_dir()]
    # one wrapping folder (as zips often have) that itself holds student folders
    if len(dirs) == 1 and not any(_lesson_file(dirs[0], lesson) for lesson in lessons):
        return _students_root(dirs[0], lessons)
    return root


def _lesson_file(student_dir: Path, lesson: str) -> Path | None:
    for candidate in (student_dir / f"{lesson}.ipynb", student_dir / lesson / f"{lesson}.ipynb"):
        if candidate.is_file():
            return candidate
    return None


def find_units(root: Path, lessons: list[str], students: list[str] | None = None) -> list[Unit]:
    """Every (student, lesson) pair to grade, sorted; a missing notebook is a Unit with no path.

    ``students`` restricts the students (their folder names or safe ids).
    """
    if not root.is_dir():
        raise UsageError(f"{root}: no such folder")
    base = _students_root(root, lessons)
    units = []
    seen: dict[str, Path] = {}
    for student_dir in sorted(p for p in base.iterdir() if p.is_dir()):
        if student_dir.name.startswith((".", "__MACOSX")):
            continue
        student = safe_student_id(student_dir.name)
        if student in seen:
            raise UsageError(
                f"the folders {seen[student].name!r} and {student_dir.name!r} give the same "
                f"student id {student!r}"
            )
        seen[student] = student_dir
        if students and student not in students and student_dir.name not in students:
            continue
        for lesson in lessons:
            units.append(Unit(student, lesson, _lesson_file(student_dir, lesson)))
    if students:
        unknown = [s for s in students if s not in seen and safe_student_id(s) not in seen]
        if unknown:
            raise UsageError(f"no submissions from {', '.join(unknown)} in {root}")
    if not seen:
        raise UsageError(f"{root}: no student folders found")
    return units
