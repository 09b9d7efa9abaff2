"""Numerical gradients by central differences, and readable comparisons (float64)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def _as_float64(x: np.ndarray, name: str) -> np.ndarray:
    if not isinstance(x, np.ndarray):
        raise ValueError(f"{name} must be a numpy array, got {type(x).__name__}")
    if x.dtype != np.float64:
        raise ValueError(
            f"{name} must be float64 for a numerical gradient (got {x.dtype}); "
            f"use {name}.astype(np.float64)"
        )
    return x


def _check_step(h: float) -> None:
    if not (isinstance(h, int | float) and np.isfinite(h) and h > 0):
        raise ValueError(f"h must be a small positive number, got {h!r}")


def _central_differences(f: Callable, x: np.ndarray, h: float, value: Callable):
    """Yield ``(index, value(f(x + h e_i)), value(f(x - h e_i)))`` for every index of x.

    x is changed in place one entry at a time and put back before each yield;
    ``value`` turns f's result into what is kept (a float, or a copy of an array,
    since f may return a view of x).
    """
    it = np.nditer(x, flags=["multi_index"], op_flags=[["readwrite"]])
    for _ in it:
        i = it.multi_index
        old = x[i]
        x[i] = old + h
        plus = value(f(x))
        x[i] = old - h
        minus = value(f(x))
        x[i] = old
        yield i, plus, minus


def numerical_gradient(f: Callable[[np.ndarray], float], x: np.ndarray, h: float = 1e-5):
    """Gradient of a scalar function ``f`` at ``x`` by central differences.

    Inputs:
    - f: function taking an array shaped like x and returning a scalar.
    - x: float64 array of any shape (N1, ..., Nk); changed in place during the
      computation and restored before returning.
    - h: step size.

    Returns an array of the same shape as x: ``(f(x + h e_i) - f(x - h e_i)) / 2h``.
    """
    _as_float64(x, "x")
    _check_step(h)
    grad = np.zeros_like(x)
    for i, plus, minus in _central_differences(f, x, h, float):
        grad[i] = (plus - minus) / (2 * h)
    return grad


def numerical_gradient_array(
    f: Callable[[np.ndarray], np.ndarray], x: np.ndarray, dout: np.ndarray, h: float = 1e-5
) -> np.ndarray:
    """Gradient of ``sum(f(x) * dout)`` with respect to x, for an array-valued f.

    Inputs:
    - f: function from an array shaped like x to an array shaped like dout.
    - x: float64 array (N1, ..., Nk), restored before returning.
    - dout: float64 upstream gradient, shaped like f(x).

    Returns dx, shaped like x: what a layer's backward pass should return.
    """
    _as_float64(x, "x")
    _check_step(h)
    dout = np.asarray(dout, dtype=np.float64)
    grad = np.zeros_like(x)

    def copy(result) -> np.ndarray:
        return np.array(result, dtype=np.float64, copy=True)

    for i, plus, minus in _central_differences(f, x, h, copy):
        if plus.shape != dout.shape:
            raise ValueError(f"dout has shape {dout.shape} but f(x) has shape {plus.shape}")
        grad[i] = np.sum((plus - minus) * dout) / (2 * h)
    return grad


def rel_error(a: np.ndarray, b: np.ndarray) -> float:
    """Largest elementwise relative error ``|a - b| / max(1e-8, |a| + |b|)``."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"a and b must have the same shape, got {a.shape} and {b.shape}")
    if a.size == 0:
        return 0.0
    return float(np.max(np.abs(a - b) / np.maximum(1e-8, np.abs(a) + np.abs(b))))


def check_gradient(
    analytic: np.ndarray, numerical: np.ndarray, name: str = "gradient", tol: float = 1e-7
) -> float:
    """Assert that two gradients agree to relative error ``tol``; return the error.

    The AssertionError names the worst entry: its index, both values and its
    relative error, so that a student can see which part of the gradient is off.
    """
    analytic = np.asarray(analytic, dtype=np.float64)
    numerical = np.asarray(numerical, dtype=np.float64)
    if analytic.shape != numerical.shape:
        raise AssertionError(
            f"{name}: shape {analytic.shape} but the numerical gradient has shape "
            f"{numerical.shape}; a gradient has the shape of what it is taken with respect to"
        )
    if not np.all(np.isfinite(analytic)):
        bad = tuple(int(i) for i in np.argwhere(~np.isfinite(analytic))[0])
        raise AssertionError(f"{name}: non-finite value {analytic[bad]} at index {bad}")
    errors = np.abs(analytic - numerical) / np.maximum(1e-8, np.abs(analytic) + np.abs(numerical))
    error = float(errors.max()) if errors.size else 0.0
    if error > tol:
        worst = np.unravel_index(int(np.argmax(errors)), errors.shape)
        worst = tuple(int(i) for i in worst)
        raise AssertionError(
            f"{name}: relative error {error:.2e} > {tol:.0e} at index {worst}: "
            f"yours {analytic[worst]:.6g}, numerical {numerical[worst]:.6g}"
        )
    return error
