"""Run a hidden check in the student's kernel and report what the student's code did.

A hidden check is written once, as if it called the student's functions
directly. In the kernel, ``collected`` runs it with each student function
wrapped in a recorder: every call's return value (or raised exception), what it
did to its arguments (arrays and gradients changed in place, generators
advanced) and whether it touched the global random state go into a log, and the
log is reported to the judge (``autograder.protocol.emit``) even when the check
fails. The judge runs the same check again outside the kernel with a replayer in
place of the student (``autograder.judge.replay``): the oracle's side of every
comparison is computed there, so tampering with the kernel can change what is
reported and nothing else.

Checks of classes (``Value``, ``ResidualBlock``) or of models use ``observed``:
an ``observe`` half runs the student's code and returns plain data, a ``judge``
half compares that data with the oracle.
"""

from __future__ import annotations

import functools
import sys
import types
from collections.abc import Callable
from typing import Any

import numpy as np

from autograder import protocol

_session: Any = None  # the Recording (kernel) or Replay (judge) in progress


def current() -> Any:
    """The session of the check that is running, or None."""
    return _session


def _set(session: Any) -> None:
    global _session
    _session = session


def leaves(args: tuple, kwargs: dict) -> tuple[tuple, dict, list]:
    """Arguments with one-shot iterators turned into lists' iterators, and every mutable leaf
    (arrays, tensors, modules, generators) in a fixed order; the judge walks them the same way."""
    found: list = []

    def walk(value: Any, depth: int = 0) -> Any:
        if depth > 8:
            return value
        if isinstance(value, types.GeneratorType | map | filter | zip):
            items = [walk(v, depth + 1) for v in value]
            return iter(items)
        if isinstance(value, list | tuple):
            for v in value:
                walk(v, depth + 1)
            return value
        if isinstance(value, dict):
            for v in value.values():
                walk(v, depth + 1)
            return value
        if _kind(value) is not None:
            found.append(value)
        return value

    args = tuple(walk(a) for a in args)
    kwargs = {k: walk(kwargs[k]) for k in sorted(kwargs)}
    return args, kwargs, found


def _kind(value: Any) -> str | None:
    if isinstance(value, np.ndarray):
        return "array"
    if isinstance(value, np.random.Generator):
        return "np_generator"
    torch = sys.modules.get("torch")  # subclasses count too (coursekit's models, say)
    if torch is not None:
        if isinstance(value, torch.Tensor):
            return "tensor"
        if isinstance(value, torch.Generator):
            return "torch_generator"
        if isinstance(value, torch.nn.Module):
            return "module"
    return None


def _tensor_before(t: Any) -> tuple:
    grad = t.grad
    return (t.detach().clone(), grad, None if grad is None else grad.detach().clone())


def _tensor_after(t: Any, before: tuple) -> dict:
    import torch

    data, grad_obj, grad_copy = before
    now = t.grad
    state: dict = {"data": None if torch.equal(t.detach(), data) else t.detach().clone()}
    state["grad_none"] = now is None
    state["grad_replaced"] = now is not None and now is not grad_obj
    unchanged = now is not None and grad_copy is not None and torch.equal(now, grad_copy)
    keep = now is not None and not (unchanged and not state["grad_replaced"])
    state["grad"] = now.detach().clone() if keep else None  # a copy: later calls may change it
    return state


def _before(value: Any) -> Any:
    kind = _kind(value)
    if kind == "array":
        return value.copy()
    if kind == "tensor":
        return _tensor_before(value)
    if kind == "module":
        return [_tensor_before(p) for p in value.parameters()]
    return None


def _after(value: Any, before: Any) -> dict:
    kind = _kind(value)
    if kind == "array":
        changed = not np.array_equal(value, before, equal_nan=value.dtype.kind == "f")
        return {"kind": kind, "value": value.copy() if changed else None}
    if kind == "tensor":
        return {"kind": kind, **_tensor_after(value, before)}
    if kind == "module":
        params = [_tensor_after(p, b) for p, b in zip(value.parameters(), before, strict=False)]
        return {"kind": kind, "params": params}
    if kind == "np_generator":
        return {"kind": kind, "state": value.bit_generator.state}
    return {"kind": kind, "state": value.get_state()}  # torch_generator


def _snapshot(value: Any, depth: int = 0) -> Any:
    """``value`` with its arrays and tensors copied: the check (or a later call) may change
    them in place before the log is reported."""
    if depth > 8:
        return value
    if isinstance(value, np.ndarray):
        return value.copy()
    if _kind(value) == "tensor":
        return value.detach().clone()
    if isinstance(value, list | tuple):
        items = [_snapshot(v, depth + 1) for v in value]
        return tuple(items) if isinstance(value, tuple) else items
    if isinstance(value, dict):
        return {k: _snapshot(v, depth + 1) for k, v in value.items()}
    return value


def _global_states() -> tuple:
    """NumPy's legacy global generator (key and position) and torch's global generator."""
    import torch

    legacy = np.random.get_state()  # noqa: NPY002
    return (legacy[1].copy(), legacy[2]), torch.random.get_rng_state()


class Recording:
    """The kernel's side: wraps the student's functions and logs what they do."""

    def __init__(self) -> None:
        self.log: list[dict] = []

    def wrap(self, fn: Callable, slot: int) -> Callable:
        @functools.wraps(fn)
        def recorded(*args: Any, **kwargs: Any) -> Any:
            args, kwargs, found = leaves(args, kwargs)
            before = [_before(v) for v in found]
            np_state, torch_state = _global_states()
            entry: dict = {"call": slot}
            try:
                result = fn(*args, **kwargs)
            except Exception as exc:
                entry["raised"] = exc
                raise
            else:
                entry["returned"] = _snapshot(result)
            finally:
                import torch

                entry["after"] = [_after(v, b) for v, b in zip(found, before, strict=True)]
                np_now, torch_now = _global_states()
                entry["np_global"] = np_state[1] != np_now[1] or not np.array_equal(
                    np_state[0], np_now[0]
                )
                entry["torch_global"] = not torch.equal(torch_state, torch_now)
                self.log.append(entry)
            return result

        return recorded

    def forbidden(self, called: list[str]) -> list[str]:
        self.log.append({"forbidden": called})
        return called


def collected(check: Callable) -> Callable:
    """Make ``check(*students)`` a hidden check whose student calls are recorded and reported."""

    @functools.wraps(check)
    def run(*students: Callable) -> None:
        recording = Recording()
        previous = current()
        _set(recording)
        try:
            check(*(recording.wrap(s, i) for i, s in enumerate(students)))
        finally:
            _set(previous)
            protocol.emit(check.__name__, {"log": recording.log})

    run.check = check  # type: ignore[attr-defined]
    run.kind = "collected"  # type: ignore[attr-defined]
    return run


def observed(observe: Callable[..., dict], judge: Callable[[dict], None]) -> Callable:
    """A hidden check in two halves: ``observe(*students) -> data`` runs in the kernel and is
    reported; ``judge(data)`` compares it with the oracle (in the kernel for the student's
    message, and again by the judge, who alone decides)."""

    @functools.wraps(observe)
    def run(*students: Any) -> None:
        try:
            data = observe(*students)
        except Exception as exc:  # the student's code failed on the hidden inputs
            data = {"raised": exc}
        protocol.emit(observe.__name__.removeprefix("observe_"), data)
        judge_observed(judge, data)

    run.judge = judge  # type: ignore[attr-defined]
    run.kind = "observed"  # type: ignore[attr-defined]
    return run


def judge_observed(judge: Callable[[dict], None], data: Any) -> None:
    """``judge(data)``, or the student's exception on the hidden inputs as a CheckFailed."""
    from coursekit.checks import CheckFailed

    if not isinstance(data, dict):
        raise CheckFailed("the hidden check's report is not what the grader sent")
    raised = data.get("raised")
    if raised is not None:
        kind = getattr(raised, "kind", type(raised).__name__)
        text = getattr(raised, "message", str(raised))
        if kind == "NotImplementedError":
            raise CheckFailed("not implemented yet: finish the exercise first")
        raise CheckFailed(f"your code raised {kind}: {text} (on the grader's inputs)")
    judge(data)


def answered(name: str) -> Callable:
    """A conceptual question: the kernel reports the answer; only the judge knows the key."""

    def run(answer: Any) -> None:
        protocol.emit(name, {"answer": answer})

    run.__name__ = name
    run.kind = "answered"  # type: ignore[attr-defined]
    return run
