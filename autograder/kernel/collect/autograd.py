"""Hidden checks of lesson 01_backprop's scalar autograd (`Value`): observed in the kernel,
judged against PyTorch autograd on the same expressions."""

from __future__ import annotations

import math

import numpy as np
import torch

from autograder.kernel.collect.record import observed
from coursekit import checks


def _num(value, what: str) -> float:
    """A Value's .data or .grad as a float, or CheckFailed saying what it is instead."""
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        checks.fail(f"{what} must be a number, got {type(value).__name__}")
    return float(value)


def _leaf(value_cls, x: float):
    v = value_cls(x)
    checks.expect(hasattr(v, "grad") and hasattr(v, "data"), "Value needs .data and .grad")
    return v


MUL_CASES = [(3.0, -2.0), (0.5, 4.0), (-1.5, -0.25)]
TANH_POINTS = [-3.0, -0.4, 0.0, 0.9, 2.5]


def observe_value_mul(value_cls) -> dict:
    """c = a*b for each case, then one backward step: [c.data, a.grad, b.grad]; a*a; 5*a."""
    rows = []
    for a_, b_ in MUL_CASES:
        a, b = _leaf(value_cls, a_), _leaf(value_cls, b_)
        c = a * b
        data = _num(c.data, "c.data")
        c.grad = 1.0
        c._backward()
        rows.append([data, _num(a.grad, "a.grad"), _num(b.grad, "b.grad")])
    a = _leaf(value_cls, 3.0)
    d = a * a
    d.grad = 1.0
    d._backward()
    square = _num(a.grad, "a.grad")
    a = _leaf(value_cls, 2.0)
    e = 5 * a  # __rmul__ with a plain number
    e.grad = 2.0
    e._backward()
    return {"rows": rows, "square": square, "rmul": _num(a.grad, "a.grad")}


def judge_value_mul(seen: dict) -> None:
    with checks.exercise("Value.__mul__"):
        for (a_, b_), (data, a_grad, b_grad) in zip(MUL_CASES, seen["rows"], strict=True):
            checks.expect_close(data, a_ * b_, f"({a_}) * ({b_})")
            checks.expect_close(a_grad, b_, f"a.grad for c = a*b with a={a_}, b={b_}")
            checks.expect_close(b_grad, a_, f"b.grad for c = a*b with a={a_}, b={b_}")
        checks.expect_close(
            seen["square"], 6.0, "a.grad for d = a*a", hint="accumulate with +=: a feeds both sides"
        )
        checks.expect_close(seen["rmul"], 10.0, "a.grad for e = 5*a with e.grad = 2 (chain rule)")


value_mul = observed(observe_value_mul, judge_value_mul)


def observe_value_tanh(value_cls) -> dict:
    """For each point: [tanh(a).data, a.grad after one backward step with out.grad = 0.5]."""
    rows = []
    for x in TANH_POINTS:
        a = _leaf(value_cls, x)
        out = a.tanh()
        data = _num(out.data, "out.data")
        out.grad = 0.5
        out._backward()
        rows.append([data, _num(a.grad, "a.grad")])
    return {"rows": rows}


def judge_value_tanh(seen: dict) -> None:
    with checks.exercise("Value.tanh"):
        for x, (data, grad) in zip(TANH_POINTS, seen["rows"], strict=True):
            checks.expect_close(data, math.tanh(x), f"tanh({x})")
            t = torch.tensor(x, requires_grad=True, dtype=torch.float64)
            (torch.tanh(t) * 0.5).backward()
            checks.expect_close(
                grad,
                t.grad.item(),
                f"a.grad for tanh at {x} with out.grad = 0.5",
                hint="d tanh(x)/dx = 1 - tanh(x)**2, times out.grad",
            )


value_tanh = observed(observe_value_tanh, judge_value_tanh)


def _reused(a, b):
    s = a + a
    return s + s  # a is reused: a.grad must be 4


def _diamond(a, b):
    c = a + b
    return c**2 + (c + 1.5).relu() + a**3


def _deep_chain(a, b):
    x = a
    for _ in range(6):
        x = (x + b) ** 2 - b  # b feeds every level
    return x.exp() + x


# Built only from operations the notebook gives (+, -, **, relu, exp), so that
# Value.backward is checked independently of the student's __mul__ and tanh.
# torch tensors have the same methods: the same function builds the oracle.
GRAPHS = {"b = a + a; c = b + b": _reused, "diamond": _diamond, "deep chain": _deep_chain}


def observe_value_backward(value_cls) -> dict:
    """For each graph: [out.grad, a.grad, b.grad] after out.backward()."""
    rows = {}
    for name, build in GRAPHS.items():
        a, b = _leaf(value_cls, 0.7), _leaf(value_cls, -0.3)
        out = build(a, b)
        out.backward()
        rows[name] = [_num(out.grad, "out.grad"), _num(a.grad, "a.grad"), _num(b.grad, "b.grad")]
    return {"rows": rows}


def judge_value_backward(seen: dict) -> None:
    with checks.exercise("Value.backward"):
        for name, build in GRAPHS.items():
            out_grad, a_grad, b_grad = seen["rows"][name]
            at = torch.tensor(0.7, requires_grad=True, dtype=torch.float64)
            bt = torch.tensor(-0.3, requires_grad=True, dtype=torch.float64)
            build(at, bt).backward()
            hint = "visit nodes in reverse topological order, each once, and start from grad 1"
            checks.expect_close(out_grad, 1.0, f"{name}: the output's own grad")
            for got, oracle, label in ((a_grad, at, "a"), (b_grad, bt, "b")):
                expected = 0.0 if oracle.grad is None else oracle.grad.item()  # unused leaf
                checks.expect_close(got, expected, f"{name}: {label}.grad", hint=hint)


value_backward = observed(observe_value_backward, judge_value_backward)
