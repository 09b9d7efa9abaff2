"""Answer keys of fixture_sum: judge side only, never in a kernel."""

from __future__ import annotations

from autograder.judge.answers.keys import check_number

LESSON = "fixture_sum"


def q_sqrt(answer) -> None:
    check_number(answer, "answer_sqrt", 16**0.5, rel=1e-9)


QUESTIONS = {
    "q_sqrt": q_sqrt,
}
