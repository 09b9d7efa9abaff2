"""coursekit.data: offline, deterministic per seed, different across seeds."""

import subprocess
import sys

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from coursekit import data

seeds = st.integers(0, 2**31 - 1)


@given(seed=seeds)
@settings(max_examples=15, deadline=None)
def test_generators_are_deterministic_per_seed(seed):
    for make in (
        lambda s: data.spirals(20, 3, 0.2, s),
        lambda s: data.moons(30, 0.1, s),
        lambda s: data.adding_problem(10, 12, s),
    ):
        a, b = make(seed), make(seed)
        np.testing.assert_array_equal(a[0], b[0])
        np.testing.assert_array_equal(a[1], b[1])
        c = make(seed + 1)
        assert not np.array_equal(a[0], c[0])


def test_spirals_and_moons_shapes():
    x, y = data.spirals(50, 4, 0.1, 0)
    assert x.shape == (200, 2) and y.shape == (200,) and set(y) == {0, 1, 2, 3}
    x, y = data.moons(101, 0.1, 0)
    assert x.shape == (101, 2) and sorted(set(y)) == [0, 1]


def test_digits_split_standardised_and_seeded():
    d = data.digits(val_fraction=0.25, seed=3)
    assert d.x_train.shape[1] == 64
    assert len(d.x_train) + len(d.x_val) == 1797
    assert abs(len(d.x_val) - 0.25 * 1797) <= 1
    np.testing.assert_allclose(d.x_train.mean(0), 0, atol=1e-9)
    assert d.n_classes == 10
    np.testing.assert_array_equal(d.y_val, data.digits(0.25, 3).y_val)
    assert not np.array_equal(d.y_val, data.digits(0.25, 4).y_val)
    xt, yt, xv, yv = d.tensors()
    assert xt.dtype == torch.float32 and yt.dtype == torch.long and xt.shape == (len(yt), 64)


def test_digits_subset_keeps_validation():
    d = data.digits()
    s = d.subset(100, seed=1)
    assert len(s.x_train) == 100 and s.x_val is d.x_val
    with pytest.raises(ValueError, match="n_train must be at most"):
        d.subset(10**6)


def test_adding_problem_target_is_sum_of_marked_values():
    x, y = data.adding_problem(50, 30, 0)
    assert x.shape == (50, 30, 2) and y.shape == (50, 1)
    assert np.all(x[:, :, 1].sum(1) == 2)
    np.testing.assert_allclose((x[:, :, 0] * x[:, :, 1]).sum(1), y[:, 0], rtol=1e-6)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: data.spirals(0), "n_per_class must be a positive integer"),
        (lambda: data.moons(10, noise=-1), "noise must be a finite number"),
        (lambda: data.digits(val_fraction=1.5), "val_fraction must be strictly between"),
        (lambda: data.adding_problem(10, 1), "seq_len must be at least 2"),
    ],
)
def test_bad_arguments_name_the_argument(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_no_network(monkeypatch):
    import socket

    def refuse(*args, **kwargs):
        raise AssertionError("coursekit.data tried to open a network connection")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    data.digits()


def test_label_noise_replaces_about_the_given_fraction():
    d = data.digits()
    noisy = data.with_label_noise(d, 0.5, seed=1)
    changed = np.mean(noisy.y_train != d.y_train)
    assert 0.5 * 0.9 - 0.05 < changed < 0.5 * 0.9 + 0.05  # a random class is right 1 time in 10
    np.testing.assert_array_equal(noisy.y_val, d.y_val)
    np.testing.assert_array_equal(data.with_label_noise(d, 0.5, seed=1).y_train, noisy.y_train)
    np.testing.assert_array_equal(data.with_label_noise(d, 0.0).y_train, d.y_train)
    with pytest.raises(ValueError, match=r"fraction must be in \[0, 1\]"):
        data.with_label_noise(d, 1.5)


@settings(max_examples=20, deadline=None)
@given(n=st.integers(1, 30), seq_len=st.integers(1, 12), n_symbols=st.integers(2, 6))
def test_first_token_labels_are_the_first_symbol(n, seq_len, n_symbols):
    x, y = data.first_token(n, seq_len, n_symbols, seed=3)
    assert x.shape == (n, seq_len, n_symbols) and x.dtype == np.float32
    assert y.shape == (n,) and y.dtype == np.int64
    np.testing.assert_array_equal(x.sum(axis=-1), 1.0)  # one-hot at every step
    np.testing.assert_array_equal(x[:, 0].argmax(axis=-1), y)
    np.testing.assert_array_equal(data.first_token(n, seq_len, n_symbols, seed=3)[0], x)


def test_first_token_rejects_one_symbol():
    with pytest.raises(ValueError, match="n_symbols must be at least 2"):
        data.first_token(10, 5, 1)


def test_digits_are_scikit_learns_read_without_importing_it():
    """The same pixels and labels as sklearn.datasets.load_digits (the oracle), read from the
    file it ships without importing sklearn (a second of every lesson's start)."""
    code = (
        "import sys\nfrom coursekit import data\nsplit = data.digits()\n"
        "print(len(split.x_train) + len(split.x_val), 'sklearn' in sys.modules)"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert run.stdout.split() == ["1797", "False"], run.stdout + run.stderr
    from sklearn.datasets import load_digits

    raw = load_digits()
    pixels, labels = data._digits_file()
    assert np.array_equal(pixels, raw.data) and np.array_equal(labels, raw.target)
    assert pixels.dtype == np.float64 and labels.dtype == np.int64
