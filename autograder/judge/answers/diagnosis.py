"""Answer keys of 06_diagnosis: judge side only, never in a kernel.

The mystery runs' faults are stored as digests; a repair is judged by training the
repaired run again here (``coursekit.mystery.repaired``, a second or two) and
comparing its validation accuracy with a threshold the broken run cannot reach.
"""

from __future__ import annotations

from autograder.judge.answers.keys import check_choice, check_number, digest
from coursekit import mystery
from coursekit.checks import CheckFailed

LESSON = "06_diagnosis"

# digest("06_diagnosis", "q_run_<x>", <the fault>) for each mystery run
_RUNS = {
    "q_run_a": "c5a9053618e30ecf",
    "q_run_b": "47b15a4754a2ee95",
    "q_run_c": "e90779b6c3ae59b4",
    "q_run_d": "ecc79b1857fcbf9e",
    "q_run_e": "529cb5ff8c707cfa",
    "q_run_f": "6493fd447d73a241",
}
_Q_WHICH_PLOT = "01d247f67237245b"  # digest("06_diagnosis", "q_which_plot", <the answer>)


def _run_judge(question: str):
    run = question.removeprefix("q_run_")
    name = f"answer_run_{run}"

    def judge(answer) -> None:
        if not isinstance(answer, str) or answer.strip() not in mystery.KINDS:
            raise CheckFailed(
                f"{name} must be one of the kinds {', '.join(mystery.KINDS)}, got {answer!r}"
            )
        if digest(LESSON, question, answer.strip()) != _RUNS[question]:
            raise CheckFailed(
                f"{name} = {answer.strip()!r} is not what is wrong with run {run.upper()}: "
                "look again at its gradient norms, update ratios, dead units and curves"
            )

    judge.__name__ = question
    return judge


def _repair_judge(run: str):
    name = f"repair_{run.lower()}"

    def judge(answer) -> None:
        try:
            accuracies = mystery.repaired(run, answer)
        except (ValueError, TypeError) as exc:  # a repair is data from an untrusted kernel
            raise CheckFailed(f"{name}: {exc}") from None
        problem = mystery.not_repaired(run, answer, accuracies)
        if problem is not None:
            raise CheckFailed(f"{name}: {problem}")

    judge.__name__ = name
    return judge


def q_which_plot(answer) -> None:
    check_choice(answer, "answer_which_plot", LESSON, "q_which_plot", _Q_WHICH_PLOT, "abcd")


def q_ratio(answer) -> None:
    # a step that moves a weight matrix of norm 4 by a change of norm 0.002
    check_number(answer, "answer_ratio", 0.002 / 4.0, rel=1e-3)


QUESTIONS = {
    **{question: _run_judge(question) for question in _RUNS},
    "repair_b": _repair_judge("B"),
    "repair_d": _repair_judge("D"),
    "q_which_plot": q_which_plot,
    "q_ratio": q_ratio,
}
