"""autograder.protocol: what a kernel reports comes back as the same data, and nothing else."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from autograder import protocol
from autograder.protocol import BadReport, Opaque, Raised


def _through_json(value):
    return protocol.decode(json.loads(json.dumps(protocol.encode(value))))


@settings(max_examples=60, deadline=None)
@given(
    hnp.arrays(
        dtype=st.sampled_from([np.float64, np.float32, np.int64, np.int32, np.bool_, np.uint8]),
        shape=hnp.array_shapes(min_dims=0, max_dims=4, max_side=5),
    )
)
def test_arrays_keep_dtype_shape_and_values(array):
    back = _through_json(array)
    assert isinstance(back, np.ndarray)
    assert back.dtype == array.dtype and back.shape == array.shape
    assert np.array_equal(back, array, equal_nan=array.dtype.kind == "f")


@settings(max_examples=30, deadline=None)
@given(hnp.arrays(np.float32, hnp.array_shapes(min_dims=0, max_dims=3, max_side=4)))
def test_tensors_come_back_as_tensors(array):
    tensor = torch.from_numpy(array)
    back = _through_json(tensor)
    assert isinstance(back, torch.Tensor) and back.dtype == torch.float32
    assert back.shape == tensor.shape
    assert torch.equal(back.nan_to_num(0.5), tensor.nan_to_num(0.5))


def test_scalars_keep_their_type():
    for value in (True, 3, -2.5, "text", None, np.float64(1.5), np.float32(2.0), np.bool_(True)):
        back = _through_json(value)
        assert type(back) is type(value) and back == value
    assert math.isnan(_through_json(float("nan")))
    assert _through_json(float("-inf")) == float("-inf")
    assert _through_json(np.float64("inf")) == np.inf


def test_containers_keep_their_shape():
    value = {"W1": np.ones(2), 3: [1, (2.0, "x")], "nested": {"t": torch.zeros(1)}}
    back = _through_json(value)
    assert set(back) == {"W1", 3, "nested"}
    assert back[3] == [1, (2.0, "x")] and isinstance(back[3][1], tuple)
    assert isinstance(back["nested"]["t"], torch.Tensor)


def test_exceptions_by_their_builtin_class_and_objects_as_opaque():
    class MyError(ValueError):
        pass

    raised = _through_json(MyError("p must be in [0, 1]"))
    assert isinstance(raised, Raised) and raised.kind == "ValueError"
    assert "MyError" in raised.message and "[0, 1]" in raised.message
    opaque = _through_json(lambda x: x)
    assert isinstance(opaque, Opaque) and opaque.kind == "function"


@pytest.mark.parametrize(
    "payload",
    [
        {"__array__": "ndarray", "dtype": "float64", "shape": [10**9], "data": "AAAA"},
        {"__array__": "ndarray", "dtype": "object", "shape": [1], "data": "AAAA"},
        {"__array__": "ndarray", "dtype": "float64", "shape": [-1], "data": ""},
        {"__array__": "ndarray", "dtype": "float64", "shape": [1], "data": "not base64!"},
        {"__scalar__": "float64", "value": [1]},
        {"__dict__": [[{"__tuple__": []}, 1], [[1], 2]]},
        {"__weird__": 1},
        {"a": 1, "b": 2, "c": 3, "d": 4, "e": 5, "f": 6},
    ],
)
def test_malformed_payloads_are_bad_reports(payload):
    with pytest.raises((BadReport, ValueError)):
        protocol.decode(payload)


def test_deep_nesting_is_a_bad_report():
    deep: list = []
    for _ in range(protocol.MAX_DEPTH + 5):
        deep = [deep]
    with pytest.raises(BadReport):
        protocol.decode(deep)
    report = {"version": 1, "check": "x", "payload": deep}
    with pytest.raises(BadReport):
        protocol.read_report(report)


def test_read_report_takes_only_reports_of_this_version():
    assert protocol.read_report({"version": 1, "check": "add", "payload": [1]}) == ("add", [1])
    for bad in ({"version": 2, "check": "a"}, {"version": 1}, [], "{not json"):
        with pytest.raises(BadReport):
            protocol.read_report(bad)


def test_emit_goes_to_the_sink_outside_a_kernel():
    got = []
    protocol.set_sink(got.append)
    try:
        protocol.emit("add", {"answer": np.float64(4.0)})
    finally:
        protocol.set_sink(None)
    (report,) = got
    assert report["check"] == "add" and report["version"] == protocol.VERSION
    assert protocol.decode(report["payload"])["answer"] == np.float64(4.0)
