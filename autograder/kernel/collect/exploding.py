"""Hidden checks of lesson 03_exploding_gradients. Oracle: torch.nn.utils's clipping."""

from __future__ import annotations

import torch
from torch import nn

from autograder.kernel.collect.common import forbid_calls
from autograder.kernel.collect.record import answered, collected
from coursekit import checks

LESSON = "03_exploding_gradients"
_TORCH_CLIPPING = (
    nn.utils.clip_grad_norm_,
    nn.utils.clip_grad_value_,
    nn.utils.get_total_norm,
    nn.utils.clip_grads_with_norm_,
)


def _parameter_set(seed: int, grad_scale: float, with_missing: bool) -> list[nn.Parameter]:
    g = torch.Generator().manual_seed(seed)
    shapes = [(3, 4), (5,), (2, 3, 2), (1,), (7, 2)]
    params = []
    for i, shape in enumerate(shapes):
        p = nn.Parameter(torch.randn(shape, generator=g))
        if not (with_missing and i == 1):
            p.grad = torch.randn(shape, generator=g) * grad_scale
        params.append(p)
    return params


def _copy(params: list[nn.Parameter]) -> list[nn.Parameter]:
    """Independent copies with their gradients (deepcopy of a Parameter drops .grad)."""
    copies = []
    for p in params:
        q = nn.Parameter(p.detach().clone())
        q.grad = None if p.grad is None else p.grad.detach().clone()
        copies.append(q)
    return copies


def _same_grads(got: list[nn.Parameter], expected: list[nn.Parameter], what: str, hint: str):
    for i, (p, q) in enumerate(zip(got, expected, strict=True)):
        if q.grad is None:
            checks.expect(
                p.grad is None, f"{what}: parameter {i} had no gradient and must keep none"
            )
            continue
        checks.expect_close(
            p.grad, q.grad, f"{what}: gradient of parameter {i}", rtol=1e-5, atol=1e-7, hint=hint
        )


@collected
def clip_grad_norm(student) -> None:
    with checks.exercise("clip_grad_norm"):
        cases = [
            (2.0, 1.0, 3.0, False, "a large gradient"),
            (2.0, 100.0, 1.0, False, "max_norm above the norm (nothing changes)"),
            (2.0, 0.5, 2.0, True, "a parameter without a gradient"),
            (float("inf"), 0.3, 2.0, False, "norm_type=inf (the largest |g|)"),
            (1.0, 2.0, 1.5, False, "norm_type=1"),
        ]
        for seed, (norm_type, max_norm, scale, missing, what) in enumerate(cases):
            mine = _parameter_set(seed, scale, missing)
            oracle = _copy(mine)
            grads_before = [p.grad for p in mine]
            expected = nn.utils.clip_grad_norm_(oracle, max_norm, norm_type=norm_type)
            with forbid_calls("clip_grad_norm", *_TORCH_CLIPPING):
                # a generator, as model.parameters() gives: it can be walked only once
                total = student((p for p in mine), max_norm, norm_type=norm_type)
            checks.expect(
                isinstance(total, torch.Tensor),
                "clip_grad_norm must return the total norm as a tensor, "
                f"got {type(total).__name__}",
            )
            checks.expect_close(
                total,
                expected,
                f"the returned norm ({what})",
                rtol=1e-5,
                hint="return the global norm of all the gradients together, before clipping",
            )
            _same_grads(
                mine,
                oracle,
                what,
                "scale every gradient by max_norm / (total_norm + 1e-6), only if that is below 1",
            )
            for i, (p, before) in enumerate(zip(mine, grads_before, strict=True)):
                checks.expect(
                    p.grad is before,
                    f"clip_grad_norm replaced parameter {i}'s .grad: "
                    "scale it in place (p.grad.mul_)",
                )


@collected
def clip_grad_value(student) -> None:
    with checks.exercise("clip_grad_value"):
        for seed, (clip, missing) in enumerate([(0.5, False), (2.0, True), (1e-3, False)]):
            mine = _parameter_set(10 + seed, 1.5, missing)
            oracle = _copy(mine)
            weights = [p.detach().clone() for p in mine]
            nn.utils.clip_grad_value_(oracle, clip)
            with forbid_calls("clip_grad_value", *_TORCH_CLIPPING):
                student((p for p in mine), clip)
            _same_grads(
                mine,
                oracle,
                f"clip_value={clip}",
                "clamp each gradient entry to [-clip_value, clip_value]",
            )
            for i, (p, w) in enumerate(zip(mine, weights, strict=True)):
                checks.expect(
                    torch.equal(p.detach(), w),
                    f"clip_grad_value changed the weights of parameter {i}: "
                    "clip the gradients (.grad)",
                )


@collected
def is_exploding(student) -> None:
    nan, inf = float("nan"), float("inf")
    cases = [
        (0.7, 0.5, 10.0, False, "a healthy step"),
        (1e6, 0.5, 10.0, False, "a large but finite loss with a small gradient"),
        (0.7, 10.5, 10.0, True, "a gradient norm past the threshold"),
        (0.7, 9.99, 10.0, False, "a gradient norm just below the threshold"),
        (nan, 0.5, 10.0, True, "a NaN loss"),
        (inf, 0.5, 10.0, True, "an infinite loss"),
        (-inf, 0.5, 10.0, True, "a loss of -inf"),
        (0.7, nan, 10.0, True, "a NaN gradient norm"),
        (0.7, inf, 10.0, True, "an infinite gradient norm"),
    ]
    with checks.exercise("is_exploding"):
        for loss, norm, threshold, expected, what in cases:
            for convert, kind in ((float, "floats"), (torch.tensor, "tensors")):
                got = student(convert(loss), convert(norm), threshold)
                checks.expect(
                    isinstance(got, bool),
                    f"is_exploding must return a Python bool, got {type(got).__name__} "
                    "(wrap the condition in bool(...))",
                )
                checks.expect(
                    got == expected,
                    f"is_exploding(loss={loss}, grad_norm={norm}, threshold={threshold}) with "
                    f"{kind}: {what} should give {expected}, got {got}",
                )


# Conceptual questions: the kernel reports the answer, the judge knows the key.
q_direction = answered("q_direction")
q_clipped_component = answered("q_clipped_component")
q_spectral_radius = answered("q_spectral_radius")
q_normalisation = answered("q_normalisation")
