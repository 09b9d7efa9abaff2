"""Hidden checks of lesson 01_backprop. Oracles: PyTorch autograd, analytic derivatives."""

from __future__ import annotations

import math

import numpy as np
import torch

from autograder.kernel.collect.common import forbid_calls, rng_for
from autograder.kernel.collect.record import answered, collected, observed
from coursekit import checks, gradcheck

LESSON = "01_backprop"
# Hidden cases: shapes other than the visible ones, a batch of one, a wide layer.
LINEAR_SHAPES = [(1, 7, 3), (5, 2, 9), (13, 6, 4)]


def _t(a: np.ndarray) -> torch.Tensor:
    return torch.tensor(np.asarray(a, dtype=np.float64), requires_grad=True)


def _unpack(result, name: str, n: int) -> tuple:
    if not isinstance(result, tuple) or len(result) != n:
        got = f"a tuple of {len(result)}" if isinstance(result, tuple) else type(result).__name__
        checks.fail(f"{name} must return a tuple of {n} values, got {got}")
    return result


def _float32_close(got, expected, name: str) -> None:
    checks.expect_close(got, expected, f"{name} (float32 input)", rtol=1e-4, atol=1e-5)


# ---------------------------------------------------------------- layers


@collected
def linear_forward(student) -> None:
    with checks.exercise("linear_forward"):
        for n, d, m in LINEAR_SHAPES:
            rng = rng_for(f"linear_forward{n}{d}{m}")
            x, w, b = rng.normal(size=(n, d)), rng.normal(size=(d, m)), rng.normal(size=m)
            # the oracle first: what the student's call does to its inputs cannot move it
            expected = torch.nn.functional.linear(_t(x), _t(w).T, _t(b)).detach()
            inputs = (x.copy(), w.copy(), b.copy())
            out, _ = _unpack(student(x, w, b), "linear_forward", 2)
            checks.expect(
                all(np.array_equal(a, c) for a, c in zip((x, w, b), inputs, strict=True)),
                "linear_forward changed its inputs in place: compute a new array",
            )
            checks.expect_close(out, expected, f"out for x {x.shape}, w {w.shape}")
            out32, _ = student(x.astype(np.float32), w.astype(np.float32), b.astype(np.float32))
            _float32_close(out32, expected, "out")


@collected
def linear_backward(forward, backward) -> None:
    with checks.exercise("linear_backward"):
        for n, d, m in LINEAR_SHAPES:
            rng = rng_for(f"linear_backward{n}{d}{m}")
            x, w, b = rng.normal(size=(n, d)), rng.normal(size=(d, m)), rng.normal(size=m)
            dout = rng.normal(size=(n, m))
            xt, wt, bt = _t(x), _t(w), _t(b)
            (xt @ wt + bt).backward(torch.tensor(dout))
            _, cache = forward(x, w, b)
            dx, dw, db = _unpack(backward(dout, cache), "linear_backward", 3)
            where = f" (N={n}, D={d}, M={m})"
            checks.expect_close(dx, xt.grad, "dx" + where, hint="dx = dout @ w.T")
            checks.expect_close(dw, wt.grad, "dw" + where, hint="dw has the shape of w: (D, M)")
            checks.expect_close(db, bt.grad, "db" + where, hint="sum dout over the batch axis")
            _, cache32 = forward(*(a.astype(np.float32) for a in (x, w, b)))
            dx32, dw32, db32 = backward(dout.astype(np.float32), cache32)
            _float32_close(dw32, wt.grad, "dw")


def _elementwise(forward, backward, torch_fn, name: str, big: float) -> None:
    for shape in [(1, 5), (6, 3), (2, 3, 4)]:
        rng = rng_for(f"{name}{shape}")
        x = rng.normal(size=shape) * 3
        x[np.abs(x) < 1e-3] = 0.5  # keep away from the kink of relu at 0
        dout = rng.normal(size=shape)
        xt = _t(x)
        out_t = torch_fn(xt)
        out_t.backward(torch.tensor(dout))
        out, cache = _unpack(forward(x), f"{name}_forward", 2)
        checks.expect_close(out, out_t.detach(), f"{name}_forward output for shape {shape}")
        dx = backward(dout, cache)
        checks.expect_close(dx, xt.grad, f"{name}_backward dx for shape {shape}")
        out32, cache32 = forward(x.astype(np.float32))
        _float32_close(out32, out_t.detach(), f"{name}_forward output")
    x = np.array([[-big, -1.0, 0.5, big]])
    out, cache = forward(x)
    checks.expect_finite(out, f"{name}_forward of ±{big:g}")
    checks.expect_finite(backward(np.ones_like(x), cache), f"{name}_backward at ±{big:g}")


@collected
def relu_forward(student) -> None:
    with checks.exercise("relu_forward"):
        for shape in [(1, 5), (2, 3, 4)]:
            x = rng_for(f"relu_forward{shape}").normal(size=shape)
            expected = torch.relu(torch.tensor(x))
            out, _ = _unpack(student(x), "relu_forward", 2)
            checks.expect_close(out, expected, f"out for shape {shape}")
        x = np.array([[-2.0, 3.0]])
        before = x.copy()
        student(x)
        checks.expect(np.array_equal(x, before), "relu_forward changed its input x in place")


@collected
def relu_backward(forward, backward) -> None:
    with checks.exercise("relu_backward"):
        _elementwise(forward, backward, torch.relu, "relu", 1e3)


@collected
def sigmoid_forward(student) -> None:
    with checks.exercise("sigmoid_forward"):
        for shape in [(1, 4), (3, 2, 2)]:
            x = rng_for(f"sigmoid_forward{shape}").normal(size=shape) * 4
            expected, before = torch.sigmoid(torch.tensor(x)), x.copy()
            out, _ = _unpack(student(x), "sigmoid_forward", 2)
            checks.expect(np.array_equal(x, before), "sigmoid_forward changed its input x in place")
            checks.expect_close(out, expected, f"out for shape {shape}")


@collected
def sigmoid_backward(forward, backward) -> None:
    with checks.exercise("sigmoid_backward"):
        _elementwise(forward, backward, torch.sigmoid, "sigmoid", 800.0)


@collected
def softmax_cross_entropy(student) -> None:
    with checks.exercise("softmax_cross_entropy"):
        for n, c in [(1, 3), (7, 10), (20, 4)]:
            rng = rng_for(f"softmax{n}{c}")
            scores, y = rng.normal(size=(n, c)) * 3, rng.integers(0, c, n)
            st = _t(scores)
            loss_t = torch.nn.functional.cross_entropy(st, torch.tensor(y))
            loss_t.backward()
            loss, dscores = _unpack(student(scores, y), "softmax_cross_entropy", 2)
            checks.expect_close(
                loss, loss_t.item(), f"loss for N={n}, C={c}", hint="the mean over the batch"
            )
            checks.expect_close(
                dscores, st.grad, f"dscores for N={n}, C={c}", hint="(softmax - one_hot) / N"
            )
        big = np.array([[1000.0, 0.0, -1000.0], [0.0, 1000.0, 10.0]])
        loss, dscores = student(big, np.array([0, 1]))
        checks.expect_finite(loss, "loss for scores like 1000 (subtract each row's max before exp)")
        checks.expect_finite(dscores, "dscores for scores like 1000")
        loss32, _ = student(scores.astype(np.float32), y)
        _float32_close(loss32, loss_t.item(), "loss")


@collected
def numerical_gradient(student) -> None:
    with checks.exercise("numerical_gradient"):
        for shape in [(3,), (2, 4), (2, 2, 2)]:
            x = rng_for(f"numgrad{shape}").normal(size=shape)
            before = x.copy()
            with forbid_calls(
                "numerical_gradient",
                gradcheck.numerical_gradient,
                gradcheck.numerical_gradient_array,
            ):
                grad = student(lambda v: float(np.sum(v**3) + np.sum(np.sin(v))), x)
            checks.expect_close(
                grad,
                3 * before**2 + np.cos(before),
                f"numerical gradient of sum(x**3 + sin(x)) for shape {shape}",
                rtol=1e-7,
                atol=1e-8,
                hint="central differences: (f(x + h) - f(x - h)) / (2 * h), one entry at a time",
            )
            checks.expect(
                np.array_equal(x, before),
                "numerical_gradient must put every entry of x back as it was",
            )
        grad = student(lambda v: float(v[0] * v[1]), np.array([2.0, 5.0]), h=1e-3)
        checks.expect_close(grad, [5.0, 2.0], "gradient of x0*x1 with h=1e-3 (use h)")


# ---------------------------------------------------------------- Value


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


# ---------------------------------------------------------------- network and questions


@collected
def two_layer_net(student) -> None:
    with checks.exercise("two_layer_net"):
        for n, d, h, c in [(1, 4, 3, 2), (9, 6, 5, 3)]:
            rng = rng_for(f"twolayer{n}{d}{h}{c}")
            params = {
                "W1": rng.normal(size=(d, h)),
                "b1": rng.normal(size=h) * 0.1,
                "W2": rng.normal(size=(h, c)),
                "b2": rng.normal(size=c) * 0.1,
            }
            x, y = rng.normal(size=(n, d)), rng.integers(0, c, n)
            tp = {k: _t(v) for k, v in params.items()}
            hidden = torch.relu(torch.tensor(x) @ tp["W1"] + tp["b1"])
            loss_t = torch.nn.functional.cross_entropy(
                hidden @ tp["W2"] + tp["b2"], torch.tensor(y)
            )
            loss_t.backward()
            loss, grads = _unpack(student(params, x, y), "two_layer_net", 2)
            checks.expect_close(loss, loss_t.item(), f"loss (N={n})")
            checks.expect(isinstance(grads, dict), "grads must be a dict like params")
            for key in params:
                checks.expect(key in grads, f"grads has no entry {key!r}")
                checks.expect_close(grads[key], tp[key].grad, f"grads[{key!r}] (N={n})")


# ---------------------------------------------------------------- gradient checking

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


# Conceptual questions: the kernel reports the answer, the judge knows the key.
q_backward = answered("q_backward")
q_chain_rule = answered("q_chain_rule")
q_vanishing = answered("q_vanishing")
q_kink = answered("q_kink")
q_initial_loss = answered("q_initial_loss")
