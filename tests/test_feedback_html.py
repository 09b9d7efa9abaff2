"""autograder.feedback_html: a feedback page keeps its text, tables, code, pictures and styles,
and nothing in it can run a script: neither the lesson's nor what a student's outputs carry.

Each hostile snippet tries to log ``PWNED:<name>`` (or set the title, or navigate away); the
static tests read the sanitised HTML, the browser test opens it in Chromium and listens.
"""

from __future__ import annotations

import re
import time
from html.parser import HTMLParser
from pathlib import Path

import pytest

from autograder.feedback_html import (
    CSP,
    clean_style_attribute,
    clean_stylesheet,
    sanitize_feedback,
    sanitize_feedback_file,
    write_sanitized_feedback,
)

LOG = "console.log('PWNED:{}')"
HOSTILE = {
    "script": "<script>console.log('PWNED:script');document.title='PWNED'</script>",
    "SCRIPT": "<SCRIPT>console.log('PWNED:SCRIPT')</SCRIPT>",
    "ScRiPt": "<ScRiPt >console.log('PWNED:ScRiPt')</sCrIpT >",
    "script-src": "<script src=\"data:text/javascript,console.log('PWNED:script-src')\"></script>",
    "split-script": "<scr<script>x</script>ipt>console.log('PWNED:split-script')</script>",
    "img-onerror": "<img src=x onerror=\"console.log('PWNED:img-onerror')\">",
    "IMG-ONERROR": "<IMG SRC=x OnErRoR=\"console.log('PWNED:IMG-ONERROR')\">",
    "svg-onload": "<svg onload=\"console.log('PWNED:svg-onload')\"><circle r=5></circle></svg>",
    "svg-script": "<svg><script>console.log('PWNED:svg-script')</script></svg>",
    "svg-link": "<svg><a xlink:href=\"javascript:console.log('PWNED:svg-link')\">"
    '<text y="20">svg link</text></a></svg>',
    "svg-style": "<svg><style><img src=x onerror=\"console.log('PWNED:svg-style')\"></style></svg>",
    "a-javascript": "<a href=\"javascript:console.log('PWNED:a-javascript')\">a</a>",
    "a-JaVaScRiPt": "<a href=\"JaVaScRiPt:console.log('PWNED:a-JaVaScRiPt')\">b</a>",
    "a-entity": "<a href=\"javascript&#58;console.log('PWNED:a-entity')\">c</a>",
    "a-entity-j": "<a href=\"&#106;avascript:console.log('PWNED:a-entity-j')\">d</a>",
    "a-tab": "<a href=\" java&#9;script:console.log('PWNED:a-tab')\">e</a>",
    "a-vbscript": '<a href="vbscript:msgbox(1)">f</a>',
    "a-data-html": "<a href=\"data:text/html,<script>console.log('PWNED:a-data-html')"
    '</script>">g</a>',
    "iframe-srcdoc": "<iframe srcdoc=\"<script>console.log('PWNED:iframe-srcdoc')</script>\">"
    "</iframe>",
    "iframe-src": "<iframe src=\"javascript:console.log('PWNED:iframe-src')\"></iframe>",
    "object": "<object data=\"data:text/html,<script>console.log('PWNED:object')</script>\">"
    "</object>",
    "embed": "<embed src=\"data:text/html,<script>console.log('PWNED:embed')</script>\">",
    "base": '<base href="javascript:console.log(1)//">',
    "meta-refresh": '<meta http-equiv="refresh" content="0;url=about:blank#PWNED">',
    "form": "<form action=\"javascript:console.log('PWNED:form')\"><button>submit</button></form>",
    "formaction": "<button formaction=\"javascript:console.log('PWNED:formaction')\">go</button>",
    "math": "<math><mi xlink:href=\"javascript:console.log('PWNED:math')\">m</mi></math>",
    "style-expression": "<div style=\"width: expression(console.log('PWNED:style-expression'))\">"
    "w</div>",
    "style-url": "<div style=\"background: url(javascript:console.log('PWNED:style-url'))\">"
    "u</div>",
    "style-element": "<style>body { background: url(\"javascript:console.log('PWNED:style')\");"
    " width: expression(alert(1)) } @import url(evil.css);</style>",
    "details-ontoggle": "<details open ontoggle=\"console.log('PWNED:details-ontoggle')\">"
    "<summary>s</summary></details>",
    "autofocus": "<input autofocus onfocus=\"console.log('PWNED:autofocus')\">",
    "body-onload": "<body onload=\"console.log('PWNED:body-onload')\">",
    "video-source": "<video><source onerror=\"console.log('PWNED:video-source')\"></video>",
    "noscript-mxss": '<noscript><p title="</noscript><img src=x '
    "onerror=console.log('PWNED:noscript-mxss')>\"></noscript>",
    "link": '<link rel="stylesheet" href="https://example.org/evil.css">',
}
NORMAL = (
    '<h1 id="Intro">Intro<a class="anchor-link" href="#Intro">¶</a></h1>'
    "<p>Some <b>bold</b>, <i>italic</i> and <code>x = 1</code>.</p>"
    '<pre><span class="k">def</span> f(): pass</pre>'
    '<table class="dataframe"><thead><tr><th>a</th></tr></thead>'
    "<tbody><tr><td>1</td></tr></tbody></table>"
    '<img alt="plot" src="data:image/png;base64,iVBORw0KGgo=">'
    '<img alt="svg" src="data:image/svg+xml;base64,PHN2Zy8+">'
    '<span class="ansi-bold" style="color: rgb(0,135,0)">import</span>'
    '<a href="https://pytorch.org/docs">docs</a><a name="top"></a>'
)
URL_ATTRIBUTES = {"href", "src", "action", "formaction", "xlink:href", "data", "srcdoc", "cite"}


def _page(body: str, head: str = "") -> str:
    return f"<!DOCTYPE html><html><head><title>t</title>{head}</head><body>{body}</body></html>"


class _Parsed(HTMLParser):
    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict[str, str]]] = []
        self.styles: list[str] = []
        self.text = ""
        self._in_style = False
        self.feed(html)
        self.close()

    def handle_starttag(self, tag, attrs):
        self.elements.append((tag, {k: v or "" for k, v in attrs}))
        self._in_style = tag == "style"

    def handle_endtag(self, tag):
        self._in_style = False

    def handle_data(self, data):
        if self._in_style:
            self.styles.append(data)
        else:
            self.text += data


def _assert_inert(html: str) -> None:
    """Nothing in ``html`` that could run a script, load a page or leave the page."""
    parsed = _Parsed(html)
    forbidden = {"script", "iframe", "object", "embed", "base", "form", "svg", "math", "link"}
    for tag, attrs in parsed.elements:
        assert tag not in forbidden | {"frame", "applet", "input", "button", "video"}, tag
        if tag == "meta":
            assert attrs in (
                {"http-equiv": "Content-Security-Policy", "content": CSP},
                {"charset": "utf-8"},
            )
            continue
        for name, value in attrs.items():
            assert not name.startswith("on"), (tag, name)
            if name in URL_ATTRIBUTES:
                url = "".join(ch for ch in value if ch > " ").lower()
                assert not re.match(r"(java|vb)script:|data:(?!image/)", url), (tag, name, value)
            if name == "style":
                assert not re.search(r"expression|javascript|url\((?!\"?data:)", value.lower())
    for css in parsed.styles:
        assert not re.search(r"expression\(|javascript:|@import|url\((?!\"?data:)", css.lower())


def _head_first_element(html: str) -> tuple[str, dict[str, str]]:
    parsed = _Parsed(html)
    tags = [tag for tag, _ in parsed.elements]
    return parsed.elements[tags.index("head") + 1]


@pytest.mark.parametrize("name", HOSTILE)
def test_each_hostile_snippet_is_removed_and_the_page_stays(name):
    html = sanitize_feedback(_page(f"<p>before</p>{HOSTILE[name]}<p>after</p>"))
    _assert_inert(html)
    text = _Parsed(html).text
    assert "before" in text and "after" in text
    assert "PWNED" not in "".join(_Parsed(html).styles)
    assert sanitize_feedback(html) == html, "sanitising twice changes the page"


def test_all_hostile_snippets_at_once_in_head_and_body():
    snippets = "".join(HOSTILE.values())
    html = sanitize_feedback(_page(snippets + NORMAL + snippets, head=snippets))
    _assert_inert(html)
    assert "<title>t</title>" in html


def test_the_content_security_policy_is_the_first_element_of_head():
    html = sanitize_feedback(_page(NORMAL, head='<meta charset="latin1"><script>x</script>'))
    assert _head_first_element(html) == (
        "meta",
        {"http-equiv": "Content-Security-Policy", "content": CSP},
    )
    assert html.count("Content-Security-Policy") == 1


def test_normal_feedback_content_is_kept():
    html = sanitize_feedback(_page(NORMAL))
    for kept in (
        '<h1 id="Intro">Intro<a class="anchor-link" href="#Intro"',
        "<b>bold</b>",
        "<i>italic</i>",
        "<code>x = 1</code>",
        '<pre><span class="k">def</span> f(): pass</pre>',
        '<table class="dataframe"><thead><tr><th>a</th></tr></thead>',
        "<td>1</td>",
        'src="data:image/png;base64,iVBORw0KGgo="',
        'src="data:image/svg+xml;base64,PHN2Zy8+"',
        'style="color: rgb(0,135,0)"',
        'href="https://pytorch.org/docs"',
        '<a name="top"',
    ):
        assert kept in html, kept


def test_head_styles_are_kept_and_cleaned():
    sheet = (
        "div.cell { display: block; color: #333 }\n"
        "@media print { div.output { page-break-inside: avoid } }\n"
        "@font-face { font-family: g; src: url(../fonts/g.woff) }\n"
        "b { background: url(javascript:alert(1)); width: expr\\65 ssion(alert(1)); color: blue }\n"
        "i { behavior: url(x.htc); -moz-binding: url(x.xml#x); font-style: italic }\n"
    )
    html = sanitize_feedback(_page(NORMAL, head=f'<style type="text/css">{sheet}</style>'))
    _assert_inert(html)
    css = "".join(_Parsed(html).styles)
    for kept in ("div.cell {display: block; color: #333}", "@media print", "font-family: g"):
        assert kept in css, kept
    assert "b {color: blue}" in css and "i {font-style: italic}" in css
    # In HTML, `</style` ends the sheet even inside a CSS string; text from elsewhere cannot.
    escaped = clean_stylesheet("a[title='</style><script>alert(1)</script>'] { color: red }")
    assert "<" not in escaped and "\\3c /style>" in escaped


def test_student_style_elements_in_the_body_are_dropped():
    html = sanitize_feedback(_page("<style>body { display: none }</style><p>visible</p>"))
    assert "display: none" not in html and "visible" in html


def test_css_cleaners_keep_safe_declarations_only():
    assert clean_style_attribute("color: red; background: url(javascript:x)") == "color: red"
    assert clean_style_attribute("x: url('data:image/png;base64,AA')") == (
        'x: url("data:image/png;base64,AA")'
    )
    assert clean_style_attribute("width: expression(alert(1))") is None
    assert clean_stylesheet("@import url(x.css); p { color: red }") == "p {color: red}"


def test_no_image_from_elsewhere_and_no_output_laid_over_the_page():
    """Red team: image-set()'s strings are URLs, and an invisible fixed link over the whole
    page turns any click into the student's link."""
    assert clean_style_attribute("background-image: image-set('http://evil/x.png' 1x)") is None
    assert clean_style_attribute("background: -webkit-image-set('//evil/x' 1x); color: red") == (
        "color: red"
    )
    kept = clean_style_attribute("background-image: image-set('data:image/png;base64,AA' 1x)")
    assert kept == 'background-image: image-set("data:image/png;base64,AA" 1x)'
    for position in ("fixed", "sticky", "absolute", "FIXED", "var(--p)", "fixed !important"):
        style = f"position: {position}; top: 0; width: 100%; height: 100%; opacity: 0"
        assert "position" not in (clean_style_attribute(style) or ""), position


@pytest.mark.parametrize(
    "moving",
    [
        "position: relative; top: -3000px",
        "position: relative; inset-block-start: -3000px",
        "transform: translateY(-2500px)",
        "-webkit-transform: translateY(-2500px)",
        "transform-origin: 0 0; transform: scale(40)",
        "translate: 0 -3000px",
        "rotate: 180deg",
        "margin-top: -2000px",
        "margin: 0 0 0 -5px",
        "margin-block-start: -2000px",
        "margin-top: calc(0px - 3000px)",
        "margin-top: var(--m)",
        "z-index: 99",
        "text-shadow: 0 -3000px red",
        "box-shadow: 0 -3000px 0 3000px white",
        "filter: drop-shadow(0 -3000px 0 red)",
        "-webkit-box-reflect: above 0",
        "outline-offset: -3000px",
        "border-image-outset: 3000px",
        "offset-path: path('M0,-3000')",
        "zoom: 40",
    ],
)
def test_an_outputs_style_keeps_its_box_in_place(moving):
    """Red team: relative offsets, transforms and negative margins moved an output (an
    invisible link) over the grade table; shadows and reflections can paint a score there."""
    assert clean_style_attribute(f"{moving}; color: red") == "color: red", moving


def test_margins_that_only_push_apart_are_kept():
    for style in ("margin: 4px 0", "margin-top: 10%", "margin-left: 2em"):
        assert clean_style_attribute(style) == style


def test_the_pages_own_classes_cannot_lay_an_output_over_it():
    """Red team: class="modal" took bootstrap's `position: fixed; top: 0; ... bottom: 0`
    from the page's own sheet: a full-window link over the grade table. The sheets keep
    everything but what moves a box; sup and sub are raised without an offset."""
    sheet = (
        ".modal { position: fixed; top: 0; right: 0; bottom: 0; left: 0; z-index: 1050;"
        " color: red }\n"
        ".affix { position: fixed }\n.dropup .dropdown-menu { bottom: 100%; top: auto }\n"
        ".fade .dialog { -webkit-transform: translate(0, -25%); transform: translate(0, -25%) }\n"
        ".row { margin-left: -15px; margin-top: 4px }\n"
        "sup { position: relative; top: -0.5em; font-size: 75% }\n"
        ".cell { position: relative; display: block }\n"
    )
    css = clean_stylesheet(sheet)
    assert css == (
        ".modal {z-index: 1050; color: red}\n.affix {}\n.dropup .dropdown-menu {}\n"
        ".fade .dialog {}\n.row {margin-top: 4px}\nsup {position: relative; font-size: 75%}\n"
        ".cell {position: relative; display: block}"
    )
    html = sanitize_feedback(_page("<p>x<sup>2</sup></p>", head=f"<style>{sheet}</style>"))
    assert "vertical-align: super" in "".join(_Parsed(html).styles)


def test_sanitize_feedback_file_rewrites_in_place(tmp_path):
    path = tmp_path / "lesson.html"
    path.write_text(_page(NORMAL + "".join(HOSTILE.values())), encoding="utf-8")
    path.chmod(0o644)
    sanitize_feedback_file(path)
    html = path.read_text(encoding="utf-8")
    _assert_inert(html)
    assert "<b>bold</b>" in html
    assert [p.name for p in tmp_path.iterdir()] == ["lesson.html"]
    assert path.stat().st_mode & 0o777 == 0o644


def test_a_page_that_cannot_be_sanitised_is_deleted(tmp_path, monkeypatch):
    path = tmp_path / "lesson.html"
    path.write_text(_page(HOSTILE["script"]), encoding="utf-8")

    def broken(html):
        raise RuntimeError("boom")

    monkeypatch.setattr("autograder.feedback_html.sanitize_feedback", broken)
    with pytest.raises(RuntimeError):
        sanitize_feedback_file(path)
    assert not path.exists()


def test_a_page_being_sanitised_never_has_its_final_name(tmp_path):
    """The raw page is read where nbgrader wrote it and only the sanitised one is renamed
    into place: a grading process stopped while sanitising (its time or its memory: red
    team, a page whose markup made the sanitiser take minutes or gigabytes) leaves no page
    with a student's script where the instructor opens it."""
    import subprocess
    import sys

    raw = tmp_path / "nbgrader" / "lesson.html"
    raw.parent.mkdir()
    raw.write_text(_page(HOSTILE["script"]), encoding="utf-8")
    dest = tmp_path / "feedback" / "lesson.html"
    dest.parent.mkdir()
    slow = (
        "import sys, time\n"
        "from autograder import feedback_html\n"
        "feedback_html.sanitize_feedback = lambda html: time.sleep(60)\n"
        "print('sanitising', flush=True)\n"
        "feedback_html.write_sanitized_feedback(sys.argv[1], sys.argv[2])\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", slow, str(raw), str(dest)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout.readline() == "sanitising\n"
    time.sleep(0.3)
    proc.kill()
    proc.wait()
    assert list(dest.parent.iterdir()) == [], "something was left where the pages go"
    write_sanitized_feedback(raw, dest, mode=0o640)
    _assert_inert(dest.read_text(encoding="utf-8"))
    assert dest.stat().st_mode & 0o777 == 0o640
    assert [p.name for p in dest.parent.iterdir()] == ["lesson.html"]


# --- a real nbgrader feedback page: a tiny course, one hostile student, nbgrader end to end ---

LESSON = "tiny"


def _hostile_answer() -> str:
    """An answer cell whose outputs carry every hostile snippet (and a correct add)."""
    return (
        "from IPython.display import HTML, SVG, Javascript, Markdown, display\n"
        f"for snippet in {list(HOSTILE.values())!r}:\n"
        "    display(HTML(snippet))\n"
        'display(SVG(\'<svg xmlns="http://www.w3.org/2000/svg" onload="console.log(1)">'
        '<circle r="5"/></svg>\'))\n'
        f'display(Markdown("[click](javascript:{LOG.format("markdown")}) **md-bold**"))\n'
        f'display(Javascript("{LOG.format("js-output")}"))\n'
        "print('<script>printed</script>')\n"
        "def add(a, b):\n"
        "    return a + b\n"
    )


def _tiny_master():
    import nbformat.v4 as v4

    def cell(make, source, **nbgrader):
        flags = {"grade": False, "locked": False, "solution": False, "task": False}
        meta = {"nbgrader": {"schema_version": 3, **flags, **nbgrader}} if nbgrader else {}
        return make(source, metadata=meta)

    nb = v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nb.cells = [
        cell(v4.new_markdown_cell, "# Tiny lesson\nA *short* text with $x^2$ and a list:\n\n- one"),
        cell(
            v4.new_code_cell,
            "def add(a, b):\n    ### BEGIN SOLUTION\n    return a + b\n    ### END SOLUTION",
            solution=True,
            grade_id="add",
        ),
        cell(
            v4.new_code_cell,
            "assert add(1, 2) == 3\n### BEGIN HIDDEN TESTS\nassert add(-1, 1) == 0\n"
            "### END HIDDEN TESTS",
            grade=True,
            locked=True,
            points=2,
            grade_id="test_add",
        ),
    ]
    return nb


@pytest.fixture(scope="module")
def feedback_page(tmp_path_factory):
    """(raw, sanitised) feedback page of a hostile student, made by nbgrader's GenerateFeedback."""
    import nbformat
    from nbgrader.converters import Autograde, GenerateAssignment, GenerateFeedback
    from traitlets.config import Config

    from autograder.nbgrader_run import run_converter

    root = tmp_path_factory.mktemp("feedback")
    (root / "source" / LESSON).mkdir(parents=True)
    nbformat.write(_tiny_master(), root / "source" / LESSON / f"{LESSON}.ipynb")
    config = Config()
    config.CourseDirectory.root = str(root)
    config.CourseDirectory.db_url = f"sqlite:///{root / 'gradebook.db'}"
    config.CourseDirectory.assignment_id = LESSON
    config.CourseDirectory.student_id = "mallory"
    config.Autograde.create_student = True
    run_converter(GenerateAssignment, config, force=True)
    nb = nbformat.read(root / "release" / LESSON / f"{LESSON}.ipynb", as_version=4)
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == "add":
            cell.source = _hostile_answer()
    (root / "submitted" / "mallory" / LESSON).mkdir(parents=True)
    nbformat.write(nb, root / "submitted" / "mallory" / LESSON / f"{LESSON}.ipynb")
    run_converter(Autograde, config)
    run_converter(GenerateFeedback, config)
    raw = (root / "feedback" / "mallory" / LESSON / f"{LESSON}.html").read_text(encoding="utf-8")
    return raw, sanitize_feedback(raw)


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:Object of type:Warning")  # nbgrader's own SQLAlchemy use
def test_a_real_feedback_page_keeps_its_content_and_loses_every_script(feedback_page):
    raw, html = feedback_page
    assert "PWNED" in raw, "the student's outputs did not reach the feedback page"
    _assert_inert(html)
    assert _head_first_element(html)[0] == "meta"
    for kept in (
        f"{LESSON} (Score: 2.0 / 2.0)",
        '<a href="#test_add"',
        '<a name="test_add"',
        "Student's answer",
        "Tiny lesson",
        "<em>short</em>",
        "<li>one</li>",
        '<span class="k">def</span>',
        "md-bold",
        "&lt;script&gt;printed&lt;/script&gt;",
        'src="data:image/svg+xml;base64,',
    ):
        assert kept in html, kept
    css = "".join(_Parsed(html).styles)
    assert ".highlight .k" in css and "div.nbgrader_cell" in css and len(css) > 50_000
    assert sanitize_feedback(html) == html


@pytest.mark.slow
@pytest.mark.browser
@pytest.mark.filterwarnings("ignore:Object of type:Warning")
def test_no_script_runs_when_the_sanitised_page_is_opened_in_chromium(feedback_page, tmp_path):
    """The sanitised page (and the same page without its CSP) runs nothing in Chromium; the
    unsanitised snippets, as a control, do."""
    from playwright.sync_api import sync_playwright

    from tests.test_browser import ARTIFACTS, CHROMIUM_ARGS, _chromium

    chromium = _chromium()
    _, html = feedback_page
    pages = {
        "sanitised": html,
        "sanitised-without-csp": html.replace(
            f'<meta http-equiv="Content-Security-Policy" content="{CSP}">', ""
        ),
        # without the refresh, which would leave the page before the clicks
        "control": _page("".join(v for k, v in HOSTILE.items() if k != "meta-refresh")),
    }
    assert pages["sanitised-without-csp"] != html
    seen = {}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        for name, content in pages.items():
            path = tmp_path / f"{name}.html"
            path.write_text(content, encoding="utf-8")
            seen[name] = _open(browser, path.as_uri(), ARTIFACTS / f"feedback-{name}.png")
        browser.close()
    control = seen["control"]
    print("control page ran:", sorted(control["pwned"]), control["dialogs"], control["url"])
    assert {"script", "img-onerror", "svg-onload", "a-javascript"} <= control["pwned"], control
    for name in ("sanitised", "sanitised-without-csp"):
        facts = seen[name]
        assert facts["pwned"] == set(), (name, facts)
        assert facts["dialogs"] == [], (name, facts)
        assert facts["title"] == LESSON, facts
        assert facts["url"].split("#")[0].endswith(f"{name}.html"), facts  # not refreshed away
        assert "Student's answer" in facts["text"] and "md-bold" in facts["text"]
        assert facts["images"] >= 1


def _open(browser, url: str, screenshot: Path) -> dict:
    """Open ``url``, click, hover and focus everything; report what ran."""
    page = browser.new_page(viewport={"width": 1200, "height": 1600})
    logs: list[str] = []
    dialogs: list[str] = []
    page.on("console", lambda msg: logs.append(msg.text))
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.goto(url, wait_until="load")
    time.sleep(1.0)  # meta refresh, image errors, autofocus
    page.evaluate(
        """async () => {
        for (const el of [...document.body.querySelectorAll('*')]) {
            for (const type of ['mouseover', 'focus']) el.dispatchEvent(new Event(type));
        }
        // one at a time: a pending javascript: navigation is cancelled by the next one
        const clickable = 'a, area, button, input, summary, [onclick], svg *, math *';
        for (const el of [...document.body.querySelectorAll(clickable)]) {
            if (el.tagName === 'A' && /^https?:/.test(String(el.href))) continue;
            el.dispatchEvent(new MouseEvent('click', {bubbles: true, cancelable: true}));
            await new Promise(resolve => setTimeout(resolve, 30));
        }
    }"""
    )
    time.sleep(1.0)
    facts = page.evaluate(
        """() => ({title: document.title, url: location.href, text: document.body.innerText,
                   images: document.images.length})"""
    )
    screenshot.parent.mkdir(exist_ok=True)
    page.screenshot(path=str(screenshot))
    page.close()
    facts["pwned"] = {m.split("PWNED:", 1)[1] for m in logs if m.startswith("PWNED:")}
    facts["dialogs"] = dialogs
    facts["logs"] = logs
    return facts


#: a page's own sheet as the feedback template's bootstrap has it
_MODAL_SHEET = ".modal { position: fixed; top: 0; right: 0; bottom: 0; left: 0; z-index: 1050 }"
_EVIL = 'href="https://evil.example/" style="display: block; width: 100%; height: 3000px'
#: what the red team laid over the grade table, one page each
_OVERLAYS = {
    "class-modal": f'<div class="modal" style="display: block"><a id="evil" {_EVIL}">x</a></div>',
    "relative-top": f'<a id="evil" {_EVIL}; position: relative; top: -3000px">x</a>',
    "transform": f'<a id="evil" {_EVIL}; transform: translateY(-3000px)">x</a>',
    # opacity below 1 paints the link above the flow, as a positioned box is
    "negative-margin": f'<a id="evil" {_EVIL}; margin-top: -3000px; opacity: 0.99">x</a>',
    # red team, second round: a flex item overflowing a zero-height column upwards, and a
    # glyph 8000 px tall on a zero line height
    "flex-overflow": (
        '<div style="display: flex; flex-direction: column; justify-content: flex-end;'
        f' height: 0"><a id="evil" {_EVIL}; flex: none; background: #fff">x</a></div>'
    ),
    "tall-glyph": (
        '<div style="line-height: 0; font-size: 8000px"><a id="evil" href="https://evil.example/"'
        ' style="background: #fff">&#9608;</a></div>'
    ),
}


@pytest.mark.browser
def test_no_output_covers_the_grade_when_the_page_is_opened_in_chromium(tmp_path):
    """In Chromium, what is at the grade's place is the grade: in each sanitised page, and
    (the control) the student's link in each page as the student wrote it."""
    from playwright.sync_api import sync_playwright

    from tests.test_browser import CHROMIUM_ARGS, _chromium

    # as nbgrader's page: the summary heads the first panel, outputs sit in output_subarea
    top = (
        '<div class="container"><div class="panel panel-default"><div class="panel-heading">'
        '<h4 id="grade">Score: 0 / 36</h4></div><div class="panel-body">'
        '<div style="height: 2000px">answers</div><div class="output_subarea">{}</div>'
        "</div></div></div>"
    )
    found = {}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=_chromium(), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1000, "height": 800})
        for name, overlay in _OVERLAYS.items():
            raw = _page(top.format(overlay), head=f"<style>{_MODAL_SHEET}</style>")
            for kind, html in (("raw", raw), ("sanitised", sanitize_feedback(raw))):
                path = tmp_path / f"{name}-{kind}.html"
                path.write_text(html, encoding="utf-8")
                page.goto(path.as_uri(), wait_until="load")
                found[name, kind] = page.evaluate(
                    """() => {
                    const box = document.getElementById('grade').getBoundingClientRect();
                    const el = document.elementFromPoint(box.left + 20, box.top + box.height / 2);
                    return el.closest('a') ? 'link' : el.id;
                    }"""
                )
        browser.close()
    for name in _OVERLAYS:
        assert found[name, "raw"] == "link", f"the control {name} no longer covers the grade"
        assert found[name, "sanitised"] == "grade", f"{name}: {found[name, 'sanitised']}"


def test_a_value_ending_in_an_escape_does_not_swallow_the_next_rule():
    """Bootstrap's IE hack ``margin-top: 4px \\9`` as a rule's last declaration: stripping
    the escaped tab left a backslash that escaped the rule's closing brace."""
    css = clean_stylesheet(".r {position: absolute; margin-top: 4px \\9} p {color: red}")
    assert css.endswith("\np {color: red}") and clean_stylesheet(css) == css
