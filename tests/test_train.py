"""coursekit.train.fit: learns, reports divergence without raising, clips, monitors."""

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from coursekit import data, models, train
from coursekit.monitor import GradientMonitor


@pytest.fixture(scope="module")
def digits():
    return data.digits(seed=0)


def test_fit_learns_digits(digits):
    net = models.mlp(64, 32, 2, 10)
    h = train.fit(net, digits, epochs=5, lr=0.1, optimizer="momentum", progress=False)
    assert h.epochs == 5 and h.diverged is None
    assert h.train_loss[-1] < h.train_loss[0]
    assert h.val_acc[-1] > 0.85


def test_fit_is_reproducible(digits):
    runs = [
        train.fit(models.mlp(64, 16, 1, 10), digits, epochs=2, progress=False, seed=3)
        for _ in range(2)
    ]
    assert runs[0].train_loss == runs[1].train_loss


def test_divergence_stops_and_explains(digits, capsys):
    net = models.mlp(64, 32, 3, 10, init="normal(3.0)")
    h = train.fit(net, digits, epochs=5, lr=5.0, progress=False)
    assert h.diverged is not None and "epoch 1" in h.diverged
    out = capsys.readouterr()
    assert "Try a lower learning rate" in out.out and "clip_norm" in out.out
    assert out.err == ""
    assert not math.isfinite(h.step_loss[-1])


def test_clip_norm_bounds_the_applied_gradient(digits):
    net = models.mlp(64, 32, 2, 10, init="normal(1.0)")
    h = train.fit(net, digits, epochs=1, lr=0.01, clip_norm=0.5, progress=False)
    assert max(h.grad_norm) > 0.5  # norms are recorded before clipping
    total = torch.sqrt(sum((p.grad**2).sum() for p in net.parameters()))
    assert total.item() <= 0.5 + 1e-5


def test_weight_decay_adds_l2_to_the_gradient(digits):
    split = data.DataSplit(digits.x_train[:32], digits.y_train[:32], digits.x_val, digits.y_val)
    net = models.mlp(64, 8, 1, 10, seed=0)
    x, y, _, _ = train._tensors(split)
    before = [p.detach().clone() for p in net.parameters()]
    torch.nn.functional.cross_entropy(net(x), y).backward()
    expected = [w - 0.1 * (p.grad + 0.5 * w) for w, p in zip(before, net.parameters(), strict=True)]
    net.zero_grad()
    train.fit(net, split, epochs=1, lr=0.1, batch_size=32, weight_decay=0.5, progress=False)
    for got, want in zip(net.parameters(), expected, strict=True):
        torch.testing.assert_close(got.detach(), want)


@pytest.mark.parametrize(
    ("optimizer", "make"),
    [
        ("sgd", lambda p: torch.optim.SGD(p, lr=0.05, weight_decay=1e-3)),
        ("momentum", lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9, weight_decay=1e-3)),
        ("adam", lambda p: torch.optim.Adam(p, lr=0.05, weight_decay=1e-3)),
    ],
)
def test_fit_steps_exactly_as_torchs_own_loop(digits, optimizer, make):
    """fit's optimizers step all parameters at once (foreach): bitwise the weights that
    torch's default per-tensor step gives in a plain loop over the same batches."""
    x, y, _, _ = train._tensors(digits)
    net = models.mlp(64, 16, 3, 10, activation="tanh", seed=1)
    oracle = models.mlp(64, 16, 3, 10, activation="tanh", seed=1)
    train.fit(
        net,
        digits,
        epochs=2,
        lr=0.05,
        optimizer=optimizer,
        weight_decay=1e-3,
        batch_size=128,
        seed=4,
        progress=False,
    )
    opt = make(oracle.parameters())
    generator = torch.Generator().manual_seed(4)
    for _ in range(2):
        order = torch.randperm(len(x), generator=generator)
        for start in range(0, len(x), 128):
            idx = order[start : start + 128]
            opt.zero_grad()
            torch.nn.functional.cross_entropy(oracle(x[idx]), y[idx]).backward()
            opt.step()
    for got, want in zip(net.parameters(), oracle.parameters(), strict=True):
        assert torch.equal(got, want), f"{optimizer}: max difference {(got - want).abs().max()}"


def test_monitor_records_every_step(digits):
    net = models.mlp(64, 16, 2, 10)
    with GradientMonitor(net) as mon:
        h = train.fit(net, digits, epochs=1, batch_size=512, monitor=mon, progress=False)
    assert len(mon.history.steps) == len(h.step_loss) == math.ceil(len(digits.x_train) / 512)


def test_a_monitored_fit_shares_the_monitors_norms_and_trains_the_same(digits, monkeypatch):
    """With a monitor recording every step, fit's total gradient norm takes the monitor's
    per-layer norms (torch norms only the biases), equals the unmonitored run's, and the
    weights are trained bitwise the same."""
    normed_sizes = []
    get_total_norm = torch.nn.utils.get_total_norm

    def counting(tensors, *args, **kwargs):
        tensors = list(tensors)
        normed_sizes.extend(t.ndim for t in tensors)
        return get_total_norm(tensors, *args, **kwargs)

    runs = {}
    for monitored in (False, True):
        net = models.mlp(64, 16, 3, 10, seed=1)
        normed_sizes.clear()
        monkeypatch.setattr(torch.nn.utils, "get_total_norm", counting)
        if monitored:
            with GradientMonitor(net) as mon:
                h = train.fit(net, digits, epochs=1, batch_size=256, monitor=mon, progress=False)
        else:
            h = train.fit(net, digits, epochs=1, batch_size=256, progress=False)
        monkeypatch.undo()
        runs[monitored] = (h, [p.detach().clone() for p in net.parameters()], list(normed_sizes))
    (plain, plain_weights, plain_normed), (watched, watched_weights, watched_normed) = (
        runs[False],
        runs[True],
    )
    assert 2 in plain_normed and set(watched_normed) == {1}, "fit normed watched weights again"
    assert watched.grad_norm == pytest.approx(plain.grad_norm, rel=1e-6)
    for got, want in zip(watched_weights, plain_weights, strict=True):
        assert torch.equal(got, want)


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(1, 6),
            st.floats(1e-12, 1e6),  # float32's squares stay normal: torch's total is exact
            st.sampled_from(["known", "unknown", "no grad"]),
        ),
        min_size=1,
        max_size=6,
    ),
    st.integers(0, 2**16),
)
def test_total_grad_norm_with_known_norms_is_torchs(layers, seed):
    gen = torch.Generator().manual_seed(seed)
    params, known = [], {}
    for size, scale, kind in layers:
        p = torch.nn.Parameter(torch.zeros(size, 3))
        if kind != "no grad":
            p.grad = torch.randn(size, 3, generator=gen) * scale
        if kind == "known":
            known[id(p)] = p.grad.double().norm().item()
        params.append(p)
    grads = [p.grad for p in params if p.grad is not None]
    want = (
        torch.linalg.vector_norm(torch.cat([g.double().flatten() for g in grads])).item()
        if grads
        else 0.0
    )
    assert train.total_grad_norm(params, known) == pytest.approx(want, rel=1e-5)
    assert train.total_grad_norm(params, None) == float(torch.nn.utils.get_total_norm(grads))
    assert train.total_grad_norm(params, None) == pytest.approx(want, rel=1e-5)


def test_regression_with_mse():
    x, y = data.adding_problem(64, 10)
    split = (x[:48], y[:48], x[48:], y[48:])
    h = train.fit(models.rnn(), split, epochs=2, lr=0.01, loss="mse", progress=False)
    assert math.isnan(h.val_acc[0]) and h.epochs == 2


def test_progress_bar_is_silent_under_nbgrader(digits, monkeypatch, capsys):
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")
    train.fit(models.mlp(64, 8, 1, 10), digits, epochs=1, progress=True)
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"epochs": 0}, "epochs must be a positive integer"),
        ({"lr": -1}, "lr must be a positive number"),
        ({"optimizer": "rmsprop"}, "optimizer must be one of sgd"),
        ({"loss": "hinge"}, "loss must be one of"),
        ({"clip_norm": 0}, "clip_norm must be None or a positive number"),
        ({"weight_decay": -1}, "weight_decay must be a number >= 0"),
    ],
)
def test_bad_arguments(digits, kwargs, message):
    with pytest.raises(ValueError, match=message):
        train.fit(models.mlp(64, 8, 1, 10), digits, progress=False, **kwargs)


def test_bad_data():
    with pytest.raises(ValueError, match="data must be a coursekit.data.DataSplit"):
        train.fit(models.mlp(64, 8, 1, 10), [1, 2], progress=False)


def test_fit_takes_any_object_with_record_as_its_monitor(digits):
    """A monitor of one's own needs only ``record()`` (lesson 06's runs wrap the monitor)."""

    class Counting:
        calls = 0

        def record(self):
            self.calls += 1

    mon = Counting()
    h = train.fit(
        models.mlp(64, 8, 1, 10), digits, epochs=1, batch_size=512, monitor=mon, progress=False
    )
    assert mon.calls == len(h.step_loss) == len(h.grad_norm)
