"""nbgrader's feedback page, rendered with less work per unit: the grader renders one per unit.

:class:`FeedbackExporter` is nbconvert's ``HTMLExporter`` (with nbgrader's ``feedback``
template, as ``GenerateFeedback`` configures it) with three costs removed:

- the Jinja templates are compiled once per process tree: their bytecode is kept in
  :data:`COMPILED`, filled in the grader's forkserver (``autograder.unit_warmup``) and
  inherited by every unit forked from it. Jinja checks each template's source against the
  checksum it was compiled from, so a changed template is compiled again;
- code cells are highlighted (pygments) once per source: :data:`HIGHLIGHTED` is filled in
  the forkserver with every lesson's code cells (:func:`highlight_lessons`), so a unit
  highlights only the cells its student wrote;
- nbconvert's second pass over the page with BeautifulSoup is skipped: it adds ``tabindex``
  attributes and a placeholder ``alt`` text, and the page is rebuilt by
  ``autograder.feedback_html`` right after, which drops ``tabindex`` anyway.

The page is otherwise nbconvert's: ``tests/test_feedback_exporter.py`` compares the two,
sanitised, so that a change in nbconvert shows there.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jinja2 import BytecodeCache
from jinja2.bccache import Bucket
from nbconvert.exporters import HTMLExporter, TemplateExporter
from nbconvert.filters.highlight import Highlight2HTML
from nbconvert.filters.widgetsdatatypefilter import WidgetsDataTypeFilter
from nbformat import NotebookNode


class CompiledTemplates(BytecodeCache):
    """Jinja's compiled templates, in this process's memory (and its forks')."""

    def __init__(self) -> None:
        self._code: dict[str, bytes] = {}

    def load_bytecode(self, bucket: Bucket) -> None:
        code = self._code.get(bucket.key)
        if code is not None:
            bucket.bytecode_from_string(code)  # ignored if the source's checksum differs

    def dump_bytecode(self, bucket: Bucket) -> None:
        self._code[bucket.key] = bucket.bytecode_to_string()

    def clear(self) -> None:
        self._code.clear()

    def __len__(self) -> int:
        return len(self._code)


#: every FeedbackExporter's templates, compiled once
COMPILED = CompiledTemplates()


#: highlighted code by (source, language, cell's magics language, formatter options)
HIGHLIGHTED: dict[tuple[str, str, str | None, str], str] = {}

#: the lexer of a graded notebook: nbclient writes the kernel's ``language_info`` into the
#: notebook it executes, and ipykernel's names this one (a master's metadata says "python")
KERNEL_LEXER = "ipython3"


def notebook_lexer(metadata: dict) -> str | None:
    """The pygments lexer nbconvert's HTMLExporter highlights a notebook with (None: its
    default), from the notebook's metadata."""
    language = metadata.get("language_info", {})
    return language.get("pygments_lexer", language.get("name", None))


class CachedHighlight(Highlight2HTML):
    """nbconvert's ``highlight_code`` filter, each source highlighted once per process tree."""

    def __call__(self, source: str, language: str | None = None, metadata=None) -> str:
        magics = metadata.get("magics_language") if metadata else None
        options = repr(sorted(self.extra_formatter_options.items()))
        key = (source, language or self.pygments_lexer, magics, options)
        html = HIGHLIGHTED.get(key)
        if html is None:
            html = HIGHLIGHTED[key] = super().__call__(source, language, metadata)
        return html


class FeedbackExporter(HTMLExporter):
    """``HTMLExporter`` with compiled templates and highlighted code kept, and no
    BeautifulSoup pass."""

    def _create_environment(self):
        environment = super()._create_environment()
        environment.bytecode_cache = COMPILED
        return environment

    def from_notebook_node(  # type: ignore[override]
        self, nb: NotebookNode, resources: dict[str, Any] | None = None, **kw: Any
    ) -> tuple[str, dict[str, Any]]:
        """``HTMLExporter.from_notebook_node`` up to its BeautifulSoup pass."""
        highlight_code = self.filters.get(
            "highlight_code",
            CachedHighlight(pygments_lexer=notebook_lexer(nb.metadata), parent=self),
        )
        resources = self._init_resources(resources)
        filter_data_type = WidgetsDataTypeFilter(
            notebook_metadata=self._nb_metadata, parent=self, resources=resources
        )
        self.register_filter("highlight_code", highlight_code)
        self.register_filter("filter_data_type", filter_data_type)
        return TemplateExporter.from_notebook_node(self, nb, resources, **kw)


def feedback_exporter(exporter_class: type[HTMLExporter] = FeedbackExporter) -> HTMLExporter:
    """An exporter configured as nbgrader's ``GenerateFeedback`` configures its own (its
    ``feedback`` template and nbgrader's stylesheets), to render a page outside a converter."""
    from nbgrader.converters import GenerateFeedback
    from nbgrader.coursedir import CourseDirectory

    app = GenerateFeedback(coursedir=CourseDirectory())
    exporter = exporter_class(parent=app, config=app.config)
    for preprocessor in app.preprocessors:
        if preprocessor.__name__ != "GetGrades":  # the score comes from a gradebook
            exporter.register_preprocessor(preprocessor)
    return exporter


def render_sample() -> str:
    """A small graded notebook (markdown, code, a test cell, text and image outputs) as a
    sanitised feedback page: compiles the templates into :data:`COMPILED` and cleans the
    template's stylesheets once (``feedback_html.clean_stylesheet`` keeps them)."""
    import nbformat

    from autograder.feedback_html import sanitize_feedback

    png = (
        "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGA"
        "WjR9awAAAABJRU5ErkJggg=="
    )
    code = nbformat.v4.new_code_cell(
        "import math\nprint(math.pi)",
        outputs=[
            nbformat.v4.new_output("stream", name="stdout", text="3.14\n"),
            nbformat.v4.new_output("display_data", data={"image/png": png, "text/plain": "x"}),
        ],
    )
    grade = {"grade": True, "solution": False, "grade_id": "t", "points": 1, "score": 1}
    code.metadata["nbgrader"] = grade
    text = nbformat.v4.new_markdown_cell("# Title\n\n*a* **b** `c` $x^2$\n\n- one\n- two")
    nb = nbformat.v4.new_notebook(cells=[text, code])
    nb.metadata["language_info"] = {"name": "python", "pygments_lexer": "ipython3"}
    scores = {"notebook": "sample", "score": 1.0, "max_score": 1.0, "late_penalty": 0.0}
    html, _ = feedback_exporter().from_notebook_node(nb, {"nbgrader": scores})
    return sanitize_feedback(html)


def highlight_lessons(notebooks: list[Path]) -> int:
    """Highlight the code cells of ``notebooks`` (a course's masters and released versions)
    into :data:`HIGHLIGHTED`, as the feedback pages of their executed versions will ask for
    them; returns how many."""
    import json

    exporter = feedback_exporter()
    count = 0
    for path in notebooks:
        nb = json.loads(path.read_text())
        # as FeedbackExporter makes its filter for the executed notebook: the same cache keys
        highlight = CachedHighlight(pygments_lexer=KERNEL_LEXER, parent=exporter)
        for cell in nb["cells"]:
            if cell["cell_type"] == "code":
                source = cell["source"]
                highlight("".join(source) if isinstance(source, list) else source)
                count += 1
    return count
