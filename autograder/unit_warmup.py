"""What every unit would otherwise pay, paid once in the grader's forkserver before it forks.

Imported last by the forkserver (``autograder.forkserver.PRELOAD``); importing it:

- renders a tiny notebook to HTML and sanitises it, so that what nbconvert, pygments,
  mistune, BeautifulSoup's selectors and the sanitiser load or compile on first use is
  loaded already in every unit (its feedback page);
- imports what the judge's first ``backward`` with an explicit gradient imports inside
  torch (``torch.fx.experimental.symbolic_shapes``, which imports sympy: about 0.3 s);
- freezes the garbage collector: the preloaded objects (torch, nbgrader, sympy: about
  a million) move to a generation that is never scanned, so a unit's collections do not
  walk them all again, nor touch (and so copy) the pages they share with the forkserver.

Nothing of a submission is here: the forkserver never runs a student's code.
"""

from __future__ import annotations

import gc

import nbformat
import torch.fx.experimental.symbolic_shapes  # noqa: F401 -- see the module docstring
from nbconvert import HTMLExporter

from autograder.feedback_html import sanitize_feedback


def render_sample() -> str:
    """A small notebook (markdown, code, text and image outputs) as a sanitised HTML page."""
    png = (
        "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGA"
        "WjR9awAAAABJRU5ErkJggg=="
    )
    code = nbformat.v4.new_code_cell(
        "import math\nprint(math.pi)",
        outputs=[
            nbformat.v4.new_output("stream", name="stdout", text="3.14\n"),
            nbformat.v4.new_output("display_data", data={"image/png": png, "text/plain": "x"}),
        ],
    )
    text = nbformat.v4.new_markdown_cell("# Title\n\n*a* **b** `c` $x^2$\n\n- one\n- two")
    nb = nbformat.v4.new_notebook(cells=[text, code])
    nb.metadata["language_info"] = {"name": "python", "pygments_lexer": "ipython3"}
    html, _ = HTMLExporter(template_name="classic").from_notebook_node(nb)
    return sanitize_feedback(html)


try:
    render_sample()
except Exception:  # noqa: BLE001 -- a warm-up must never stop the forkserver (and grading)
    pass  # each unit pays the first-use costs itself, as it did before
gc.freeze()
