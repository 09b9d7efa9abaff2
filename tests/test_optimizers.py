"""coursekit.optimizers: bitwise torch.optim's SGD, momentum SGD and Adam, without dynamo."""

import subprocess
import sys

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from coursekit import optimizers

TORCH_OPTIMIZERS = {
    "sgd": lambda params, lr, wd: torch.optim.SGD(params, lr=lr, weight_decay=wd),
    "momentum": lambda params, lr, wd: torch.optim.SGD(
        params, lr=lr, momentum=0.9, weight_decay=wd
    ),
    "adam": lambda params, lr, wd: torch.optim.Adam(params, lr=lr, weight_decay=wd),
}


def _parameters(seed: int) -> list[torch.nn.Parameter]:
    g = torch.Generator().manual_seed(seed)
    shapes = [(5, 3), (3,), (4, 4), (2,)]
    return [torch.nn.Parameter(torch.randn(shape, generator=g)) for shape in shapes]


def _run(opt, params: list, seed: int, steps: int) -> None:
    """``steps`` updates with random gradients; the last parameter has none on odd steps
    (its state must wait for it, as torch's does)."""
    g = torch.Generator().manual_seed(seed + 1)
    for step in range(steps):
        opt.zero_grad()
        for k, p in enumerate(params):
            if k == len(params) - 1 and step % 2:
                continue
            p.grad = torch.randn(p.shape, generator=g)
        opt.step()


@settings(max_examples=20, deadline=None)
@given(
    name=st.sampled_from(optimizers.NAMES),
    lr=st.floats(1e-4, 1.0),
    weight_decay=st.sampled_from([0.0, 1e-3, 0.5]),
    seed=st.integers(0, 1000),
)
def test_steps_bitwise_like_torch_optim(name, lr, weight_decay, seed):
    ours, theirs = _parameters(seed), _parameters(seed)
    _run(optimizers.Optimizer(name, ours, lr, weight_decay), ours, seed, steps=5)
    _run(TORCH_OPTIMIZERS[name](theirs, lr, weight_decay), theirs, seed, steps=5)
    for got, want in zip(ours, theirs, strict=True):
        assert torch.equal(got, want), f"{name}: max difference {(got - want).abs().max()}"


def test_zero_grad_forgets_gradients_and_step_without_any_is_a_no_op():
    params = _parameters(0)
    before = [p.detach().clone() for p in params]
    opt = optimizers.Optimizer("momentum", params, lr=0.1)
    for p in params:
        p.grad = torch.ones_like(p)
    opt.zero_grad()
    assert all(p.grad is None for p in params)
    opt.step()
    assert all(torch.equal(p, b) for p, b in zip(params, before, strict=True))
    assert opt.state == {}


def test_unknown_optimizer_is_named():
    with pytest.raises(ValueError, match="one of sgd, momentum, adam, got 'rmsprop'"):
        optimizers.Optimizer("rmsprop", _parameters(0), lr=0.1)


def test_stepping_does_not_import_dynamo():
    """The reason for this module: torch.optim's classes import torch._dynamo (~1 s)."""
    code = (
        "import sys, torch\n"
        "from coursekit import optimizers\n"
        "for name in optimizers.NAMES:\n"
        "    p = torch.nn.Parameter(torch.ones(3))\n"
        "    opt = optimizers.Optimizer(name, [p], lr=0.1)\n"
        "    p.grad = torch.ones(3)\n"
        "    opt.step(); opt.step()\n"
        "print('torch._dynamo' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False", "an optimizer step imported torch._dynamo"
