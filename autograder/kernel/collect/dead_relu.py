"""Hidden checks of lesson 04_dead_relu. Oracles: the definition of a dead unit,
torch's LeakyReLU and autograd."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from autograder.kernel.collect.common import forbid_calls, rng_for
from autograder.kernel.collect.record import answered, collected, observed
from coursekit import checks, models
from coursekit import monitor as coursekit_monitor

LESSON = "04_dead_relu"
_MONITOR = (
    coursekit_monitor._activation_stats,
    coursekit_monitor.GradientMonitor.record,
    coursekit_monitor.History.at_step,
)


def _fraction(student, activations: torch.Tensor) -> float:
    with forbid_calls("dead_unit_fraction", *_MONITOR):
        got = student(activations)
    checks.expect(
        isinstance(got, float),
        f"dead_unit_fraction must return a Python float, got {type(got).__name__} (use .item())",
    )
    return got


@collected
def dead_unit_fraction(student) -> None:
    with checks.exercise("dead_unit_fraction"):
        rng = rng_for("dead_unit_fraction")
        for n, units, n_dead in [(50, 10, 3), (7, 40, 0), (200, 16, 16), (3, 5, 4)]:
            pre = torch.tensor(rng.normal(size=(n, units)))
            dead = rng.choice(units, n_dead, replace=False)
            pre[:, dead] = -pre[:, dead].abs() - 0.1
            acts = torch.relu(pre)
            expected = float(((acts == 0).all(dim=0)).double().mean())
            checks.expect_close(
                _fraction(student, acts),
                expected,
                f"dead fraction of {units} units over {n} inputs ({n_dead} dead)",
                hint="a unit is dead if it is 0 for EVERY input: reduce over the batch axis (0)",
            )
        # a unit that fires for a single input is alive
        acts = torch.zeros(100, 4)
        acts[17, 2] = 0.5
        checks.expect_close(
            _fraction(student, acts),
            0.75,
            "4 units, one of which fires for exactly one of 100 inputs",
            hint="that unit is alive: it passes gradient for that one input",
        )
        # small but positive activations are alive
        acts = torch.full((20, 5), 1e-4)
        checks.expect_close(_fraction(student, acts), 0.0, "units that always output 1e-4 (alive)")
        # an empty batch is an error, not a number
        try:
            student(torch.zeros(0, 8))
        except ValueError as exc:
            checks.expect(
                len(str(exc)) > 10, "the ValueError for an empty batch should say what is wrong"
            )
        else:
            checks.fail("dead_unit_fraction of an empty batch (0 inputs) must raise a ValueError")


@collected
def leaky_relu_forward(student) -> None:
    with checks.exercise("leaky_relu_forward"):
        for shape, alpha in [((1, 6), 0.01), ((4, 3, 2), 0.2), ((9,), 0.5)]:
            x = rng_for(f"leaky{shape}").normal(size=shape) * 3
            expected = nn.functional.leaky_relu(torch.tensor(x), alpha)  # before the call
            out, _ = student(x, alpha)
            checks.expect_close(out, expected, f"out for alpha={alpha}, shape {shape}")
        x = np.array([[-2.0, 1.0]])
        out, _ = student(x)
        checks.expect_close(out, [[-0.02, 1.0]], "out with the default alpha (0.01)")
        checks.expect(
            np.array_equal(x, [[-2.0, 1.0]]), "leaky_relu_forward changed its input in place"
        )


@collected
def leaky_relu_backward(forward, backward) -> None:
    with checks.exercise("leaky_relu_backward"):
        for shape, alpha in [((1, 6), 0.01), ((4, 3, 2), 0.2), ((9,), 0.5)]:
            rng = rng_for(f"leakyb{shape}")
            x = rng.normal(size=shape) * 3
            x[np.abs(x) < 1e-3] = 0.7
            dout = rng.normal(size=shape)
            xt = torch.tensor(x, requires_grad=True)
            nn.functional.leaky_relu(xt, alpha).backward(torch.tensor(dout))
            _, cache = forward(x, alpha)
            dx = backward(dout, cache)
            checks.expect_close(
                dx,
                xt.grad,
                f"dx for alpha={alpha}, shape {shape}",
                hint="dout where x > 0, alpha * dout where x < 0",
            )


def _oracle_dead(model: nn.Module, x: torch.Tensor) -> dict[str, float]:
    outs: dict[str, torch.Tensor] = {}
    handles = [
        m.register_forward_hook(lambda mod, i, o, name=name: outs.__setitem__(name, o.detach()))
        for name, m in model.named_modules()
        if isinstance(m, nn.ReLU | nn.LeakyReLU)
    ]
    with torch.no_grad():
        model(x)
    for h in handles:
        h.remove()
    return {name: float((o == 0).all(dim=0).double().mean()) for name, o in outs.items()}


DEAD_LAYER_CASES = [("relu", -0.5), ("relu", -5.0), ("leaky_relu", -5.0)]


def _dead_layer_case(activation: str, bias: float) -> tuple[nn.Module, torch.Tensor]:
    x = torch.randn(64, 10, generator=torch.Generator().manual_seed(0))
    model = models.mlp(10, 12, 3, 4, activation=activation, seed=2)
    with torch.no_grad():
        model.blocks[1].linear.bias[:6] = bias
    return model, x


def observe_dead_units_by_layer(student) -> dict:
    """Per case: the student's dict, the forward hooks left behind, whether grads appeared."""
    cases = []
    for activation, bias in DEAD_LAYER_CASES:
        model, x = _dead_layer_case(activation, bias)
        got = student(model, x)
        cases.append(
            {
                "got": got if isinstance(got, dict) else repr(type(got).__name__),
                "hooks": sum(len(m._forward_hooks) for m in model.modules()),
                "grads": any(p.grad is not None for p in model.parameters()),
            }
        )
    return {"cases": cases}


def judge_dead_units_by_layer(seen: dict) -> None:
    with checks.exercise("dead_units_by_layer"):
        for (activation, bias), case in zip(DEAD_LAYER_CASES, seen["cases"], strict=True):
            expected = _oracle_dead(*_dead_layer_case(activation, bias))
            got = case["got"]
            checks.expect(isinstance(got, dict), f"must return a dict, got {got}")
            checks.expect(
                list(got) == list(expected),
                f"keys {list(got)}: expected the names of the ReLU modules {list(expected)}",
            )
            for name, value in expected.items():
                checks.expect_close(got[name], value, f"{name} ({activation}, bias {bias})")
            checks.expect(
                case["hooks"] == 0,
                f"{case['hooks']} forward hook(s) left on the model: remove them",
            )
            checks.expect(
                not case["grads"],
                "measuring dead units must not compute gradients: use torch.no_grad()",
            )


dead_units_by_layer = observed(observe_dead_units_by_layer, judge_dead_units_by_layer)


# Conceptual questions: the kernel reports the answer, the judge knows the key.
q_recover = answered("q_recover")
q_leaky_slope = answered("q_leaky_slope")
