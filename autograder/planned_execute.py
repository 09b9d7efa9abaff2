"""nbgrader's Execute as grading runs it: the cells of the master's grading plan not run
(``PlannedExecute``, also used by ``autograder validate``), each phase timed, and the
kernel's outputs bounded (``BoundedExecute``, the grader's)."""

from __future__ import annotations

import json
import time

import nbformat
import nbgrader.preprocessors

from autograder.plan import NOT_RUN
from autograder.protocol import REPORT_MIME

MAX_OUTPUT_CHARS = 40 * 2**20  # a notebook's outputs for people; the rest is dropped
MAX_REPORTS_CHARS = 96 * 2**20  # its reports to the judge (lesson 05's are ~9 MB in all)


def _chars(content: dict) -> int:
    text = content.get("text", "")
    data = content.get("data", {})
    size = len(text) if isinstance(text, str) else 0
    if isinstance(data, dict):
        size += sum(len(v) if isinstance(v, str) else len(json.dumps(v)) for v in data.values())
    return size + len(str(content.get("traceback", "")))


class PlannedExecute(nbgrader.preprocessors.Execute):
    """nbgrader's Execute that does not run the cells at ``skip`` (indices, from the master's
    grading plan: ``autograder.plan``); each says so in its output instead. Timed: how long
    the kernel took to start (``kernel_start``), the first cell, and the whole execution.
    Configured as Execute is; ``skip`` and the timings are class attributes (one notebook
    per process)."""

    skip: frozenset[int] = frozenset()
    seconds: float | None = None
    phases: dict[str, float] = {}

    def preprocess(self, *args, **kwargs):
        self._start = time.perf_counter()
        self._first_code: float | None = None
        type(self).phases = {}
        try:
            return super().preprocess(*args, **kwargs)
        finally:
            type(self).seconds = time.perf_counter() - self._start

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type != "code":
            return super().preprocess_cell(cell, resources, index)
        now = time.perf_counter()
        first = self._first_code is None
        if first:
            self._first_code = now
            type(self).phases["kernel_start"] = now - self._start
        if index in self.skip:
            cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=NOT_RUN)]
            cell.execution_count = None
            return cell, self.resources
        try:
            return super().preprocess_cell(cell, resources, index)
        finally:
            if first:
                type(self).phases["setup_cell"] = time.perf_counter() - now


class BoundedExecute(PlannedExecute):
    """The grader's Execute (``PlannedExecute``), with the kernel's outputs bounded, so that
    no kernel makes the grader hold gigabytes: outputs for people beyond MAX_OUTPUT_CHARS
    are dropped (the reports still reach the judge); reports beyond MAX_REPORTS_CHARS, or a
    third one in a cell, become a malformed report (no points)."""

    def preprocess(self, *args, **kwargs):
        self._chars = {"output": 0, "report": 0}
        self._reports_in: dict[int, int] = {}
        return super().preprocess(*args, **kwargs)

    def output(self, outs, msg, display_id, cell_index):
        content = msg.get("content", {})
        size = _chars(content)
        if REPORT_MIME in (content.get("data") or {}):
            self._chars["report"] += size
            self._reports_in[cell_index] = self._reports_in.get(cell_index, 0) + 1
            if self._reports_in[cell_index] > 2:  # two already make the cell tampered
                return None
            if self._chars["report"] > MAX_REPORTS_CHARS or size > MAX_REPORTS_CHARS:
                out = nbformat.v4.new_output("display_data", data={REPORT_MIME: "too large"})
                outs.append(out)
                return out
            return super().output(outs, msg, display_id, cell_index)
        self._chars["output"] += size
        if self._chars["output"] > MAX_OUTPUT_CHARS:
            if self._chars["output"] - size <= MAX_OUTPUT_CHARS:  # say so once
                note = f"[the grader dropped output beyond {MAX_OUTPUT_CHARS // 2**20} MB]\n"
                outs.append(nbformat.v4.new_output("stream", name="stderr", text=note))
            return None
        return super().output(outs, msg, display_id, cell_index)
