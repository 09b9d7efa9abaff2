"""Answer keys of 02_vanishing_gradients: judge side only, never in a kernel."""

from __future__ import annotations

import torch

from autograder.judge.answers.keys import check_choice, check_number

LESSON = "02_vanishing_gradients"

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


QUESTIONS = {
    "q_ratio_bound": q_ratio_bound,
    "q_xavier": q_xavier,
    "q_residual": q_residual,
}
