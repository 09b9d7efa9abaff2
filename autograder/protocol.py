"""What crosses the boundary between a student's kernel and the judge.

The kernel side (``autograder.kernel.collect``) runs the student's code on the
grader's inputs and *reports* what came out, as one display output of type
``REPORT_MIME`` in the test cell: ``{"version", "check", "payload"}``. The judge
(``autograder.judge``) reads the reports from the executed notebook and decides
the points. A report is data only: numbers, strings, arrays (raw bytes of a
whitelisted dtype), lists, dicts and the names of raised exceptions; decoding
it never runs code, and hostile reports (too deep, too big, wrong dtypes, bad
sizes) raise ``BadReport``.

This module imports nothing of the course: both sides import it.
"""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Callable
from typing import Any

import numpy as np

REPORT_MIME = "application/vnd.gradient-flow.report+json"
VERSION = 1
MAX_DEPTH = 32
MAX_ARRAY_BYTES = 32 * 2**20
MAX_REPORT_CHARS = 32 * 2**20
DTYPES = ("bool", "int8", "int16", "int32", "int64", "uint8", "float16", "float32", "float64")

# Where reports go when no IPython kernel runs the code (the lesson tests run test cells
# in-process): a callable taking the report dict.
_sink: Callable[[dict], None] | None = None


class BadReport(ValueError):
    """A report that is not one the kernel side could have written."""


class Raised:
    """An exception the student's code raised on the kernel side: its type name and text."""

    def __init__(self, kind: str, message: str):
        self.kind, self.message = kind, message

    def __repr__(self) -> str:
        return f"{self.kind}: {self.message}"


class Opaque:
    """A value the kernel could not report as data (a function, a custom object…)."""

    def __init__(self, kind: str, text: str):
        self.kind, self.text = kind, text

    def __repr__(self) -> str:
        return f"<{self.kind} {self.text}>"


def _array(value: np.ndarray, kind: str) -> dict:
    array = np.array(value, copy=True, order="C")  # (ascontiguousarray makes 0-d 1-d)
    if array.dtype.name not in DTYPES:
        if array.dtype.kind not in "iufc":
            return {"__opaque__": f"array of {value.dtype}", "text": str(value)[:200]}
        array = array.real.astype(np.float64 if array.dtype.kind in "fc" else np.int64)
    data = base64.b64encode(array.astype(array.dtype.newbyteorder("<")).tobytes()).decode()
    return {"__array__": kind, "dtype": array.dtype.name, "shape": list(array.shape), "data": data}


def encode(value: Any, depth: int = 0) -> Any:
    """``value`` as JSON-able data (kernel side). Tensors and arrays keep dtype and shape."""
    if depth > MAX_DEPTH:
        return {"__opaque__": "nesting", "text": "too deep"}
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, np.generic) and value.dtype.name in DTYPES:
        return {"__scalar__": value.dtype.name, "value": encode(value.item(), depth + 1)}
    if isinstance(value, int | float):
        if isinstance(value, float) and not math.isfinite(value):
            return {"__float__": repr(value)}
        return value
    if isinstance(value, np.ndarray):
        return _array(value, "ndarray")
    if type(value).__module__.startswith("torch") and hasattr(value, "detach"):
        report = _array(value.detach().cpu().numpy(), "tensor")
        report["requires_grad"] = bool(getattr(value, "requires_grad", False))
        return report
    if isinstance(value, BaseException):
        # named by its nearest built-in class: a check that catches ValueError must catch the
        # student's own subclass of it on the judge's side too
        base = next(c for c in type(value).__mro__ if c.__module__ == "builtins")
        text = str(value)[:500]
        if base is not type(value):
            text = f"{type(value).__name__}: {text}"
        return {"__raised__": base.__name__, "message": text}
    if isinstance(value, list | tuple):
        items = [encode(v, depth + 1) for v in value]
        return {"__tuple__": items} if isinstance(value, tuple) else items
    if isinstance(value, dict):
        return {
            "__dict__": [[encode(k, depth + 1), encode(v, depth + 1)] for k, v in value.items()]
        }
    return {"__opaque__": type(value).__name__, "text": repr(value)[:200]}


def _decode_array(obj: dict) -> Any:
    dtype, shape, data = obj.get("dtype"), obj.get("shape"), obj.get("data")
    if dtype not in DTYPES or not isinstance(shape, list) or not isinstance(data, str):
        raise BadReport("malformed array")
    if not all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in shape):
        raise BadReport("malformed array shape")
    if len(data) > MAX_ARRAY_BYTES * 4 // 3 + 4:
        raise BadReport("array too large")
    raw = base64.b64decode(data.encode(), validate=True)
    dt = np.dtype(dtype).newbyteorder("<")
    if math.prod(shape) * dt.itemsize != len(raw):
        raise BadReport("array size does not match its shape")
    array = np.frombuffer(raw, dtype=dt).reshape(shape).astype(np.dtype(dtype))
    if obj["__array__"] == "tensor":
        import torch

        tensor = torch.from_numpy(array.copy())
        return tensor.requires_grad_(True) if obj.get("requires_grad") is True else tensor
    return array


def decode(obj: Any, depth: int = 0) -> Any:
    """A report's payload back as Python values (judge side); BadReport if malformed."""
    if depth > MAX_DEPTH:
        raise BadReport("nested too deep")
    if obj is None or isinstance(obj, bool | int | str):
        return obj
    if isinstance(obj, float):
        return obj
    if isinstance(obj, list):
        return [decode(v, depth + 1) for v in obj]
    if not isinstance(obj, dict) or len(obj) > 5:
        raise BadReport(f"unexpected {type(obj).__name__}")
    if "__array__" in obj and obj["__array__"] in ("ndarray", "tensor"):
        return _decode_array(obj)
    if "__float__" in obj and obj["__float__"] in ("nan", "inf", "-inf"):
        return float(obj["__float__"])
    if "__scalar__" in obj and obj["__scalar__"] in DTYPES:
        value = decode(obj.get("value"), depth + 1)
        if not isinstance(value, bool | int | float):
            raise BadReport("malformed scalar")
        return np.dtype(obj["__scalar__"]).type(value)
    if "__tuple__" in obj and isinstance(obj["__tuple__"], list):
        return tuple(decode(v, depth + 1) for v in obj["__tuple__"])
    if "__dict__" in obj and isinstance(obj["__dict__"], list):
        pairs = [decode(p, depth + 1) for p in obj["__dict__"]]
        if not all(isinstance(p, list) and len(p) == 2 for p in pairs):
            raise BadReport("malformed dict")
        try:
            return {k: v for k, v in pairs}
        except TypeError:
            raise BadReport("unhashable dict key") from None
    if "__raised__" in obj:
        return Raised(str(obj["__raised__"])[:100], str(obj.get("message", ""))[:500])
    if "__opaque__" in obj:
        return Opaque(str(obj["__opaque__"])[:100], str(obj.get("text", ""))[:200])
    raise BadReport("unknown tag")


def emit(check: str, payload: Any) -> None:
    """Report ``payload`` (the student's outputs for hidden check ``check``) to the judge."""
    report = {"version": VERSION, "check": check, "payload": encode(payload)}
    if _sink is not None:
        _sink(report)
        return
    from IPython import get_ipython
    from IPython.display import display

    if get_ipython() is None:
        raise RuntimeError("no kernel and no sink to report to")
    display({REPORT_MIME: report, "text/plain": f"[collected for grading: {check}]"}, raw=True)


def set_sink(sink: Callable[[dict], None] | None) -> None:
    """Send reports to ``sink`` instead of the notebook (tests run cells in-process)."""
    global _sink
    _sink = sink


def read_report(data: Any) -> tuple[str, Any]:
    """(check, payload) of one report output as the judge receives it; BadReport if not one."""
    if isinstance(data, str):  # a MIME bundle may hold JSON as text
        if len(data) > MAX_REPORT_CHARS:
            raise BadReport("report too large")
        try:
            data = json.loads(data)
        except (ValueError, RecursionError):
            raise BadReport("not JSON") from None
    if not isinstance(data, dict) or data.get("version") != VERSION:
        raise BadReport("not a report of this version")
    check = data.get("check")
    if not isinstance(check, str):
        raise BadReport("report names no check")
    try:
        return check, decode(data.get("payload"))
    except RecursionError:
        raise BadReport("nested too deep") from None
    except (ValueError, OverflowError, TypeError, MemoryError) as exc:  # base64, shapes, ranges
        raise BadReport(f"{type(exc).__name__} while decoding") from None
