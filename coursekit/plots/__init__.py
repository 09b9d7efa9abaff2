"""The course's figures, in one style. Every function returns its Figure.

Figures are built without pyplot, so a figure shows exactly once in a
notebook (when returned from a cell) and everything works under Agg.
Lessons call them module-qualified: ``plots.grad_norms(history)``.

- ``style``: the look (``figure``, ``COLORS``);
- ``layers``: per-layer quantities by depth, histograms, maps;
- ``curves``: quantities over steps or epochs, seeds as bands, reference lines;
- ``geometry``: decision boundaries, expression graphs, vectors;
- ``diagnosis``: what ``coursekit.diagnose`` looked at, and its verdict.
- ``inside``: inside the network, run by run: activation densities, saturated and dead
  units per layer, update : data ratios over training.
- ``regularisation``: regularisers side by side, training and validation, seeds as bands.
"""

from coursekit.plots.curves import bands, curves, limit_y, reference, training_curves
from coursekit.plots.diagnosis import diagnosis
from coursekit.plots.geometry import BINARY_OPS, decision_boundary, expression_graph, vectors
from coursekit.plots.inside import activation_densities, unit_states, update_ratios
from coursekit.plots.layers import (
    activation_histograms,
    dead_units,
    grad_norms,
    heatmap,
    layer_metric,
    on_off_map,
)
from coursekit.plots.regularisation import regularisers
from coursekit.plots.style import COLORS, STYLE, figure

__all__ = [
    "BINARY_OPS",
    "COLORS",
    "STYLE",
    "activation_densities",
    "activation_histograms",
    "bands",
    "curves",
    "dead_units",
    "decision_boundary",
    "diagnosis",
    "expression_graph",
    "figure",
    "grad_norms",
    "heatmap",
    "layer_metric",
    "limit_y",
    "on_off_map",
    "reference",
    "regularisers",
    "training_curves",
    "unit_states",
    "update_ratios",
    "vectors",
]
