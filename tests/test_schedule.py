"""autograder.schedule: the longest expected unit goes first; workers fit the CPUs given."""

from __future__ import annotations

from autograder.schedule import LongestFirst, worker_count
from autograder.submissions import Unit
from coursekit.runtime import available_cpus


def test_units_are_handed_out_longest_expected_first():
    units = [Unit(s, lesson, None) for s in ("s1", "s2") for lesson in ("short", "long", "new")]
    queue = LongestFirst(units, {"short": [5.0], "long": [20.0, 30.0]})
    order = []
    while queue:
        unit = queue.pop()
        order.append(f"{unit.student}/{unit.lesson}")
        if unit.lesson == "new":
            queue.timed("new", 10.0)  # once timed, a lesson takes its place by its mean
    assert order == ["s1/new", "s1/long", "s2/long", "s2/new", "s1/short", "s2/short"]


def test_workers_are_as_asked_else_the_cpus_and_never_more_than_the_units():
    assert worker_count(3, 10) == 3
    assert worker_count(None, 100) == available_cpus()
    assert worker_count(8, 2) == 2
    assert worker_count(None, 0) == 1
