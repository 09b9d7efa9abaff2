"""Hidden checks of lesson 01_backprop. Oracles: PyTorch autograd, analytic derivatives."""

from __future__ import annotations

import numpy as np
import torch

# The checks of the scalar autograd and of the gradient check live in their own modules; the
# master calls them all through this one (hidden.<check>).
from autograder.kernel.collect.autograd import value_backward, value_mul, value_tanh  # noqa: F401
from autograder.kernel.collect.common import forbid_calls, rng_for
from autograder.kernel.collect.gradient_checking import sparse_gradient_check  # noqa: F401
from autograder.kernel.collect.record import answered, collected
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


# Conceptual questions: the kernel reports the answer, the judge knows the key.
q_backward = answered("q_backward")
q_chain_rule = answered("q_chain_rule")
q_vanishing = answered("q_vanishing")
q_kink = answered("q_kink")
q_initial_loss = answered("q_initial_loss")
