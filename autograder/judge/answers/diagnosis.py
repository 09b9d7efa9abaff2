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
#: The validation accuracy a repaired run must reach with every seed of REPAIR_SEEDS
#: (both broken runs stay below 0.12; the repairs of the lesson's solution reach 0.91 or
#: more; some changes that act on the cause fall short within the budget: run D with
#: batch normalisation alone, 0.77 and 0.86).
REPAIR_THRESHOLD = 0.85

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
        if min(accuracies) < REPAIR_THRESHOLD:
            reached = ", ".join(f"{a:.1%}" for a in accuracies)
            raise CheckFailed(
                f"{name} = {answer}: run {run} repaired reaches {reached} validation accuracy "
                f"(seeds {mystery.REPAIR_SEEDS}), below {REPAIR_THRESHOLD:.0%}: not repaired "
                f"within the run's {mystery.settings(run)['epochs']} epochs (a change that only "
                "eases a symptom never gets there; one that acts on the cause may need a second "
                "setting)"
            )

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
