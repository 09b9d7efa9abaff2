"""Hidden checks of lesson 06_diagnosis.

``update_ratios`` is judged against torch's norms of the grader's own snapshots
(shapes, dtypes and sizes of change the lesson's runs do not have), and against
properties of the ratio (scale invariance, no change gives 0). The mystery runs'
names and the repairs are only reported: the keys and the retraining of a repaired
run live in ``autograder.judge.answers.diagnosis``.
"""

from __future__ import annotations

import torch

from autograder.kernel.collect.common import expect_float_per_layer, forbid_calls, rng_for
from autograder.kernel.collect.record import answered, collected
from coursekit import checks, models
from coursekit import monitor as coursekit_monitor

LESSON = "06_diagnosis"
# the monitor computes the same ratio (its update_ratio column): the student's must not call it
_LIBRARY = (
    coursekit_monitor.GradientMonitor.record,
    coursekit_monitor.History.at_step,
    coursekit_monitor.History.series,
)


def _snapshots(seed: str, shapes: dict[str, tuple], scale: float, dtype=torch.float64):
    """(before, after): {name: tensor}; ``after`` moved by about ``scale`` of each norm."""
    rng = rng_for(seed)
    before, after = {}, {}
    for name, shape in shapes.items():
        w = torch.tensor(rng.normal(size=shape), dtype=dtype)
        step = torch.tensor(rng.normal(size=shape), dtype=dtype)
        before[name] = w
        after[name] = w + scale * step * (w.norm() / step.norm())
    return before, after


def _oracle(before: dict, after: dict) -> dict[str, float]:
    """‖after - before‖_F / ‖before‖_F of every 2-D tensor, by torch, in float64."""
    return {
        name: (
            torch.linalg.matrix_norm(after[name].double() - w.double())
            / torch.linalg.matrix_norm(w.double())
        ).item()
        for name, w in before.items()
        if w.ndim == 2
    }


def _ratios(student, before: dict, after: dict, what: str) -> dict:
    expected = _oracle(before, after)  # before the call: it must not move the oracle
    copies = {n: t.clone() for n, t in before.items()}, {n: t.clone() for n, t in after.items()}
    with forbid_calls("update_ratios", *_LIBRARY):
        got = student(before, after)
    checks.expect(isinstance(got, dict), f"update_ratios must return a dict, got {type(got)}")
    for snapshot, copy, which in ((before, copies[0], "before"), (after, copies[1], "after")):
        checks.expect(
            all(torch.equal(snapshot[n], copy[n]) for n in copy),
            f"update_ratios changed the snapshot `{which}` in place ({what}): compute "
            "after[name] - before[name] into a new tensor",
        )
    checks.expect(
        list(got) == list(expected),
        f"update_ratios({what}): keys {list(got)}, expected {list(expected)} "
        "(the 2-D weights only, in the order of `before`: biases (1-D) are left out)",
    )
    expect_float_per_layer(
        "update_ratios",
        got,
        expected,
        lambda name: f"the update ratio of {name} ({what})",
        rtol=1e-6,
        atol=1e-12,
        hint="the norm of the change, ‖after - before‖, divided by the norm of the weights "
        "BEFORE the step, ‖before‖",
    )
    return got


@collected
def update_ratios(student) -> None:
    with checks.exercise("update_ratios"):
        shapes = {"fc1.weight": (7, 5), "fc1.bias": (7,), "out.weight": (3, 7), "out.bias": (3,)}
        for scale in (1e-4, 0.3, 2.5):  # a large change tells ‖before‖ from ‖after‖
            before, after = _snapshots(f"ratios{scale}", shapes, scale)
            got = _ratios(student, before, after, f"a step of {scale:g} of each norm")
            # the ratio is a property of the step, not of the units of the weights
            scaled = _ratios(
                student,
                {n: 1e3 * t for n, t in before.items()},
                {n: 1e3 * t for n, t in after.items()},
                "the same step, weights 1000 times larger",
            )
            checks.expect(
                all(abs(scaled[n] - got[n]) <= 1e-6 * abs(got[n]) + 1e-12 for n in got),
                "multiplying both snapshots by 1000 changed the ratios: the ratio must be "
                "relative to the weights' norm",
            )
        # float32 snapshots, only weights, one layer that did not move at all
        before, after = _snapshots("ratios32", {"a": (40, 64), "b": (10, 40)}, 0.01, torch.float32)
        after["b"] = before["b"].clone()
        got = _ratios(student, before, after, "float32 snapshots, layer b unchanged")
        checks.expect(got["b"] == 0.0, f"a layer that did not move has ratio 0, got {got['b']}")
        # a model's named_parameters() in the order it registers them
        model = models.mlp(6, 4, 2, 3, activation="tanh", seed=5)  # seeded: the judge's is the same
        before = {n: p.detach().clone() for n, p in model.named_parameters()}
        after = {n: t - 0.05 * torch.ones_like(t) for n, t in before.items()}
        _ratios(student, before, after, "the snapshots of an MLP's named_parameters()")


# The mystery runs' names, the repairs and the questions: the kernel reports the answer;
# the judge knows the keys and retrains the repaired runs.
q_run_a = answered("q_run_a")
q_run_b = answered("q_run_b")
q_run_c = answered("q_run_c")
q_run_d = answered("q_run_d")
q_run_e = answered("q_run_e")
q_run_f = answered("q_run_f")
repair_b = answered("repair_b")
repair_d = answered("repair_d")
q_which_plot = answered("q_which_plot")
q_ratio = answered("q_ratio")
