"""Answer keys of 03_exploding_gradients: judge side only, never in a kernel."""

from __future__ import annotations

import math

import torch
from torch import nn

from autograder.judge.answers.keys import check_choice, check_number

LESSON = "03_exploding_gradients"

_Q_DIRECTION = "92907c809fdcafb5"  # digest("03_exploding_gradients", "q_direction", <the answer>)


def q_direction(answer) -> None:
    check_choice(
        answer, "answer_direction", "03_exploding_gradients", "q_direction", _Q_DIRECTION, "abcd"
    )


_Q_NORMALISATION = "8b84b63bfb894221"  # digest("03_exploding_gradients", "q_normalisation", …)


def q_normalisation(answer) -> None:
    check_choice(
        answer,
        "answer_normalisation",
        "03_exploding_gradients",
        "q_normalisation",
        _Q_NORMALISATION,
        "abcd",
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


QUESTIONS = {
    "q_direction": q_direction,
    "q_clipped_component": q_clipped_component,
    "q_spectral_radius": q_spectral_radius,
    "q_normalisation": q_normalisation,
}
