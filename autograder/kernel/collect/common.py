"""Helpers shared by the lessons' hidden checks (run in the kernel and by the judge)."""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from autograder.kernel.collect import record
from coursekit import checks
from coursekit.checks import CheckFailed


@contextlib.contextmanager
def forbid_calls(student_fn_name: str, *functions: Callable) -> Iterator[None]:
    """Fail if any of ``functions`` runs inside the block (however it was imported).

    Used where coursekit (or torch) already does what the exercise asks the
    student to write: the student's version must not just call it. In the kernel
    the calls are watched and logged; the judge reads the log (its own process runs
    no student code).
    """
    session = record.current()
    if session is not None and hasattr(session, "replayed_forbidden"):
        yield
        called = session.replayed_forbidden()
    else:
        with checks.watch_calls(*functions) as called:
            try:
                yield
            finally:
                if session is not None:
                    session.forbidden(sorted(set(called)))
    if called:
        raise CheckFailed(checks.called_instead(student_fn_name, called[0]))


def rng_for(name: str) -> np.random.Generator:
    """A generator seeded by a check's name: every run draws the same hidden cases."""
    return np.random.default_rng(int(hashlib.sha256(name.encode()).hexdigest()[:8], 16))


def expect_float_per_layer(
    fn_name: str,
    got: dict[str, Any],
    expected: dict[str, float],
    describe: Callable[[str], str],
    *,
    rtol: float,
    atol: float = 1e-9,
    hint: str,
) -> None:
    """Every value of ``got`` (keys already checked) a Python float close to ``expected``.

    ``describe(name)`` names the quantity in the message, e.g. "norm of fc1.weight's gradient".
    """
    for name, value in expected.items():
        checks.expect(
            isinstance(got[name], float),
            f"{fn_name}: the value for {name!r} is a {type(got[name]).__name__}, "
            "not a Python float (use .item())",
        )
        checks.expect_close(got[name], value, describe(name), rtol=rtol, atol=atol, hint=hint)
