"""Per-layer gradient and activation monitoring of a PyTorch model.

    with monitor.GradientMonitor(model) as mon:
        for x, y in batches:
            loss = loss_fn(model(x), y)
            optimizer.zero_grad()
            loss.backward()
            mon.record()          # after backward(), before optimizer.step()
            optimizer.step()
    plots.grad_norms(mon.history)

A *layer* is every module with a 2-D ``weight`` (Linear, and the RNN's
matrices), in the order the model registers them: input side first. The
activation module that follows a layer (ReLU, Sigmoid, ...) is paired with it
for the activation statistics; its output is kept by a tap on its ``forward``
(``_OutputTap``), which does what a forward hook does at a fifth of the cost.

The package, by job: ``history`` (rows and their queries), ``activations``
(activation statistics), ``taps`` (output taps), ``weights`` (the flat
weight buffer) and ``monitor`` (``GradientMonitor``, which uses them all).
"""

import inspect

# lesson 04 forbids calling it, by this address
from coursekit.monitor.activations import _activation_stats as _activation_stats
from coursekit.monitor.history import METRICS, History
from coursekit.monitor.monitor import GradientMonitor


def _public_here(*objects: object) -> None:
    """Name ``coursekit.monitor`` as the home of ``objects`` and of a class's methods.

    The lessons' checks name a library function a student called by its module
    ("calls coursekit.monitor._activation_stats"): the address students use,
    whichever file of the package defines it (as numpy's ``set_module`` does).
    """
    for obj in objects:
        obj.__module__ = __name__
        members = vars(obj).values() if isinstance(obj, type) else ()
        for member in members:
            function = getattr(member, "fget", None) or getattr(member, "__func__", member)
            if inspect.isfunction(function):
                function.__module__ = __name__


_public_here(GradientMonitor, History, _activation_stats)

__all__ = ["METRICS", "GradientMonitor", "History"]
