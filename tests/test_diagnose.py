"""coursekit.diagnose: each rule on crafted histories, the order of findings, the window,
the report, the figure; and a few runs of the fault suite named right."""

from __future__ import annotations

import contextlib
import io
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from matplotlib.figure import Figure

import coursekit
from coursekit import faults, plots
from coursekit.diagnosis import KINDS, Diagnosis, Finding, diagnose
from coursekit.monitor import History
from coursekit.train import TrainHistory

pytestmark = pytest.mark.diagnosis

LAYERS = 5
STEPS = 120


def craft(
    steps: int = STEPS,
    grad=lambda s, i: 1.0,
    update=lambda s, i: 1e-3,
    dead=lambda s, i: 0.05,
    saturated=lambda s, i: math.nan,
) -> History:
    """A History of ``LAYERS`` layers (the last one the output layer, no activation)."""
    rows = []
    for s in range(steps):
        for i in range(LAYERS):
            out = i == LAYERS - 1
            rows.append(
                {
                    "step": s,
                    "layer": f"layer{i}",
                    "index": i,
                    "grad_norm": grad(s, i),
                    "act_mean": math.nan if out else 0.3,
                    "act_std": math.nan if out else 0.5,
                    "saturated": math.nan if out else saturated(s, i),
                    "dead": math.nan if out else dead(s, i),
                    "update_ratio": update(s, i),
                }
            )
    return History(rows)


def fit_history(step_loss, per_epoch: int = 10, val_loss=None) -> TrainHistory:
    """A TrainHistory with ``step_loss``; per-epoch means, and ``val_loss`` if given."""
    h = TrainHistory(step_loss=list(step_loss))
    epochs = len(step_loss) // per_epoch
    h.train_loss = [
        float(np.mean(step_loss[e * per_epoch : (e + 1) * per_epoch])) for e in range(epochs)
    ]
    h.val_loss = list(val_loss[:epochs]) if val_loss is not None else list(h.train_loss)
    h.train_acc = [0.5] * epochs
    h.val_acc = [0.5] * epochs
    return h


def falling_loss(n: int = STEPS + 1) -> list[float]:
    return [2.3 * math.exp(-s / 60) + 0.1 for s in range(n)]


def test_healthy_history_is_healthy():
    d = diagnose(craft(), fit_history(falling_loss()))
    assert d.top == "healthy" and d.findings == [] and d.healthy
    assert "healthy" in repr(d) and "healthy" in d._repr_html_()


@settings(max_examples=30, deadline=None)
@given(
    grad=st.floats(0.1, 10),
    update=st.floats(2e-4, 8e-3),
    dead=st.floats(0, 0.3),
    seed=st.integers(0, 1000),
)
def test_any_healthy_range_is_healthy(grad, update, dead, seed):
    rng = np.random.default_rng(seed)
    noise = rng.uniform(0.7, 1.3, (STEPS, LAYERS))
    d = diagnose(
        craft(
            grad=lambda s, i: grad * noise[s, i],
            update=lambda s, i: update * noise[s, i],
            dead=lambda s, i: dead,
        )
    )
    assert d.top == "healthy", repr(d)


@settings(max_examples=20, deadline=None)
@given(decay=st.floats(1e-3, 0.15), scale=st.floats(1e-4, 1e2))
def test_vanishing_whatever_the_scale(decay, scale):
    """Gradients shrinking by ``decay`` per layer towards the input: found, from step 0."""
    d = diagnose(craft(grad=lambda s, i: scale * decay ** (LAYERS - 1 - i)))
    assert d.top == "vanishing", repr(d)
    f = d["vanishing"]
    assert f.step == 0 and f.layers[0] == "layer0" and "layer4" not in f.layers
    assert f.numbers["first_last_ratio"] == pytest.approx(decay ** (LAYERS - 1), rel=1e-6)
    assert "first/last" in f.evidence and f.lesson == "02_vanishing_gradients"


def test_exploding_names_the_norm_and_the_nonfinite_loss():
    grad = lambda s, i: 1.0 if s < 50 else 1.0 * 10 ** (s - 49)  # noqa: E731
    loss = falling_loss(56) + [math.nan]
    d = diagnose(craft(steps=56, grad=grad), fit_history(loss))
    assert d.top == "exploding", repr(d)
    f = d["exploding"]
    assert f.step in (52, 53) and "nan" in f.evidence and "step 56" in f.evidence
    assert f.numbers["max_grad_norm"] == pytest.approx(1e6)
    assert "clip" in f.fix and f.lesson == "03_exploding_gradients"


def test_dead_relu_names_the_layer_and_when():
    dead = lambda s, i: 0.6 if (i == 2 and s >= 30) else 0.05  # noqa: E731
    d = diagnose(craft(dead=dead))
    assert d.top == "dead_relu", repr(d)
    f = d["dead_relu"]
    assert f.layers == ("layer2",) and f.step == 30 and "60%" in f.evidence
    # the share is the end's, the step the first above the limit: the evidence says which
    assert "over the last third of the run (above 40% from step 30)" in f.evidence, f.evidence
    # where the figures put it: their layers count from 1 at the input
    assert f"layer2's units dead (layer 3 of {LAYERS} from the input)" in f.evidence, f.evidence


def test_saturation():
    d = diagnose(craft(dead=lambda s, i: math.nan, saturated=lambda s, i: 0.9 if i < 2 else 0.2))
    assert d.top == "saturation", repr(d)
    assert d["saturation"].layers == ("layer0", "layer1")


def test_learning_rate_too_high_and_too_low():
    assert diagnose(craft(update=lambda s, i: 0.05)).top == "lr_too_high"
    low = diagnose(craft(update=lambda s, i: 1e-6))
    assert low.top == "lr_too_low" and "at most 1e-06" in low["lr_too_low"].evidence
    still = diagnose(craft(update=lambda s, i: 0.0))
    assert still.top == "lr_too_low" and "is 0: no weight moves" in still["lr_too_low"].evidence
    assert low["lr_too_low"].step == 0  # too small from the first step


def test_steps_that_stop_late_are_dated_when_they_stop():
    """Healthy steps, then none (dead units pass no gradient): too low only from then on."""
    stops = diagnose(craft(update=lambda s, i: 1e-3 if s < 12 else 0.0))
    f = stops["lr_too_low"]
    assert f.step == 12, repr(stops)


def test_overfitting_needs_validation_and_names_the_epoch():
    val = [2.0, 1.5, 1.2, 1.1, 1.15, 1.3, 1.5, 1.7, 1.9, 2.1, 2.3, 2.5]
    d = diagnose(craft(), fit_history(falling_loss(), val_loss=val))
    assert d.top == "overfitting", repr(d)
    f = d["overfitting"]
    assert f.epoch == 4 and f.step is None and "epoch 4" in f.evidence
    assert diagnose(craft()).top == "healthy"  # no history, no verdict on overfitting


def test_a_cause_goes_before_its_symptoms():
    """Units dead from the start and the vanishing gradients they cause: dead first."""
    d = diagnose(craft(dead=lambda s, i: 0.9, grad=lambda s, i: 1e-6 if i < LAYERS - 1 else 1.0))
    assert d.kinds[:2] == ["dead_relu", "vanishing"]
    # units that die only after training started, under a learning rate too high
    d = diagnose(craft(dead=lambda s, i: 0.9 if s > 10 else 0.0, update=lambda s, i: 0.05))
    assert d.kinds == ["lr_too_high", "dead_relu"]


def test_steps_limits_the_window():
    dead = lambda s, i: 0.8 if s >= 105 else 0.0  # noqa: E731
    assert diagnose(craft(steps=150, dead=dead)).top == "dead_relu"
    d = diagnose(craft(steps=150, dead=dead), steps=100)
    assert d.top == "healthy" and d.steps == 100


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="GradientMonitor"):
        diagnose([1, 2, 3])
    with pytest.raises(ValueError, match="recorded nothing"):
        diagnose(History())
    with pytest.raises(ValueError, match="steps"):
        diagnose(craft(), steps=0)
    with pytest.raises(ValueError, match="kind"):
        Finding("sad", (), None, None, "")


def test_report_names_kind_layers_evidence_fix_lesson():
    d = diagnose(craft(grad=lambda s, i: 1e-3 ** (LAYERS - 1 - i)))
    text = repr(d)
    for part in ("vanishing", "layer0", "from step 0", "evidence:", "try:", "lesson 02"):
        assert part in text, text
    assert "<table>" in d._repr_html_() and isinstance(d, Diagnosis)
    assert list(d) == d.findings and len(d) == 1 and "vanishing" in d
    with pytest.raises(KeyError):
        d["exploding"]


def test_plot_from_a_diagnosis_or_a_monitor():
    history = craft(grad=lambda s, i: 1e-3 ** (LAYERS - 1 - i))
    fig = plots.diagnosis(diagnose(history, fit_history(falling_loss())))
    assert isinstance(fig, Figure) and len(fig.axes) == 4
    assert "vanishing" in fig._suptitle.get_text()
    assert isinstance(plots.diagnosis(history), Figure)


def test_exported_from_coursekit():
    assert coursekit.diagnose is diagnose and coursekit.Diagnosis is Diagnosis
    assert set(KINDS) == {
        "vanishing",
        "exploding",
        "dead_relu",
        "saturation",
        "lr_too_high",
        "lr_too_low",
        "overfitting",
    }


@pytest.mark.parametrize("kind", faults.SUITE_KINDS)
def test_suite_runs_are_named_right(kind):
    """One held-out run of each kind of the fault suite (bench/diagnose.py runs them all)."""
    case = faults.cases([11], (kind,))[0]
    with contextlib.redirect_stdout(io.StringIO()):
        monitor, history = faults.run(case)
    d = diagnose(monitor, history, steps=100)
    assert d.top == kind, repr(d)


def test_a_layer_without_gradient_is_not_an_explosion():
    """The monitor records NaN for a layer that got no gradient (frozen, unused)."""
    assert diagnose(craft(grad=lambda s, i: math.nan if i == 0 else 1.0)).top == "healthy"
    d = diagnose(craft(steps=30, grad=lambda s, i: math.inf if s > 20 else 1.0))
    assert d.top == "exploding" and d["exploding"].step == 21
    assert "not finite at step 21" in d["exploding"].evidence
