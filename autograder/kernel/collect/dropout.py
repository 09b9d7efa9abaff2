"""Hidden checks of lesson 05_dropout: by distribution, never by one particular mask.

Oracles: the binomial statistics of a Bernoulli(1 - p) mask, inverted dropout's
expectation, and torch.nn.Dropout's statistics on the same input. Every case is
seeded; the tolerances are five or more standard errors wide.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from autograder.kernel.collect.record import answered, collected
from coursekit import checks

LESSON = "05_dropout"
SHAPE = (200, 500)  # 100,000 units per draw


def _forward(student, x, p, train, seed):
    result = student(x, p, train, np.random.default_rng(seed))
    checks.expect(
        isinstance(result, tuple) and len(result) == 2,
        "dropout_forward must return a tuple (out, cache)",
    )
    out, cache = result
    checks.expect_shape(out, x.shape, f"out for p={p}")
    checks.expect_finite(out, f"out for p={p}")
    return np.asarray(out), cache


def _torch_statistics(p: float, x: np.ndarray) -> tuple[float, float]:
    torch.manual_seed(0)
    out = torch.nn.Dropout(p).train()(torch.tensor(x)).numpy()
    return float(np.mean(out == 0)), float(out[out != 0][0] / x.flat[0]) if np.any(out) else 0.0


@collected
def dropout_forward(student) -> None:
    with checks.exercise("dropout_forward"):
        x = np.full(SHAPE, 2.0)
        n = x.size
        for p in (0.1, 0.5, 0.8):
            # the legacy global state must be left alone: that is the point of the check
            global_state = np.random.get_state()[1].copy()  # noqa: NPY002
            out, _ = _forward(student, x, p, True, seed=int(p * 100))
            checks.expect(
                np.array_equal(np.random.get_state()[1], global_state),  # noqa: NPY002
                "dropout_forward used NumPy's global random state: draw only from `rng`",
            )
            dropped = float(np.mean(out == 0))
            torch_dropped, torch_scale = _torch_statistics(p, x)
            tolerance = 6 * math.sqrt(p * (1 - p) / n)
            checks.expect(
                abs(dropped - p) < tolerance,
                f"with p={p}, {dropped:.3f} of the units were dropped (torch.nn.Dropout drops "
                f"{torch_dropped:.3f}): p is the probability of DROPPING a unit",
            )
            kept = out[out != 0]
            checks.expect_close(
                kept,
                np.full(kept.shape, 2.0 * torch_scale),
                f"the kept values for p={p}",
                rtol=1e-9,
                hint=f"inverted dropout divides kept values by 1 - p, as torch does "
                f"(x = 2 becomes {2.0 * torch_scale:g})",
            )
            mean_tolerance = 6 * 2.0 * math.sqrt(p / (1 - p) / n)
            checks.expect(
                abs(out.mean() - 2.0) < mean_tolerance,
                f"with p={p} the mean of out is {out.mean():.4f}, but dropout must preserve the "
                "mean (2.0) in expectation",
            )
        # the randomness comes from rng: same seed, same mask; another seed, another mask
        np.random.seed(1)  # noqa: NPY002 -- a different global state must not matter
        a, _ = _forward(student, x[:20], 0.5, True, seed=7)
        np.random.seed(2)  # noqa: NPY002
        b, _ = _forward(student, x[:20], 0.5, True, seed=7)
        c, _ = _forward(student, x[:20], 0.5, True, seed=8)
        checks.expect(np.array_equal(a, b), "the same rng seed must give the same mask")
        checks.expect(not np.array_equal(a, c), "different rng seeds gave the same mask")
        # edge cases
        y = np.random.default_rng(3).normal(size=(4, 3, 5))
        out, _ = _forward(student, y.copy(), 0.3, False, seed=0)
        checks.expect_close(out, y, "eval mode (train=False): the output must be the input")
        out, _ = _forward(student, y.copy(), 0.0, True, seed=0)
        checks.expect_close(out, y, "p=0 (nothing dropped): the output must be the input")
        out, _ = _forward(student, y.copy(), 1.0, True, seed=0)
        checks.expect_close(
            out, np.zeros(y.shape), "p=1 (everything dropped): the output must be 0"
        )
        for bad in (-0.1, 1.5, float("nan")):
            try:
                student(y, bad, True, np.random.default_rng(0))
            except ValueError:
                continue
            checks.fail(f"dropout_forward with p={bad} must raise a ValueError (p is in [0, 1])")


@collected
def dropout_backward(forward, backward) -> None:
    with checks.exercise("dropout_backward"):
        rng = np.random.default_rng(11)
        x = rng.normal(size=(300, 40)) + 5.0  # never 0: a zero output means a dropped unit
        dout = rng.normal(size=x.shape)
        for p in (0.25, 0.6):
            out, cache = _forward(forward, x, p, True, seed=3)
            upstream = dout.copy()  # the oracle's dout: the call may change its own in place
            dx = backward(dout, cache)
            checks.expect_shape(dx, x.shape, f"dx for p={p}")
            kept = out != 0
            expected = np.where(kept, upstream / (1 - p), 0.0)
            checks.expect_close(
                dx,
                expected,
                f"dx for p={p}",
                hint="use the SAME mask as the forward pass (keep it in the cache), "
                "and the same 1 / (1 - p)",
            )
        out, cache = _forward(forward, x, 0.4, False, seed=3)
        upstream = dout.copy()
        checks.expect_close(backward(dout, cache), upstream, "dx in eval mode (must be dout)")
        out, cache = _forward(forward, x, 1.0, True, seed=3)
        dx = backward(dout.copy(), cache)
        checks.expect_finite(dx, "dx for p=1")
        checks.expect_close(dx, np.zeros(x.shape), "dx for p=1 (nothing passes)")


# Conceptual questions: the kernel reports the answer, the judge knows the key.
q_all_dropped = answered("q_all_dropped")
q_why_scale = answered("q_why_scale")
q_kept_value = answered("q_kept_value")
