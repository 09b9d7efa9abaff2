"""coursekit.progress: in a kernel, a text bar updated in place (nothing a saved notebook
can lose); elsewhere tqdm's terminal bar."""

from __future__ import annotations

import nbformat
import pytest
from nbclient import NotebookClient
from tqdm.std import tqdm

from coursekit import progress

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


def test_outside_a_kernel_it_is_the_terminal_bar(capsys):
    assert not progress.in_kernel()
    bar = progress.bar(range(3), desc="steps")
    assert type(bar) is tqdm
    for _ in bar:
        pass
    assert "steps: 100%" in capsys.readouterr().err


class _Handle:
    def __init__(self, shown: list) -> None:
        self.shown = shown

    def update(self, data, raw=False):
        assert raw
        self.shown.append(("update", data))


def test_the_text_bar_draws_once_and_then_updates_in_place(monkeypatch):
    import IPython.display

    shown: list = []

    def display(data, raw=False, display_id=None):
        assert raw and display_id is True
        shown.append(("display", data))
        return _Handle(shown)

    monkeypatch.setattr(IPython.display, "display", display)
    bar = progress.TextDisplayBar(range(4), desc="training", leave=False, mininterval=0)
    for _ in bar:
        pass
    bar.close()
    kinds = [kind for kind, _ in shown]
    assert kinds[0] == "display" and set(kinds[1:]) == {"update"}, kinds
    assert all(set(data) == {"text/plain"} for _, data in shown), "only text, no widget"
    texts = [data["text/plain"] for _, data in shown]
    assert any("4/4" in t for t in texts), texts
    assert texts[-1] == "", "leave=False leaves nothing behind"


@pytest.mark.slow
def test_a_fitted_model_in_an_executed_notebook_leaves_no_widget_output(tmp_path):
    """What a student saves: fit's bar (leave=False) and a kept bar, executed in a real kernel."""
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell(
            "from coursekit import data, models, train\n"
            "h = train.fit(models.mlp(64, 8, 1, 10), data.digits(), epochs=3)\n"
            "print('epochs', h.epochs)"
        ),
        nbformat.v4.new_code_cell(
            "from coursekit import progress\n"
            "for _ in progress.bar(range(5), desc='kept', leave=True, mininterval=0):\n"
            "    pass"
        ),
    ]
    NotebookClient(nb, timeout=120, kernel_name="python3", resources={"metadata": {}}).execute()
    outputs = [o for cell in nb.cells for o in cell.outputs]
    assert not any(WIDGET_VIEW in o.get("data", {}) for o in outputs), outputs
    fit_cell, kept_cell = (
        [o.get("data", {}).get("text/plain") for o in c.outputs] for c in nb.cells
    )
    assert "" in fit_cell and any("epochs 3" in (o.get("text") or "") for o in nb.cells[0].outputs)
    assert any(t and "kept: 100%" in t and "5/5" in t for t in kept_cell), kept_cell
    path = tmp_path / "saved.ipynb"
    nbformat.write(nb, path)
    nbformat.validate(nbformat.read(path, as_version=4))
