"""The rules: one private detector per kind, each a ``_Run`` -> ``Finding`` or None.

Thresholds are in ``_LIMITS``, set on the tuning seeds of the fault suite
(bench/diagnose.py) and checked on held-out ones.
"""

from __future__ import annotations

import warnings

import numpy as np

from coursekit.diagnosis.findings import KINDS, Finding
from coursekit.diagnosis.run import _Run

_LIMITS = {
    "exploding_norm": 1e4,  # a layer's gradient norm this large: exploding
    "exploding_growth": 1e3,  # or grown this much since the start, to at least
    "exploding_floor": 10.0,  # this much
    "vanishing_ratio": 1e-3,  # first-layer / last-layer gradient norm below this
    "dead": 0.4,  # share of a layer's units dead for the whole batch
    "saturated": 0.5,  # share of a layer's outputs where the derivative is < 10 % of its max
    "update_high": 1.5e-2,  # median update:data ratio above this: too high
    "update_low": 1e-4,  # every layer's median update:data ratio below this
    "overfit_rise": 0.1,  # validation loss up this share from its minimum
    "overfit_gap": 0.2,  # or train - validation accuracy gap
}


def _nanmedian(a: np.ndarray, axis=None):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns are NaN
        return np.nanmedian(a, axis=axis)


def _first(mask: np.ndarray) -> int | None:
    hits = np.flatnonzero(mask)
    return int(hits[0]) if hits.size else None


def _layers(run: _Run, mask: np.ndarray) -> tuple[str, ...]:
    return tuple(name for name, hit in zip(run.layers, mask, strict=True) if hit)


def _exploding(run: _Run) -> Finding | None:
    grad = run.metric["grad_norm"]  # NaN: a layer without gradient; inf: overflowed
    peak = np.nanmax(grad, axis=1)  # (S,) the largest layer gradient per step
    start = np.nanmax(grad[: max(1, len(grad) // 20)])
    limit = _LIMITS["exploding_norm"]
    grown = (peak > start * _LIMITS["exploding_growth"]) & (peak > _LIMITS["exploding_floor"])
    huge = (peak > limit) | grown
    loss_bad = run.nonfinite_step
    if not huge.any() and loss_bad is None:
        return None
    finite_peak = np.where(np.isfinite(peak), peak, -1.0)
    at = int(np.argmax(finite_peak))  # the largest finite norm
    i = _first(huge)
    step = int(run.steps[at if i is None else i])  # None: the loss went first
    layer_peak = np.nanmax(np.where(np.isfinite(grad), grad, np.nan), axis=0)
    worst = float(finite_peak[at]) if finite_peak[at] >= 0 else float("inf")
    parts = []
    if _LIMITS["exploding_floor"] < worst < np.inf:
        parts.append(f"gradient norm {worst:.1e} at step {int(run.steps[at])}")
    bad_grad = _first(np.isinf(peak))
    if bad_grad is not None:
        parts.append(f"gradient not finite at step {int(run.steps[bad_grad])}")
    if loss_bad is not None:
        parts.append(f"loss {run.loss[loss_bad]} at step {loss_bad}")
        step = min(step, loss_bad)
    evidence = ", ".join(parts)
    affected = (layer_peak >= _LIMITS["exploding_floor"]) | np.isinf(grad).any(axis=0)
    if not affected.any():
        affected = layer_peak == np.nanmax(layer_peak)
    finite = loss_bad is None and not np.isinf(grad).any()
    numbers = {"max_grad_norm": worst, "initial_grad_norm": float(start), "finite": float(finite)}
    if loss_bad is not None:
        numbers["nonfinite_loss_step"] = float(loss_bad)
    return Finding("exploding", _layers(run, affected), step, None, evidence, numbers)


def _vanishing(run: _Run) -> Finding | None:
    grad = run.metric["grad_norm"]
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = grad / grad[:, -1:]  # (S, L) against the output layer
    typical = _nanmedian(ratio, axis=0)  # (L,)
    limit = _LIMITS["vanishing_ratio"]
    if not typical[0] < limit:
        return None
    i = _first(ratio[:, 0] < limit) or 0
    affected = typical < np.sqrt(limit)
    evidence = (
        f"first/last layer gradient norm {typical[0]:.0e} (median) from step {int(run.steps[i])}"
    )
    return Finding(
        "vanishing",
        _layers(run, affected),
        int(run.steps[i]),
        None,
        evidence,
        {"first_last_ratio": float(typical[0])},
    )


def _share_finding(run: _Run, kind: str, metric: str, limit: float, what: str) -> Finding | None:
    values = run.metric[metric]  # (S, L), NaN where it does not apply
    late = values[len(values) * 2 // 3 :]
    level = _nanmedian(late, axis=0)  # (L,) over the last third of the window
    hit = level >= limit
    if not np.any(hit):
        return None
    worst = int(np.nanargmax(level))
    i = _first(values[:, worst] >= limit)
    at_start = bool(np.isfinite(values[0]).any() and np.nanmax(values[0]) >= limit)
    i = 0 if i is None else i
    # the position too: the figures number layers from 1 at the input, not by module name
    evidence = (
        f"{level[worst]:.0%} of {run.layers[worst]}'s {what} (layer {worst + 1} of "
        f"{len(run.layers)} from the input) over the last third of the run "
        f"(above {limit:.0%} from step {int(run.steps[i])})"
    )
    if hit.sum() > 1:
        evidence += f"; {int(hit.sum())} layers at {limit:.0%} or more"
    return Finding(
        kind,
        _layers(run, hit),
        int(run.steps[i]),
        None,
        evidence,
        {f"max_{metric}": float(level[worst]), "at_start": float(at_start)},
    )


def _dead_relu(run: _Run) -> Finding | None:
    return _share_finding(run, "dead_relu", "dead", _LIMITS["dead"], "units dead")


def _saturation(run: _Run) -> Finding | None:
    return _share_finding(run, "saturation", "saturated", _LIMITS["saturated"], "outputs saturated")


def _loss_progress(run: _Run) -> float | None:
    """Loss over the last quarter of the window / loss over its first 10 % (medians)."""
    if run.loss is None or len(run.loss) < 8 or run.nonfinite_step is not None:
        return None
    n = len(run.loss)
    start = np.median(run.loss[: max(2, n // 10)])
    end = np.median(run.loss[-max(2, n // 4) :])
    return float(end / start) if start > 0 else None


def _lr_too_high(run: _Run) -> Finding | None:
    update = _nanmedian(run.metric["update_ratio"], axis=0)  # (L,)
    typical = float(_nanmedian(update))
    progress = _loss_progress(run)
    high = typical > _LIMITS["update_high"]
    if not high:
        return None
    evidence = f"median update:data ratio {typical:.1e} per step (a healthy step is about 1e-3)"
    if progress is not None:
        evidence += f"; loss at {progress:.0%} of its start"
    affected = update > _LIMITS["update_high"]
    numbers = {"median_update_ratio": typical}
    if progress is not None:
        numbers["loss_progress"] = progress
    step = int(run.steps[0])
    return Finding("lr_too_high", _layers(run, affected), step, None, evidence, numbers)


def _lr_too_low(run: _Run) -> Finding | None:
    update = _nanmedian(run.metric["update_ratio"], axis=0)  # (L,)
    if not np.isfinite(update).any() or not np.nanmax(update) < _LIMITS["update_low"]:
        return None
    top = float(np.nanmax(update))
    if top > 0:
        evidence = f"every layer's median update:data ratio at most {top:.0e}"
    else:  # nothing moves: e.g. dead units pass no gradient to any weight
        evidence = "every layer's median update:data ratio is 0: no weight moves"
    evidence += " (healthy: about 1e-3)"
    progress = _loss_progress(run)
    numbers = {"max_update_ratio": top}
    if progress is not None:
        evidence += f"; loss at {progress:.0%} of its start"
        numbers["loss_progress"] = progress
    ratios = run.metric["update_ratio"]  # (S, L)
    largest = np.where(np.isfinite(ratios), ratios, 0.0).max(axis=1)  # (S,)
    above = np.flatnonzero(largest >= _LIMITS["update_low"])
    # from the step after the last one at which some layer still moved enough
    i = 0 if len(above) == 0 else min(int(above[-1]) + 1, len(largest) - 1)
    return Finding("lr_too_low", tuple(run.layers), int(run.steps[i]), None, evidence, numbers)


def _overfitting(run: _Run) -> Finding | None:
    val, train = run.val_loss, run.train_loss
    if len(val) < 3 or not np.isfinite(val).all():
        return None
    best = int(np.argmin(val))
    rise = float(val[-1] / val[best] - 1)
    gap = float(np.nanmax(run.train_acc[-1:] - run.val_acc[-1:])) if len(run.val_acc) else 0.0
    still_learning = train[-1] < train[best]
    if not ((rise > _LIMITS["overfit_rise"] and still_learning) or gap > _LIMITS["overfit_gap"]):
        return None
    evidence = (
        f"validation loss {val[-1]:.3g} at epoch {len(val)}, up {rise:.0%} from its minimum "
        f"{val[best]:.3g} at epoch {best + 1}, while the training loss fell to {train[-1]:.3g}"
    )
    if np.isfinite(gap):
        evidence += f"; train/validation accuracy gap {gap:.0%}"
    numbers = {"val_rise": rise, "acc_gap": gap, "best_epoch": float(best + 1)}
    return Finding("overfitting", (), None, best + 1, evidence, numbers)


_DETECTORS = (
    _exploding,
    _dead_relu,
    _saturation,
    _vanishing,
    _lr_too_high,
    _lr_too_low,
    _overfitting,
)


def _rank(finding: Finding, found: dict[str, Finding]) -> float:
    """Its place in ``KINDS``, but a cause goes before its symptoms: gradients that grow large
    but stay finite through saturated or dead units rank after the units' state, and units
    that die or saturate only once training has started, under a learning rate found too
    high, rank after the learning rate."""
    rank = float(KINDS.index(finding.kind))
    if finding.kind == "exploding" and finding.numbers.get("finite"):
        rank = KINDS.index("saturation") + 0.5
    if finding.kind == "lr_too_high":
        late_units = [  # not so before the first update
            not found[k].numbers["at_start"] for k in ("dead_relu", "saturation") if k in found
        ]
        if late_units and all(late_units):
            rank = KINDS.index("dead_relu") - 0.5
    return rank


def _findings(run: _Run) -> list[Finding]:
    """Every finding of ``run``, most severe first."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN layers (e.g. no gradient)
        results = [detector(run) for detector in _DETECTORS]
    found = {f.kind: f for f in results if f is not None}
    return sorted(found.values(), key=lambda f: _rank(f, found))
