"""The course's nbgrader configuration, as data.

``nbgrader_config.py`` loads this, so the nbgrader command line and the
``autograder`` package always agree.
"""

from __future__ import annotations

from pathlib import Path

from traitlets.config import Config

#: What nbgrader puts in place of a solution in the student version. The
#: visible checks turn the NotImplementedError into "not implemented yet".
CODE_STUB = "# YOUR CODE HERE\nraise NotImplementedError()"


def course_config(root: Path, *, cell_timeout: int = 300) -> Config:
    """nbgrader settings for the course rooted at ``root``."""
    c = Config()
    c.CourseDirectory.root = str(root)
    c.CourseDirectory.course_id = "gradient-flow"
    c.CourseDirectory.source_directory = "source"
    c.CourseDirectory.release_directory = "release"
    c.ClearSolutions.code_stub = {"python": CODE_STUB}
    c.ClearSolutions.text_stub = "YOUR ANSWER HERE"
    c.Execute.timeout = cell_timeout
    c.Execute.allow_errors = True
    c.Execute.interrupt_on_timeout = True
    return c
