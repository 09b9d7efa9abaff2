"""coursekit.faults: the suite's cases, and each injection really in the model built."""

from __future__ import annotations

import pytest
import torch

from coursekit import faults
from coursekit.diagnosis import KINDS

pytestmark = pytest.mark.diagnosis


def test_cases_cover_every_kind_on_several_architectures():
    cases = faults.cases(range(5))
    for kind in faults.SUITE_KINDS:
        found = [c for c in cases if c.kind == kind]
        assert len({c.arch for c in found}) >= 2 and len({c.seed for c in found}) == 5
    assert set(faults.SUITE_KINDS) == {*KINDS, "healthy"}
    with pytest.raises(ValueError, match="kind"):
        faults.cases(range(1), ("sleepy",))


def test_injections_are_in_the_models():
    model, _, _ = faults.build(faults.Case("dead_relu", "mlp-3x64", 0))
    assert all((block.linear.bias <= -2).all() for block in model.blocks)
    model, _, opts = faults.build(faults.Case("vanishing", "mlp-6x32", 0))
    assert isinstance(model.blocks[0].act, torch.nn.Sigmoid)
    assert model.blocks[1].linear.weight.std() < 0.07
    _, _, opts = faults.build(faults.Case("lr_too_low", "mlp-3x64", 0))
    assert opts["lr"] <= 1e-5
    _, split, opts = faults.build(faults.Case("overfitting", "mlp-3x64", 0))
    assert len(split.x_train) == 40 and len(split.x_val) > 300
    model, _, _ = faults.build(faults.Case("healthy", "res-8x64", 0))
    assert model.blocks[1].residual


def test_a_run_records_past_100_steps():
    import contextlib
    import io

    with contextlib.redirect_stdout(io.StringIO()):
        monitor, history = faults.run(faults.Case("healthy", "mlp-3x64", 1))
    assert len(monitor.history.steps) > 100 and history.epochs == 3
