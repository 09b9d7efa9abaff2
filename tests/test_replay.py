"""autograder.kernel.collect.record and autograder.judge.replay: a check run in the kernel and
replayed by the judge reaches the same verdict; a doctored log cannot make it pass."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from autograder import protocol
from autograder.judge.replay import DESYNC, replay_check
from autograder.kernel.collect import common, record
from coursekit import checks
from coursekit.checks import CheckFailed


def _kernel_then_judge(check, *students):
    """Run ``check`` as the kernel would (recorded), then replay the report as the judge."""
    reports = []
    protocol.set_sink(reports.append)
    kernel_error = None
    try:
        record.collected(check)(*students)
    except Exception as exc:  # the kernel's own verdict
        kernel_error = exc
    finally:
        protocol.set_sink(None)
    (report,) = reports
    _, payload = protocol.read_report(json.loads(json.dumps(report)))
    judge_error = None
    try:
        replay_check(check, payload, len(students))
    except CheckFailed as exc:
        judge_error = exc
    return kernel_error, judge_error, payload


def _in_place_check(student):
    with checks.exercise("scale"):
        x = np.arange(4.0)
        params = [torch.nn.Parameter(torch.ones(3)) for _ in range(2)]
        for p in params:
            p.grad = torch.full((3,), 2.0)
        grads = [p.grad for p in params]
        rng = np.random.default_rng(0)
        out = student(x, (p for p in params), rng)
        checks.expect_close(out, 6.0, "the returned sum")
        checks.expect_close(x, [0.0, 2.0, 4.0, 6.0], "x doubled in place")
        for p, g in zip(params, grads, strict=True):
            checks.expect(p.grad is g, "grads must be changed in place")
            checks.expect_close(p.grad, torch.ones(3), "grads halved")
        checks.expect(rng.random() != np.random.default_rng(0).random(), "rng must be used")


def _good(x, params, rng):
    x *= 2
    for p in params:
        p.grad.mul_(0.5)
    rng.random()
    return float(x.sum() / 2)


def _replaces_grad(x, params, rng):
    x *= 2
    for p in params:
        p.grad = p.grad * 0.5  # a new tensor: not in place
    rng.random()
    return float(x.sum() / 2)


def _forgets_x(x, params, rng):
    for p in params:
        p.grad.mul_(0.5)
    rng.random()
    return 6.0


def test_an_honest_run_passes_on_both_sides():
    kernel, judge, _ = _kernel_then_judge(_in_place_check, _good)
    assert kernel is None and judge is None


@pytest.mark.parametrize(
    ("student", "message"),
    [(_replaces_grad, "in place"), (_forgets_x, "x doubled")],
)
def test_in_place_effects_reach_the_judge(student, message):
    kernel, judge, _ = _kernel_then_judge(_in_place_check, student)
    assert kernel is not None and judge is not None
    assert message in str(judge) and str(kernel) == str(judge)


def test_exceptions_are_replayed_as_their_builtin_class():
    class Bad(ValueError):
        pass

    def raises(p):
        raise Bad("p out of range")

    def check(student):
        with checks.exercise("raises"):
            try:
                student(2.0)
            except ValueError:
                return
            checks.fail("must raise a ValueError")

    kernel, judge, _ = _kernel_then_judge(check, raises)
    assert kernel is None and judge is None


def test_forbidden_calls_are_seen_by_the_judge():
    def check(student):
        with checks.exercise("norm"), common.forbid_calls("norm", np.linalg.norm):
            student(np.ones(3))

    kernel, judge, payload = _kernel_then_judge(check, lambda v: float(np.linalg.norm(v)))
    assert "calls numpy.linalg" in str(kernel) and "calls numpy.linalg" in str(judge)
    assert payload["log"][-1]["forbidden"]


def test_global_random_state_use_is_replayed():
    def check(student):
        with checks.exercise("draw"):
            before = np.random.get_state()[2]  # noqa: NPY002
            student()
            checks.expect(
                before == np.random.get_state()[2],  # noqa: NPY002
                "used the global random state",
            )

    kernel, judge, _ = _kernel_then_judge(check, lambda: np.random.random())  # noqa: NPY002
    assert "global random state" in str(judge) and kernel is not None


@pytest.mark.parametrize(
    "doctor",
    [
        lambda log: log[:0],  # the calls left out
        lambda log: [{**log[0], "call": 5}],  # another student function
        lambda log: [{**log[0], "after": []}],  # effects dropped
        lambda log: [{**log[0], "after": [{"kind": "array", "value": np.zeros(9)}] * 3}],
        lambda log: ["not an entry"],
        lambda log: [{"forbidden": "nope"}],
    ],
)
def test_a_doctored_log_never_passes(doctor):
    _, _, payload = _kernel_then_judge(_in_place_check, _good)
    log = protocol.decode(json.loads(json.dumps(protocol.encode(payload["log"]))))
    with pytest.raises(CheckFailed) as failed:
        replay_check(_in_place_check, {"log": doctor(log)}, 1)
    assert (
        DESYNC in str(failed.value)
        or "no further result" in str(failed.value)
        or ("in place" in str(failed.value) or "doubled" in str(failed.value))
    )


def test_a_forged_log_with_the_right_outputs_earns_what_they_earn():
    # the trust model: a kernel that reports correct outputs for the grader's inputs passes,
    # whoever computed them; the judge's oracle is never the kernel's
    _, _, payload = _kernel_then_judge(_in_place_check, _good)
    replay_check(_in_place_check, payload, 1)
