"""The conceptual questions' keys and numeric oracles: judge side only, never in a kernel."""

from __future__ import annotations

import hashlib
import math

import numpy as np
import torch
from torch import nn

from coursekit.checks import CheckFailed


def digest(lesson: str, question: str, answer: str) -> str:
    """The stored form of a multiple-choice answer (so the package does not spell it out)."""
    return hashlib.sha256(f"{lesson}:{question}:{answer}".encode()).hexdigest()[:16]


def normalise_choice(answer: object, name: str, choices: str) -> str:
    """``answer`` as one lower-case letter among ``choices``, or a CheckFailed saying why."""
    if not isinstance(answer, str) or answer.strip().lower() not in choices:
        raise CheckFailed(
            f"{name} must be one letter among {', '.join(repr(c) for c in choices)}, got {answer!r}"
        )
    return answer.strip().lower()


def check_choice(
    answer: object, name: str, lesson: str, question: str, expected: str, choices: str
) -> None:
    """Check a multiple-choice answer against its stored digest."""
    letter = normalise_choice(answer, name, choices)
    if digest(lesson, question, letter) != expected:
        raise CheckFailed(f"{name} = {letter!r} is not the right choice: re-read the section")


def check_number(answer: object, name: str, expected: float, rel: float = 1e-2) -> None:
    """Check a numeric answer to within ``rel`` relative error."""
    if isinstance(answer, bool) or not isinstance(answer, int | float | np.floating | np.integer):
        raise CheckFailed(f"{name} must be a number, got {type(answer).__name__}")
    if not math.isfinite(answer):
        raise CheckFailed(f"{name} must be finite, got {answer}")
    if not math.isclose(float(answer), expected, rel_tol=rel, abs_tol=1e-12):
        raise CheckFailed(f"{name} = {answer:.4g} is not right: work it out step by step again")


# ---------------------------------------------------------------- 01_backprop

_Q_BACKWARD = "d5be819e04652178"  # digest("01_backprop", "q_backward", <the answer>)


def q_backward(answer) -> None:
    check_choice(answer, "answer_backward", "01_backprop", "q_backward", _Q_BACKWARD, "abcd")


def q_chain_rule(answer) -> None:
    # d/dw (w*x - t)**2 at w = 1.5, x = -2, t = 1, by autograd
    w = torch.tensor(1.5, requires_grad=True, dtype=torch.float64)
    ((w * -2.0 - 1.0) ** 2).backward()
    check_number(answer, "answer_chain_rule", w.grad.item(), rel=1e-6)


def q_vanishing(answer) -> None:
    # the largest possible product of 10 sigmoid derivatives
    x = torch.zeros(1, requires_grad=True, dtype=torch.float64)
    out = x
    for _ in range(10):
        out = torch.sigmoid(out) - 0.5  # keep the argument at 0: the derivative's maximum
    out.backward()
    check_number(answer, "answer_vanishing", x.grad.item(), rel=1e-2)


# ---------------------------------------------------------------- 02_vanishing_gradients

_Q_XAVIER = "7577a6624e0bebad"  # digest("02_vanishing_gradients", "q_xavier", <the answer>)
_Q_RESIDUAL = "728ae649360f1268"  # likewise


def q_ratio_bound(answer) -> None:
    # 19 sigmoid derivatives between the last and the first of 20 layers, each at most 1/4
    slope = torch.zeros(1, requires_grad=True, dtype=torch.float64)
    torch.sigmoid(slope).backward()
    check_number(answer, "answer_ratio_bound", slope.grad.item() ** 19, rel=1e-2)


def q_xavier(answer) -> None:
    check_choice(answer, "answer_xavier", "02_vanishing_gradients", "q_xavier", _Q_XAVIER, "abcd")


def q_residual(answer) -> None:
    check_choice(
        answer, "answer_residual", "02_vanishing_gradients", "q_residual", _Q_RESIDUAL, "abcd"
    )


# ---------------------------------------------------------------- 03_exploding_gradients

_Q_DIRECTION = "92907c809fdcafb5"  # digest("03_exploding_gradients", "q_direction", <the answer>)


def q_direction(answer) -> None:
    check_choice(
        answer, "answer_direction", "03_exploding_gradients", "q_direction", _Q_DIRECTION, "abcd"
    )


def q_clipped_component(answer) -> None:
    # the gradient (3, 4) clipped to norm 1 by torch's own function: its first component
    p = nn.Parameter(torch.zeros(2, dtype=torch.float64))
    p.grad = torch.tensor([3.0, 4.0], dtype=torch.float64)
    nn.utils.clip_grad_norm_([p], max_norm=1.0)
    check_number(answer, "answer_clipped_component", p.grad[0].item(), rel=1e-3)


def q_spectral_radius(answer) -> None:
    # a 30-step linear recurrence with every eigenvalue of modulus 0.9: the gradient's factor
    check_number(answer, "answer_spectral_radius", math.pow(0.9, 30), rel=1e-2)


# ---------------------------------------------------------------- 04_dead_relu

_Q_RECOVER = "4ca3c86a6b83166d"  # digest("04_dead_relu", "q_recover", <the answer>)


def q_recover(answer) -> None:
    check_choice(answer, "answer_recover", "04_dead_relu", "q_recover", _Q_RECOVER, "abcd")


def q_leaky_slope(answer) -> None:
    x = torch.tensor(-3.0, requires_grad=True, dtype=torch.float64)
    nn.functional.leaky_relu(x, 0.05).backward()
    check_number(answer, "answer_leaky_slope", x.grad.item(), rel=1e-6)


# ---------------------------------------------------------------- 05_dropout

_Q_ALL_DROPPED = "b9bbbea9c331d358"  # digest("05_dropout", "q_all_dropped", <the answer>)
_Q_WHY_SCALE = "698caf97c942bb29"  # likewise


def q_all_dropped(answer) -> None:
    check_choice(
        answer, "answer_all_dropped", "05_dropout", "q_all_dropped", _Q_ALL_DROPPED, "abcd"
    )


def q_why_scale(answer) -> None:
    check_choice(answer, "answer_why_scale", "05_dropout", "q_why_scale", _Q_WHY_SCALE, "abcd")


def q_kept_value(answer) -> None:
    # a kept unit with activation 2.0 under p = 0.2, as torch.nn.Dropout scales it
    out = torch.nn.Dropout(0.2).train()(torch.full((1000,), 2.0, dtype=torch.float64))
    check_number(answer, "answer_kept_value", float(out[out != 0][0]), rel=1e-6)


# ---------------------------------------------------------------- the fixture course


def q_sqrt(answer) -> None:
    check_number(answer, "answer_sqrt", 16**0.5, rel=1e-9)


QUESTIONS = {
    "fixture_sum": {"q_sqrt": q_sqrt},
    "01_backprop": {
        "q_backward": q_backward,
        "q_chain_rule": q_chain_rule,
        "q_vanishing": q_vanishing,
    },
    "02_vanishing_gradients": {
        "q_ratio_bound": q_ratio_bound,
        "q_xavier": q_xavier,
        "q_residual": q_residual,
    },
    "03_exploding_gradients": {
        "q_direction": q_direction,
        "q_clipped_component": q_clipped_component,
        "q_spectral_radius": q_spectral_radius,
    },
    "04_dead_relu": {"q_recover": q_recover, "q_leaky_slope": q_leaky_slope},
    "05_dropout": {
        "q_all_dropped": q_all_dropped,
        "q_why_scale": q_why_scale,
        "q_kept_value": q_kept_value,
    },
}
