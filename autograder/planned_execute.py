"""nbgrader's Execute as grading runs it: the cells of the master's grading plan not run
(``PlannedExecute``, also used by ``autograder validate``), each phase timed, and the
kernel's outputs bounded (``BoundedExecute``, the grader's)."""

from __future__ import annotations

import json
import re
import time

import nbformat
import nbgrader.preprocessors

from autograder.plan import NOT_RUN
from autograder.protocol import REPORT_MIME

MAX_OUTPUT_CHARS = 40 * 2**20  # a notebook's outputs for people; the rest is dropped
MAX_REPORTS_CHARS = 96 * 2**20  # its reports to the judge (lesson 05's are ~9 MB in all)
#: of those outputs, what the feedback page shows as markup (the sanitiser's cost grows
#: with it: ~50 bytes of memory per byte of some markup, time with the square of unclosed
#: nesting: 0.4 MB of open <div>s took 20 s); beyond it such an output keeps only its
#: text/plain form. A lesson's own outputs hold under 4 kB of markup
MAX_MARKUP_CHARS = 256 * 2**10
MARKUP_MIMES = frozenset(
    {"text/html", "image/svg+xml", "text/markdown", "text/latex", "application/javascript"}
)


#: markup's tags, and its formatting ones (b, i, a, ...) that an HTML parser re-opens in
#: every following block while they stay open: 1000 open <b id=i> and 30,000 <p> (250 kB)
#: made an 8.5 GB, 500 MB page in the sanitiser (red team). At these bounds: ~7 MB, ~150 MB
MAX_MARKUP_TAGS = 10_000
MAX_MARKUP_FORMATTING = 50
_FORMATTING_TAG = re.compile(
    r"<(a|b|big|code|em|font|i|nobr|s|small|strike|strong|tt|u)[\s/>]", re.IGNORECASE
)
#: nbconvert turns ANSI colour codes into HTML in time ~ codes x length of the text (a 6 MB
#: print of 430,000 codes took minutes): past this product a notebook's text keeps no codes
MAX_ANSI_WORK = 2 * 10**9
_ANSI = re.compile(r"\x1b(\[[0-?]*[ -/]*[@-~]|[@-Z\\-_])")


def _without_codes(text: str) -> str:
    """``text`` without ANSI codes (and any stray escape character)."""
    return _ANSI.sub("", text).replace("\x1b", "")


def _size(value) -> int:
    """Characters of a value as the page would hold it; a value JSON cannot write counts
    as too large (it is then dropped)."""
    if isinstance(value, str):
        return len(value)
    try:
        return len(json.dumps(value))
    except (TypeError, ValueError, RecursionError):
        return MAX_OUTPUT_CHARS + 1


def _chars(content: dict) -> int:
    """An output's size for people: its text, data, traceback and metadata (the page shows
    an image's ``alt`` from its metadata: 45 MB of it passed the 40 MB bound, red team)."""
    text = content.get("text", "")
    data = content.get("data", {})
    size = len(text) if isinstance(text, str) else 0
    if isinstance(data, dict):
        size += sum(_size(v) for v in data.values())
    size += _size(content.get("metadata") or {})
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


def _is_count(value) -> bool:
    return value is None or (type(value) is int and value >= 0)


def _keep_valid(cell) -> None:
    """What a kernel sent that is not a valid notebook (red team: an ``execution_count``
    that is an HTML string made the graded notebook unwritable, a grader_error) is dropped:
    a forged count becomes None, and outputs that still fail nbformat's schema are replaced
    by a note. Nothing a kernel sends stops its own grading."""
    if not _is_count(cell.get("execution_count")):
        cell.execution_count = None
    for out in cell.get("outputs", []):
        if "execution_count" in out and not _is_count(out["execution_count"]):
            out["execution_count"] = None
    if _valid(cell):
        return
    kept = [out for out in cell.outputs if _valid({**cell, "outputs": [out]})]
    note = "[the grader dropped outputs that are not valid notebook outputs]\n"
    cell.outputs = [*kept, nbformat.v4.new_output("stream", name="stderr", text=note)]


def _valid(cell) -> bool:
    try:
        nbformat.validate(nbformat.v4.new_notebook(cells=[nbformat.from_dict(cell)]))
    except nbformat.ValidationError:
        return False
    return True


class BoundedExecute(PlannedExecute):
    """The grader's Execute (``PlannedExecute``), with the kernel's outputs bounded, so that
    no kernel makes the grader hold gigabytes: outputs for people beyond MAX_OUTPUT_CHARS
    are dropped (the reports still reach the judge), updates of earlier outputs included;
    markup beyond MAX_MARKUP_CHARS is left out (the feedback page's sanitiser stays cheap);
    reports beyond MAX_REPORTS_CHARS, or a third one in a cell, become a malformed report
    (no points); a report never arrives as an update."""

    def preprocess(self, *args, **kwargs):
        self._chars = dict.fromkeys(
            ("output", "report", "markup", "tags", "formatting", "ansi", "texts"), 0
        )
        self._reports_in: dict[int, int] = {}
        self._noted: set[str] = set()
        self._cell = None
        return super().preprocess(*args, **kwargs)

    def preprocess_cell(self, cell, resources, index):
        self._cell = cell  # where a note on a dropped update goes
        cell, resources = super().preprocess_cell(cell, resources, index)
        if cell.cell_type == "code":
            _keep_valid(cell)
        return cell, resources

    def _note(self, outs, what: str, text: str) -> None:
        if what not in self._noted:  # say so once
            self._noted.add(what)
            outs.append(nbformat.v4.new_output("stream", name="stderr", text=text))

    def _without_markup(self, outs, msg, copies: int = 1):
        """``msg`` as it may be shown (``copies`` times): its markup (MARKUP_MIMES) counted,
        and left out beyond MAX_MARKUP_CHARS (the text/plain form stays)."""
        data = msg.get("content", {}).get("data")
        if not isinstance(data, dict) or not MARKUP_MIMES & data.keys():
            return msg
        markup = {k: data[k] for k in MARKUP_MIMES & data.keys()}
        self._chars["markup"] += _chars({"data": markup}) * copies
        for value in markup.values():
            text = value if isinstance(value, str) else ""
            self._chars["tags"] += text.count("<") * copies
            self._chars["formatting"] += len(_FORMATTING_TAG.findall(text)) * copies
        if (
            self._chars["markup"] <= MAX_MARKUP_CHARS
            and self._chars["tags"] <= MAX_MARKUP_TAGS
            and self._chars["formatting"] <= MAX_MARKUP_FORMATTING
        ):
            return msg
        kept = {k: v for k, v in data.items() if k not in MARKUP_MIMES}
        kept.setdefault("text/plain", "[markup left out of the feedback page]")
        note = (
            f"[the grader left out HTML/SVG/markdown beyond {MAX_MARKUP_CHARS // 2**10} kB, "
            f"{MAX_MARKUP_TAGS} tags or {MAX_MARKUP_FORMATTING} formatting tags]\n"
        )
        self._note(outs, "markup", note)
        return {**msg, "content": {**msg["content"], "data": kept}}

    def _update_display_id(self, display_id, msg):
        """An update of earlier outputs (``update_display``) is an output too: counted, each
        place it replaces at its full size; never a report (a report is a new output)."""
        content = msg.get("content", {})
        if REPORT_MIME in (content.get("data") or {}):
            return
        places = sum(len(i) for i in self._display_id_map.get(display_id, {}).values())
        outs = self._cell.outputs if self._cell is not None else []
        self._chars["output"] += _chars(content) * max(places, 1)
        if self._chars["output"] > MAX_OUTPUT_CHARS:
            note = f"[the grader dropped output beyond {MAX_OUTPUT_CHARS // 2**20} MB]\n"
            self._note(outs, "output", note)
            return
        msg = self._without_ansi(outs, msg, max(places, 1))
        super()._update_display_id(display_id, self._without_markup(outs, msg, max(places, 1)))

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
            return self._valid_output(outs, msg, display_id, cell_index)
        self._chars["output"] += size
        if self._chars["output"] > MAX_OUTPUT_CHARS:
            note = f"[the grader dropped output beyond {MAX_OUTPUT_CHARS // 2**20} MB]\n"
            self._note(outs, "output", note)
            return None
        msg = self._without_markup(outs, self._without_ansi(outs, msg))
        return self._valid_output(outs, msg, display_id, cell_index)

    def _valid_output(self, outs, msg, display_id, cell_index):
        """nbclient's output, or None (with a note) when it is not a valid notebook output:
        nbclient raises then, and the unit was a grader_error (red team: a forged message
        whose execution_count was an HTML string)."""
        try:
            return super().output(outs, msg, display_id, cell_index)
        except nbformat.ValidationError:
            note = "[the grader dropped outputs that are not valid notebook outputs]\n"
            self._note(outs, "invalid", note)
            return None

    def _without_ansi(self, outs, msg, copies: int = 1):
        """``msg`` with its stream text, traceback or text/plain data counted (codes,
        characters), and without ANSI codes once codes x characters of the notebook's texts
        pass MAX_ANSI_WORK."""
        content = msg.get("content", {})
        text, traceback = content.get("text"), content.get("traceback")
        data = content.get("data") if isinstance(content.get("data"), dict) else {}
        plain_data = data.get("text/plain")  # the page converts its codes too (red team)
        parts = [t for t in (text, plain_data) if isinstance(t, str)]
        if isinstance(traceback, list):
            parts += [line for line in traceback if isinstance(line, str)]
        for part in parts:
            self._chars["ansi"] += part.count("\x1b") * copies
            self._chars["texts"] += len(part) * copies
        if self._chars["ansi"] * self._chars["texts"] <= MAX_ANSI_WORK:
            return msg
        self._note(outs, "ansi", "[the grader left out colour codes: too many for the page]\n")
        plain = dict(content)
        if isinstance(text, str):
            plain["text"] = _without_codes(text)
        if isinstance(plain_data, str):
            plain["data"] = {**data, "text/plain": _without_codes(plain_data)}
        if isinstance(traceback, list):
            plain["traceback"] = [_without_codes(t) if isinstance(t, str) else t for t in traceback]
        return {**msg, "content": plain}
