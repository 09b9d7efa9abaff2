"""The course website: one static HTML page per lesson, with its figures, and an index.

``make site`` (``python -m autograder.site --out build/site``). Each page shows what the
student's notebook shows (the released version: every cell's source, ``# YOUR CODE HERE``
where a solution goes, the visible checks only), run as if every exercise were done:
the master is executed once and each cell that is neither a solution nor a test cell
gets the master's outputs (the figures and tables of the experiments). Solution and test
cells show no output; stderr and error outputs are never published (a warning or a
traceback quotes source lines). Pages are made by nbconvert's HTML exporter.

Executed masters are cached in ``--cache`` (default ``build/site-cache``), outside the
published folder: they hold the solutions. A master is executed again when it or
coursekit changes.
"""

from __future__ import annotations

import argparse
import hashlib
import html
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import nbformat

from autograder.course import Course
from autograder.keyed_cache import keep

KERNEL_ENV = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"  # no widget state on a static page
_LESSON_LINK = re.compile(r"\]\((\d\d_[A-Za-z0-9_]+)\.ipynb(#[^)]*)?\)")
_TITLE = re.compile(r"^#\s+(.+)$", re.MULTILINE)
_TIME = re.compile(r"\*\*Time\*\*:\s*(.+?)(?:\s+—|\.\s|\.$|\s*\*\*|$)", re.MULTILINE)
_POINTS = re.compile(r"\*\*Points\*\*:\s*(\d+)")


class SiteError(RuntimeError):
    """A lesson cannot be published (its master fails, or its student version drifted)."""


@dataclass(frozen=True)
class LessonPage:
    """One lesson on the index: its page, title, stated time, points and figures shown."""

    lesson: str
    page: str
    title: str
    time: str
    points: float
    figures: int = 0


def _kind(cell: nbformat.NotebookNode) -> str:
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return "solution" if meta.get("solution") else "test" if meta.get("grade") else "plain"


def master_fingerprint(master: Path) -> str:
    """What an executed master depends on: the master and coursekit (code and data)."""
    digest = hashlib.sha256(master.read_bytes())
    coursekit = Path(__file__).resolve().parent.parent / "coursekit"
    for path in sorted(p for p in coursekit.rglob("*") if p.is_file()):
        if "__pycache__" not in path.parts:
            digest.update(str(path.relative_to(coursekit)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


def cached_execution(cache: Path, lesson: str, master: Path) -> Path:
    """Where the executed ``master`` of ``lesson`` is kept in ``cache``, by content: the
    claims tests store their executions there too, so a site built after them runs nothing."""
    return cache / f"{lesson}-{master_fingerprint(master)}.ipynb"


def store_execution(executed: nbformat.NotebookNode, cached: Path) -> Path:
    """Write an executed master at ``cached``, whole or not at all (a killed run leaves
    no half-written notebook that a later build would take for a finished one), and drop
    the same lesson's executions of older versions (they only pile up)."""
    return keep(cached, lambda partial: nbformat.write(executed, partial))


def execute_master(master: Path, cached: Path, timeout: int = 600) -> Path:
    """The master at ``master`` executed top to bottom (errors allowed), saved at ``cached``."""
    from nbclient import NotebookClient
    from traitlets.config import Config

    from autograder.ready_client import configure

    nb = nbformat.read(master, as_version=4)
    with tempfile.TemporaryDirectory(prefix="gf-site-") as sockets:
        config = Config()
        configure(config, Path(sockets) / "k")  # IPC: no TCP port on the machine
        client = NotebookClient(
            nb,
            timeout=timeout,
            config=config,
            kernel_name="python3",
            allow_errors=True,  # a test cell may fail outside grading; it is never published
            resources={"metadata": {"path": str(master.parent)}},
        )
        client.execute(env={**os.environ, **KERNEL_ENV})
    return store_execution(nb, cached)


def _public_outputs(outputs: list) -> list:
    """The outputs a page shows: no stderr, no error, no widget (it has no state here)."""
    kept = []
    for out in outputs:
        if out.output_type == "error" or (out.output_type == "stream" and out.name != "stdout"):
            continue
        if out.output_type in ("display_data", "execute_result") and WIDGET_MIME in out.data:
            continue
        if out.output_type == "display_data" and not "".join(out.data.get("text/plain", "x")):
            continue  # a progress bar closed with leave=False: an empty box on a page
        kept.append(out)
    return kept


def _layout(nb: nbformat.NotebookNode) -> list[tuple[str, str, str]]:
    """Each cell's type, kind and grade id: what a student version keeps of its master."""
    return [
        (c.cell_type, _kind(c), c.get("metadata", {}).get("nbgrader", {}).get("grade_id", ""))
        for c in nb.cells
    ]


def page_notebook(
    student: nbformat.NotebookNode, executed: nbformat.NotebookNode, lesson: str
) -> nbformat.NotebookNode:
    """The student version with the executed master's outputs where they may be shown."""
    if _layout(student) != _layout(executed):
        raise SiteError(f"{lesson}: the student version and the master have different cells")
    page = nbformat.v4.new_notebook(metadata=dict(student.metadata))
    page.nbformat_minor = student.nbformat_minor  # the cells keep their ids, or have none
    problems = []
    for index, (mine, done) in enumerate(zip(student.cells, executed.cells, strict=True)):
        cell = nbformat.from_dict({k: v for k, v in mine.items() if k != "metadata"})
        cell.metadata = {}
        if cell.cell_type == "markdown":
            cell.source = _LESSON_LINK.sub(lambda m: f"]({m[1]}.html{m[2] or ''})", cell.source)
        elif cell.cell_type == "code":
            show = _kind(mine) == "plain"
            errors = [o for o in done.outputs if o.output_type == "error"]
            if show and errors:
                problems.append(f"cell {index}: {errors[0].ename}: {errors[0].evalue}")
            cell.outputs = _public_outputs(done.outputs) if show else []
            cell.execution_count = done.execution_count if show else None
        page.cells.append(cell)
    if problems:
        raise SiteError(f"{lesson}: the master fails outside its test cells: {problems}")
    return page


def lesson_header(nb: nbformat.NotebookNode, lesson: str) -> tuple[str, str, float]:
    """(title, time, points) from the lesson's header cell; points summed from its tests."""
    header = nb.cells[0].source if nb.cells else ""
    title = _TITLE.search(header)
    time = _TIME.search(header)
    points = sum(
        float(c.metadata["nbgrader"].get("points", 0)) for c in nb.cells if _kind(c) == "test"
    )
    return (title[1].strip() if title else lesson), (time[1].strip() if time else ""), points


def _html(nb: nbformat.NotebookNode, title: str) -> str:
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(template_name="lab")
    body, _ = exporter.from_notebook_node(nb, resources={"metadata": {"name": title}})
    return body


def index_html(pages: list[LessonPage], course_title: str = "Gradient Flow") -> str:
    """The index page: every lesson with its link, time and points."""
    rows = "\n".join(
        f'<tr><td><a href="{html.escape(p.page)}">{html.escape(p.title)}</a></td>'
        f"<td>{html.escape(p.time)}</td><td>{p.points:g}</td></tr>"
        for p in pages
    )
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(course_title)}</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 60rem; margin: 2rem auto; padding: 0 1rem; }}
table {{ border-collapse: collapse; width: 100%; }}
th, td {{ text-align: left; padding: .4rem .6rem; border-bottom: 1px solid #ddd; }}
</style></head>
<body>
<h1>{html.escape(course_title)}</h1>
<p>Backpropagation and the ways it fails: vanishing and exploding gradients, dead ReLU
units, dropout. Each lesson is a Jupyter notebook with graded exercises; these pages show
it with the figures of its experiments, never its solutions.</p>
<table><thead><tr><th>Lesson</th><th>Time</th><th>Points</th></tr></thead>
<tbody>
{rows}
</tbody></table>
</body></html>
"""


def _write_pages(
    course: Course, chosen: list[str], cached: dict[str, Path], new: Path
) -> list[LessonPage]:
    """Each lesson's page and the index, in ``new``."""
    pages = []
    for lesson in chosen:
        student = nbformat.read(course.student(lesson), as_version=4)
        executed = nbformat.read(cached[lesson], as_version=4)
        title, time, points = lesson_header(executed, lesson)
        page, nb = f"{lesson}.html", page_notebook(student, executed, lesson)
        back = nbformat.v4.new_markdown_cell("[← All lessons](index.html)")
        back.pop("id", None)  # the lessons are nbformat 4.4: cells without ids
        nb.cells.insert(0, back)
        (new / page).write_text(_html(nb, title), encoding="utf-8")
        figures = sum(
            1
            for cell in nb.cells
            for o in cell.get("outputs", [])
            if any(m.startswith("image/") for m in o.get("data", {}))
        )
        pages.append(LessonPage(lesson, page, title, time, points, figures))
    (new / "index.html").write_text(index_html(pages), encoding="utf-8")
    return pages


def build_site(
    out: Path,
    course: Course | None = None,
    lessons: Sequence[str] | None = None,
    cache: Path | None = None,
    workers: int = 2,
) -> list[LessonPage]:
    """Write ``out``/index.html and one ``<lesson>.html`` per lesson; return the index rows."""
    course = course or Course()
    chosen = course.select(list(lessons) if lessons else None)
    cache = cache or out.parent / "site-cache"
    unreleased = [ls for ls in chosen if not course.student(ls).is_file()]
    if unreleased:
        raise SiteError(f"no student version of {unreleased}: run `autograder release` first")
    if cache.resolve().is_relative_to(out.resolve()):
        raise SiteError(f"--cache {cache} lies inside the published {out}: it holds solutions")
    cached = {ls: cached_execution(cache, ls, course.master(ls)) for ls in chosen}
    todo = [ls for ls in chosen if not cached[ls].is_file()]
    if todo:
        print(f"executing {len(todo)} master(s): {', '.join(todo)}", flush=True)
        with ProcessPoolExecutor(max_workers=max(1, min(workers, len(todo)))) as pool:
            runs = [pool.submit(execute_master, course.master(ls), cached[ls]) for ls in todo]
            for run in runs:
                run.result()
    # written beside ``out`` and swapped in at the end: a failed build leaves the last site
    new = out.with_name(out.name + ".partial")
    shutil.rmtree(new, ignore_errors=True)
    new.mkdir(parents=True)
    try:
        pages = _write_pages(course, chosen, cached, new)
    except BaseException:
        shutil.rmtree(new, ignore_errors=True)
        raise
    shutil.rmtree(out, ignore_errors=True)
    new.rename(out)
    return pages


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m autograder.site", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--out", type=Path, default=Path("build/site"), help="default build/site")
    parser.add_argument("--cache", type=Path, help="executed masters (default: build/site-cache)")
    parser.add_argument("--workers", type=int, default=2, help="masters executed at once")
    parser.add_argument("lessons", nargs="*", metavar="LESSON", help="default: every lesson")
    args = parser.parse_args(argv)
    try:
        pages = build_site(args.out, lessons=args.lessons, cache=args.cache, workers=args.workers)
    except SiteError as exc:
        print(f"site NOT built: {exc}", file=sys.stderr)
        return 1
    for p in pages:
        print(f"{p.page}: {p.title} ({p.points:g} points, {p.figures} figures)")
    print(f"site written to {args.out}/index.html")
    return 0


if __name__ == "__main__":
    sys.exit(main())
