"""What every unit would otherwise pay, paid once in the grader's forkserver before it forks.

Imported last by the forkserver (``autograder.forkserver.PRELOAD``); importing it:

- renders a tiny graded notebook as a feedback page and sanitises it, so that what
  nbconvert, pygments, mistune and the sanitiser load or compile on first use is loaded
  already in every unit, with nbgrader's feedback templates compiled
  (``feedback_exporter.COMPILED``) and their stylesheets cleaned (``feedback_html``);
- imports what the judge's first ``backward`` with an explicit gradient imports inside
  torch (``torch.fx.experimental.symbolic_shapes``, which imports sympy: about 0.3 s);
- freezes the garbage collector: the preloaded objects (torch, nbgrader, sympy: about
  a million) move to a generation that is never scanned, so a unit's collections do not
  walk them all again, nor touch (and so copy) the pages they share with the forkserver.

Nothing of a submission is here: the forkserver never runs a student's code.
"""

from __future__ import annotations

import gc

import torch.fx.experimental.symbolic_shapes  # noqa: F401 -- see the module docstring

from autograder.feedback_exporter import render_sample

try:
    render_sample()
except Exception:  # noqa: BLE001 -- a warm-up must never stop the forkserver (and grading)
    pass  # each unit pays the first-use costs itself, as it did before
gc.freeze()
