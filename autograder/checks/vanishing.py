"""Hidden checks of lesson 02_vanishing_gradients.

Oracles: autograd on the student's model, the theory of each initialisation
(variance, bounds) and torch.nn.init's distributions (a two-sample
Kolmogorov-Smirnov test), never one particular draw.
"""

from __future__ import annotations

import math

import torch
from scipy import stats
from torch import nn

from autograder.checks.common import check_choice, check_number, forbid_calls
from coursekit import checks, models, widgets
from coursekit.monitor import GradientMonitor, History

LESSON = "02_vanishing_gradients"
# Enough draws that a correct solution never fails: at 60,000 samples the sample
# variance is within 0.4 % (one standard error) of the truth; we allow 5 %.
VARIANCE_TOLERANCE = 0.05
KS_MIN_P = 1e-6


def _oracle_norms(model: nn.Module) -> dict[str, float]:
    return {
        name: p.grad.norm().item()
        for name, p in model.named_parameters()
        if name.endswith("weight") and p.grad is not None
    }


def _check_norms(student, model: nn.Module, what: str) -> None:
    with forbid_calls(
        "layer_grad_norms",
        GradientMonitor.record,
        GradientMonitor.__init__,
        History.at_step,
        widgets.layer_gradients,
    ):
        got = student(model)
    expected = _oracle_norms(model)
    checks.expect(isinstance(got, dict), f"layer_grad_norms must return a dict, got {type(got)}")
    checks.expect(
        set(got) == set(expected),
        f"layer_grad_norms({what}): keys {sorted(got)} but expected {sorted(expected)} "
        "(every parameter whose name ends in 'weight' and has a gradient)",
    )
    for name, value in expected.items():
        checks.expect(
            isinstance(got[name], float),
            f"layer_grad_norms: the value for {name!r} is a {type(got[name]).__name__}, "
            "not a Python float (use .item())",
        )
        checks.expect_close(
            got[name],
            value,
            f"norm of {name}'s gradient ({what})",
            rtol=1e-5,
            hint="the L2 norm of p.grad, not of p itself",
        )


def layer_grad_norms(student) -> None:
    with checks.exercise("layer_grad_norms"):
        x = torch.randn(16, 12, generator=torch.Generator().manual_seed(1))
        model = models.mlp(12, 9, 4, 3, activation="tanh", seed=3)
        nn.functional.cross_entropy(model(x), torch.arange(16) % 3).backward()
        _check_norms(student, model, "a 4-layer tanh MLP")
        frozen = models.mlp(12, 9, 2, 3, batchnorm=True, seed=4)
        frozen.blocks[0].linear.weight.requires_grad_(False)
        frozen(x).pow(2).mean().backward()
        _check_norms(student, frozen, "an MLP with batch norm and a frozen first layer")


_FORBIDDEN_INITS = (
    nn.init.xavier_uniform_,
    nn.init.xavier_normal_,
    nn.init.kaiming_uniform_,
    nn.init.kaiming_normal_,
    models.init_linear,
)


def _call(student, name: str, fan_in: int, fan_out: int, seed: int) -> torch.Tensor:
    """The student's weights for one generator seed (torch.nn.init's own schemes forbidden)."""
    with forbid_calls(name, *_FORBIDDEN_INITS):
        out = student(fan_in, fan_out, torch.Generator().manual_seed(seed))
    checks.expect(
        isinstance(out, torch.Tensor), f"{name} must return a torch.Tensor, got {type(out)}"
    )
    checks.expect_shape(out, (fan_out, fan_in), f"{name}({fan_in}, {fan_out})")
    checks.expect_finite(out, f"{name}({fan_in}, {fan_out})")
    return out.detach().double()


def _check_generator_is_used(student, name: str) -> None:
    torch.manual_seed(0)
    a = _call(student, name, 30, 20, seed=5)
    torch.manual_seed(1)
    b = _call(student, name, 30, 20, seed=5)
    c = _call(student, name, 30, 20, seed=6)
    checks.expect(
        torch.equal(a, b),
        f"{name}: the same generator seed must give the same weights: draw from `generator`, "
        "not from torch's global random state",
    )
    checks.expect(not torch.equal(a, c), f"{name}: different generator seeds gave the same weights")


def _check_distribution(student, name: str, oracle, fan_in: int, fan_out: int, variance: float):
    """Pooled draws: the theory's variance, mean 0, and torch.nn.init's distribution."""
    repeats = max(1, 60000 // (fan_in * fan_out))
    draws = torch.cat([_call(student, name, fan_in, fan_out, s).flatten() for s in range(repeats)])
    got = draws.var().item()
    checks.expect(
        abs(got / variance - 1) < VARIANCE_TOLERANCE,
        f"{name}({fan_in}, {fan_out}): sample variance {got:.4g}, but the theory says "
        f"{variance:.4g} (within {VARIANCE_TOLERANCE:.0%})",
    )
    mean = draws.mean().item()
    checks.expect(
        abs(mean) < 6 * math.sqrt(variance / draws.numel()),
        f"{name}: the weights should have mean 0, got {mean:.3g}",
    )
    generator = torch.Generator().manual_seed(12345)
    reference = torch.cat(
        [
            oracle(torch.empty(fan_out, fan_in), generator=generator).flatten()
            for _ in range(repeats)
        ]
    )
    p = stats.ks_2samp(draws.numpy(), reference.double().numpy()).pvalue
    checks.expect(
        p > KS_MIN_P,
        f"{name}({fan_in}, {fan_out}): the values are not distributed like torch.nn.init's "
        f"(Kolmogorov-Smirnov p = {p:.1e}): check the distribution's family and its scale",
    )
    return draws


def xavier_uniform(student) -> None:
    with checks.exercise("xavier_uniform"):
        _check_generator_is_used(student, "xavier_uniform")
        for fan_in, fan_out in [(300, 200), (50, 800), (1000, 1)]:
            draws = _check_distribution(
                student,
                "xavier_uniform",
                nn.init.xavier_uniform_,
                fan_in,
                fan_out,
                2 / (fan_in + fan_out),
            )
            bound = math.sqrt(6 / (fan_in + fan_out))
            checks.expect(
                draws.abs().max().item() <= bound * (1 + 1e-6),
                f"xavier_uniform({fan_in}, {fan_out}): a value beyond the bound ±{bound:.4g} "
                "= ±sqrt(6 / (fan_in + fan_out))",
            )


def _kaiming_normal(tensor: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    return nn.init.kaiming_normal_(tensor, nonlinearity="relu", generator=generator)


def he_normal(student) -> None:
    with checks.exercise("he_normal"):
        _check_generator_is_used(student, "he_normal")
        for fan_in, fan_out in [(300, 200), (50, 800), (800, 40)]:
            _check_distribution(student, "he_normal", _kaiming_normal, fan_in, fan_out, 2 / fan_in)


def residual_block(block_cls) -> None:
    with checks.exercise("ResidualBlock"):
        for width, act in [(6, nn.Tanh()), (11, nn.Sigmoid()), (4, nn.ReLU())]:
            torch.manual_seed(width)
            block = block_cls(width, act)
            checks.expect(isinstance(block, nn.Module), "ResidualBlock must be an nn.Module")
            checks.expect(
                not isinstance(block, models.Block),
                "ResidualBlock must be your own class, not coursekit's",
            )
            linear = getattr(block, "linear", None)
            checks.expect(
                isinstance(linear, nn.Linear)
                and linear.in_features == linear.out_features == width,
                f"ResidualBlock({width}, ...) needs self.linear = nn.Linear({width}, {width})",
            )
            names = {n for n, _ in block.named_parameters()}
            checks.expect(
                {"linear.weight", "linear.bias"} <= names,
                "the block's parameters are not registered: call super().__init__() first",
            )
            x = torch.randn(5, width, requires_grad=True)
            with forbid_calls("ResidualBlock.forward", models.Block.forward, models.MLP.forward):
                out = block(x)
            expected = x + act(linear(x))
            checks.expect_close(
                out,
                expected,
                f"ResidualBlock({width}, {type(act).__name__}) output",
                rtol=1e-6,
                atol=1e-6,
                hint="x + act(linear(x))",
            )
            out.sum().backward()
            dx = x.grad.clone()
            x2 = x.detach().clone().requires_grad_(True)
            (x2 + act(linear(x2))).sum().backward()
            checks.expect_close(dx, x2.grad, "the gradient with respect to x", rtol=1e-6, atol=1e-6)
        # With saturated units, the skip path still carries the gradient: dx ~ 1.
        block = block_cls(8, nn.Sigmoid())
        with torch.no_grad():
            block.linear.weight.fill_(0.0)
            block.linear.bias.fill_(50.0)
        x = torch.randn(3, 8, requires_grad=True)
        block(x).sum().backward()
        checks.expect_close(
            x.grad,
            torch.ones_like(x),
            "dx through a saturated block (the skip path)",
            rtol=1e-6,
            atol=1e-6,
        )


_Q_XAVIER = "7577a6624e0bebad"  # digest(LESSON, "q_xavier", <the answer>)
_Q_RESIDUAL = "728ae649360f1268"  # likewise


def q_ratio_bound(answer) -> None:
    # 19 sigmoid derivatives between the last and the first of 20 layers, each at most 1/4
    slope = torch.zeros(1, requires_grad=True, dtype=torch.float64)
    torch.sigmoid(slope).backward()
    check_number(answer, "answer_ratio_bound", slope.grad.item() ** 19, rel=1e-2)


def q_xavier(answer) -> None:
    check_choice(answer, "answer_xavier", LESSON, "q_xavier", _Q_XAVIER, "abcd")


def q_residual(answer) -> None:
    check_choice(answer, "answer_residual", LESSON, "q_residual", _Q_RESIDUAL, "abcd")
