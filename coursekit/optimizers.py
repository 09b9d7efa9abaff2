"""The optimizers of ``train.fit``, through torch.optim's functional API.

torch.optim's classes import ``torch._dynamo`` at their first ``step()`` (``Optimizer.step``
marks a graph break for the compiler): about 1.2 s of a lesson on one CPU, paid by every
lesson that trains. The functional forms (``torch.optim.sgd.sgd``, ``torch.optim.adam.adam``)
are what those classes call, so the weights after each step are bitwise the same
(tests/test_optimizers.py compares them with ``torch.optim.SGD`` and ``torch.optim.Adam``).
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch.optim.adam import adam
from torch.optim.sgd import sgd

#: the optimizers ``fit`` offers: plain SGD, SGD with momentum 0.9, Adam (torch's defaults)
NAMES = ("sgd", "momentum", "adam")
MOMENTUM = 0.9
ADAM_BETAS = (0.9, 0.999)
ADAM_EPS = 1e-8


class Optimizer:
    """``name``'s update of ``params``, like ``torch.optim.SGD`` / ``torch.optim.Adam``.

    ``weight_decay`` adds ``weight_decay * w`` to each gradient before the update (torch's
    ``weight_decay``). Parameters without a gradient are left alone, as torch does.
    """

    def __init__(
        self, name: str, params: Iterable[torch.Tensor], lr: float, weight_decay: float = 0.0
    ) -> None:
        if name not in NAMES:
            raise ValueError(f"optimizer must be one of {', '.join(NAMES)}, got {name!r}")
        self.name = name
        self.params = list(params)
        self.lr = lr
        self.weight_decay = weight_decay
        self.state: dict[int, dict[str, torch.Tensor]] = {}  # index in params: its state

    def zero_grad(self) -> None:
        """Forget every gradient (``set_to_none``, as torch's default)."""
        for p in self.params:
            p.grad = None

    @torch.no_grad()
    def step(self) -> None:
        """One update of every parameter that has a gradient."""
        indices = [i for i, p in enumerate(self.params) if p.grad is not None]
        if not indices:
            return
        params = [self.params[i] for i in indices]
        grads = [p.grad for p in params]
        if self.name == "adam":
            self._adam(indices, params, grads)
        else:
            self._sgd(indices, params, grads)

    def _sgd(self, indices: list[int], params: list, grads: list) -> None:
        momentum = MOMENTUM if self.name == "momentum" else 0.0
        buffers = [self.state.get(i, {}).get("momentum_buffer") for i in indices]
        sgd(
            params,
            grads,
            buffers,
            foreach=True,
            weight_decay=self.weight_decay,
            momentum=momentum,
            lr=self.lr,
            dampening=0.0,
            nesterov=False,
            maximize=False,
        )
        if momentum:  # sgd filled the buffers of the first step in place of the Nones
            for i, buffer in zip(indices, buffers, strict=True):
                self.state[i] = {"momentum_buffer": buffer}

    def _adam(self, indices: list[int], params: list, grads: list) -> None:
        for i, p in zip(indices, params, strict=True):
            if i not in self.state:
                self.state[i] = {
                    "step": torch.tensor(0.0),
                    "exp_avg": torch.zeros_like(p, memory_format=torch.preserve_format),
                    "exp_avg_sq": torch.zeros_like(p, memory_format=torch.preserve_format),
                }
        states = [self.state[i] for i in indices]
        adam(
            params,
            grads,
            [s["exp_avg"] for s in states],
            [s["exp_avg_sq"] for s in states],
            [],
            [s["step"] for s in states],
            foreach=True,
            amsgrad=False,
            beta1=ADAM_BETAS[0],
            beta2=ADAM_BETAS[1],
            lr=self.lr,
            weight_decay=self.weight_decay,
            eps=ADAM_EPS,
            maximize=False,
        )
