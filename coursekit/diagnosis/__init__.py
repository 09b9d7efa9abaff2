"""``diagnose``: name what is wrong with a training run, with the numbers that show it.

    with monitor.GradientMonitor(model) as mon:
        history = train.fit(model, split, monitor=mon)
    d = coursekit.diagnose(mon, history)
    d.top        # "vanishing", ... or "healthy"
    d            # each finding: layers, since when, evidence, fix, lesson
    plots.diagnosis(d)

The kinds (``KINDS``, most severe first): ``exploding``, ``dead_relu``,
``saturation``, ``vanishing``, ``lr_too_high``, ``lr_too_low``, ``overfitting``.
"""

from __future__ import annotations

from coursekit.diagnosis.detectors import _findings
from coursekit.diagnosis.findings import ABOUT, HEALTHY, KINDS, Diagnosis, Finding
from coursekit.diagnosis.run import _collect


def diagnose(monitor, history=None, *, steps: int | None = None) -> Diagnosis:
    """Diagnose one training run from what was recorded.

    - monitor: the run's ``GradientMonitor`` (or its ``History``), recording every
      step or every k-th (``every=k``).
    - history: what ``coursekit.train.fit`` returned for that run (optional): its
      per-step loss shows divergence and stalls, its per-epoch validation loss
      overfitting (not diagnosed without it).
    - steps: look only at the first ``steps`` recorded steps (default: all).

    Returns a ``Diagnosis``: ``.findings`` (``Finding``: kind, layers, step/epoch,
    evidence, numbers, fix, lesson), most severe first, and ``.top`` (the first
    finding's kind, or "healthy").
    """
    run = _collect(monitor, history, steps)
    return Diagnosis(_findings(run), len(run.steps), run)


__all__ = ["ABOUT", "HEALTHY", "KINDS", "Diagnosis", "Finding", "diagnose"]
