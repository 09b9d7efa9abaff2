"""What every unit would otherwise pay, paid once in the grader's forkserver before it forks.

Imported last by the forkserver (``autograder.forkserver.PRELOAD``); importing it:

- renders a tiny graded notebook as a feedback page and sanitises it, so that what
  nbconvert, pygments, mistune and the sanitiser load or compile on first use is loaded
  already in every unit, with nbgrader's feedback templates compiled
  (``feedback_exporter.COMPILED``) and their stylesheets cleaned (``feedback_html``);
- highlights the code cells of every lesson of the course (masters and released
  versions: ``feedback_exporter.HIGHLIGHTED``), so that a unit's feedback page highlights
  only what its student wrote;
- configures SQLAlchemy's mappers of nbgrader's gradebook (its relationships: about
  0.07 s, done by the first query of every unit's gradebook otherwise);
- does once what the judge's checks do first in torch, which imports more of torch on
  first use: a ``backward`` with an explicit gradient (``torch.fx.experimental.
  symbolic_shapes``, which imports sympy: about 0.3 s) and an optimizer's construction
  and step (``torch.optim.Optimizer.__init__`` imports ``torch._dynamo``: about 1 s in
  every unit whose judge builds an optimizer);
- freezes the garbage collector: the preloaded objects (torch, nbgrader, sympy: about
  a million) move to a generation that is never scanned, so a unit's collections do not
  walk them all again, nor touch (and so copy) the pages they share with the forkserver.

Nothing of a submission is here: the forkserver never runs a student's code.
"""

from __future__ import annotations

import gc

import torch

from autograder.feedback_exporter import highlight_lessons, render_sample


def _torch_first_use() -> None:
    weight = torch.zeros(3, requires_grad=True)
    (weight * 2).backward(torch.ones(3))
    for optimizer in (torch.optim.SGD([weight], lr=0.1, momentum=0.9), torch.optim.Adam([weight])):
        optimizer.step()


def _gradebook_mappers() -> None:
    from nbgrader.api import Base
    from sqlalchemy.orm import configure_mappers

    configure_mappers()  # what a unit's first gradebook query would do: about 0.07 s
    assert not Base.registry._new_mappers


def _highlight_course() -> None:
    from autograder.course import Course

    course = Course()
    lessons = course.lessons()
    highlight_lessons([course.master(x) for x in lessons] + [course.student(x) for x in lessons])


try:
    _torch_first_use()
    _gradebook_mappers()
    render_sample()
    _highlight_course()
except Exception:  # noqa: BLE001 -- a warm-up must never stop the forkserver (and grading)
    pass  # each unit pays the first-use costs itself, as it did before
gc.freeze()
