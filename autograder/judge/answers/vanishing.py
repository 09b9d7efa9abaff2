"""Answer keys of 02_vanishing_gradients: judge side only, never in a kernel."""

from __future__ import annotations

import math

import torch
from torch import nn

from autograder.judge.answers.keys import check_choice, check_number

LESSON = "02_vanishing_gradients"

_Q_XAVIER = "7577a6624e0bebad"  # digest("02_vanishing_gradients", "q_xavier", <the answer>)
_Q_RESIDUAL = "728ae649360f1268"  # likewise
_Q_SYMMETRY = "09677fb0bb2c51d6"  # likewise


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


def q_he_std(answer) -> None:
    # a ReLU layer with fan_in 512 (and 128 outputs): torch's own He scale, gain / sqrt(fan_in)
    check_number(answer, "answer_he_std", nn.init.calculate_gain("relu") / math.sqrt(512), rel=1e-2)


def q_symmetry(answer) -> None:
    check_choice(
        answer, "answer_symmetry", "02_vanishing_gradients", "q_symmetry", _Q_SYMMETRY, "abcd"
    )


QUESTIONS = {
    "q_ratio_bound": q_ratio_bound,
    "q_xavier": q_xavier,
    "q_residual": q_residual,
    "q_he_std": q_he_std,
    "q_symmetry": q_symmetry,
}
