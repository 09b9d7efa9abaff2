"""Answer keys of 01_backprop: judge side only, never in a kernel."""

from __future__ import annotations

import torch

from autograder.judge.answers.keys import check_choice, check_number

LESSON = "01_backprop"

_Q_BACKWARD = "d5be819e04652178"  # digest("01_backprop", "q_backward", <the answer>)
_Q_KINK = "52aeeb52ef5247c5"  # likewise


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


def q_kink(answer) -> None:
    check_choice(answer, "answer_kink", "01_backprop", "q_kink", _Q_KINK, "abcd")


def q_initial_loss(answer) -> None:
    # the cross-entropy of 100 equal scores (small last-layer weights), by torch
    scores = torch.zeros(8, 100, dtype=torch.float64)
    labels = torch.arange(8) * 11
    loss = torch.nn.functional.cross_entropy(scores, labels)
    check_number(answer, "answer_initial_loss", loss.item(), rel=1e-2)


QUESTIONS = {
    "q_backward": q_backward,
    "q_chain_rule": q_chain_rule,
    "q_vanishing": q_vanishing,
    "q_kink": q_kink,
    "q_initial_loss": q_initial_loss,
}
