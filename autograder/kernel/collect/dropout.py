"""Hidden checks of lesson 05_dropout: dropout by distribution, never by one particular mask;
early stopping by the properties that decide its answer.

Oracles: the binomial statistics of a Bernoulli(1 - p) mask, inverted dropout's
expectation, and torch.nn.Dropout's statistics on the same input. Every case is
seeded; the tolerances are five or more standard errors wide.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from autograder.kernel.collect.common import rng_for
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


def _improves(losses: list[float], epoch: int) -> bool:
    """Strictly below every earlier loss (epoch 0 always improves)."""
    return all(losses[epoch] < earlier for earlier in losses[:epoch])


def _check_stop(losses: list[float], patience: int, result) -> None:
    """The properties that decide early stopping's answer, one message each."""
    n, where = len(losses), f"for {len(losses)} epochs, patience {patience}"
    checks.expect(
        isinstance(result, tuple) and len(result) == 2,
        "early_stopping must return a tuple of 2 values: (kept, stopped)",
    )
    checks.expect(
        all(isinstance(v, int | np.integer) for v in result),
        f"early_stopping returned {result}: kept and stopped are epoch indices (integers)",
    )
    kept, stopped = (int(v) for v in result)
    checks.expect(
        0 <= kept <= stopped < n,
        f"({kept}, {stopped}) {where}: 0-based indices with 0 <= kept <= stopped <= {n - 1}",
    )
    checks.expect(
        _improves(losses, kept),
        f"kept = {kept} {where}: that epoch is not strictly below every loss before it",
    )
    later = [e for e in range(kept + 1, stopped + 1) if _improves(losses, e)]
    checks.expect(
        not later,
        f"({kept}, {stopped}) {where}: epoch {later[0] if later else ''} improved on the kept "
        "one before training stopped: kept is the best epoch, not the last one",
    )
    checks.expect(
        stopped == min(kept + patience, n - 1),
        f"stopped = {stopped} {where}: training stops `patience` epochs after the best one "
        f"(epoch {kept}), or at the last epoch",
    )
    last = 0
    for epoch in range(kept + 1):  # no earlier stop: every improvement came in time
        if _improves(losses, epoch):
            last = epoch
        checks.expect(
            epoch - last < patience,
            f"({kept}, {stopped}) {where}: training should already have stopped after epoch "
            f"{epoch}, {patience} epochs without improvement on epoch {last} (early stopping "
            "cannot look ahead)",
        )


@collected
def early_stopping(student) -> None:
    with checks.exercise("early_stopping"):
        rng = rng_for("early_stopping")
        for case in range(40):
            n = int(rng.integers(1, 40))
            bottom = rng.uniform(0, n)
            curve = 0.002 * (np.arange(n) - bottom) ** 2 + rng.normal(0, 0.05, n)
            losses = [float(v) for v in np.round(curve + 1.0, 1 if case % 2 else 3)]  # ties
            patience = int(rng.choice([1, 2, 3, 5, 8]))
            result = student(list(losses), patience)
            _check_stop(losses, patience, result)


# Conceptual questions: the kernel reports the answer, the judge knows the key.
q_all_dropped = answered("q_all_dropped")
q_why_scale = answered("q_why_scale")
q_kept_value = answered("q_kept_value")
q_decay_factor = answered("q_decay_factor")
