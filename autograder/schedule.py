"""Which unit a free worker grades next, and how many workers a run uses."""

from __future__ import annotations

import math
import statistics

from autograder.submissions import Unit
from coursekit.runtime import available_cpus


def worker_count(requested: int | None, pending: int) -> int:
    """Workers for ``pending`` units: as asked, else the CPUs this process may use (its
    affinity and its cgroup's CPU quota), never more than there are units."""
    return max(1, min(requested or available_cpus(), pending or 1))


class LongestFirst:
    """Pending units, handed out longest expected first, so that the run does not end
    with one long notebook on one worker while the others sit idle.

    A unit's expected time is the mean of its lesson's units timed so far (in this
    run or an earlier one); lessons not timed yet come first, in the given order.
    """

    def __init__(self, units: list[Unit], seconds: dict[str, list[float]]):
        self._units = list(units)
        self._seconds = {lesson: list(times) for lesson, times in seconds.items()}

    def __bool__(self) -> bool:
        return bool(self._units)

    def _expected(self, unit: Unit) -> float:
        times = self._seconds.get(unit.lesson)
        return statistics.mean(times) if times else math.inf

    def pop(self) -> Unit:
        best = max(range(len(self._units)), key=lambda i: self._expected(self._units[i]))
        return self._units.pop(best)

    def timed(self, lesson: str, seconds: float) -> None:
        self._seconds.setdefault(lesson, []).append(seconds)
