"""Lesson 06_diagnosis: the master earns every point; plausible mistakes lose them."""

import pytest

from coursekit import mystery
from coursekit.checks import CheckFailed
from tests.lesson_harness import LessonCells, standard_tests

pytestmark = pytest.mark.diagnosis
LESSON = LessonCells("06_diagnosis")
RATIO = "ratios[name] = (change / torch.linalg.matrix_norm(w)).item()"
CHANGE = "change = torch.linalg.matrix_norm(after[name] - w)"
SKIP_BIASES = "        if w.ndim != 2:\n            continue\n"

# (test cell, what the mistake is, [(solution cell, correct text, wrong text), ...])
WRONG = [
    (
        "test_update_ratios",
        "divides by the norm after the step",
        [
            (
                "update_ratios",
                RATIO,
                "ratios[name] = (change / torch.linalg.matrix_norm(after[name])).item()",
            )
        ],
    ),
    (
        "test_update_ratios",
        "the change of the norm instead of the norm of the change",
        [
            (
                "update_ratios",
                CHANGE,
                "change = torch.linalg.matrix_norm(after[name]) - torch.linalg.matrix_norm(w)",
            )
        ],
    ),
    (
        "test_update_ratios",
        "keeps the biases",
        [
            ("update_ratios", SKIP_BIASES, ""),
            ("update_ratios", CHANGE, "change = (after[name] - w).norm()"),
            ("update_ratios", RATIO, "ratios[name] = (change / w.norm()).item()"),
        ],
    ),
    (
        "test_update_ratios",
        "returns tensors",
        [("update_ratios", RATIO, "ratios[name] = change / torch.linalg.matrix_norm(w)")],
    ),
    (
        "test_update_ratios",
        "changes the snapshot in place",
        [("update_ratios", CHANGE, "change = torch.linalg.matrix_norm(after[name].sub_(w))")],
    ),
    (
        "test_update_ratios",
        "the root mean square of the change instead of its norm",
        [("update_ratios", CHANGE, "change = (after[name] - w).pow(2).mean().sqrt()")],
    ),
    (
        "test_repair_b",
        "clipping alone",
        [("repair_b", 'repair_b = {"init": "he"}', 'repair_b = {"clip_norm": 1.0}')],
    ),
    (
        "test_repair_b",
        "a lower learning rate alone",
        [("repair_b", 'repair_b = {"init": "he"}', 'repair_b = {"lr": 1e-3}')],
    ),
    (
        "test_repair_b",
        "changes three settings",
        [
            (
                "repair_b",
                'repair_b = {"init": "he"}',
                'repair_b = {"init": "he", "lr": 0.05, "clip_norm": 1.0}',
            )
        ],
    ),
    (
        "test_repair_b",
        "changes the budget",
        [("repair_b", 'repair_b = {"init": "he"}', 'repair_b = {"init": "he", "epochs": 20}')],
    ),
    (
        "test_repair_d",
        "ReLU alone",
        [("repair_d", 'repair_d = {"residual": True}', 'repair_d = {"activation": "relu"}')],
    ),
    (
        "test_repair_d",
        "Xavier alone",
        [("repair_d", 'repair_d = {"residual": True}', 'repair_d = {"init": "xavier"}')],
    ),
    (
        "test_repair_d",
        "Adam alone",
        [("repair_d", 'repair_d = {"residual": True}', 'repair_d = {"optimizer": "adam"}')],
    ),
    (
        "test_repair_d",
        "an unknown kind of setting",
        [("repair_d", 'repair_d = {"residual": True}', 'repair_d = {"skip": True}')],
    ),
    (
        "test_answer_which_plot",
        "the accuracy",
        [("answer_which_plot", 'answer_which_plot = "b"', 'answer_which_plot = "a"')],
    ),
    (
        "test_answer_which_plot",
        "the first loss",
        [("answer_which_plot", 'answer_which_plot = "b"', 'answer_which_plot = "c"')],
    ),
    (
        "test_answer_ratio",
        "inverted",
        [("answer_ratio", "answer_ratio = 0.002 / 4.0", "answer_ratio = 4.0 / 0.002")],
    ),
    (
        "test_answer_ratio",
        "the change alone",
        [("answer_ratio", "answer_ratio = 0.002 / 4.0", "answer_ratio = 0.002")],
    ),
]
# Each run named wrongly twice: a neighbouring fault, and "healthy" (or a fault, for the
# healthy run). Keys: run -> (the key, two wrong names).
RUNS = {
    "a": ("lr_too_low", ("vanishing", "healthy")),
    "b": ("exploding", ("lr_too_high", "dead_relu")),
    "c": ("overfitting", ("healthy", "lr_too_high")),
    "d": ("vanishing", ("lr_too_low", "saturation")),
    "e": ("healthy", ("overfitting", "lr_too_high")),
    "f": ("dead_relu", ("lr_too_high", "vanishing")),
}
for run, (key, wrong_names) in RUNS.items():
    var = f"answer_run_{run}"
    for wrong_name in wrong_names:
        WRONG.append(
            (
                f"test_{var}",
                f"run {run}: {wrong_name}",
                [(var, f'{var} = "{key}"', f'{var} = "{wrong_name}"')],
            )
        )

FIXED_NAMES = ["def update_ratios(before, after)"]
# What the visible checks say to each mistake above (a part of the message that names it)
VISIBLE_MESSAGES = {
    "divides by the norm after the step": "BEFORE the step",
    "the change of the norm instead of the norm of the change": "the norm of the change",
    "keeps the biases": "biases (1-D) are left out",
    "returns tensors": "not a Python float",
    "changes the snapshot in place": "changed the snapshot `after` in place",
    "the root mean square of the change instead of its norm": "‖after - before‖",
    "clipping alone": "below 85 %",
    "a lower learning rate alone": "below 85 %",
    "changes three settings": "changes at most 2 settings",
    "changes the budget": "cannot be changed",
    "ReLU alone": "below 85 %",
    "Xavier alone": "below 85 %",
    "Adam alone": "below 85 %",
    "an unknown kind of setting": "cannot be changed",
}

globals().update(standard_tests(LESSON, WRONG, FIXED_NAMES, VISIBLE_MESSAGES))


@pytest.mark.parametrize("name", ["healthy ", "Exploding", "nan", 3])
def test_a_name_that_is_no_kind_is_told_apart(name):
    """An answer outside the fixed kinds fails its visible check with the list of kinds,
    and the judge says the same (a stray space is forgiven by both)."""
    source = repr(name)
    outcome = LESSON.run(
        "test_answer_run_e",
        [("answer_run_e", 'answer_run_e = "healthy"', f"answer_run_e = {source}")],
    )
    if name == "healthy ":
        assert not outcome.passed  # the visible check asks for the exact name
        assert "must be one of" in outcome.message
        return
    assert not outcome.passed
    assert "must be one of exploding, dead_relu" in outcome.message, outcome.message


def test_the_unanswered_runs_say_not_implemented():
    outcome = LESSON.run(
        "test_answer_run_a",
        [("answer_run_a", 'answer_run_a = "lr_too_low"', "raise NotImplementedError()")],
    )
    assert not outcome.passed
    assert "not implemented yet" in outcome.message


@pytest.mark.parametrize(
    ("run", "repair"),
    [
        ("B", {"init": "xavier"}),
        ("B", {"init": "he", "clip_norm": 1.0}),
        ("D", {"activation": "tanh", "init": "xavier"}),
    ],
)
def test_other_repairs_the_lesson_allows_pass(run, repair):
    """More than one repair removes a cause: each of these passes too."""
    var = f"repair_{run.lower()}"
    fix = {"B": '{"init": "he"}', "D": '{"residual": True}'}[run]
    outcome = LESSON.run(f"test_{var}", [(var, f"{var} = {fix}", f"{var} = {repair!r}")])
    assert outcome.passed, outcome.message


@pytest.mark.parametrize(
    "payload",
    [
        None,
        "init he",
        ["init", "he"],
        {},
        {"init": "he", "lr": "0.1"},
        {"init": "normal(1e308)"},
        {"lr": float("inf")},
        {"activation": ["relu"]},
        {f"knob{i}": i for i in range(1000)},
    ],
)
def test_the_judge_refuses_any_other_repair_with_a_reason(payload):
    """A repair is data from an untrusted kernel: whatever it is, the judge answers with a
    CheckFailed naming the problem (or trains the run and measures it), never a crash."""
    from autograder.judge.answers import QUESTIONS
    from coursekit.checks import CheckFailed

    with pytest.raises(CheckFailed, match="repair_b"):
        QUESTIONS["06_diagnosis"]["repair_b"](payload)


def test_the_judge_names_an_unknown_kind():
    from autograder.judge.answers import QUESTIONS
    from coursekit.checks import CheckFailed

    with pytest.raises(CheckFailed, match="must be one of the kinds exploding, dead_relu"):
        QUESTIONS["06_diagnosis"]["q_run_a"]("slow")
    with pytest.raises(CheckFailed, match="is not what is wrong with run A"):
        QUESTIONS["06_diagnosis"]["q_run_a"]("vanishing")
    QUESTIONS["06_diagnosis"]["q_run_a"](" lr_too_low ")  # spaces forgiven by the judge


def test_the_judge_fails_a_repair_with_the_visible_checks_message():
    """One message for a repair that falls short, from ``mystery.not_repaired``: what the
    visible check prints is what the grader's feedback says."""
    from autograder.judge.answers import QUESTIONS

    with pytest.raises(CheckFailed) as failed:
        QUESTIONS["06_diagnosis"]["repair_b"]({"clip_norm": 1.0})  # eases the symptom only
    accuracies = mystery.repaired("B", {"clip_norm": 1.0})
    assert (
        str(failed.value)
        == f"repair_b: {mystery.not_repaired('B', {'clip_norm': 1.0}, accuracies)}"
    )
