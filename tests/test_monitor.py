"""coursekit.monitor: one row per layer per step, the right numbers, nothing left behind."""

import copy
import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from coursekit import models
from coursekit.monitor import GradientMonitor


def _attached(model):
    """Hooks and output taps (a wrapped forward on the instance) on ``model``'s modules."""
    return sum(
        len(m._forward_hooks) + len(m._backward_hooks) + ("forward" in m.__dict__)
        for m in model.modules()
    )


def _step(model, opt, x, y, mon):
    opt.zero_grad()
    nn.functional.cross_entropy(model(x), y).backward()
    mon.record()
    opt.step()


@given(
    depth=st.integers(1, 5),
    steps=st.integers(1, 4),
    activation=st.sampled_from(["relu", "sigmoid", "tanh", "leaky_relu"]),
)
@settings(max_examples=20, deadline=None)
def test_one_row_per_layer_per_step_and_no_hook_left(depth, steps, activation):
    model = models.mlp(4, 8, depth, 3, activation=activation)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    x, y = torch.randn(10, 4), torch.randint(0, 3, (10,))
    with GradientMonitor(model) as mon:
        assert _attached(model) == depth
        for _ in range(steps):
            _step(model, opt, x, y, mon)
    assert _attached(model) == 0
    assert len(mon.history) == (depth + 1) * steps
    assert mon.history.steps == list(range(steps))
    assert mon.history.layers == [f"blocks.{i}.linear" for i in range(depth)] + ["head"]


def test_hooks_removed_on_exception():
    model = models.mlp(4, 8, 2, 3)
    with pytest.raises(RuntimeError), GradientMonitor(model):
        raise RuntimeError("boom")
    assert _attached(model) == 0


def test_taps_see_what_a_forward_hook_sees_and_change_nothing():
    model = models.mlp(4, 8, 3, 3, activation="tanh")
    x = torch.randn(10, 4)
    hooked = {}
    handles = [
        block.act.register_forward_hook(lambda m, i, o, k=k: hooked.__setitem__(k, o))
        for k, block in enumerate(model.blocks)
    ]
    expected = model(x)
    with GradientMonitor(model) as mon:
        got = model(x)
        kept = dict(mon._outputs)
    for handle in handles:
        handle.remove()
    assert torch.equal(got, expected)
    assert [kept[f"blocks.{k}.linear"] is hooked[k] for k in range(3)] == [True] * 3
    assert _attached(model) == 0


def test_nested_monitors_closed_in_any_order_leave_nothing_behind():
    model = models.mlp(4, 8, 2, 3)
    x, y = torch.randn(10, 4), torch.randint(0, 3, (10,))
    expected = model(x)
    outer, inner = GradientMonitor(model), GradientMonitor(model)
    outer.__enter__()
    inner.__enter__()
    assert _attached(model) == 2  # both activations tapped, by two stacked taps each
    outer.close()  # not the last one attached: its taps stay under inner's, inert
    nn.functional.cross_entropy(model(x), y).backward()
    inner.record()
    assert len(inner.history) == 3 and len(outer.history) == 0
    assert math.isfinite(inner.history.at_step("act_mean")["blocks.1.linear"])
    inner.close()
    assert _attached(model) == 0
    assert torch.equal(model(x), expected)


def test_a_deep_copy_made_while_monitored_runs_its_own_modules():
    model = models.mlp(4, 8, 1, 3, activation="leaky_relu")
    x = torch.randn(6, 4)
    with GradientMonitor(model):
        twin = copy.deepcopy(model)
    twin.blocks[0].act.negative_slope = 0.5
    hidden = twin.blocks[0].linear(x)
    assert torch.equal(twin.blocks[0].act(hidden), nn.functional.leaky_relu(hidden, 0.5))
    assert _attached(model) == 0


def test_a_forward_set_on_the_instance_by_someone_else_is_put_back():
    model = models.mlp(4, 8, 1, 3)
    act = model.blocks[0].act
    calls = []

    def counting(x):
        calls.append(1)
        return type(act).forward(act, x)

    act.forward = counting
    with GradientMonitor(model) as mon:
        model(torch.randn(5, 4)).sum().backward()
        mon.record()
    assert act.__dict__["forward"] is counting
    assert len(calls) == 1
    assert math.isfinite(mon.history.at_step("dead")["blocks.0.linear"])


def test_grad_norm_matches_the_weight_gradient():
    model = models.mlp(4, 8, 2, 3)
    x, y = torch.randn(10, 4), torch.randint(0, 3, (10,))
    with GradientMonitor(model) as mon:
        nn.functional.cross_entropy(model(x), y).backward()
        mon.record()
    norms = mon.history.at_step("grad_norm")
    assert norms["blocks.0.linear"] == pytest.approx(
        model.blocks[0].linear.weight.grad.norm().item()
    )
    assert norms["head"] == pytest.approx(model.head.weight.grad.norm().item())


def test_grad_norms_now_are_the_recorded_steps_per_weight_and_none_between():
    model = models.mlp(4, 8, 2, 3)
    model.head.weight.requires_grad_(False)
    x = torch.randn(10, 4)
    weights = [w for w in model.parameters() if w.ndim == 2]
    with GradientMonitor(model, every=2) as mon:
        assert mon.grad_norms_now() is None  # nothing recorded yet
        for step in range(3):
            model.zero_grad()
            model(x).sum().backward()
            mon.record()
            now = mon.grad_norms_now()
            if step % 2:
                assert now is None, f"call {step} did not record, yet gave {now}"
                continue
            # the weight without a gradient is left out, the others are keyed by id
            want = {id(w): w.grad.norm().item() for w in weights if w.grad is not None}
            assert now.keys() == want.keys()
            assert id(model.head.weight) not in now
            for key, norm in want.items():
                assert now[key] == pytest.approx(norm, rel=1e-6)


def test_update_ratio_is_the_relative_step():
    model = models.mlp(4, 8, 1, 3)
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    x, y = torch.randn(10, 4), torch.randint(0, 3, (10,))
    before = model.head.weight.detach().clone()
    with GradientMonitor(model) as mon:
        _step(model, opt, x, y, mon)
    expected = (model.head.weight.detach() - before).norm() / before.norm()
    assert mon.history.at_step("update_ratio")["head"] == pytest.approx(expected.item(), rel=1e-5)


def test_dead_units_and_saturation():
    model = models.mlp(4, 6, 1, 2, activation="relu")
    with torch.no_grad():
        model.blocks[0].linear.bias[:3] = -100.0  # three of six units can never fire
    x = torch.randn(32, 4)
    with GradientMonitor(model) as mon:
        model(x).sum().backward()
        mon.record()
    assert mon.history.at_step("dead")["blocks.0.linear"] == pytest.approx(0.5)
    assert math.isnan(mon.history.at_step("saturated")["blocks.0.linear"])

    sig = models.mlp(4, 6, 1, 2, activation="sigmoid", init="normal(100.0)")
    with GradientMonitor(sig) as mon:
        sig(x).sum().backward()
        mon.record()
    assert mon.history.at_step("saturated")["blocks.0.linear"] > 0.9


def test_rnn_layers_are_monitored():
    net = models.rnn(hidden=8)
    with GradientMonitor(net) as mon:
        net(torch.randn(4, 5, 2)).sum().backward()
        mon.record()
    assert mon.history.layers == ["input", "recurrent", "head"]


def test_bad_arguments():
    with pytest.raises(ValueError, match="model must be a torch.nn.Module"):
        GradientMonitor("not a model")
    with pytest.raises(ValueError, match="layers must be among"):
        GradientMonitor(models.mlp(2, 2, 1, 2), layers=["nope"])
    mon = GradientMonitor(models.mlp(2, 2, 1, 2))
    with pytest.raises(ValueError, match="history is empty"):
        mon.history.at_step("grad_norm")
    with pytest.raises(ValueError, match="metric must be one of"):
        mon.history.series("nope", "head")


def test_every_keeps_one_step_in_k_with_one_step_update_ratios():
    model = models.mlp(4, 8, 2, 3)
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    x, y = torch.randn(10, 4), torch.randint(0, 3, (10,))
    with GradientMonitor(model, every=3) as mon:
        for step in range(7):
            if step == 3:
                before = model.head.weight.detach().clone()
            _step(model, opt, x, y, mon)
            if step == 3:
                after = model.head.weight.detach().clone()
    assert mon.history.steps == [0, 3, 6]
    expected = ((after - before).norm() / before.norm()).item()
    assert mon.history.at_step("update_ratio", 3)["head"] == pytest.approx(expected, rel=1e-5)
    with pytest.raises(ValueError, match="every must be a positive integer"):
        GradientMonitor(model, every=0)


@given(
    depth=st.integers(1, 4),
    every=st.integers(1, 3),
    steps=st.integers(1, 6),
    read_each_step=st.booleans(),
    in_features=st.sampled_from([4, 8]),
)
@settings(max_examples=25, deadline=None)
def test_every_metric_matches_torch_whenever_the_history_is_read(
    depth, every, steps, read_each_step, in_features
):
    """Gradient norms and update ratios agree with torch per layer and step, with Adam,
    whether the history is read only at the end or after every step (rows are built
    lazily, and a step's update ratio arrives one call later). With 8 inputs every
    weight has 8 columns and weights and gradients are copied by one cat; with 4 not."""
    torch.manual_seed(depth * 100 + steps)
    model = models.mlp(in_features, 8, depth, 3, activation="tanh")
    opt = torch.optim.Adam(model.parameters(), lr=0.05)
    x, y = torch.randn(10, in_features), torch.randint(0, 3, (10,))
    weights = [m.weight for m in [*(b.linear for b in model.blocks), model.head]]
    expected_grads, expected_ratios = {}, {}
    with GradientMonitor(model, every=every) as mon:
        for step in range(steps):
            before = [w.detach().clone() for w in weights]
            opt.zero_grad()
            nn.functional.cross_entropy(model(x), y).backward()
            if step % every == 0:
                expected_grads[step] = [w.grad.norm().item() for w in weights]
            mon.record()
            opt.step()
            if step % every == 0:
                expected_ratios[step] = [
                    ((w.detach() - b).norm() / b.norm()).item()
                    for w, b in zip(weights, before, strict=True)
                ]
            if read_each_step:
                assert len(mon.history.rows) == len(mon.history)
    assert mon.history.steps == sorted(expected_grads)
    for step, norms in expected_grads.items():
        got = list(mon.history.at_step("grad_norm", step).values())
        assert got == pytest.approx(norms, rel=1e-5)
        ratios = list(mon.history.at_step("update_ratio", step).values())
        assert ratios == pytest.approx(expected_ratios[step], rel=1e-4)


def test_a_layer_without_gradient_gets_nan_and_the_others_their_norm():
    model = models.mlp(4, 8, 2, 3)
    model.head.weight.requires_grad_(False)
    x = torch.randn(10, 4)
    with GradientMonitor(model) as mon:
        model(x).sum().backward()
        mon.record()
    norms = mon.history.at_step("grad_norm")
    assert math.isnan(norms["head"])
    assert norms["blocks.1.linear"] == pytest.approx(
        model.blocks[1].linear.weight.grad.norm().item()
    )
    assert mon.history.at_step("update_ratio")["head"] == 0.0  # no optimizer step since


def test_history_rows_are_a_tidy_table():
    model = models.mlp(4, 8, 1, 3, activation="relu")
    with GradientMonitor(model) as mon:
        model(torch.randn(6, 4)).sum().backward()
        mon.record()
    rows = mon.history.rows
    assert [list(row) for row in rows] == [
        ["step", "layer", "index", "grad_norm", "act_mean", "act_std", "saturated", "dead",
         "update_ratio"],
    ] * 2  # fmt: skip
    assert [row["layer"] for row in rows] == ["blocks.0.linear", "head"]
    assert [row["index"] for row in rows] == [0, 1]


def test_without_activations_no_hook_is_attached_and_those_columns_are_nan():
    model = models.mlp(4, 8, 2, 3, activation="relu")
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    x, y = torch.randn(10, 4), torch.randint(0, 3, (10,))
    with GradientMonitor(model, activations=False) as mon:
        assert _attached(model) == 0
        _step(model, opt, x, y, mon)
        _step(model, opt, x, y, mon)
    for metric in ("act_mean", "act_std", "saturated", "dead"):
        assert all(math.isnan(v) for v in mon.history.at_step(metric).values()), metric
    assert all(v > 0 for v in mon.history.at_step("grad_norm", 0).values())
    assert all(v > 0 for v in mon.history.at_step("update_ratio", 0).values())
    with pytest.raises(ValueError, match="activations must be True or False"):
        GradientMonitor(model, activations="no")


def _expected_activation_stats(out: torch.Tensor, activation: str) -> tuple[float, ...]:
    """The definitions, straight from the output (N, units) of one activation module."""
    out = out.double()
    if activation == "sigmoid":
        saturated = (out * (1 - out) < 0.025).double().mean().item()  # s' < 10 % of 1/4
    elif activation == "tanh":
        saturated = (1 - out**2 < 0.1).double().mean().item()  # tanh' < 10 % of 1
    else:
        saturated = math.nan
    dead = (out <= 0).all(dim=0).double().mean().item() if "relu" in activation else math.nan
    return out.mean().item(), out.std().item(), saturated, dead


@given(
    depth=st.integers(1, 4),
    batch=st.integers(2, 40),
    activation=st.sampled_from(["relu", "sigmoid", "tanh", "leaky_relu"]),
    scale=st.sampled_from([0.5, 3.0, 30.0]),
    shift=st.sampled_from([0.0, 4.0]),
)
@settings(max_examples=30, deadline=None)
def test_activation_statistics_match_their_definitions(depth, batch, activation, scale, shift):
    """Mean, std, saturated and dead shares agree with the definitions computed from the
    outputs captured by an independent hook, for mild, saturating and shifted inputs
    (a shift of 4 makes the sigmoid outputs collapse near 1: a small std on a large mean)."""
    torch.manual_seed(batch)
    model = models.mlp(6, 8, depth, 3, activation=activation)
    x = torch.randn(batch, 6) * scale + shift
    outputs = {}
    acts = [
        (name, block.act)
        for name, block in zip(
            [f"blocks.{i}.linear" for i in range(depth)], model.blocks, strict=True
        )
    ]
    handles = [
        act.register_forward_hook(lambda m, i, o, name=name: outputs.__setitem__(name, o))
        for name, act in acts
    ]
    try:
        with GradientMonitor(model) as mon:
            model(x).sum().backward()
            mon.record()
    finally:
        for handle in handles:
            handle.remove()
    for i, metric in enumerate(("act_mean", "act_std", "saturated", "dead")):
        got = mon.history.at_step(metric)
        for name, _ in acts:
            expected = _expected_activation_stats(outputs[name].detach(), activation)[i]
            if math.isnan(expected):
                assert math.isnan(got[name]), (metric, name)
            else:
                assert got[name] == pytest.approx(expected, rel=1e-4, abs=1e-6), (metric, name)
        assert math.isnan(got["head"]), metric  # no activation after the output layer


@settings(max_examples=40, deadline=None)
@given(
    kind=st.sampled_from(["relu", "tanh", "sigmoid"]),
    mean=st.floats(-5, 5),
    spread=st.sampled_from([1e-4, 1e-2, 1.0, 3.0]),
    seed=st.integers(0, 2**16),
)
def test_activation_spread_is_exact_when_the_mean_dominates(kind, mean, spread, seed):
    """The spread is taken from ‖x‖ and Σx in one pass unless that would cancel: either
    way it matches float64's std, also for outputs whose mean is 1e4 times their spread."""
    from coursekit.monitor import _activation_stats

    gen = torch.Generator().manual_seed(seed)
    outs = [(mean + spread * torch.randn(32, 16, generator=gen)).float() for _ in range(3)]
    act = {"relu": nn.ReLU(), "tanh": nn.Tanh(), "sigmoid": nn.Sigmoid()}[kind]
    got = _activation_stats(outs, act)[:, 1]
    expected = torch.stack([o.double().std() for o in outs])
    assert torch.allclose(got, expected, rtol=1e-5, atol=1e-7), (got, expected)


@pytest.mark.parametrize("every", [1, 3])
def test_vanishing_signal_is_measured_exactly_through_its_power_of_two_scaling(every):
    """On a 50-layer ReLU net the input side's gradients (~1e-19) and the deep
    activations are tiny: the monitor scales them by powers of two (their squares
    would be subnormal floats) and must still match float64 per layer and step, also
    when the gradients then jump by 2**50 (the scaling from the last step misfits)."""
    torch.manual_seed(0)
    model = models.mlp(16, 16, 50, 3, activation="relu")
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    x, y = torch.randn(32, 16), torch.randint(0, 3, (32,))
    weights = [m.weight for m in [*(b.linear for b in model.blocks), model.head]]
    outs = {}
    hooks = [
        b.act.register_forward_hook(lambda m, i, o, k=k: outs.__setitem__(k, o))
        for k, b in enumerate(model.blocks)
    ]
    expected = {}
    with GradientMonitor(model, every=every) as mon:
        for step in range(7):
            opt.zero_grad()
            loss = nn.functional.cross_entropy(model(x), y)
            (loss * (2.0**50 if step == 5 else 1.0)).backward()
            if step % every == 0:
                expected[step] = (
                    [w.grad.double().norm().item() for w in weights],
                    [outs[k].double().std().item() for k in range(50)],
                )
            mon.record()
            opt.step() if step != 5 else None
    for hook in hooks:
        hook.remove()
    assert min(expected[0][0]) < 1e-15  # the case this test is about: a vanishing gradient
    for step, (grads, stds) in expected.items():
        got = list(mon.history.at_step("grad_norm", step).values())
        assert got == pytest.approx(grads, rel=1e-5), step
        got_std = list(mon.history.at_step("act_std", step).values())[:50]
        assert got_std == pytest.approx(stds, rel=1e-4), step


class _Double(nn.Module):
    """float64, scaled to 1e-50 (zero in float32), on the steps when ``on`` (the module
    after the activation casts back)."""

    on = False

    def forward(self, x):
        return x.double() * 1e-50 if self.on else x


class _Float(nn.Module):
    def forward(self, x):
        return x.float()


def test_an_output_that_changes_dtype_or_shape_alone_gets_its_own_statistics():
    """The monitor reuses the last step's grouping of the outputs; one activation whose
    output turns float64 (the others not) or whose batch differs must be grouped again,
    never cast or resized into the others' scratch (cast to float32, 1e-50 would be 0:
    every unit dead)."""
    torch.manual_seed(0)
    switch = _Double()
    model = nn.Sequential(
        nn.Linear(5, 6), nn.ReLU(), nn.Linear(6, 6), switch, nn.ReLU(), _Float(),
        nn.Linear(6, 6), nn.ReLU(), nn.Linear(6, 2),
    )  # fmt: skip
    acts = {"0": model[1], "2": model[4], "6": model[7]}
    outputs = {}
    for name, act in acts.items():
        act.register_forward_hook(lambda m, i, o, name=name: outputs.__setitem__(name, o))
    with GradientMonitor(model) as mon:
        for step, (on, batch) in enumerate([(False, 7), (True, 7), (False, 7), (False, 3)]):
            switch.on = on
            x = torch.randn(batch, 5)
            model(x).sum().backward()
            mon.record()
            for i, metric in enumerate(("act_mean", "act_std", "dead")):
                got = mon.history.at_step(metric, step)
                for name in acts:
                    expected = _expected_activation_stats(outputs[name].detach(), "relu")
                    expected = expected[(0, 1, 3)[i]]
                    assert got[name] == pytest.approx(expected, rel=1e-6, abs=1e-60), (
                        step,
                        metric,
                        name,
                    )
            model.zero_grad()
