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


def test_expect_raises():
    def strict(p):
        if not 0 <= p <= 1:
            raise ValueError(p)

    checks.expect_raises(ValueError, lambda: strict(2), "must raise")
    with pytest.raises(checks.CheckFailed, match="p=0.5 must raise"):
        checks.expect_raises(ValueError, lambda: strict(0.5), "p=0.5 must raise")


def test_forbid_calls_names_the_library_function_called():
    def mine(x):
        return np.sum(x)

    def lazy(x):
        from coursekit import gradcheck

        return gradcheck.rel_error(x, x)

    with checks.forbid_calls("mine", checks.expect_close):
        mine(np.ones(2))
    from coursekit import gradcheck

    with pytest.raises(checks.CheckFailed, match=r"lazy calls coursekit\.gradcheck\.rel_error"):
        with checks.forbid_calls("lazy", gradcheck.rel_error):
            lazy(np.ones(2))
    # torch's clipping is a decorated function: the wrapped code is what runs
    params = [torch.nn.Parameter(torch.ones(2))]
    params[0].grad = torch.ones(2)
    with pytest.raises(checks.CheckFailed, match="clip_grad_norm_"):
        with checks.forbid_calls("clip", torch.nn.utils.clip_grad_norm_):
            torch.nn.utils.clip_grad_norm_(params, 1.0)


def test_expect_same_distribution():
    g = np.random.default_rng(0)
    checks.expect_same_distribution(g.normal(size=5000), g.normal(size=5000), "w")
    uniform = g.uniform(-np.sqrt(3), np.sqrt(3), size=5000)  # the same variance
    with pytest.raises(checks.CheckFailed, match="not distributed like.*Hint: normal"):
        checks.expect_same_distribution(uniform, g.normal(size=5000), "w", hint="normal")


def test_case_names_the_case_of_a_crash():
    with pytest.raises(checks.CheckFailed, match=r"^in eval mode: raised TypeError"):
        with checks.case("in eval mode"):
            None * 2.0  # noqa: B018
    with pytest.raises(NotImplementedError):  # left for exercise() to explain
        with checks.case("in eval mode"):
            raise NotImplementedError()


def test_needs_prints_one_line_naming_the_unfinished_exercise(capsys):
    def clip_grad_norm(parameters, max_norm):
        raise NotImplementedError()

    def helper():
        return clip_grad_norm([], 1.0)

    with checks.needs("clip_grad_value", "clip_grad_norm"):
        helper()
        raise AssertionError("the block must stop at the NotImplementedError")
    out = capsys.readouterr()
    assert out.err == ""
    lines = out.out.splitlines()
    assert len(lines) == 1 and "needs clip_grad_norm, which is not implemented yet" in lines[0]
    # a later cell that uses the missing results says the same, in one line
    with checks.needs("clip_grad_norm"):
        print(results_of_the_cell_above)  # noqa: F821
    assert capsys.readouterr().out.count("needs clip_grad_norm") == 1


def test_needs_lets_other_errors_through_and_forgets_a_finished_exercise(capsys):
    with pytest.raises(NameError):
        with checks.needs("some_exercise_never_seen"):
            print(undefined_name)  # noqa: F821
    with pytest.raises(ZeroDivisionError):
        with checks.needs("clip_grad_norm"):
            1 / 0  # noqa: B018
    with checks.needs("dropout_forward"):
        raise NotImplementedError()
    with checks.needs("dropout_forward"):
        pass  # finished now
    with pytest.raises(NameError):
        with checks.needs("dropout_forward"):
            print(undefined_name)  # noqa: F821
    with pytest.raises(ValueError):
        with checks.needs():
            pass


def test_needs_with_value_methods_prints_the_method(capsys):
    class Value:
        def tanh(self):
            raise NotImplementedError()

    with checks.needs("Value.__mul__", "Value.tanh"):
        Value().tanh()
    assert "needs Value.tanh," in capsys.readouterr().out


def test_needs_names_the_method_whose_nested_code_raised(capsys):
    class Value:
        def __mul__(self, other):
            def _backward():
                raise NotImplementedError()

            return _backward

        def backward(self):
            (self * self)()  # runs __mul__'s _backward

    with checks.needs("Value.backward", "Value.__mul__"):
        Value().backward()
    assert "needs Value.__mul__," in capsys.readouterr().out


def test_answer_says_in_one_line_that_a_question_is_unanswered(capsys):
    with checks.answer("answer_direction"):
        raise NotImplementedError()
    out = capsys.readouterr()
    assert out.err == "" and len(out.out.splitlines()) == 1
    assert "answer_direction is not answered yet" in out.out
    with checks.answer("answer_direction"):
        answer_direction = "a"
    assert answer_direction == "a" and capsys.readouterr().out == ""
    with pytest.raises(ValueError):
        with checks.answer("answer_direction"):
            raise ValueError("a typo in the answer is the student's to see")
