"""autograder.feedback_exporter: the feedback page is nbconvert's own (once sanitised), its
templates are compiled once, and the forkserver's warm-up leaves a unit nothing to compile."""

from __future__ import annotations

import json
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import jinja2
import nbformat
import pytest
from ipykernel.ipkernel import IPythonKernel
from nbconvert.exporters import HTMLExporter

from autograder.feedback_exporter import COMPILED, FeedbackExporter, feedback_exporter
from autograder.feedback_html import sanitize_feedback

MASTER = Path(__file__).parents[1] / "autograder" / "source" / "05_dropout" / "05_dropout.ipynb"
PNG = (
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGA"
    "WjR9awAAAABJRU5ErkJggg=="
)
# what BeautifulSoup's pass in nbconvert adds, and FeedbackExporter leaves out
PLACEHOLDER_ALT = ' alt="No description has been provided for this image"'


def graded_notebook() -> nbformat.NotebookNode:
    """A lesson's master with outputs of every kind a graded notebook shows, scores, and the
    metadata of an executed notebook."""
    nb = nbformat.reads(MASTER.read_text(), as_version=4)
    outputs = [
        nbformat.v4.new_output("stream", name="stdout", text="loss 0.25\n"),
        nbformat.v4.new_output("stream", name="stderr", text="a warning\n"),
        nbformat.v4.new_output(
            "error",
            ename="AssertionError",
            evalue="expected 3, got 4",
            traceback=["\x1b[31mAssertionError\x1b[0m: expected 3, got 4"],
        ),
        nbformat.v4.new_output(
            "execute_result",
            data={"text/html": "<table><tr><td>1</td></tr></table>", "text/plain": "t"},
            execution_count=1,
        ),
        nbformat.v4.new_output("display_data", data={"image/png": PNG, "text/plain": "fig"}),
        nbformat.v4.new_output("display_data", data={"text/latex": "$x^2$", "text/plain": "x"}),
        nbformat.v4.new_output("display_data", data={"image/svg+xml": "<svg></svg>"}),
        nbformat.v4.new_output("display_data", data={"text/markdown": "**bold**"}),
    ]
    for i, cell in enumerate(nb.cells):
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("grade"):
            meta["score"] = meta.get("points", 0) / 2
        if cell.cell_type == "code":
            cell.outputs = [outputs[i % len(outputs)]]
    nb.cells.append(nbformat.v4.new_raw_cell("raw text"))
    # what nbclient writes into the notebook it executes: the kernel's language_info
    nb.metadata["language_info"] = dict(IPythonKernel.language_info)
    return nb


SCORES = {"notebook": "05_dropout", "score": 3.0, "max_score": 10.0, "late_penalty": 0.0}


class _Events(HTMLParser):
    """A page as its tags (attributes in name order) and text, whitespace collapsed (in
    values too: BeautifulSoup writes a ``class`` list anew)."""

    def __init__(self, html: str):
        super().__init__(convert_charrefs=True)
        self.events: list[tuple] = []
        self.feed(html)
        self.close()

    def handle_starttag(self, tag, attrs):
        attrs = sorted((name, " ".join((value or "").split())) for name, value in attrs)
        self.events.append(("<", tag, tuple(attrs)))

    def handle_endtag(self, tag):
        self.events.append((">", tag))

    def handle_data(self, data):
        if data.split():
            self.events.append(("text", " ".join(data.split())))


def _render(exporter: HTMLExporter, nb: nbformat.NotebookNode) -> str:
    html, _ = exporter.from_notebook_node(nb, {"nbgrader": dict(SCORES)})
    return html


def test_the_sanitised_page_is_nbconverts_own_but_for_the_placeholder_alt_text():
    nb = graded_notebook()
    theirs = _render(feedback_exporter(HTMLExporter), nb)
    ours = _render(feedback_exporter(), nb)
    assert PLACEHOLDER_ALT in theirs and "tabindex" in theirs  # what the skipped pass adds
    assert PLACEHOLDER_ALT not in ours
    expected = sanitize_feedback(theirs).replace(PLACEHOLDER_ALT, "")
    got = sanitize_feedback(ours)
    assert "expected 3, got 4" in got and "loss 0.25" in got and "Score" in got
    # BeautifulSoup re-indents some markup and orders some attributes otherwise
    theirs_events, ours_events = _Events(expected).events, _Events(got).events
    assert len(ours_events) > 1000
    for i, (a, b) in enumerate(zip(ours_events, theirs_events, strict=True)):
        assert a == b, f"event {i} differs from nbconvert's page: {a} != {b}"


@pytest.fixture
def compiles(monkeypatch) -> list[str]:
    """The names of the templates Jinja compiles from source while the test runs."""
    names: list[str] = []
    compile_source = jinja2.Environment.compile

    def counting(self, source, name=None, filename=None, *args, **kwargs):
        names.append(str(name))
        return compile_source(self, source, name, filename, *args, **kwargs)

    monkeypatch.setattr(jinja2.Environment, "compile", counting)
    return names


def test_a_second_exporter_compiles_no_template(compiles):
    _render(feedback_exporter(), graded_notebook())
    assert len(COMPILED) >= 5, "the feedback templates were not kept"
    compiles.clear()
    _render(feedback_exporter(), graded_notebook())
    assert compiles == [], f"compiled again: {compiles}"


def test_a_changed_template_is_compiled_again(compiles):
    env = jinja2.Environment(
        loader=jinja2.DictLoader({"page": "one {{ x }}"}), bytecode_cache=COMPILED
    )
    assert env.get_template("page").render(x=1) == "one 1"
    changed = jinja2.Environment(
        loader=jinja2.DictLoader({"page": "two {{ x }}"}), bytecode_cache=COMPILED
    )
    assert changed.get_template("page").render(x=2) == "two 2"
    assert compiles == ["page", "page"]


def test_the_feedback_exporter_is_what_the_unit_configures():
    source = (Path(__file__).parents[1] / "autograder" / "unit.py").read_text()
    assert "config.GenerateFeedback.exporter_class = FeedbackExporter" in source
    assert issubclass(FeedbackExporter, HTMLExporter)


AFTER_WARMUP = """
import json, sys
import jinja2
import autograder.unit_warmup  # what the forkserver imports last
from autograder.feedback_exporter import HIGHLIGHTED, feedback_exporter
from autograder.feedback_html import clean_stylesheet, sanitize_feedback
sys.path.insert(0, {tests!r})
from test_feedback_exporter import graded_notebook, SCORES
highlighted = len(HIGHLIGHTED)
names = []
compile_source = jinja2.Environment.compile
def counting(self, source, name=None, *args, **kwargs):
    names.append(str(name))
    return compile_source(self, source, name, *args, **kwargs)
jinja2.Environment.compile = counting
before = clean_stylesheet.cache_info()
html, _ = feedback_exporter().from_notebook_node(graded_notebook(), {{"nbgrader": SCORES}})
sanitize_feedback(html)
after = clean_stylesheet.cache_info()
print(json.dumps({{"compiled": names, "css_misses": after.misses - before.misses,
                   "css_hits": after.hits - before.hits,
                   "highlighted": len(HIGHLIGHTED) - highlighted}}))
"""


def test_after_the_warmup_a_lesson_page_compiles_highlights_and_cleans_nothing():
    """What the forkserver's warm-up prepares is what a unit's page needs (in a fresh process:
    this one's caches are filled by the other tests): a lesson's page compiles no template,
    highlights no code cell, cleans no stylesheet."""
    code = AFTER_WARMUP.format(tests=str(Path(__file__).parent))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    found = json.loads(out.stdout.strip().splitlines()[-1])
    assert found["compiled"] == [], f"templates compiled after the warm-up: {found['compiled']}"
    assert found["css_misses"] == 0 and found["css_hits"] >= 2, found
    assert found["highlighted"] == 0, found
