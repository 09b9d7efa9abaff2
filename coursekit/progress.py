"""Progress bars that survive a saved notebook.

tqdm's notebook bar is an ipywidget: once the notebook is saved and reopened, its
model is gone and JupyterLab shows "Error displaying widget: model not found" where
the bar was. Inside a Jupyter kernel, ``bar`` draws tqdm's text bar into one output
instead and replaces that output in place at each refresh, so a saved notebook holds
plain text (or nothing, with ``leave=False``). Elsewhere it is tqdm's terminal bar.
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from typing import Any

from tqdm.std import tqdm

NCOLS = 80  # a file that is not a terminal has no width: give the bar one


class _Discard(io.TextIOBase):
    """Where tqdm's own writes ('\\r', newlines) go: the display carries the bar."""

    def write(self, s: str) -> int:
        return len(s)


class TextDisplayBar(tqdm):
    """tqdm drawn as ``text/plain`` into one IPython display, updated in place."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._handle = None  # set before tqdm's __init__, which draws the first frame
        kwargs.setdefault("file", _Discard())
        kwargs.setdefault("ncols", NCOLS)
        super().__init__(*args, **kwargs)

    def display(self, msg: str | None = None, pos: int | None = None) -> bool:
        from IPython.display import display

        text = {"text/plain": self.__str__() if msg is None else msg}
        if self._handle is None:
            self._handle = display(text, raw=True, display_id=True)
        else:
            self._handle.update(text, raw=True)
        return True


def in_kernel() -> bool:
    """Whether this code runs in a Jupyter kernel (not a script, not plain IPython)."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and "IPKernelApp" in getattr(shell, "config", {})


def bar(iterable: Iterable | None = None, **kwargs: Any) -> tqdm:
    """A tqdm progress bar over ``iterable`` (tqdm's keyword arguments), drawn as
    updatable text in a notebook and on stderr elsewhere; never a widget."""
    cls = TextDisplayBar if in_kernel() else tqdm
    return cls(iterable, **kwargs)
