"""coursekit.models: shapes, inits measured against their theory, the RNN's spectrum."""

import math

import pytest
import torch
from torch import nn

from coursekit import models


@pytest.mark.parametrize("activation", sorted(models.ACTIVATIONS))
def test_mlp_shapes_and_depth(activation):
    net = models.mlp(8, 16, 4, 3, activation=activation)
    assert net(torch.randn(5, 8)).shape == (5, 3)
    assert sum(isinstance(m, nn.Linear) for m in net.modules()) == 5


def test_mlp_is_seeded():
    a = models.mlp(8, 16, 3, 2, seed=1)
    b = models.mlp(8, 16, 3, 2, seed=1)
    c = models.mlp(8, 16, 3, 2, seed=2)
    x = torch.randn(4, 8)
    assert torch.equal(a(x), b(x)) and not torch.equal(a(x), c(x))


@pytest.mark.parametrize(
    ("init", "activation", "expected_var"),
    [
        ("xavier", "tanh", (5 / 3) ** 2 * 2 / (400 + 400)),
        ("he", "relu", 2 / 400),
        ("normal(0.5)", "relu", 0.25),
    ],
)
def test_init_variance_matches_theory(init, activation, expected_var):
    net = models.mlp(400, 400, 2, 10, activation=activation, init=init)
    w = net.blocks[1].linear.weight
    assert w.var().item() == pytest.approx(expected_var, rel=0.05)
    assert torch.all(net.blocks[1].linear.bias == 0)


def test_residual_adds_the_input():
    net = models.mlp(6, 6, 2, 2, residual=True)
    block = net.blocks[1]
    x = torch.randn(3, 6)
    assert torch.allclose(block(x), x + block.act(block.linear(x)))


def test_batchnorm_and_dropout_are_present():
    net = models.mlp(6, 8, 2, 2, batchnorm=True, dropout=0.3)
    kinds = {type(m) for m in net.modules()}
    assert nn.BatchNorm1d in kinds and nn.Dropout in kinds


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"activation": "swish"}, "activation must be one of relu"),
        ({"init": "normal(-1)"}, "init must be one of"),
        ({"init": "glorot"}, "init must be one of"),
        ({"depth": 0}, "depth must be a positive integer"),
        ({"dropout": 1.5}, r"dropout must be in \[0, 1\]"),
    ],
)
def test_bad_arguments_name_the_argument(kwargs, message):
    args = {"in_features": 4, "hidden": 4, "depth": 2, "out_features": 2} | kwargs
    with pytest.raises(ValueError, match=message):
        models.mlp(**args)


@pytest.mark.parametrize("scale", [0.5, 1.0, 1.5])
def test_rnn_spectral_radius_is_the_scale(scale):
    net = models.rnn(hidden=24, recurrent_scale=scale)
    radius = torch.linalg.eigvals(net.recurrent.weight.detach()).abs()
    assert torch.allclose(radius, torch.full_like(radius, scale), atol=1e-5)
    assert net(torch.randn(3, 7, 2)).shape == (3, 1)


def test_rnn_gradient_grows_with_scale():
    x = torch.randn(16, 60, 2) * 0.1

    def first_input_grad(scale):
        net = models.rnn(hidden=32, recurrent_scale=scale, seed=0)
        xr = x.clone().requires_grad_(True)
        net(xr).sum().backward()
        return xr.grad[:, 0].norm().item()

    assert first_input_grad(1.5) > 100 * first_input_grad(0.5)


def test_normal_helper():
    assert models.normal(0.5) == "normal(0.5)"
    with pytest.raises(ValueError, match="std must be a positive number"):
        models.normal(math.nan)


def test_relu_rnn_explodes_above_radius_one_and_vanishes_below():
    x = torch.rand(32, 40, 2)

    def first_step_grad(scale):
        net = models.rnn(hidden=32, recurrent_scale=scale, nonlinearity="relu", seed=0)
        xr = x.clone().requires_grad_(True)
        net(xr).sum().backward()
        return xr.grad[:, 0].norm().item()

    assert first_step_grad(2.0) > 1e6 * first_step_grad(0.8)
    with pytest.raises(ValueError, match="nonlinearity must be one of tanh, relu"):
        models.rnn(nonlinearity="gelu")


@pytest.mark.parametrize("kind", ["tanh", "lstm", "gru"])
def test_recurrent_stepwise_is_the_same_model(kind):
    model = models.recurrent(kind, input_size=3, hidden=5, out_features=2, seed=1)
    x = torch.randn(4, 7, 3, generator=torch.Generator().manual_seed(0))
    out, states = model.stepwise(x)
    torch.testing.assert_close(out, model(x))
    assert len(states) == 7 and states[-1].shape == (1, 4, 5)
    out.sum().backward()
    assert all(h.grad is not None for h in states)  # dL/dh_t for every step
    other = models.recurrent(kind, input_size=3, hidden=5, out_features=2, seed=1)
    torch.testing.assert_close(other(x), model(x))  # seeded


def test_recurrent_forget_bias_opens_the_gate():
    model = models.recurrent("lstm", input_size=2, hidden=4, forget_bias=5.0)
    forget = slice(4, 8)  # PyTorch's gate order: input, forget, cell, output
    assert torch.all(model.cell.bias_ih_l0[forget] == 5.0)
    assert torch.all(model.cell.bias_hh_l0[forget] == 0.0)
    with pytest.raises(ValueError, match="LSTM only"):
        models.recurrent("gru", input_size=2, forget_bias=1.0)
    with pytest.raises(ValueError, match="kind must be one of"):
        models.recurrent("elman", input_size=2)


def test_layernorm_option():
    model = models.mlp(4, 6, depth=2, out_features=3, layernorm=True)
    assert all(isinstance(block.norm, nn.LayerNorm) for block in model.blocks)
    with pytest.raises(ValueError, match="not both"):
        models.mlp(4, 6, depth=2, out_features=3, batchnorm=True, layernorm=True)


@pytest.mark.parametrize("nonlinearity", ["tanh", "relu"])
def test_rnn_is_bitwise_the_step_by_step_recurrence(nonlinearity):
    """The fused step (addmm) against the recurrence written with the layers themselves:
    outputs and every gradient are the same floats."""
    net = models.rnn(hidden=16, recurrent_scale=1.3, nonlinearity=nonlinearity, seed=2)
    x = torch.randn(8, 12, 2, generator=torch.Generator().manual_seed(0))

    def by_layers(x):
        h = torch.zeros(x.shape[0], 16)
        inputs = net.input(x)
        for t in range(x.shape[1]):
            h = net._f(inputs[:, t] + net.recurrent(h))
        return net.head(h)

    grads = []
    for forward in (net, by_layers):
        xg = x.clone().requires_grad_()
        net.zero_grad()
        out = forward(xg)
        out.square().sum().backward()
        grads.append([out.detach(), xg.grad, *[p.grad.clone() for p in net.parameters()]])
    assert all(torch.equal(a, b) for a, b in zip(*grads, strict=True))


def test_rnn_matches_torchs_own_tanh_rnn():
    """An independent oracle: nn.RNN with the same weights computes the same recurrence."""
    net = models.rnn(hidden=16, recurrent_scale=0.9, nonlinearity="tanh", seed=4)
    torch_rnn = nn.RNN(2, 16, batch_first=True)
    with torch.no_grad():
        torch_rnn.weight_ih_l0.copy_(net.input.weight)
        torch_rnn.bias_ih_l0.copy_(net.input.bias)
        torch_rnn.weight_hh_l0.copy_(net.recurrent.weight)
        torch_rnn.bias_hh_l0.zero_()
    x = torch.randn(5, 9, 2, generator=torch.Generator().manual_seed(1))
    out, _ = torch_rnn(x)
    assert torch.allclose(net(x), net.head(out[:, -1]), atol=1e-6)
