"""The course website (autograder.site): pages of the student versions with the master's
figures, never a solution, a hidden test or an answer; opened in Chromium.

The site is built once per session, from the executed masters cached in build/site-cache
by content, as ``make site`` does; the claims tests (earlier in the run) fill that cache, so
in a full run no master is executed twice.
"""

from __future__ import annotations

import re
import shutil
from html import unescape
from html.parser import HTMLParser
from pathlib import Path

import nbformat
import pytest

from autograder.course import Course
from autograder.site import SiteError, build_site, page_notebook
from tests.claims.executed import SITE_CACHE

REGION = re.compile(
    r"### BEGIN (SOLUTION|HIDDEN TESTS)\n(.*?)### END \1", re.DOTALL
)  # nbgrader's markers: what the student version never holds
MIN_LINE = 8  # shorter lines (``pass``, ``return x``) prove nothing either way


class _Text(HTMLParser):
    """A page's text as a reader sees it: highlighted code is one string again."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def page_text(html: str) -> str:
    parser = _Text()
    parser.feed(html)
    return "".join(parser.parts)


def secret_lines(lesson: str) -> set[str]:
    """Every line inside a master's solution and hidden-test regions that no student version
    shows anywhere (a signature, a hint in a check or in the text is public already)."""
    course = Course()
    public = "\n".join(
        cell.source
        for other in course.lessons()
        if course.student(other).is_file()
        for cell in nbformat.read(course.student(other), as_version=4).cells
    )
    master = nbformat.read(course.master(lesson), as_version=4)
    found = set()
    for cell in master.cells:
        for _, body in REGION.findall(cell.source):
            found |= {line.strip() for line in body.splitlines()}
    return {line for line in found if len(line) >= MIN_LINE and line not in public}


# -- fast: the page notebook, from made-up cells ------------------------------------------


def _cell(kind: str, source: str, outputs=(), meta=None):
    if kind == "markdown":
        return nbformat.v4.new_markdown_cell(source)
    cell = nbformat.v4.new_code_cell(source, outputs=list(outputs))
    cell.metadata = {"nbgrader": meta} if meta else {}
    return cell


FIGURE = nbformat.v4.new_output(
    "display_data", data={"image/png": "iVBORw0KGgo=", "text/plain": "<Figure>"}
)
STDOUT = nbformat.v4.new_output("stream", name="stdout", text="loss 0.25\n")
STDERR = nbformat.v4.new_output("stream", name="stderr", text="  out = x @ w.T + b  # a warning\n")
WIDGET = nbformat.v4.new_output(
    "display_data", data={"application/vnd.jupyter.widget-view+json": {"model_id": "x"}}
)
EMPTY_BAR = nbformat.v4.new_output("display_data", data={"text/plain": ""})
SOLUTION = {"solution": True, "grade": False, "grade_id": "f", "locked": False}
TEST = {"solution": False, "grade": True, "grade_id": "test_f", "points": 1, "locked": True}


def _pair(extra_master_outputs=()):
    student = nbformat.v4.new_notebook(
        cells=[
            _cell(
                "markdown", "# Lesson 9 — X\n\nSee [Lesson 1](01_backprop.ipynb#the-chain-rule)."
            ),
            _cell(
                "code",
                "def f(x):\n    # YOUR CODE HERE\n    raise NotImplementedError()",
                meta=SOLUTION,
            ),
            _cell("code", "check(f)", meta=TEST),
            _cell("code", "plot(f)"),
        ]
    )
    master = nbformat.v4.new_notebook(
        cells=[
            _cell("markdown", "# Lesson 9 — X"),
            _cell("code", "def f(x):\n    return 2 * x", [STDOUT], meta=SOLUTION),
            _cell("code", "check(f)\nsecret()", [STDOUT], meta=TEST),
            _cell(
                "code",
                "plot(f)",
                [FIGURE, STDOUT, STDERR, WIDGET, EMPTY_BAR, *extra_master_outputs],
            ),
        ]
    )
    return student, master


def test_a_page_shows_the_student_source_and_only_the_experiments_outputs():
    student, master = _pair()
    page = page_notebook(student, master, "09_x")
    assert [c.source for c in page.cells[1:]] == [c.source for c in student.cells[1:]]
    assert "](01_backprop.html#the-chain-rule)" in page.cells[0].source
    solution, test, experiment = page.cells[1:]
    assert solution.outputs == [] and test.outputs == []
    # no stderr, no widget without its state, no empty box where a progress bar closed
    assert experiment.outputs == [FIGURE, STDOUT]
    assert all(c.metadata == {} for c in page.cells)


def test_a_master_that_fails_outside_its_tests_or_drifted_is_not_published():
    student, master = _pair(
        [nbformat.v4.new_output("error", ename="ValueError", evalue="bad", traceback=[])]
    )
    with pytest.raises(SiteError, match="fails outside its test cells: .*ValueError: bad"):
        page_notebook(student, master, "09_x")
    student, master = _pair()
    student.cells.pop()
    with pytest.raises(SiteError, match="different cells"):
        page_notebook(student, master, "09_x")
    student, master = _pair()
    master.cells[3].metadata = {"nbgrader": SOLUTION}  # same types, other roles
    with pytest.raises(SiteError, match="different cells"):
        page_notebook(student, master, "09_x")


def test_the_cache_of_executed_masters_is_never_published(tmp_path):
    with pytest.raises(SiteError, match="holds solutions"):
        build_site(tmp_path / "site", cache=tmp_path / "site" / "cache")


def test_a_stored_execution_replaces_the_lessons_older_ones_only(tmp_path):
    from autograder.site import store_execution

    nb = nbformat.v4.new_notebook()
    for name in ("01_backprop-aaaa.ipynb", "01_backprop_extra-bbbb.ipynb", "02_x-cccc.ipynb"):
        (tmp_path / name).write_text("{}")
    store_execution(nb, tmp_path / "01_backprop-dddd.ipynb")
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "01_backprop-dddd.ipynb",
        "01_backprop_extra-bbbb.ipynb",
        "02_x-cccc.ipynb",
    ]
    assert nbformat.read(tmp_path / "01_backprop-dddd.ipynb", as_version=4) == nb


def test_a_failed_build_keeps_the_last_site(fixture_course, tmp_path):
    """The fixture lesson, its master standing in for the student version and for the
    executed master (already in the cache: nothing runs)."""
    from autograder.site import master_fingerprint

    lesson, course = "fixture_sum", fixture_course
    course.notebooks.mkdir(parents=True)
    shutil.copy(course.master(lesson), course.student(lesson))
    cache = tmp_path / "cache"
    cache.mkdir()
    shutil.copy(
        course.master(lesson), cache / f"{lesson}-{master_fingerprint(course.master(lesson))}.ipynb"
    )
    out = tmp_path / "site"
    pages = build_site(out, course=course, cache=cache)
    assert [p.page for p in pages] == [f"{lesson}.html"] and pages[0].points == 3
    assert sorted(p.name for p in out.iterdir()) == [f"{lesson}.html", "index.html"]
    before = {p.name: p.read_text() for p in out.iterdir()}
    student = nbformat.read(course.student(lesson), as_version=4)
    student.cells.pop()
    nbformat.write(student, course.student(lesson))
    with pytest.raises(SiteError, match="different cells"):
        build_site(out, course=course, cache=cache)
    assert {p.name: p.read_text() for p in out.iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cache", "course", "notebooks", "site"]


# -- slow: the real site ------------------------------------------------------------------


@pytest.fixture(scope="session")
def site(tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("site") / "site"
    pages = build_site(out, cache=SITE_CACHE)  # the claims tests executed the masters into it
    return {"out": out, "pages": pages}


@pytest.mark.slow
def test_every_lesson_has_a_page_and_the_index_lists_it(site):
    out: Path = site["out"]
    lessons = Course().lessons()
    assert sorted(p.name for p in out.iterdir()) == sorted(
        ["index.html"] + [f"{ls}.html" for ls in lessons]
    )
    index = (out / "index.html").read_text()
    for page in site["pages"]:
        header = nbformat.read(Course().student(page.lesson), as_version=4).cells[0].source
        stated = re.search(r"\*\*Points\*\*:\s*(\d+)", header)
        assert stated and float(stated[1]) == page.points, page
        assert page.time and page.time in header and page.title in header
        assert f'<a href="{page.lesson}.html">' in index
        assert page.title in unescape(index) and f"<td>{page.points:g}</td>" in index


@pytest.mark.slow
@pytest.mark.parametrize("lesson", Course().lessons())
def test_no_page_shows_a_solution_or_a_hidden_test(site, lesson):
    secrets = secret_lines(lesson)
    assert secrets, f"{lesson}: no solution text found to look for"
    for path in site["out"].iterdir():
        raw = path.read_text(encoding="utf-8")
        text = page_text(raw)
        leaks = sorted(s for s in secrets if s in text or s in raw or s in unescape(raw))
        assert not leaks, f"{path.name} shows {lesson}'s solution or hidden tests: {leaks[:5]}"


@pytest.mark.slow
def test_the_leak_check_would_see_a_solution_on_a_page(site):
    """The check above reads highlighted code: a page of the master itself fails it."""
    from autograder.site import _html

    lesson = Course().lessons()[0]
    master = nbformat.read(Course().master(lesson), as_version=4)
    text = page_text(_html(master, lesson))
    assert [s for s in secret_lines(lesson) if s in text]


@pytest.mark.slow
@pytest.mark.browser
def test_chromium_shows_every_page_with_its_figures(site):
    from tests.test_browser import CHROMIUM_ARGS, _chromium

    chromium = _chromium()
    from playwright.sync_api import sync_playwright

    out: Path = site["out"]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        page = browser.new_page()
        page.route(re.compile(r"^https?://"), lambda route: route.abort())  # offline: no CDN
        page.goto((out / "index.html").as_uri())
        links = page.eval_on_selector_all("a[href]", "els => els.map(e => e.href)")
        assert sorted(links) == sorted((out / p.page).as_uri() for p in site["pages"])
        figures = {(out / p.page).as_uri(): p.figures for p in site["pages"]}
        for link in links:
            page.goto(link)
            page.wait_for_load_state("load")
            images = page.eval_on_selector_all(
                "img", "els => els.map(e => [e.complete, e.naturalWidth, e.naturalHeight])"
            )
            assert len(images) == figures[link] > 0, (link, len(images), figures[link])
            broken = [i for i, (done, w, h) in enumerate(images) if not (done and w > 0 and h > 0)]
            assert not broken, f"{link}: figures {broken} of {len(images)} not rendered"
            assert page.title(), link
        browser.close()
