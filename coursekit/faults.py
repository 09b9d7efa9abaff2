"""A labelled suite of training runs with injected faults, to measure ``diagnose``.

Each ``Case`` is a kind (one of ``diagnosis.KINDS`` or "healthy"), an
architecture and a seed; ``run(case)`` trains it on the digits (offline, CPU,
about a second) with a ``GradientMonitor`` recording every step, and returns
the monitor and ``fit``'s history. The faults, as a student meets them:

- vanishing: sigmoid MLP, weights drawn small (N(0, 0.05^2) / N(0, 0.1^2));
- exploding: ReLU MLP, plain SGD without clipping, at lr 2 (He init) or at lr 0.3 with
  weights drawn at 3 times He's scale;
- dead_relu: ReLU MLP whose hidden biases start strongly negative;
- saturation: tanh MLP with weights drawn large;
- lr_too_high: a Leaky ReLU or tanh network, Xavier init, under Adam at lr 0.05;
- lr_too_low: a ReLU or tanh network, He init, plain SGD at lr 1e-5;
- overfitting: a wide network on 40 training digits with noisy labels, Adam;
- healthy: the same architectures, He (ReLU) or Xavier (tanh) init, sensible rates.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import torch

from coursekit import data, models
from coursekit.diagnosis import HEALTHY, KINDS
from coursekit.monitor import GradientMonitor
from coursekit.train import TrainHistory, fit

SUITE_KINDS = (*KINDS, HEALTHY)
#: name -> (depth, width, residual)
ARCHITECTURES = {
    "mlp-3x64": (3, 64, False),
    "mlp-6x32": (6, 32, False),
    "mlp-10x48": (10, 48, False),
    "res-8x64": (8, 64, True),
}


@dataclass(frozen=True)
class Case:
    kind: str
    arch: str
    seed: int

    def __str__(self) -> str:
        return f"{self.kind}/{self.arch}/seed{self.seed}"


def _archs(kind: str) -> tuple[str, ...]:
    """The architectures a fault really shows on (a residual path stops vanishing)."""
    if kind == "vanishing":
        return ("mlp-6x32", "mlp-10x48")
    if kind == "overfitting":  # made 256 wide
        return ("mlp-3x64", "mlp-6x32")
    return tuple(ARCHITECTURES)


def cases(seeds: range | list[int], kinds: tuple[str, ...] = SUITE_KINDS) -> list[Case]:
    """Every (kind, architecture, seed) of the suite, for ``seeds``."""
    for kind in kinds:
        if kind not in SUITE_KINDS:
            raise ValueError(f"kind must be one of {', '.join(SUITE_KINDS)}, got {kind!r}")
    return [Case(k, a, s) for k in kinds for a in _archs(k) for s in seeds]


@functools.cache
def _digits() -> data.DataSplit:
    return data.digits(seed=0)


def _recipe(case: Case) -> dict:
    """Model options, fit options, training data and a bias shift for ``case``."""
    depth, width, residual = ARCHITECTURES[case.arch]
    s = case.seed
    model = {"depth": depth, "hidden": width, "residual": residual}
    opts = {"optimizer": "momentum", "lr": 0.02, "batch_size": 32, "epochs": 3}
    split = _digits()
    bias = 0.0
    variant = s % 2  # two flavours of each fault, alternating with the seed
    if case.kind == HEALTHY:
        act = ("relu", "tanh", "leaky_relu")[s % 3]
        model |= {"activation": act, "init": "xavier" if act == "tanh" else "he"}
        opts |= {"optimizer": "adam", "lr": 1e-3} if variant else {"lr": 0.01}
    elif case.kind == "vanishing":
        model |= {"activation": "sigmoid", "init": models.normal((0.05, 0.1)[variant])}
        opts |= {"lr": 0.1}
    elif case.kind == "exploding":
        model |= {"activation": "relu"}
        if variant:  # weights drawn 3 times He's scale: the signal grows ~4x per layer
            model["init"] = models.normal(round(3 * (2 / width) ** 0.5, 3))
            opts |= {"optimizer": "sgd", "lr": 0.3}
        else:
            model["init"] = "he"
            opts |= {"optimizer": "sgd", "lr": 2.0}
    elif case.kind == "dead_relu":
        model |= {"activation": "relu", "init": "he"}
        bias = -2.0 - variant
    elif case.kind == "saturation":
        model |= {"activation": "tanh", "init": models.normal((1.0, 2.0)[variant])}
        opts |= {"lr": 0.01}
    elif case.kind == "lr_too_high":
        model |= {"activation": ("leaky_relu", "tanh")[variant], "init": "xavier"}
        opts |= {"optimizer": "adam", "lr": 0.05}
    elif case.kind == "lr_too_low":
        model |= {"activation": ("relu", "tanh")[variant], "init": "he"}
        opts |= {"optimizer": "sgd", "lr": 1e-5}
    elif case.kind == "overfitting":
        model |= {"activation": "relu", "init": "he", "hidden": 256}
        split = data.with_label_noise(split.subset(40, seed=s), 0.3, seed=s)
        opts |= {"optimizer": "adam", "lr": 3e-3, "batch_size": 8, "epochs": 21}
    if residual and model.get("init") in ("he", "xavier"):
        # x + f(x) adds the block's variance at every block: He/Xavier would grow the
        # signal 2^depth-fold; blocks scaled down by sqrt(depth) keep it bounded
        gain = 2.0 if model["activation"] in ("relu", "leaky_relu") else 1.0
        model["init"] = models.normal(round((gain / width / depth) ** 0.5, 4))
    return {"model": model, "fit": opts, "split": split, "bias": bias}


def build(case: Case) -> tuple[torch.nn.Module, data.DataSplit, dict]:
    """The model (seeded), the data and the ``fit`` options of ``case``."""
    recipe = _recipe(case)
    split = recipe["split"]
    model = models.mlp(split.x_train.shape[1], out_features=10, seed=case.seed, **recipe["model"])
    if recipe["bias"]:
        with torch.no_grad():
            for block in model.blocks:
                block.linear.bias.fill_(recipe["bias"])
    return model, split, recipe["fit"] | {"seed": case.seed}


def run(case: Case) -> tuple[GradientMonitor, TrainHistory]:
    """Train ``case`` with a monitor recording every step; return (monitor, history)."""
    model, split, opts = build(case)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(case.seed)
        with GradientMonitor(model) as mon:
            history = fit(model, split, monitor=mon, progress=False, **opts)
    return mon, history
