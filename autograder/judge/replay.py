"""Run a hidden check outside the kernel, with the student's reported calls replayed.

The check is the same function the kernel ran (``autograder.kernel.collect``);
here each student function is a ``Replayer`` that hands back, call by call, what
the kernel reported: the return value, the exception, and what the call did to
its arguments (copied into the judge's own arguments, so in-place checks see
it). Every input and every oracle value is made in this process.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable
from typing import Any

import numpy as np

from autograder.kernel.collect import record
from autograder.protocol import Raised
from coursekit.checks import CheckFailed

# Exceptions a replayed call may raise as themselves (checks catch some, e.g. ValueError).
_REPLAYABLE = {
    name: getattr(builtins, name)
    for name in (
        "ValueError",
        "TypeError",
        "IndexError",
        "KeyError",
        "ZeroDivisionError",
        "ArithmeticError",
        "FloatingPointError",
        "OverflowError",
        "AttributeError",
        "LookupError",
        "RuntimeError",
        "NotImplementedError",
    )
}
DESYNC = "the report does not match the grader's calls (the kernel's check was changed)"


def _raise(raised: Any) -> None:
    if isinstance(raised, Raised):
        cls = _REPLAYABLE.get(raised.kind)
        if cls is not None:
            raise cls(raised.message)
        raise RuntimeError(f"{raised.kind}: {raised.message}")
    raise CheckFailed(DESYNC)


def _tensor(value: Any, like: Any) -> Any:
    import torch

    if not isinstance(value, torch.Tensor | np.ndarray):
        raise CheckFailed(DESYNC)
    tensor = torch.as_tensor(np.asarray(value) if isinstance(value, np.ndarray) else value)
    if tensor.shape != like.shape:
        raise CheckFailed(DESYNC)
    return tensor.to(like.dtype)


def _apply_tensor(t: Any, state: dict) -> None:
    import torch

    with torch.no_grad():
        if state.get("data") is not None:
            t.copy_(_tensor(state["data"], t))
        if state.get("grad_none"):
            t.grad = None
            return
        new = state.get("grad")
        if state.get("grad_replaced") or t.grad is None:
            base = t.grad if new is None else _tensor(new, t)
            t.grad = None if base is None else base.detach().clone()
        elif new is not None:
            t.grad.copy_(_tensor(new, t.grad))


def _apply(value: Any, state: Any) -> None:
    """Put the after-state the kernel reported into the judge's own argument."""
    if not isinstance(state, dict):
        raise CheckFailed(DESYNC)
    kind = record._kind(value)
    if kind != state.get("kind"):
        raise CheckFailed(DESYNC)
    if kind == "array":
        if state.get("value") is not None:
            new = np.asarray(state["value"])
            if new.shape != value.shape:
                raise CheckFailed(DESYNC)
            np.copyto(value, new, casting="unsafe")
    elif kind == "tensor":
        _apply_tensor(value, state)
    elif kind == "module":
        params = list(value.parameters())
        if not isinstance(state.get("params"), list) or len(params) != len(state["params"]):
            raise CheckFailed(DESYNC)
        for p, s in zip(params, state["params"], strict=True):
            _apply_tensor(p, s)
    elif kind == "np_generator":
        try:
            value.bit_generator.state = state["state"]
        except (TypeError, ValueError, KeyError):
            raise CheckFailed(DESYNC) from None
    else:  # torch_generator
        import torch

        try:
            value.set_state(torch.as_tensor(state["state"], dtype=torch.uint8))
        except (TypeError, ValueError, RuntimeError):
            raise CheckFailed(DESYNC) from None


class Replay:
    """The judge's session: hands out the reported log, entry by entry."""

    def __init__(self, log: Any):
        if not isinstance(log, list):
            raise CheckFailed(DESYNC)
        self.log = log
        self.position = 0

    def _next(self) -> dict:
        if self.position >= len(self.log):
            # the kernel stopped reporting here: its check failed (or was cut short)
            raise CheckFailed("no further result was reported by your kernel for this check")
        entry = self.log[self.position]
        self.position += 1
        if not isinstance(entry, dict):
            raise CheckFailed(DESYNC)
        return entry

    def wrap(self, slot: int) -> Callable:
        def replayed(*args: Any, **kwargs: Any) -> Any:
            entry = self._next()
            if entry.get("call") != slot:
                raise CheckFailed(DESYNC)
            args, kwargs, found = record.leaves(args, kwargs)
            after = entry.get("after")
            if not isinstance(after, list) or len(after) != len(found):
                raise CheckFailed(DESYNC)
            for value, state in zip(found, after, strict=True):
                _apply(value, state)
            if entry.get("np_global") is True:
                np.random.random()  # noqa: NPY002 -- as the student's call did
            if entry.get("torch_global") is True:
                import torch

                torch.rand(1)
            if "raised" in entry:
                _raise(entry["raised"])
            return entry.get("returned")

        return replayed

    def replayed_forbidden(self) -> list[str]:
        entry = self._next()
        called = entry.get("forbidden")
        if not isinstance(called, list) or not all(isinstance(c, str) for c in called):
            raise CheckFailed(DESYNC)
        return called


def replay_check(check: Callable, payload: Any, students: int) -> None:
    """Run ``check`` (a collected check's plain function) against the reported log."""
    if not isinstance(payload, dict):
        raise CheckFailed(DESYNC)
    session = Replay(payload.get("log"))
    previous = record.current()
    record._set(session)
    try:
        check(*(session.wrap(i) for i in range(students)))
    finally:
        record._set(previous)
