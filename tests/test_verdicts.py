"""autograder.judge.verdicts: a test cell's points come from the judge, and what the kernel
could have forged is called tampered."""

from __future__ import annotations

import json

import pytest

from autograder import protocol
from autograder.judge.verdicts import HiddenCheck, hidden_call, hidden_checks, judge_cell
from autograder.kernel.collect import examples

ADD = HiddenCheck("fixture_sum", "examples", "add")
SQRT = HiddenCheck("fixture_sum", "examples", "q_sqrt")


def _report(check: str, students=None, answer=None) -> dict:
    """The output a kernel emits for ``check`` run on ``students`` (or an answer)."""
    got = []
    protocol.set_sink(got.append)
    try:
        if answer is not None:
            examples.q_sqrt(answer)
        else:
            try:
                getattr(examples, check)(*students)
            except Exception:
                pass
    finally:
        protocol.set_sink(None)
    data = json.loads(json.dumps(got[0]))
    data["check"] = check
    return {"output_type": "display_data", "data": {protocol.REPORT_MIME: data}}


ERROR = {"output_type": "error", "ename": "CheckFailed", "evalue": "add: visible check failed"}


def _cell(*outputs):
    return {"outputs": list(outputs)}


def test_a_right_answer_passes_and_a_wrong_one_fails():
    assert judge_cell("t", ADD, _cell(_report("add", [lambda a, b: a + b]))).passed
    wrong = judge_cell("t", ADD, _cell(_report("add", [lambda a, b: a - b]), ERROR))
    assert not wrong.passed and wrong.tampered is None
    assert judge_cell("t", SQRT, _cell(_report("q_sqrt", answer=4.0))).passed
    assert not judge_cell("t", SQRT, _cell(_report("q_sqrt", answer=3.0))).passed


def test_a_visible_failure_is_the_message_and_not_tampering():
    verdict = judge_cell("t", ADD, _cell(ERROR))
    assert not verdict.passed and "visible check failed" in verdict.message
    assert verdict.tampered is None


@pytest.mark.parametrize(
    ("outputs", "why"),
    [
        ([], "without reporting"),
        ([_report("q_sqrt", answer=4.0)], "another check"),
        ([_report("add", [lambda a, b: a + b])] * 2, "more than once"),
        (
            [{"output_type": "display_data", "data": {protocol.REPORT_MIME: {"version": 9}}}],
            "malformed",
        ),
        # the kernel's check ran without error, yet the judge finds the outputs wrong
        ([_report("add", [lambda a, b: 0])], "passed where the judge's failed"),
    ],
    ids=["silent", "foreign", "twice", "malformed", "disagrees"],
)
def test_what_a_kernel_could_have_forged_is_tampered(outputs, why):
    verdict = judge_cell("t", ADD, _cell(*outputs))
    assert verdict.tampered and why in verdict.tampered
    if why != "more than once":
        assert not verdict.passed


def test_hidden_calls_are_read_from_the_master_only_when_the_check_exists():
    src = "x\n### BEGIN HIDDEN TESTS\nfrom autograder.kernel.collect import examples as hidden\n"
    assert hidden_call(src + "hidden.add(add)\n") == ("examples", "add")
    assert hidden_call(src + "hidden.nope(add)\n") is None
    assert hidden_call("hidden.add(add)") is None
    master = {
        "cells": [
            {
                "cell_type": "code",
                "metadata": {"nbgrader": {"grade": True, "grade_id": "t"}},
                "source": src + "hidden.add(add)\n### END HIDDEN TESTS",
            }
        ]
    }
    assert hidden_checks(master, "fixture_sum") == {"t": ADD}
