"""coursekit.gradcheck: central differences against exact and autograd gradients."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from coursekit.gradcheck import (
    check_gradient,
    numerical_gradient,
    numerical_gradient_array,
    rel_error,
)

floats = st.floats(-3, 3, allow_nan=False, allow_infinity=False)
small_vectors = arrays(np.float64, st.integers(1, 6), elements=floats)


@given(x=small_vectors, seed=st.integers(0, 2**16))
@settings(max_examples=40, deadline=None)
def test_quadratic_is_exact(x, seed):
    """For f(x) = x^T A x + b^T x, central differences are exact up to rounding."""
    rng = np.random.default_rng(seed)
    a = rng.normal(size=(x.size, x.size))
    b = rng.normal(size=x.size)

    def f(v):
        return v @ a @ v + b @ v

    expected = (a + a.T) @ x + b
    got = numerical_gradient(f, x.copy())
    np.testing.assert_allclose(got, expected, atol=1e-8, rtol=1e-8)


@given(x=arrays(np.float64, (3, 4), elements=floats), seed=st.integers(0, 2**16))
@settings(max_examples=25, deadline=None)
def test_agrees_with_torch_autograd_on_random_compositions(x, seed):
    rng = np.random.default_rng(seed)
    w = rng.normal(size=(4, 5))
    ops = [np.tanh, np.sin, lambda t: t**2, np.exp]
    tops = [torch.tanh, torch.sin, lambda t: t**2, torch.exp]
    k = rng.integers(0, len(ops), size=2)

    def f(v):
        return float(np.sum(ops[k[1]](ops[k[0]](v) @ w * 0.3)))

    xt = torch.tensor(x, requires_grad=True)
    tops[k[1]](tops[k[0]](xt) @ torch.tensor(w) * 0.3).sum().backward()
    num = numerical_gradient(f, x.copy())
    assert rel_error(num, xt.grad.numpy()) < 1e-6 or np.allclose(num, xt.grad.numpy(), atol=1e-7)


def test_array_version_matches_autograd():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4, 3))
    dout = rng.normal(size=(4, 3))
    got = numerical_gradient_array(np.tanh, x, dout)
    xt = torch.tensor(x, requires_grad=True)
    torch.tanh(xt).backward(torch.tensor(dout))
    check_gradient(got, xt.grad.numpy(), "dx", tol=1e-8)


def test_input_is_restored():
    x = np.arange(6, dtype=np.float64).reshape(2, 3)
    before = x.copy()
    numerical_gradient(lambda v: float(np.sum(v**3)), x)
    np.testing.assert_array_equal(x, before)


def test_float32_input_is_refused_with_a_hint():
    with pytest.raises(ValueError, match=r"x must be float64.*astype\(np.float64\)"):
        numerical_gradient(np.sum, np.ones(3, dtype=np.float32))


def test_bad_step_is_refused():
    with pytest.raises(ValueError, match="h must be a small positive number"):
        numerical_gradient(np.sum, np.ones(3), h=0)


def test_check_gradient_names_the_worst_entry():
    analytic = np.array([[1.0, 2.0], [3.0, 4.0]])
    numerical = analytic.copy()
    numerical[1, 0] = -3.0
    with pytest.raises(AssertionError) as info:
        check_gradient(analytic, numerical, "dW", tol=1e-7)
    msg = str(info.value)
    assert "dW" in msg and "(1, 0)" in msg and "yours 3" in msg and "numerical -3" in msg


def test_check_gradient_shape_mismatch():
    with pytest.raises(AssertionError, match=r"shape \(2,\).*\(3,\)"):
        check_gradient(np.ones(2), np.ones(3), "db")


def test_rel_error_properties():
    a = np.array([1.0, -2.0])
    assert rel_error(a, a) == 0.0
    assert rel_error(a, -a) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="same shape"):
        rel_error(np.ones(2), np.ones(3))
