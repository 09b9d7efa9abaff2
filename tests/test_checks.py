"""coursekit.checks: messages that say what is wrong, and silence on success."""

import warnings

import numpy as np
import pytest
import torch

from coursekit import checks


def test_expect_close_passes_silently(capfd):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        checks.expect_close(np.ones(3), np.ones(3), "out")
        checks.expect_close(torch.ones(2), [1.0, 1.0], "out")
        checks.expect_close(2.0, 2.0, "loss")
    captured = capfd.readouterr()
    assert captured.err == ""


def test_expect_close_names_worst_entry_and_values():
    expected = np.zeros((2, 3))
    got = expected.copy()
    got[1, 2] = 0.5
    with pytest.raises(checks.CheckFailed) as info:
        checks.expect_close(got, expected, "dx", hint="check the sign")
    msg = str(info.value)
    assert "dx is off at index (1, 2)" in msg
    assert "expected 0, got 0.5" in msg and "Hint: check the sign" in msg


def test_expect_close_spots_a_sign_error():
    with pytest.raises(checks.CheckFailed, match="wrong sign"):
        checks.expect_close(-np.arange(1.0, 4.0), np.arange(1.0, 4.0), "dw")


def test_expect_close_spots_a_missing_division_by_size():
    with pytest.raises(checks.CheckFailed, match="divided by its size"):
        checks.expect_close(np.full(4, 0.25), np.ones(4), "db")


def test_expect_close_reports_shape_with_transpose_hint():
    with pytest.raises(checks.CheckFailed, match=r"shape \(3, 2\), expected \(2, 3\).*transpose"):
        checks.expect_close(np.ones((3, 2)), np.ones((2, 3)), "dw")


def test_expect_close_none_means_missing_return():
    with pytest.raises(checks.CheckFailed, match="forget to `return`"):
        checks.expect_close(None, 1.0, "out")


def test_expect_finite():
    with pytest.raises(checks.CheckFailed, match=r"1 non-finite value.*index \(1,\)"):
        checks.expect_finite(np.array([1.0, np.nan]), "loss")
    checks.expect_finite(np.ones(2), "loss")


def test_expect_shape_ok_and_rank_hint():
    checks.expect_shape(np.ones((2, 3)), (2, 3), "out")
    with pytest.raises(checks.CheckFailed, match="wrong axis"):
        checks.expect_shape(np.ones(3), (1, 3), "db")


def test_exercise_turns_not_implemented_into_a_message():
    def linear_forward(x):
        raise NotImplementedError()

    with pytest.raises(checks.NotImplementedYet) as info:
        with checks.exercise("linear_forward"):
            linear_forward(1)
    assert str(info.value).startswith("linear_forward is not implemented yet: replace")
    assert isinstance(info.value, AssertionError)


def test_exercise_prefixes_failures_with_the_name():
    with pytest.raises(checks.CheckFailed, match=r"^relu_backward: dx is off"):
        with checks.exercise("relu_backward"):
            checks.expect_close(np.ones(2), np.zeros(2), "dx")


def test_ipython_shows_the_message_without_traceback():
    err = checks.CheckFailed("out is off")
    (line,) = err._render_traceback_()
    assert "out is off" in line and "Traceback" not in line


def test_exercise_silences_warnings_of_the_students_code(capfd):
    with checks.exercise("sigmoid_forward"):
        out = 1 / (1 + np.exp(np.array([1000.0])))  # overflow warning in a correct solution
        warnings.warn("a student's deprecation warning", DeprecationWarning, stacklevel=1)
    assert out[0] == 0.0
    assert capfd.readouterr().err == ""


def test_unanswered_questions_say_so():
    with pytest.raises(checks.NotImplementedYet, match="answer_q is not answered yet"):
        checks.expect_choice(None, "answer_q")
    with pytest.raises(checks.CheckFailed, match="one letter among 'a', 'b'"):
        checks.expect_choice("z", "answer_q", "ab")
    with pytest.raises(checks.CheckFailed, match="must be a number"):
        checks.expect_number("12", "answer_n")
    checks.expect_choice(" B ", "answer_q")
    checks.expect_number(np.float64(1.5), "answer_n")


def test_exercise_reports_a_crash_with_its_line():
    def linear_backward(dout, cache):
        x, w = cache
        return dout.T @ x  # wrong shapes

    with pytest.raises(checks.CheckFailed) as info:
        with checks.exercise("linear_backward"):
            linear_backward(np.ones((2, 3)), (np.ones((4, 5)), None))
    msg = str(info.value)
    assert msg.startswith("linear_backward raised ValueError:")
    assert "in linear_backward: return dout.T @ x" in msg
