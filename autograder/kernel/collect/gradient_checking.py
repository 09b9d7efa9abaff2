"""Hidden check of lesson 01_backprop's `sparse_gradient_check`: observed in the kernel, judged
against torch autograd and an exact case."""

from __future__ import annotations

import numpy as np
import torch

from autograder.kernel.collect.common import forbid_calls, rng_for
from autograder.kernel.collect.record import observed
from coursekit import checks, gradcheck

# (function name, shape, h, torch-built loss) of each hidden case; x and the analytic gradient
# are drawn from the case's seeded generator. The judge recomputes the true gradient by autograd.
SPARSE_CASES = [
    ("tanh readout", (3, 4), 1e-5),
    ("cubes", (6,), 1e-2),
    ("squares with zeros", (5,), 1e-5),
    ("exp", (2, 3, 2), 1e-3),
]


def _sparse_case(name: str, shape: tuple, h: float) -> tuple:
    """(x, analytic, indices, f on numpy, f on torch) for one hidden case."""
    rng = rng_for(f"sparse_gradient_check{name}")
    x = rng.normal(size=shape)
    weights = rng.normal(size=shape)
    if name == "tanh readout":
        f_torch = lambda v: (torch.tanh(v) * torch.tensor(weights)).sum()  # noqa: E731
    elif name == "cubes":
        x[0] = 0.0  # numerical h**2, analytic 0: relative error 1
        f_torch = lambda v: (v**3).sum()  # noqa: E731
    elif name == "squares with zeros":
        x[[1, 3]] = 0.0  # both gradients 0 there: the floor keeps the error at 0
        f_torch = lambda v: (v**2).sum()  # noqa: E731
    else:
        f_torch = lambda v: (torch.exp(v) * torch.tensor(weights)).sum()  # noqa: E731
    xt = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    f_torch(xt).backward()
    analytic = xt.grad.numpy().copy()
    wrong = rng.random(shape) < 0.5  # half the entries off by a random factor
    analytic[wrong] *= rng.choice([-1.0, 0.5, 2.0, 3.0], size=int(wrong.sum()))
    if name == "squares with zeros":
        analytic[[1, 3]] = 0.0
    flat = rng.choice(x.size, size=min(4, x.size), replace=False)
    if name in ("cubes", "squares with zeros"):
        flat = np.array([0, 1, 3, 4])
    indices = [tuple(int(i) for i in np.unravel_index(j, shape)) for j in flat]

    def f(v):
        return float(f_torch(torch.tensor(v, dtype=torch.float64)))

    return x, analytic, indices, f, f_torch


def observe_sparse_gradient_check(student) -> dict:
    """Per case: the errors returned, how many times f was called, whether x came back."""
    rows = {}
    for name, shape, h in SPARSE_CASES:
        x, analytic, indices, f, _ = _sparse_case(name, shape, h)
        calls = []

        def counted(v, f=f, calls=calls):
            calls.append(1)
            return f(v)

        before = x.copy()
        with forbid_calls(
            "sparse_gradient_check", gradcheck.numerical_gradient, gradcheck.rel_error
        ):
            errors = student(counted, x, analytic.copy(), list(indices), h=h)
        errors = np.asarray(errors, dtype=np.float64).ravel()
        rows[name] = {
            "errors": [float(e) for e in errors],
            "calls": len(calls),
            "restored": bool(np.array_equal(x, before)),
        }
    return {"rows": rows}


def judge_sparse_gradient_check(seen: dict) -> None:
    with checks.exercise("sparse_gradient_check"):
        for name, shape, h in SPARSE_CASES:
            row = seen["rows"][name]
            x, analytic, indices, _, f_torch = _sparse_case(name, shape, h)
            n = len(indices)
            checks.expect(
                row["calls"] == 2 * n,
                f"{name}: f was called {row['calls']} times to check {n} entries: "
                "2 calls of f per entry (f(x + h) and f(x - h))",
            )
            checks.expect(row["restored"], f"{name}: x was not put back as it was")
            checks.expect(
                len(row["errors"]) == n, f"{name}: {len(row['errors'])} errors for {n} indices"
            )
            xt = torch.tensor(x, dtype=torch.float64, requires_grad=True)
            f_torch(xt).backward()
            true = xt.grad.numpy()
            numerical = np.array([true[i] for i in indices])
            if name == "cubes":  # a central difference of x**3 is 3x**2 + h**2, exactly
                numerical = numerical + h**2
            a = np.array([analytic[i] for i in indices])
            expected = np.abs(a - numerical) / np.maximum(np.abs(a) + np.abs(numerical), 1e-8)
            checks.expect_close(
                np.array(row["errors"]),
                expected,
                f"{name}: the relative errors (h={h:g})",
                rtol=1e-4,
                atol=1e-5,
                hint="central differences with the given h; |a - n| / max(|a| + |n|, 1e-8)",
            )


sparse_gradient_check = observed(observe_sparse_gradient_check, judge_sparse_gradient_check)
