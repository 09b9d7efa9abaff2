"""Hidden checks of lesson 02_vanishing_gradients.

Oracles: autograd on the student's model, the theory of each initialisation
(variance, bounds) and torch.nn.init's distributions (a two-sample
Kolmogorov-Smirnov test), never one particular draw.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from autograder.kernel.collect.common import expect_float_per_layer, forbid_calls
from autograder.kernel.collect.record import answered, collected, observed
from coursekit import checks, ks, models, widgets
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
    expected = _oracle_norms(model)  # before the call: it must not move the oracle
    with forbid_calls(
        "layer_grad_norms",
        GradientMonitor.record,
        GradientMonitor.__init__,
        History.at_step,
        widgets.layer_gradients,
    ):
        got = student(model)
    checks.expect(isinstance(got, dict), f"layer_grad_norms must return a dict, got {type(got)}")
    checks.expect(
        set(got) == set(expected),
        f"layer_grad_norms({what}): keys {sorted(got)} but expected {sorted(expected)} "
        "(every parameter whose name ends in 'weight' and has a gradient)",
    )
    expect_float_per_layer(
        "layer_grad_norms",
        got,
        expected,
        lambda name: f"norm of {name}'s gradient ({what})",
        rtol=1e-5,
        hint="the L2 norm of p.grad, not of p itself",
    )


@collected
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
    _, p = ks.two_sample(draws, reference)
    checks.expect(
        p > KS_MIN_P,
        f"{name}({fan_in}, {fan_out}): the values are not distributed like torch.nn.init's "
        f"(Kolmogorov-Smirnov p = {p:.1e}): check the distribution's family and its scale",
    )
    return draws


@collected
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


@collected
def he_normal(student) -> None:
    with checks.exercise("he_normal"):
        _check_generator_is_used(student, "he_normal")
        for fan_in, fan_out in [(300, 200), (50, 800), (800, 40)]:
            _check_distribution(student, "he_normal", _kaiming_normal, fan_in, fan_out, 2 / fan_in)


RESIDUAL_CASES = [(6, "Tanh"), (11, "Sigmoid"), (4, "ReLU")]


def _activation(name: str) -> nn.Module:
    return {"Tanh": nn.Tanh, "Sigmoid": nn.Sigmoid, "ReLU": nn.ReLU}[name]()


def _block_input(width: int, rows: int) -> torch.Tensor:
    return torch.randn(rows, width, generator=torch.Generator().manual_seed(100 + width))


def _block_weights(width: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The weights the grader puts into the block's linear layer (the oracle uses the same:
    never weights a kernel reports)."""
    g = torch.Generator().manual_seed(200 + width)
    return torch.randn(width, width, generator=g) * 0.5, torch.randn(width, generator=g) * 0.5


def observe_residual_block(block_cls) -> dict:
    """Per case: what the block is, then its output and dx on the grader's input with the
    grader's weights in its linear layer; then dx through a block saturated on purpose."""
    cases = []
    for width, act in RESIDUAL_CASES:
        torch.manual_seed(width)
        block = block_cls(width, _activation(act))
        linear = getattr(block, "linear", None)
        seen = {
            "is_module": isinstance(block, nn.Module),
            "is_coursekit_block": isinstance(block, models.Block),
            "linear_shape": [linear.in_features, linear.out_features]
            if isinstance(linear, nn.Linear)
            else None,
            "parameters": sorted(n for n, _ in block.named_parameters())
            if isinstance(block, nn.Module)
            else [],
        }
        cases.append(seen)
        if seen["linear_shape"] is None or not seen["is_module"]:
            continue
        weight, bias = _block_weights(width)
        with torch.no_grad():
            linear.weight.copy_(weight)
            linear.bias.copy_(bias)
        x = _block_input(width, 5).requires_grad_(True)
        try:
            with forbid_calls("ResidualBlock.forward", models.Block.forward, models.MLP.forward):
                out = block(x)
        except checks.CheckFailed as exc:
            seen["forbidden"] = str(exc)
            continue
        out.sum().backward()
        seen.update(out=out.detach(), dx=x.grad.clone())
    block = block_cls(8, nn.Sigmoid())
    with torch.no_grad():
        block.linear.weight.fill_(0.0)
        block.linear.bias.fill_(50.0)
    x = _block_input(8, 3).requires_grad_(True)
    block(x).sum().backward()
    return {"cases": cases, "saturated_dx": x.grad.clone()}


def judge_residual_block(seen: dict) -> None:
    with checks.exercise("ResidualBlock"):
        for (width, act), case in zip(RESIDUAL_CASES, seen["cases"], strict=True):
            checks.expect(case["is_module"], "ResidualBlock must be an nn.Module")
            checks.expect(
                not case["is_coursekit_block"],
                "ResidualBlock must be your own class, not coursekit's",
            )
            checks.expect(
                case["linear_shape"] == [width, width],
                f"ResidualBlock({width}, ...) needs self.linear = nn.Linear({width}, {width})",
            )
            checks.expect(
                {"linear.weight", "linear.bias"} <= set(case["parameters"]),
                "the block's parameters are not registered: call super().__init__() first",
            )
            checks.expect("forbidden" not in case, case.get("forbidden", ""))
            # the oracle: x + act(linear(x)) with the grader's weights, by autograd
            x = _block_input(width, 5).double().requires_grad_(True)
            weight, bias = (t.double() for t in _block_weights(width))
            expected = x + _activation(act)(x @ weight.T + bias)
            expected.sum().backward()
            checks.expect_close(
                case["out"],
                expected.detach(),
                f"ResidualBlock({width}, {act}) output",
                rtol=1e-5,
                atol=1e-5,
                hint="x + act(linear(x))",
            )
            checks.expect_close(
                case["dx"], x.grad, "the gradient with respect to x", rtol=1e-5, atol=1e-5
            )
        # With saturated units, the skip path still carries the gradient: dx ~ 1.
        checks.expect_close(
            seen["saturated_dx"],
            torch.ones(3, 8),
            "dx through a saturated block (the skip path)",
            rtol=1e-6,
            atol=1e-6,
        )


residual_block = observed(observe_residual_block, judge_residual_block)


# (rows, fan_in, distinct units, atol): the grader's matrices, units repeated and shuffled
DISTINCT_CASES = [
    (7, 5, 1, 1e-6),
    (12, 3, 4, 1e-6),
    (9, 16, 9, 1e-6),
    (10, 4, 3, 1e-2),
    (1, 8, 1, 1e-6),
]


def _repeated_units(rows: int, fan_in: int, units: int, atol: float, seed: int) -> torch.Tensor:
    """A (rows, fan_in) weight holding ``units`` different rows, each at least once, in a
    shuffled order, plus noise below ``atol / 4`` (float rounding of equal updates): the
    number of distinct units is known by construction."""
    g = torch.Generator().manual_seed(seed)
    distinct = torch.randn(units, fan_in, generator=g)
    which = torch.cat([torch.arange(units), torch.randint(units, (rows - units,), generator=g)])
    which = which[torch.randperm(rows, generator=g)]
    noise = (torch.rand(rows, fan_in, generator=g) * 2 - 1) * atol / 4
    return distinct[which] + noise


@collected
def distinct_rows(student) -> None:
    with checks.exercise("distinct_rows"):
        for i, (rows, fan_in, units, atol) in enumerate(DISTINCT_CASES):
            weight = _repeated_units(rows, fan_in, units, atol, seed=300 + i)
            got = student(weight, atol=atol)
            checks.expect(
                isinstance(got, int) and not isinstance(got, bool),
                f"distinct_rows must return a Python int, got {type(got).__name__}",
            )
            checks.expect(
                got == units,
                f"distinct_rows of a ({rows}, {fan_in}) weight holding {units} different units "
                f"(rows equal within atol = {atol:g}): expected {units}, got {got}",
            )
        # a layer's weight as it is after training: a Parameter that requires grad
        layer = nn.Linear(6, 5)
        with torch.no_grad():
            layer.weight.copy_(_repeated_units(5, 6, 2, 1e-6, seed=400))
        got = student(layer.weight)
        checks.expect(got == 2, f"distinct_rows(nn.Linear(6, 5).weight): expected 2, got {got}")


# Conceptual questions: the kernel reports the answer, the judge knows the key.
q_ratio_bound = answered("q_ratio_bound")
q_xavier = answered("q_xavier")
q_residual = answered("q_residual")
q_he_std = answered("q_he_std")
q_symmetry = answered("q_symmetry")
