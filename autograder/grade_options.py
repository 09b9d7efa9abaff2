"""What ``autograder grade`` is asked to do: its options, and the sizes it reads."""

from __future__ import annotations

from dataclasses import dataclass

from autograder.course import UsageError

#: the least ``--memory`` a lesson can be graded with: a lesson's kernel holds up to about
#: 0.5 GB (bench/results/lessons.md), and one that cannot even start only says "died"
MIN_MEMORY = 512 * 2**20


@dataclass
class GradeOptions:
    workers: int | None = None  # default: the CPUs this process may use
    lessons: list[str] | None = None
    students: list[str] | None = None
    cell_timeout: int = 120
    notebook_timeout: int = 900
    memory_bytes: int = 2 * 2**30
    nproc: int = 256
    fresh: bool = False  # regrade everything, even units already graded
    isolation: str | None = None  # autograder.sandbox's mode; None: the best this machine has
    progress: bool = True
    plans: bool = True  # skip the cells each master's grading plan names (autograder.plan)
    zygote: bool = True  # isolated kernels forked from a preloaded zygote (autograder.zygote)


def parse_size(text: str) -> int:
    """``2G``, ``1500M``, ``512k`` or a number of bytes (at least ``MIN_MEMORY``)."""
    units = {"k": 2**10, "m": 2**20, "g": 2**30}
    raw = text.strip().lower().removesuffix("b").removesuffix("i")
    try:
        if raw and raw[-1] in units:
            value = int(float(raw[:-1]) * units[raw[-1]])
        else:
            value = int(raw)
    except ValueError:
        raise UsageError(f"--memory {text!r}: give a size like 2G or 1500M") from None
    if value < MIN_MEMORY:
        raise UsageError(
            f"--memory {text!r}: at least 512M (a lesson's kernel holds up to about 0.5G)"
        )
    return value
