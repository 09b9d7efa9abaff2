"""Answer keys of 05_dropout: judge side only, never in a kernel."""

from __future__ import annotations

import torch

from autograder.judge.answers.keys import check_choice, check_number

LESSON = "05_dropout"

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


def q_decay_factor(answer) -> None:
    # one step of torch's SGD with lr 0.1 and weight_decay 0.01 on a weight whose gradient is 0
    w = torch.tensor([1.0], dtype=torch.float64, requires_grad=True)
    opt = torch.optim.SGD([w], lr=0.1, weight_decay=0.01)
    w.grad = torch.zeros_like(w)
    opt.step()
    check_number(answer, "answer_decay_factor", w.item(), rel=1e-6)


QUESTIONS = {
    "q_all_dropped": q_all_dropped,
    "q_why_scale": q_why_scale,
    "q_kept_value": q_kept_value,
    "q_decay_factor": q_decay_factor,
}
