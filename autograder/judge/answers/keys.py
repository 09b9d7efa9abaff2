"""How answers are checked: digests of multiple-choice keys, numbers within a tolerance."""

from __future__ import annotations

import hashlib
import math

import numpy as np

from coursekit.checks import CheckFailed


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
