# nbgrader configuration of the Gradient Flow course (run `nbgrader` from this folder).
# The settings themselves live in autograder/config.py, shared with the `autograder` CLI.
from pathlib import Path

from autograder.config import course_config

c = get_config()  # noqa: F821 -- provided by traitlets when nbgrader loads this file
c.merge(course_config(Path(__file__).resolve().parent))
