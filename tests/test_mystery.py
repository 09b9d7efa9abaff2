"""coursekit.mystery: the runs are settings only, repairs are checked, runs are reproducible."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from coursekit import mystery

pytestmark = pytest.mark.diagnosis


def test_the_module_holds_no_verdict():
    """Nothing a student reads in coursekit.mystery says which fault a run carries: the
    runs' settings name no kind, and no attribute but KINDS holds a kind's name."""
    for name in mystery.NAMES:
        config = mystery.settings(name)
        assert set(config) <= set(mystery._MODEL) | set(mystery._FIT) | {"n_train"}, config
        assert not {str(v) for v in config.values()} & set(mystery.KINDS), config
    for attribute, value in vars(mystery).items():
        if attribute == "KINDS" or callable(value) or attribute.startswith("__"):
            continue
        assert not set(mystery.KINDS) & set(map(str, _leaves(value))), attribute


def _leaves(value):
    if isinstance(value, dict):
        for k, v in value.items():
            yield k
            yield from _leaves(v)
    elif isinstance(value, list | tuple | set):
        for v in value:
            yield from _leaves(v)
    else:
        yield value


def test_settings_of_an_unknown_run_are_an_error():
    with pytest.raises(ValueError, match="name must be one of A, B"):
        mystery.settings("Z")


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ([("lr", 0.1)], "must be a dict"),
        ({"epochs": 50}, "cannot be changed"),
        ({"hidden": 512}, "cannot be changed"),
        ({"lr": 0.0}, "lr must be"),
        ({"lr": float("nan")}, "lr must be"),
        ({"init": "normal(-1)"}, "init must be"),
        ({"activation": "swish"}, "activation must be"),
        ({"optimizer": "lbfgs"}, "optimizer must be"),
        ({"batchnorm": 1}, "batchnorm must be"),
        ({"dropout": 1.0}, "dropout must be"),
        ({"clip_norm": -1}, "clip_norm must be"),
        ({"lr": 1e-4}, "changes nothing"),
        ({"lr": 0.1, "init": "he", "optimizer": "adam"}, "at most 2 settings"),
    ],
)
def test_a_bad_repair_says_what_is_wrong(changes, message):
    with pytest.raises(ValueError, match=message):
        mystery.check_changes("A", changes)


def test_a_repair_counts_only_what_it_changes():
    same_lr = mystery.settings("A")["lr"]
    assert mystery.check_changes("A", {"lr": same_lr, "init": "he", "residual": True}) == {
        "init": "he",
        "residual": True,
    }


@settings(max_examples=50, deadline=None)
@given(st.floats(allow_nan=True, allow_infinity=True))
def test_any_learning_rate_is_accepted_or_refused_with_a_reason(lr):
    valid = math.isfinite(lr) and 0 < lr <= 10 and lr != mystery.settings("A")["lr"]
    if valid:
        assert mystery.check_changes("A", {"lr": lr}) == {"lr": lr}
    else:
        with pytest.raises(ValueError):
            mystery.check_changes("A", {"lr": lr})


def test_a_run_is_recorded_and_reproducible():
    first, again = mystery.run("E"), mystery.run("E")
    assert first.history.step_loss == again.history.step_loss
    assert len(first.monitor.history.steps) == len(first.history.step_loss)
    names = [n for n, _ in first.model.named_parameters()]
    assert list(first.before) == list(first.after) == names
    moved = [not torch.equal(first.before[n], first.after[n]) for n in names]
    assert all(moved), "the first step moved nothing"
    ratios = first.monitor.history.at_step("update_ratio", 0)
    weights = [n for n in names if first.before[n].ndim == 2]
    for name, recorded in zip(weights, ratios.values(), strict=True):
        mine = (first.after[name] - first.before[name]).norm() / first.before[name].norm()
        assert math.isclose(mine.item(), recorded, rel_tol=1e-5)


def test_a_run_with_changes_uses_them():
    run = mystery.run("A", {"activation": "tanh"})
    assert run.settings["activation"] == "tanh"
    assert isinstance(run.model.blocks[0].act, torch.nn.Tanh)
    assert "MysteryRun('A', seed=0" in repr(run)


def test_repaired_gives_one_accuracy_per_seed_and_zero_when_it_diverges(capsys):
    accuracies = mystery.repaired("B", {"lr": 1.0})  # still exploding: not finite
    assert accuracies == [0.0] * len(mystery.REPAIR_SEEDS)
    assert capsys.readouterr().out == "", "fit's note on a diverged run leaked"
    accuracies = mystery.repaired("A", {"lr": 0.1})
    assert all(0.8 < a <= 1.0 for a in accuracies), accuracies  # plain SGD at 0.1: it learns


def test_not_repaired_says_why_in_the_words_of_the_check_and_the_judge():
    threshold = mystery.REPAIR_THRESHOLD
    assert mystery.not_repaired("B", {"clip_norm": 1.0}, [threshold, 0.97]) is None
    why = mystery.not_repaired("B", {"clip_norm": 1.0}, [0.112, 0.9])
    epochs = mystery.settings("B")["epochs"]
    assert why.startswith("run B with {'clip_norm': 1.0} reaches 11.2%, 90.0% validation")
    assert f"below {threshold * 100:.0f} %" in why and "(seeds 0, 1)" in why, why
    assert f"not repaired within the run's {epochs} epochs" in why, why
