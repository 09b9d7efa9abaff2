"""Offline, seeded data sets: generated ones and the digits scikit-learn ships.

Nothing here touches the network.
"""

from __future__ import annotations

import functools
import importlib.util
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch


@dataclass(frozen=True)
class DataSplit:
    """A train/validation split. ``x_*`` are float arrays (N, D), ``y_*`` int labels (N,)
    (or float targets (N, 1) for regression tasks)."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray

    def tensors(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(x_train, y_train, x_val, y_val)`` as torch tensors (float32 inputs)."""

        def t(a: np.ndarray, inputs: bool) -> torch.Tensor:
            if inputs or a.dtype.kind == "f":
                return torch.as_tensor(a, dtype=torch.float32)
            return torch.as_tensor(a, dtype=torch.long)

        return (
            t(self.x_train, True),
            t(self.y_train, False),
            t(self.x_val, True),
            t(self.y_val, False),
        )

    @property
    def n_classes(self) -> int:
        return int(max(self.y_train.max(), self.y_val.max())) + 1

    def subset(self, n_train: int, seed: int = 0) -> DataSplit:
        """A copy keeping ``n_train`` training examples (chosen at random); same validation set."""
        _check_positive_int(n_train, "n_train")
        if n_train > len(self.x_train):
            raise ValueError(f"n_train must be at most {len(self.x_train)}, got {n_train}")
        idx = np.random.default_rng(seed).permutation(len(self.x_train))[:n_train]
        return DataSplit(self.x_train[idx], self.y_train[idx], self.x_val, self.y_val)


def _check_positive_int(value: object, name: str) -> None:
    if not isinstance(value, int | np.integer) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")


def _check_noise(noise: float) -> None:
    if not (isinstance(noise, int | float) and np.isfinite(noise) and noise >= 0):
        raise ValueError(f"noise must be a finite number >= 0, got {noise!r}")


def _check_fraction(value: float, name: str) -> None:
    if not (isinstance(value, int | float) and 0 < value < 1):
        raise ValueError(f"{name} must be strictly between 0 and 1, got {value!r}")


def spirals(
    n_per_class: int = 100, n_classes: int = 3, noise: float = 0.2, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Interleaved 2-D spirals (the CS231n toy set), a task no linear model can solve.

    Returns ``x`` float64 (n_per_class * n_classes, 2) and ``y`` int64 labels of the same length.
    """
    _check_positive_int(n_per_class, "n_per_class")
    _check_positive_int(n_classes, "n_classes")
    _check_noise(noise)
    rng = np.random.default_rng(seed)
    xs, ys = [], []
    for k in range(n_classes):
        r = np.linspace(0.0, 1.0, n_per_class)
        theta = np.linspace(k * 4.0, (k + 1) * 4.0, n_per_class) + rng.normal(0, noise, n_per_class)
        xs.append(np.column_stack([r * np.sin(theta), r * np.cos(theta)]))
        ys.append(np.full(n_per_class, k, dtype=np.int64))
    return np.concatenate(xs), np.concatenate(ys)


def moons(n: int = 200, noise: float = 0.1, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Two interleaving half circles. Returns ``x`` float64 (n, 2) and ``y`` int64 (n,)."""
    _check_positive_int(n, "n")
    _check_noise(noise)
    rng = np.random.default_rng(seed)
    n_top = n // 2
    t_top = rng.uniform(0, np.pi, n_top)
    t_bot = rng.uniform(0, np.pi, n - n_top)
    top = np.column_stack([np.cos(t_top), np.sin(t_top)])
    bottom = np.column_stack([1 - np.cos(t_bot), 0.5 - np.sin(t_bot)])
    x = np.concatenate([top, bottom]) + rng.normal(0, noise, (n, 2))
    y = np.concatenate([np.zeros(n_top, np.int64), np.ones(n - n_top, np.int64)])
    order = rng.permutation(n)
    return x[order], y[order]


def split(x: np.ndarray, y: np.ndarray, val_fraction: float = 0.2, seed: int = 0) -> DataSplit:
    """Shuffle and split ``x`` (N, D), ``y`` (N,) into training and validation sets."""
    _check_fraction(val_fraction, "val_fraction")
    if len(x) != len(y):
        raise ValueError(f"x and y must have the same length, got {len(x)} and {len(y)}")
    order = np.random.default_rng(seed).permutation(len(x))
    n_val = max(1, int(round(len(x) * val_fraction)))
    val, train = order[:n_val], order[n_val:]
    return DataSplit(x[train], y[train], x[val], y[val])


@functools.cache
def _digits_file() -> tuple[np.ndarray, np.ndarray]:
    """The digits as scikit-learn ships them (its datasets/data/digits.csv.gz): pixels
    float64 (1797, 64), labels int64 (1797,).

    Read straight from the file: importing sklearn.datasets to read it costs about a
    second in every lesson.
    """
    spec = importlib.util.find_spec("sklearn")  # finds the package without importing it
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("the digits come with scikit-learn: pip install scikit-learn")
    path = Path(spec.submodule_search_locations[0]) / "datasets" / "data" / "digits.csv.gz"
    table = np.loadtxt(path, delimiter=",")  # numpy reads .gz itself
    pixels, labels = table[:, :-1], table[:, -1].astype(np.int64)
    pixels.setflags(write=False)
    labels.setflags(write=False)
    return pixels, labels


def digits(val_fraction: float = 0.2, seed: int = 0) -> DataSplit:
    """Real handwritten 8x8 digits (1797 images, 10 classes) shipped with scikit-learn.

    Split with a seeded shuffle, then standardised with the training set's mean
    and standard deviation per pixel. ``x_*`` are float64 (N, 64), ``y_*`` int64 (N,).
    """
    pixels, labels = _digits_file()
    data = split(pixels, labels, val_fraction, seed)  # indexing copies the read-only arrays
    mean = data.x_train.mean(axis=0)
    std = data.x_train.std(axis=0)
    std[std == 0] = 1.0  # corner pixels are always blank
    return DataSplit(
        (data.x_train - mean) / std, data.y_train, (data.x_val - mean) / std, data.y_val
    )


def adding_problem(
    n: int = 1000, seq_len: int = 50, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """The adding problem (Hochreiter & Schmidhuber), a long-memory task for RNNs.

    Each sequence has two channels: random values in [0, 1), and a marker that is
    1 at exactly two positions (one in each half). The target is the sum of the
    two marked values, so the answer depends on inputs far back in time.

    Returns ``x`` float32 (n, seq_len, 2) and ``y`` float32 (n, 1).
    """
    _check_positive_int(n, "n")
    _check_positive_int(seq_len, "seq_len")
    if seq_len < 2:
        raise ValueError(f"seq_len must be at least 2, got {seq_len}")
    rng = np.random.default_rng(seed)
    values = rng.random((n, seq_len))
    markers = np.zeros((n, seq_len))
    half = seq_len // 2
    first = rng.integers(0, half, n)
    second = rng.integers(half, seq_len, n)
    rows = np.arange(n)
    markers[rows, first] = 1.0
    markers[rows, second] = 1.0
    x = np.stack([values, markers], axis=-1).astype(np.float32)
    y = (values[rows, first] + values[rows, second]).astype(np.float32)[:, None]
    return x, y


def first_token(
    n: int = 1000, seq_len: int = 50, n_symbols: int = 4, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Remember the first token: a long-memory classification task for RNNs.

    Each sequence is ``seq_len`` random symbols (one-hot); the label is the FIRST
    symbol, which the model must carry through every later step to its output.
    The other symbols are distractors; guessing scores 1 / n_symbols.

    Returns ``x`` float32 (n, seq_len, n_symbols) and ``y`` int64 (n,).
    """
    _check_positive_int(n, "n")
    _check_positive_int(seq_len, "seq_len")
    _check_positive_int(n_symbols, "n_symbols")
    if n_symbols < 2:
        raise ValueError(f"n_symbols must be at least 2, got {n_symbols}")
    tokens = np.random.default_rng(seed).integers(0, n_symbols, (n, seq_len))
    x = np.eye(n_symbols, dtype=np.float32)[tokens]
    return x, tokens[:, 0].astype(np.int64)


def with_label_noise(split: DataSplit, fraction: float, seed: int = 0) -> DataSplit:
    """A copy whose training labels are replaced, with probability ``fraction``, by a
    uniformly random class (which may be the right one). Validation labels stay clean.

    A network that memorises its training set then memorises wrong labels too:
    the setting in which regularisation (dropout) visibly helps.
    """
    if not (isinstance(fraction, int | float) and 0 <= fraction <= 1):
        raise ValueError(f"fraction must be in [0, 1], got {fraction!r}")
    rng = np.random.default_rng(seed)
    y = split.y_train.copy()
    flip = rng.random(len(y)) < fraction
    y[flip] = rng.integers(0, split.n_classes, int(flip.sum()))
    return DataSplit(split.x_train, y, split.x_val, split.y_val)
