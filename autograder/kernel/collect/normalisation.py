"""Hidden checks of lesson 03's normalisation exercises (batch norm and layer norm, numpy).

Oracles: ``torch.nn.BatchNorm1d`` (with the momentum converted, torch's ``momentum`` is
1 - ours), ``torch.nn.functional.layer_norm`` and PyTorch autograd, all in float64.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from autograder.kernel.collect.common import rng_for
from autograder.kernel.collect.record import collected
from coursekit import checks

LESSON = "03_exploding_gradients"
# (N, D, eps, momentum): a batch of two, a tall batch, a wide one
BN_CASES = [(2, 3, 1e-5, 0.9), (17, 4, 1e-3, 0.8), (6, 11, 1e-5, 0.95)]
LN_CASES = [(1, 5, 1e-5), (9, 3, 1e-3), (4, 16, 1e-5)]
FORWARD_HINT = (
    "normalise each feature (column) over the batch with its mean and its BIASED variance "
    "(ddof=0), eps inside the square root: (x - mean) / sqrt(var + eps), then gamma * x_hat + beta"
)


def _unpack(result, name: str, n: int) -> tuple:
    if not isinstance(result, tuple) or len(result) != n:
        got = f"a tuple of {len(result)}" if isinstance(result, tuple) else type(result).__name__
        checks.fail(f"{name} must return a tuple of {n} values, got {got}")
    return result


def _inputs(name: str, n: int, d: int) -> tuple[np.ndarray, ...]:
    rng = rng_for(name)
    x = rng.normal(size=(n, d)) * rng.uniform(0.5, 3.0, size=d) + rng.normal(size=d)
    x[:, 0] = x[:, 0] * 1e-2 + 1.0  # a feature of tiny variance: eps matters there
    gamma, beta = rng.normal(size=d), rng.normal(size=d)
    return x, gamma, beta, rng.normal(size=(n, d))


def _t(a: np.ndarray, grad: bool = False) -> torch.Tensor:
    return torch.tensor(np.asarray(a, dtype=np.float64), requires_grad=grad)


def _with_running_stats(student: Callable) -> Callable:
    """The student's forward, also returning the running statistics it left in bn_param
    (whether it changed the arrays in place or put new ones in the dict)."""

    def call(x, gamma, beta, bn_param):
        result = student(x, gamma, beta, bn_param)
        return result, {k: bn_param.get(k) for k in ("running_mean", "running_var")}

    return call


def _stats_reported(check: Callable) -> Callable:
    """``collected`` for a check whose student returns (result, running statistics)."""
    run = collected(check)

    @functools.wraps(check)
    def with_stats(student: Callable) -> None:
        run(_with_running_stats(student))

    with_stats.check = run.check  # type: ignore[attr-defined]
    with_stats.kind = "collected"  # type: ignore[attr-defined]
    return with_stats


def _torch_batchnorm(d: int, eps: float, momentum: float, mean, var, gamma, beta) -> nn.Module:
    bn = nn.BatchNorm1d(d, eps=eps, momentum=1 - momentum, dtype=torch.float64)
    with torch.no_grad():
        bn.weight.copy_(_t(gamma))
        bn.bias.copy_(_t(beta))
        bn.running_mean.copy_(_t(mean))
        bn.running_var.copy_(_t(var))
    return bn


#: what a wrong running statistic after a train step most likely got wrong
RUNNING_HINTS = {
    "running_mean": "running_mean = momentum * running_mean + (1 - momentum) * the batch mean "
    "(momentum weighs the OLD value)",
    "running_var": "running_var = momentum * running_var + (1 - momentum) * the UNBIASED batch "
    "variance (ddof=1), as torch keeps it (momentum weighs the OLD value)",
}


@_stats_reported
def batchnorm_forward(student) -> None:
    with checks.exercise("batchnorm_forward"):
        for n, d, eps, momentum in BN_CASES:
            x, gamma, beta, _ = _inputs(f"bn_forward{n}{d}", n, d)
            mean, var = rng_for(f"bn_stats{d}").normal(size=d), rng_for(f"v{d}").uniform(0.5, 2, d)
            bn, bn_eval = (_torch_batchnorm(d, eps, momentum, mean, var, gamma, beta) for _ in "12")
            with torch.no_grad():
                expected = bn.train()(_t(x))
                expected_eval = bn_eval.eval()(_t(x[::-1].copy()))
            where = f" (N={n}, D={d}, eps={eps}, momentum={momentum})"
            param = dict(mode="train", eps=eps, momentum=momentum)
            param.update(running_mean=mean.copy(), running_var=var.copy())
            before = x.copy()
            result, stats = student(x, gamma, beta, param)
            out, _ = _unpack(result, "batchnorm_forward", 2)
            checks.expect(np.array_equal(x, before), "batchnorm_forward changed its input x")
            checks.expect_close(
                out, expected, "out in train mode" + where, rtol=1e-6, atol=1e-8, hint=FORWARD_HINT
            )
            for key, hint in RUNNING_HINTS.items():
                checks.expect_close(
                    stats[key],
                    getattr(bn, key),
                    f"{key} after a train step" + where,
                    rtol=1e-6,
                    atol=1e-8,
                    hint=hint,
                )
            param = dict(mode="test", eps=eps, momentum=momentum)
            param.update(running_mean=mean.copy(), running_var=var.copy())
            result, stats = student(x[::-1].copy(), gamma, beta, param)
            out, _ = _unpack(result, "batchnorm_forward", 2)
            checks.expect_close(
                out,
                expected_eval,
                "out in test mode" + where,
                rtol=1e-6,
                atol=1e-8,
                hint="in test mode, normalise with running_mean and running_var, not the batch's",
            )
            for key, value in (("running_mean", mean), ("running_var", var)):
                checks.expect_close(
                    stats[key],
                    value,
                    f"{key} after a test-mode call",
                    hint="test mode must not change running_mean or running_var",
                )


def _backward_oracle(torch_forward: Callable, x, gamma, beta, dout) -> list[torch.Tensor]:
    xt, gt, bt = _t(x, True), _t(gamma, True), _t(beta, True)
    torch_forward(xt, gt, bt).backward(_t(dout))
    return [xt.grad, gt.grad, bt.grad]


def _check_backward(name: str, grads: tuple, expected: list, d: int, where: str) -> None:
    dx, dgamma, dbeta = _unpack(grads, name, 3)
    for got, what in ((dgamma, "dgamma"), (dbeta, "dbeta")):
        checks.expect(
            got is not None and np.shape(got) == (d,),
            f"{what} must have gamma's shape ({d},), got {np.shape(got)}: sum over the batch "
            "axis (axis 0)",
        )
    hint = (
        "x reaches out three ways: directly, through the mean and through the variance; "
        "dx = (dx_hat - mean(dx_hat) - x_hat * mean(dx_hat * x_hat)) / sqrt(var + eps)"
    )
    checks.expect_close(dx, expected[0], "dx" + where, rtol=1e-6, atol=1e-8, hint=hint)
    checks.expect_close(
        dgamma, expected[1], "dgamma" + where, rtol=1e-6, atol=1e-8, hint="sum of dout * x_hat"
    )
    checks.expect_close(dbeta, expected[2], "dbeta" + where, rtol=1e-6, atol=1e-8)


@collected
def batchnorm_backward(forward, backward) -> None:
    with checks.exercise("batchnorm_backward"):
        for n, d, eps, momentum in BN_CASES:
            x, gamma, beta, dout = _inputs(f"bn_backward{n}{d}", n, d)

            def torch_bn(xt, gt, bt, eps=eps):
                return nn.functional.batch_norm(xt, None, None, gt, bt, training=True, eps=eps)

            expected = _backward_oracle(torch_bn, x, gamma, beta, dout)
            param = dict(mode="train", eps=eps, momentum=momentum)
            param.update(running_mean=np.zeros(d), running_var=np.ones(d))
            _, cache = _unpack(forward(x, gamma, beta, param), "batchnorm_forward", 2)
            where = f" (N={n}, D={d}, eps={eps})"
            _check_backward("batchnorm_backward", backward(dout, cache), expected, d, where)


@collected
def layernorm_forward(student) -> None:
    with checks.exercise("layernorm_forward"):
        for n, d, eps in LN_CASES:
            x, gamma, beta, _ = _inputs(f"ln_forward{n}{d}", n, d)
            expected = nn.functional.layer_norm(_t(x), (d,), _t(gamma), _t(beta), eps)
            before = x.copy()
            out, _ = _unpack(student(x, gamma, beta, {"eps": eps}), "layernorm_forward", 2)
            checks.expect(np.array_equal(x, before), "layernorm_forward changed its input x")
            checks.expect_close(
                out,
                expected,
                f"out (N={n}, D={d}, eps={eps})",
                rtol=1e-6,
                atol=1e-8,
                hint="normalise each sample (row) over its D features, axis=1, with the BIASED "
                "variance, eps inside the square root, then gamma * x_hat + beta",
            )


@collected
def layernorm_backward(forward, backward) -> None:
    with checks.exercise("layernorm_backward"):
        for n, d, eps in LN_CASES:
            x, gamma, beta, dout = _inputs(f"ln_backward{n}{d}", n, d)

            def torch_ln(xt, gt, bt, d=d, eps=eps):
                return nn.functional.layer_norm(xt, (d,), gt, bt, eps)

            expected = _backward_oracle(torch_ln, x, gamma, beta, dout)
            _, cache = _unpack(forward(x, gamma, beta, {"eps": eps}), "layernorm_forward", 2)
            where = f" (N={n}, D={d}, eps={eps})"
            _check_backward("layernorm_backward", backward(dout, cache), expected, d, where)
