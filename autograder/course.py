"""Where the course lives: lesson ids, masters, and the student notebooks."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

#: The fixed lesson ids, in teaching order (DESIGN.md section 2).
LESSONS: tuple[str, ...] = (
    "01_backprop",
    "02_vanishing_gradients",
    "03_exploding_gradients",
    "04_dead_relu",
    "05_dropout",
    "06_diagnosis",
)

PACKAGE_DIR = Path(__file__).resolve().parent
REPO_DIR = PACKAGE_DIR.parent


class UsageError(Exception):
    """A bad argument from the user (the CLI exits with status 2)."""


@dataclass(frozen=True)
class Course:
    """An nbgrader course: ``root/source/<lesson>/<lesson>.ipynb`` are the masters.

    ``notebooks`` is where the student versions are written.
    """

    root: Path = PACKAGE_DIR
    notebooks: Path = REPO_DIR / "notebooks"

    @property
    def source(self) -> Path:
        return self.root / "source"

    def lessons(self) -> list[str]:
        """Every lesson that has a master, in order."""
        if not self.source.is_dir():
            return []
        found = [d.name for d in self.source.iterdir() if (d / f"{d.name}.ipynb").is_file()]
        order = {lesson: i for i, lesson in enumerate(LESSONS)}
        return sorted(found, key=lambda name: (order.get(name, len(order)), name))

    def master(self, lesson: str) -> Path:
        return self.source / lesson / f"{lesson}.ipynb"

    def student(self, lesson: str) -> Path:
        return self.notebooks / f"{lesson}.ipynb"

    def select(self, requested: list[str] | None) -> list[str]:
        """The lessons to act on: all of them when none are named.

        Raises UsageError naming the valid lessons for an unknown one.
        """
        valid = self.lessons()
        if not requested:
            if not valid:
                raise UsageError(f"no lesson masters found under {self.source}")
            return valid
        unknown = [lesson for lesson in requested if lesson not in valid]
        if unknown:
            raise UsageError(
                f"unknown lesson {', '.join(map(repr, unknown))}; "
                f"valid lessons: {', '.join(valid) or '(none)'}"
            )
        return list(dict.fromkeys(requested))
