"""The claims harness's perturbation (bench/claims_robustness.py): what it changes, and that
two models built alike stay alike."""

from __future__ import annotations

import nbformat
import torch

from coursekit import models
from tests.claims import executed

BUILDERS = {name: getattr(models, name) for name in ("mlp", "rnn", "recurrent")}


def test_no_perturbation_unless_asked(monkeypatch):
    monkeypatch.delenv(executed.PERTURB_ENV, raising=False)
    assert executed.perturbation() is None
    monkeypatch.setenv(executed.PERTURB_ENV, "1e-06:3")
    assert executed.perturbation() == (1e-6, 3)


def _perturbed_builders(monkeypatch, size: float, draw: int) -> None:
    """Run the perturbation cell here, with its changes to coursekit.models undone after."""
    for name, build in BUILDERS.items():
        monkeypatch.setattr(models, name, build)  # the cell wraps coursekit's own builders
    exec(executed._PERTURB_CELL.format(size=size, draw=draw), {})


def _weights(model: torch.nn.Module) -> torch.Tensor:
    return torch.cat([p.detach().flatten() for p in model.parameters()])


def test_the_perturbation_is_small_relative_and_the_same_for_models_built_alike(monkeypatch):
    plain = _weights(models.mlp(8, 16, 3, 4, activation="relu", seed=0))
    _perturbed_builders(monkeypatch, 1e-6, 1)
    first = _weights(models.mlp(8, 16, 3, 4, activation="relu", seed=0))
    again = _weights(models.mlp(8, 16, 3, 4, activation="relu", seed=0))
    other_seed = _weights(models.mlp(8, 16, 3, 4, activation="relu", seed=1))
    assert torch.equal(first, again)  # e.g. lesson 06's runs A and E start alike
    changed = plain != 0
    assert not torch.equal(first, plain) and torch.equal(first[~changed], plain[~changed])
    relative = ((first - plain)[changed] / plain[changed]).abs()
    assert 1e-8 < relative.max() < 1e-5, relative.max()
    assert not torch.equal(other_seed, first)


def test_another_draw_is_another_perturbation(monkeypatch):
    _perturbed_builders(monkeypatch, 1e-6, 1)
    one = _weights(models.recurrent("lstm", input_size=4, hidden=8, out_features=4, seed=0))
    _perturbed_builders(monkeypatch, 1e-6, 2)
    two = _weights(models.recurrent("lstm", input_size=4, hidden=8, out_features=4, seed=0))
    assert not torch.equal(one, two)


def test_an_execution_is_kept_only_when_asked_and_reads_back_alike(monkeypatch, tmp_path):
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("It says 3.")])
    done = executed.Executed("00_demo", notebook, {"runs": [1, 2.5], "name": "x"}, 1.0)
    monkeypatch.delenv(executed.KEEP_ENV, raising=False)
    executed.keep(done)
    assert not list(tmp_path.iterdir())
    monkeypatch.setenv(executed.KEEP_ENV, str(tmp_path / "draw-7"))
    executed.keep(done)
    again = executed.kept(tmp_path / "draw-7", "00_demo")
    assert again.values == done.values and again.lesson == "00_demo"
    assert again.markdown() == "It says 3."
