"""Helpers shared by the lessons' hidden checks."""

from __future__ import annotations

import contextlib
import hashlib
import inspect
import math
import sys
from collections.abc import Callable, Iterator
from types import CodeType

import numpy as np

from coursekit.checks import CheckFailed


def _code_objects(functions: tuple[Callable, ...]) -> dict[CodeType, str]:
    """The code objects to watch for. Decorated functions are unwrapped: torch's
    ``clip_grad_norm_`` is a ``_no_grad`` wrapper whose code is shared with others."""
    found = {}
    for fn in functions:
        fn = inspect.unwrap(getattr(fn, "__func__", fn))
        code = getattr(fn, "__code__", None)
        if code is not None:
            found[code] = f"{fn.__module__}.{fn.__qualname__}"
    return found


@contextlib.contextmanager
def forbid_calls(student_fn_name: str, *functions: Callable) -> Iterator[None]:
    """Fail if any of ``functions`` runs inside the block (however it was imported).

    Used where coursekit (or torch) already does what the exercise asks the
    student to write: the student's version must not just call it.
    """
    codes = _code_objects(functions)
    called: list[str] = []

    def profile(frame, event, arg):
        if event == "call" and frame.f_code in codes:
            called.append(codes[frame.f_code])

    previous = sys.getprofile()
    sys.setprofile(profile)
    try:
        yield
    finally:
        sys.setprofile(previous)
    if called:
        raise CheckFailed(
            f"{student_fn_name} calls {called[0]}: the exercise is to write it yourself "
            "(the course library's version is there to check you, not to be called)"
        )


def digest(lesson: str, question: str, answer: str) -> str:
    """The stored form of a multiple-choice answer (so the package does not spell it out)."""
    return hashlib.sha256(f"{lesson}:{question}:{answer}".encode()).hexdigest()[:16]


def normalise_choice(answer: object, name: str, choices: str) -> str:
    """``answer`` as one lower-case letter among ``choices``, or a CheckFailed saying why."""
    if not isinstance(answer, str) or answer.strip().lower() not in choices:
        raise CheckFailed(
            f"{name} must be one letter among {', '.join(repr(c) for c in choices)}, got {answer!r}"
        )
    return answer.strip().lower()


def check_choice(
    answer: object, name: str, lesson: str, question: str, expected: str, choices: str
) -> None:
    """Check a multiple-choice answer against its stored digest."""
    letter = normalise_choice(answer, name, choices)
    if digest(lesson, question, letter) != expected:
        raise CheckFailed(f"{name} = {letter!r} is not the right choice: re-read the section")


def check_number(answer: object, name: str, expected: float, rel: float = 1e-2) -> None:
    """Check a numeric answer to within ``rel`` relative error."""
    if isinstance(answer, bool) or not isinstance(answer, int | float | np.floating | np.integer):
        raise CheckFailed(f"{name} must be a number, got {type(answer).__name__}")
    if not math.isfinite(answer):
        raise CheckFailed(f"{name} must be finite, got {answer}")
    if not math.isclose(float(answer), expected, rel_tol=rel, abs_tol=1e-12):
        raise CheckFailed(f"{name} = {answer:.4g} is not right: work it out step by step again")


def rng_for(name: str) -> np.random.Generator:
    """A generator seeded by a check's name: every run draws the same hidden cases."""
    return np.random.default_rng(int(hashlib.sha256(name.encode()).hexdigest()[:8], 16))
