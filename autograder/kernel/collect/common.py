"""Helpers shared by the lessons' hidden checks (run in the kernel and by the judge)."""

from __future__ import annotations

import contextlib
import hashlib
import inspect
import sys
from collections.abc import Callable, Iterator
from types import CodeType

import numpy as np

from autograder.kernel.collect import record
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
    student to write: the student's version must not just call it. In the kernel
    the calls are watched and logged; the judge reads the log (its own process runs
    no student code).
    """
    session = record.current()
    if session is not None and hasattr(session, "replayed_forbidden"):
        yield
        called = session.replayed_forbidden()
    else:
        codes = _code_objects(functions)
        called = []

        def profile(frame, event, arg):
            if event == "call" and frame.f_code in codes:
                called.append(codes[frame.f_code])

        previous = sys.getprofile()
        sys.setprofile(profile)
        try:
            yield
        finally:
            sys.setprofile(previous)
            if session is not None:
                session.forbidden(sorted(set(called)))
    if called:
        raise CheckFailed(
            f"{student_fn_name} calls {called[0]}: the exercise is to write it yourself "
            "(the course library's version is there to check you, not to be called)"
        )


def rng_for(name: str) -> np.random.Generator:
    """A generator seeded by a check's name: every run draws the same hidden cases."""
    return np.random.default_rng(int(hashlib.sha256(name.encode()).hexdigest()[:8], 16))
