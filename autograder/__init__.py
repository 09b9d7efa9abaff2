"""Instructor side of Gradient Flow: the nbgrader course and its command line.

``autograder/`` is at once a Python package (release, validate, grade) and the
nbgrader course root: masters live in ``autograder/source/<lesson>/<lesson>.ipynb``.
"""

from autograder.course import LESSONS, Course

__all__ = ["LESSONS", "Course"]
