"""autograder.integrity: replacing a function the tests use is seen; ordinary code is not."""

import numpy as np
import torch

from autograder import integrity


def test_ordinary_code_is_ok(capsys):
    check = integrity.snapshot()
    torch.manual_seed(0)
    np.random.default_rng(0).normal(size=3)
    assert check() == integrity.OK
    assert capsys.readouterr().out.strip() == integrity.OK


def test_a_replaced_function_is_named(monkeypatch):
    check = integrity.snapshot()
    monkeypatch.setattr(np, "allclose", lambda *a, **k: True)
    monkeypatch.setattr(torch.nn.functional, "linear", lambda *a, **k: None)
    line = check()
    assert line.startswith(integrity.REPLACED)
    assert "numpy.allclose" in line and "torch.nn.functional.linear" in line
