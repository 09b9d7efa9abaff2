"""Checks for visible test cells: short, specific messages a student can act on.

A failed check raises ``CheckFailed`` (an AssertionError), shown in the
notebook as its message alone, without a traceback into this module. A
function that still raises NotImplementedError is reported as "you have not
implemented X yet". Nothing here writes to stderr or warns on success:
nbgrader scores a test cell 0 if it writes anything to stderr.
"""

from __future__ import annotations

import contextlib
import inspect
import sys
import warnings
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

from coursekit._arrays import to_numpy


class CheckFailed(AssertionError):
    """A check did not pass. IPython shows only the message, not a traceback."""

    def _render_traceback_(self) -> list[str]:
        return [f"\x1b[31m✗ {self}\x1b[0m"]


class NotImplementedYet(CheckFailed):
    """The student's function still raises NotImplementedError."""


@contextlib.contextmanager
def exercise(name: str) -> Iterator[None]:
    """Run the body as a check of exercise ``name``.

    Turns a NotImplementedError from the student's code into a clear
    "not implemented yet" message, and prefixes other failures with the name.
    Warnings raised inside (an overflow in np.exp, a deprecation) are silenced:
    they would go to stderr, and nbgrader scores a test cell 0 for any stderr.
    Results are checked for finiteness instead.
    """
    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            yield
    except NotImplementedError:
        raise NotImplementedYet(
            f"{name} is not implemented yet: replace `raise NotImplementedError()` in its cell "
            "with your code, run that cell, then run this one again."
        ) from None
    except CheckFailed as exc:
        if str(exc).startswith(f"{name}:"):
            raise
        raise type(exc)(f"{name}: {exc}") from None
    except Exception as exc:  # a crash inside the student's code: say what and where
        raise CheckFailed(f"{name} raised {type(exc).__name__}: {exc}{_where(exc)}") from exc


def _where(exc: BaseException) -> str:
    """`` (at line N: source)`` for the innermost frame of notebook code in a traceback."""
    import linecache
    import traceback

    frames = [
        f
        for f in traceback.extract_tb(exc.__traceback__)
        if "site-packages" not in f.filename
        and "/coursekit/" not in f.filename
        and "/autograder/" not in f.filename
        and "/lib/python" not in f.filename
    ]
    if not frames:
        return ""
    frame = frames[-1]
    line = (frame.line or linecache.getline(frame.filename, frame.lineno or 0)).strip()
    where = f" in {frame.name}" if frame.name != "<module>" else ""
    return f" (at line {frame.lineno}{where}: {line})" if line else ""


def fail(message: str) -> None:
    """Fail a check with ``message`` (no traceback shown)."""
    raise CheckFailed(message)


def expect(condition: bool, message: str) -> None:
    """Fail with ``message`` unless ``condition`` holds."""
    if not condition:
        raise CheckFailed(message)


def expect_shape(got: Any, shape: Sequence[int], name: str) -> None:
    """Check that ``got`` (array, tensor) has exactly ``shape``."""
    if got is None:
        raise CheckFailed(f"{name} is None: did you forget to `return` it?")
    actual = tuple(to_numpy(got).shape)
    if actual != tuple(shape):
        hint = ""
        if sorted(actual) == sorted(shape):
            hint = " (the same sizes in another order: a transpose missing or one too many?)"
        elif len(actual) != len(shape):
            hint = " (a sum or mean over the wrong axis, or keepdims?)"
        raise CheckFailed(f"{name} has shape {actual}, expected {tuple(shape)}{hint}")


def expect_finite(got: Any, name: str) -> None:
    """Check that every entry of ``got`` is finite (no NaN or inf)."""
    if got is None:
        raise CheckFailed(f"{name} is None: did you forget to `return` it?")
    arr = to_numpy(got).astype(np.float64, copy=False)
    bad = ~np.isfinite(arr)
    if bad.any():
        where = tuple(int(i) for i in np.argwhere(bad)[0]) if arr.ndim else ()
        raise CheckFailed(
            f"{name} has {int(bad.sum())} non-finite value(s), the first {arr[where]} at index "
            f"{where}: look for a division by zero, log(0) or exp of a large number"
        )


def expect_close(
    got: Any,
    expected: Any,
    name: str,
    rtol: float = 1e-7,
    atol: float = 1e-9,
    hint: str = "",
) -> None:
    """Check ``got`` against ``expected``: ``|got - expected| <= atol + rtol * |expected|``.

    The message names the worst entry (index, both values), the shapes, and a hint.
    """
    if got is None:
        raise CheckFailed(f"{name} is None: did you forget to `return` it?")
    expected_arr = to_numpy(expected).astype(np.float64)
    try:
        got_arr = to_numpy(got).astype(np.float64)
    except (TypeError, ValueError):
        raise CheckFailed(
            f"{name} should be a number or an array, got {type(got).__name__}"
        ) from None
    expect_shape(got_arr, expected_arr.shape, name)
    expect_finite(got_arr, name)
    diff = np.abs(got_arr - expected_arr)
    allowed = atol + rtol * np.abs(expected_arr)
    if np.all(diff <= allowed):
        return
    excess = diff - allowed
    worst = np.unravel_index(int(np.argmax(excess)), excess.shape) if excess.ndim else ()
    worst = tuple(int(i) for i in worst)
    where = f" at index {worst}" if worst else ""
    n_bad = int(np.sum(diff > allowed))
    message = (
        f"{name} is off{where}: expected {expected_arr[worst]:.6g}, got {got_arr[worst]:.6g} "
        f"({n_bad} of {diff.size} entries differ by more than rtol={rtol:g}, atol={atol:g})"
    )
    if worst and np.allclose(got_arr, -expected_arr, rtol=rtol, atol=atol):
        message += "; every entry has the wrong sign"
    elif expected_arr.size > 1 and np.allclose(
        got_arr * expected_arr.size, expected_arr, rtol=1e-6
    ):
        message += "; yours is the expected value divided by its size"
    if hint:
        message += f". Hint: {hint}"
    raise CheckFailed(message)


def passed(name: str) -> None:
    """Print a short success line (stdout only)."""
    print(f"✓ {name}: all visible checks passed")


def _unanswered(answer: Any, name: str) -> None:
    if answer is None:
        raise NotImplementedYet(
            f"{name} is not answered yet (not implemented yet): set it in the cell above"
        )


def expect_choice(answer: Any, name: str, choices: str = "abcd") -> None:
    """Check that a multiple-choice answer is one of the letters in ``choices``."""
    _unanswered(answer, name)
    if not isinstance(answer, str) or answer.strip().lower() not in choices:
        raise CheckFailed(
            f"{name} must be one letter among {', '.join(repr(c) for c in choices)}, got {answer!r}"
        )


def expect_number(answer: Any, name: str) -> None:
    """Check that a numeric answer is a finite number."""
    _unanswered(answer, name)
    if isinstance(answer, bool) or not isinstance(answer, int | float | np.integer | np.floating):
        raise CheckFailed(f"{name} must be a number, got {type(answer).__name__}: {answer!r}")
    if not np.isfinite(answer):
        raise CheckFailed(f"{name} must be finite, got {answer}")


def expect_raises(exception: type[BaseException], call: Callable[[], Any], message: str) -> None:
    """Check that ``call()`` raises ``exception`` (e.g. a ValueError for a bad argument)."""
    try:
        call()
    except exception:
        return
    raise CheckFailed(message)


@contextlib.contextmanager
def case(what: str) -> Iterator[None]:
    """Name the case being checked when the student's code crashes in it.

    ``with checks.case("in eval mode (train=False)"): ...`` turns a crash into
    "in eval mode (train=False): raised TypeError: ... (at line N: ...)".
    """
    try:
        yield
    except CheckFailed:
        raise
    except NotImplementedError:
        raise
    except Exception as exc:
        raise CheckFailed(f"{what}: raised {type(exc).__name__}: {exc}{_where(exc)}") from exc


@contextlib.contextmanager
def watch_calls(*functions: Callable) -> Iterator[list[str]]:
    """Inside the block, note each call of one of ``functions`` (however it was imported;
    decorated functions are unwrapped) in the list it yields, by qualified name."""
    codes = {}
    for fn in functions:
        fn = inspect.unwrap(getattr(fn, "__func__", fn))
        code = getattr(fn, "__code__", None)
        if code is not None:
            codes[code] = f"{fn.__module__}.{fn.__qualname__}"
    called: list[str] = []

    def profile(frame, event, arg):
        if event == "call" and frame.f_code in codes:
            called.append(codes[frame.f_code])

    previous = sys.getprofile()
    sys.setprofile(profile)
    try:
        yield called
    finally:
        sys.setprofile(previous)


def called_instead(name: str, called: str) -> str:
    """The message for an exercise that calls the library routine it should write."""
    return (
        f"{name} calls {called}: the exercise is to write it yourself "
        "(the library's version is there to check you, not to be called)"
    )


@contextlib.contextmanager
def forbid_calls(name: str, *functions: Callable) -> Iterator[None]:
    """Fail if any of ``functions`` runs inside the block, however it was imported.

    For exercises whose answer the course library or PyTorch already has: the
    student's ``name`` must compute it, not call it (the library is the oracle).
    """
    with watch_calls(*functions) as called:
        yield
    if called:
        raise CheckFailed(called_instead(name, called[0]))


def expect_same_distribution(
    got: Any, reference: Any, name: str, min_p: float = 1e-6, hint: str = ""
) -> None:
    """Check that the values of ``got`` are distributed like ``reference`` (two-sample
    Kolmogorov-Smirnov test; a correct draw fails it with probability ``min_p``)."""
    from coursekit import ks  # scipy.special: imported by the checks that need it

    _, p = ks.two_sample(got, reference)
    if p <= min_p:
        message = f"{name}: the values are not distributed like the reference (KS p = {p:.1e})"
        raise CheckFailed(message + (f". Hint: {hint}" if hint else ""))


#: exercises a ``needs`` block found unfinished in this session
_unfinished: set[str] = set()


def _not_implemented_in(exc: BaseException, names: Sequence[str]) -> str | None:
    """The exercise among ``names`` whose code raised ``exc`` (innermost frame first).

    A name may be a function (``clip_grad_norm``) or a method (``Value.tanh``); code
    nested in it (``Value.__mul__``'s ``_backward``) counts as its own.
    """
    frames = []
    tb = exc.__traceback__
    while tb is not None:
        code = tb.tb_frame.f_code
        frames.append(getattr(code, "co_qualname", code.co_name))
        tb = tb.tb_next
    for qualname in reversed(frames):
        for name in names:
            if f".{name}." in f".{qualname}.":
                return name
    return None


@contextlib.contextmanager
def needs(*names: str) -> Iterator[None]:
    """Run a cell that uses the exercises ``names``; if one is unfinished, say so in one line.

    Inside the block, a ``NotImplementedError`` (the exercise still holds
    ``raise NotImplementedError()``) ends the block and prints one line naming
    the exercise to finish, instead of a traceback. A ``NameError`` does the same
    when one of ``names`` was found unfinished by an earlier cell (that cell's
    results are missing). Any other error is raised as usual.
    """
    if not names:
        raise ValueError("needs() takes the names of the exercises the cell uses")
    try:
        yield
    except NotImplementedError as exc:
        name = _not_implemented_in(exc, names) or names[0]
        _unfinished.add(name)
        print(_needs_line(name))
    except NameError:
        waiting = [n for n in names if n in _unfinished]
        if not waiting:
            raise
        print(_needs_line(waiting[0]))
    else:
        _unfinished.difference_update(names)


def _needs_line(name: str) -> str:
    return (
        f"⏸ This cell needs {name}, which is not implemented yet: finish that exercise, "
        "run its cell and its test, then run this cell again."
    )


@contextlib.contextmanager
def answer(name: str) -> Iterator[None]:
    """Hold the answer to a question; while it is unanswered, say so in one line.

    The student's version of the block is ``raise NotImplementedError()``: running
    it prints what to do instead of a traceback (the question's test cell below
    still fails with "not answered yet").
    """
    try:
        yield
    except NotImplementedError:
        print(
            f"⏸ {name} is not answered yet: replace `raise NotImplementedError()` with "
            f"{name} = your answer, run this cell, then the test below."
        )
