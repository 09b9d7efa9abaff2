"""The smallest hidden checks, as a worked example of the contract (and the fixture course's).

A test cell's hidden region imports a module of ``autograder.kernel.collect`` as
``hidden`` and calls one check with the student's objects. ``collected`` records
what the student's function returns on the grader's inputs; the judge replays it.
"""

from __future__ import annotations

from autograder.kernel.collect.record import answered, collected
from coursekit import checks


@collected
def add(student) -> None:
    with checks.exercise("add"):
        for a, b in [(-1, 1), (2.5, 4), (10**6, -3)]:
            checks.expect_close(student(a, b), a + b, f"add({a}, {b})")


q_sqrt = answered("q_sqrt")
