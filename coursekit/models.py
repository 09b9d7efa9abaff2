"""Model builders for the experiments: configurable MLPs, a vanilla RNN, torch.nn's recurrent
layers (tanh RNN, LSTM, GRU) with a read-out."""

from __future__ import annotations

import math
import re

import torch
from torch import nn

ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "leaky_relu": nn.LeakyReLU,
    "elu": nn.ELU,
    "sigmoid": nn.Sigmoid,
    "tanh": nn.Tanh,
}
INITS = ("default", "xavier", "he", "normal(std)")
_NORMAL = re.compile(r"^normal\(\s*([0-9.eE+-]+)\s*\)$")


def normal(std: float) -> str:
    """The init spec for weights drawn from N(0, std^2): ``mlp(..., init=normal(1.0))``."""
    if not (isinstance(std, int | float) and math.isfinite(std) and std > 0):
        raise ValueError(f"std must be a positive number, got {std!r}")
    return f"normal({std})"


def _parse_init(init: str) -> tuple[str, float | None]:
    if init in ("default", "xavier", "he"):
        return init, None
    match = _NORMAL.match(init) if isinstance(init, str) else None
    if match:
        std = float(match.group(1))
        if std > 0:
            return "normal", std
    raise ValueError(f"init must be one of {', '.join(INITS)} (e.g. 'normal(0.5)'), got {init!r}")


def _gain(activation: str) -> tuple[str, float]:
    """The nonlinearity name and slope torch.nn.init expects for ``activation``."""
    if activation == "leaky_relu":
        return "leaky_relu", 0.01
    if activation in ("relu", "elu"):
        return "relu", 0.0
    return activation, 0.0


def init_linear(layer: nn.Linear, init: str, activation: str, generator: torch.Generator) -> None:
    """Initialise ``layer.weight`` in place (bias to 0) with torch.nn.init's schemes."""
    kind, std = _parse_init(init)
    if kind == "default":
        return
    nonlinearity, slope = _gain(activation)
    with torch.no_grad():
        if kind == "xavier":
            gain = nn.init.calculate_gain(nonlinearity, slope or None)
            nn.init.xavier_uniform_(layer.weight, gain=gain, generator=generator)
        elif kind == "he":
            nn.init.kaiming_normal_(
                layer.weight, a=slope, nonlinearity=nonlinearity, generator=generator
            )
        else:
            nn.init.normal_(layer.weight, 0.0, std, generator=generator)
        if layer.bias is not None:
            layer.bias.zero_()


class Block(nn.Module):
    """One hidden layer: ``act(bn(linear(x)))``, dropout, and ``x +`` that if residual."""

    def __init__(
        self,
        n_in: int,
        n_out: int,
        activation: str,
        batchnorm: bool,
        residual: bool,
        dropout: float,
        layernorm: bool = False,
    ):
        super().__init__()
        self.linear = nn.Linear(n_in, n_out)
        self.norm = nn.BatchNorm1d(n_out) if batchnorm else nn.Identity()
        if layernorm:
            self.norm = nn.LayerNorm(n_out)
        self.act = ACTIVATIONS[activation]()
        self.drop = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.residual = residual and n_in == n_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.drop(self.act(self.norm(self.linear(x))))
        return x + out if self.residual else out


class MLP(nn.Module):
    """``depth`` hidden blocks of width ``hidden``, then a linear output layer.

    Input (N, in_features) → output (N, out_features) logits.
    """

    def __init__(self, blocks: list[Block], head: nn.Linear):
        super().__init__()
        self.blocks = nn.ModuleList(blocks)
        self.head = head

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.blocks:
            x = block(x)
        return self.head(x)


def _positive_int(value: object, name: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return value


def mlp(
    in_features: int,
    hidden: int,
    depth: int,
    out_features: int,
    activation: str = "relu",
    init: str = "default",
    batchnorm: bool = False,
    residual: bool = False,
    dropout: float = 0.0,
    seed: int = 0,
    layernorm: bool = False,
) -> MLP:
    """A multi-layer perceptron for the experiments.

    - depth: number of hidden layers (each ``Linear → [BatchNorm] → activation → [Dropout]``).
    - activation: one of relu, leaky_relu, elu, sigmoid, tanh.
    - init: default (PyTorch's), xavier, he, or normal(std) (see ``normal``).
    - batchnorm / layernorm: normalise each pre-activation over the batch / over the layer's
      units (``nn.BatchNorm1d`` / ``nn.LayerNorm``), not both.
    - residual: add the block's input to its output where the widths match (``x + F(x)``).
    - dropout: drop probability after each hidden activation (1.0 drops everything).
    - seed: weights are drawn from a torch.Generator seeded with it.

    Input (N, in_features) → logits (N, out_features).
    """
    for value, name in ((in_features, "in_features"), (hidden, "hidden"), (depth, "depth")):
        _positive_int(value, name)
    _positive_int(out_features, "out_features")
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {', '.join(ACTIVATIONS)}, got {activation!r}")
    _parse_init(init)
    if batchnorm and layernorm:
        raise ValueError("choose batchnorm or layernorm, not both")
    if not (isinstance(dropout, int | float) and 0.0 <= dropout <= 1.0):
        raise ValueError(f"dropout must be in [0, 1], got {dropout!r}")
    generator = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)  # PyTorch's default init draws from the global generator
        widths = [in_features] + [hidden] * depth
        blocks = [
            Block(n_in, n_out, activation, batchnorm, residual, float(dropout), layernorm)
            for n_in, n_out in zip(widths[:-1], widths[1:], strict=True)
        ]
        head = nn.Linear(hidden, out_features)
    for block in blocks:
        init_linear(block.linear, init, activation, generator)
    init_linear(head, init, "linear", generator)
    return MLP(blocks, head)


RNN_NONLINEARITIES = {"tanh": torch.tanh, "relu": torch.relu}


class VanillaRNN(nn.Module):
    """``h_t = f(W_xh x_t + W_hh h_{t-1} + b)``, read out from the last hidden state.

    ``f`` is tanh or relu. Written as an explicit loop over time, one fused
    ``addmm`` a step (the input side computed for all steps at once): twice as fast as
    calling ``recurrent`` each step, and bitwise the same.
    Input (N, T, input_size) → output (N, out_features).
    """

    def __init__(self, input_size: int, hidden: int, out_features: int, nonlinearity: str = "tanh"):
        super().__init__()
        self.input = nn.Linear(input_size, hidden)
        self.recurrent = nn.Linear(hidden, hidden, bias=False)
        self.head = nn.Linear(hidden, out_features)
        self.nonlinearity = nonlinearity
        self._f = RNN_NONLINEARITIES[nonlinearity]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 3:
            raise ValueError(f"x must have shape (N, T, input_size), got {tuple(x.shape)}")
        h = x.new_zeros(x.shape[0], self.recurrent.in_features)
        w_hh = self.recurrent.weight.t()
        for inputs in self.input(x).unbind(1):  # all time steps at once: T of (N, hidden)
            h = self._f(torch.addmm(inputs, h, w_hh))  # inputs + h W_hh^T
        return self.head(h)


def rnn(
    input_size: int = 2,
    hidden: int = 32,
    out_features: int = 1,
    recurrent_scale: float = 1.0,
    nonlinearity: str = "tanh",
    seed: int = 0,
) -> VanillaRNN:
    """A vanilla RNN whose recurrent matrix has spectral radius ``recurrent_scale``.

    W_hh is a random orthogonal matrix times ``recurrent_scale``: every eigenvalue
    has modulus exactly that, so > 1 makes gradients through time grow and < 1
    makes them shrink. ``nonlinearity`` is tanh (bounded: saturation caps the
    growth) or relu (unbounded: a radius above 1 explodes).
    """
    if nonlinearity not in RNN_NONLINEARITIES:
        raise ValueError(
            f"nonlinearity must be one of {', '.join(RNN_NONLINEARITIES)}, got {nonlinearity!r}"
        )
    _positive_int(input_size, "input_size")
    _positive_int(hidden, "hidden")
    _positive_int(out_features, "out_features")
    if not (isinstance(recurrent_scale, int | float) and 0 < recurrent_scale < 1e3):
        raise ValueError(f"recurrent_scale must be a positive number, got {recurrent_scale!r}")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = VanillaRNN(input_size, hidden, out_features, nonlinearity)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        nn.init.orthogonal_(model.recurrent.weight, generator=generator)
        model.recurrent.weight.mul_(recurrent_scale)
    return model


RECURRENT_LAYERS: dict[str, type[nn.RNNBase]] = {"tanh": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}


class Recurrent(nn.Module):
    """One torch.nn recurrent layer (tanh RNN, LSTM or GRU), read out by a linear layer from
    its last hidden state. Input (N, T, input_size) → output (N, out_features)."""

    def __init__(self, kind: str, input_size: int, hidden: int, out_features: int):
        super().__init__()
        self.kind = kind
        self.cell = RECURRENT_LAYERS[kind](input_size, hidden, batch_first=True)
        self.head = nn.Linear(hidden, out_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.cell(x)
        return self.head(out[:, -1])

    def stepwise(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """The same output, computed one time step at a time: ``(output, states)``, where
        ``states[t]`` (1, N, hidden) is the hidden state h_(t+1) that the next step and the
        read-out use, kept so that its ``.grad`` holds dL/dh_t after ``backward()``."""
        state, states = None, []
        for t in range(x.shape[1]):
            _, state = self.cell(x[:, t : t + 1], state)
            h = state[0] if self.kind == "lstm" else state  # an LSTM's state is (h, c)
            h.retain_grad()
            states.append(h)
        return self.head(states[-1][0]), states


def recurrent(
    kind: str,
    input_size: int,
    hidden: int = 32,
    out_features: int = 1,
    forget_bias: float | None = None,
    seed: int = 0,
) -> Recurrent:
    """A ``Recurrent`` model with PyTorch's default initialisation, drawn with ``seed``.

    - kind: "tanh" (``nn.RNN``), "lstm" or "gru".
    - forget_bias: LSTM only; sets the forget gate's bias (its input-side bias to
      ``forget_bias``, its hidden-side bias to 0), so that the gate starts at
      sigmoid(forget_bias): near 1, the cell state is carried from step to step.
    """
    if kind not in RECURRENT_LAYERS:
        raise ValueError(f"kind must be one of {', '.join(RECURRENT_LAYERS)}, got {kind!r}")
    for value, name in ((input_size, "input_size"), (hidden, "hidden")):
        _positive_int(value, name)
    _positive_int(out_features, "out_features")
    if forget_bias is not None and kind != "lstm":
        raise ValueError(f"forget_bias is for an LSTM only, not {kind!r}")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = Recurrent(kind, input_size, hidden, out_features)
    if forget_bias is not None:
        with torch.no_grad():  # PyTorch's gate order is (input, forget, cell, output)
            model.cell.bias_ih_l0[hidden : 2 * hidden].fill_(float(forget_bias))
            model.cell.bias_hh_l0[hidden : 2 * hidden].zero_()
    return model
