"""Feedback pages that run no script: sanitise the HTML that nbgrader's GenerateFeedback writes.

A feedback page shows a student's outputs (HTML, SVG, markdown), so whatever a student's code
displayed would run when the instructor opens it. :func:`sanitize_feedback` rebuilds the page:

- the body goes through ammonia (``nh3``, an allow-list sanitiser on a browser-grade HTML5
  parser): only text-and-layout tags survive; script, style, iframe, object, embed, form, meta,
  base, SVG and MathML are gone, with every ``on*`` attribute; a URL must be http(s), mailto,
  relative, or (in ``<img src>`` only) a ``data:image/…`` picture;
- the head is written anew: a Content-Security-Policy that allows no script and no network
  (:data:`CSP`) comes first, then the title and the page's own stylesheets, each CSS rule
  parsed by ``tinycss2`` and kept only without ``expression(``, ``@import``, bindings or a
  ``url()`` (or ``image-set()`` string) other than ``data:`` images and fonts, and without
  what moves a box from where the flow puts it (a position other than static or relative,
  offsets, transforms, negative margins: a student's output given a class of the page's own
  sheet must stay in its place). Inline ``style`` attributes get the same, and lose any
  position, z-index, shadows, filters and reflections.

MathJax is dropped with every other script: formulas show as their LaTeX source.
"""

from __future__ import annotations

import functools
import os
import re
import tempfile
from collections.abc import Iterable
from html import escape
from html.parser import HTMLParser
from pathlib import Path

import nh3
import tinycss2

#: The page's Content-Security-Policy: no script, no network; inline styles and data: images.
CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; font-src data:"

TAGS = frozenset(nh3.ALLOWED_TAGS | {"main", "section", "tfoot"})
# Removed with everything inside them (the other tags that are not allowed keep their text).
DROP_WITH_CONTENT = frozenset(
    {"script", "style", "title", "iframe", "noscript", "noembed", "noframes", "xmp"}
    | {"template", "object", "applet", "frameset", "frame", "svg", "math"}
)
ATTRIBUTES = {tag: set(names) for tag, names in nh3.ALLOWED_ATTRIBUTES.items()}
ATTRIBUTES["*"] = {"class", "id", "title", "lang", "dir", "style"}
ATTRIBUTES["a"] = ATTRIBUTES.get("a", set()) | {"href", "name"}
URL_SCHEMES = frozenset({"http", "https", "mailto", "data"})  # data: narrowed below
URL_ATTRIBUTES = frozenset({"href", "src", "cite", "action", "formaction", "background"})

_IMAGE_DATA_URL = re.compile(r"data:image/(png|jpeg|gif|webp|svg\+xml)[;,]")
_CSS_DATA_URL = re.compile(r"data:(image/(png|jpeg|gif|webp|svg\+xml)|font/|application/(x-)?font)")
_SCRIPT_SCHEME = re.compile(r"(java|vb|live)script:|data:text/html")
_BAD_CSS_FUNCTIONS = frozenset({"expression", "-moz-binding"})
#: functions whose string arguments are URLs (``image-set("x.png" 1x)``): data: images only
_URL_STRING_FUNCTIONS = frozenset(
    {"image-set", "-webkit-image-set", "image", "cross-fade", "-webkit-cross-fade"}
)
_BAD_CSS_PROPERTIES = frozenset({"behavior", "-ms-behavior", "-moz-binding", "binding"})
_RULE_LIST_AT_RULES = frozenset(
    {"media", "supports", "keyframes", "-webkit-keyframes", "layer", "container"}
)
_DECLARATION_AT_RULES = frozenset({"font-face", "page"})
_BODY_TAG = re.compile(r"<body[\s>/]", re.IGNORECASE)


def sanitize_feedback(html: str) -> str:
    """Return ``html`` (a whole feedback page) rebuilt so that no script can run in it."""
    head = _Head()
    body_tag = _BODY_TAG.search(html)  # what comes after it is not read for the head
    head.feed(html if body_tag is None else html[: body_tag.start()])
    head.close()
    body = nh3.clean(
        html,
        tags=set(TAGS),
        clean_content_tags=set(DROP_WITH_CONTENT),
        attributes=ATTRIBUTES,
        attribute_filter=_filter_attribute,
        url_schemes=set(URL_SCHEMES),
        strip_comments=True,
    )
    own = clean_stylesheet(OWN_SHEET)
    sheets = [clean_stylesheet(css) for css in head.styles]
    # ours last, once (a page sanitised again has it already)
    styles = "".join(f"<style>\n{css}\n</style>\n" for css in sheets if css != own)
    styles += f"<style>\n{own}\n</style>\n"
    return (
        "<!DOCTYPE html>\n<html>\n<head>\n"
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">\n'
        '<meta charset="utf-8">\n'
        f"<title>{escape(' '.join(head.title.split()))}</title>\n"
        f"{styles}</head>\n<body>\n{body.strip()}\n</body>\n</html>\n"
    )


def sanitize_feedback_file(path: str | os.PathLike[str]) -> None:
    """Rewrite the feedback page at ``path`` in place with :func:`sanitize_feedback`.

    The new page replaces the old one atomically (same permissions): no reader ever sees half
    a page. Fails closed: when the page cannot be sanitised, it is deleted and the error raised.
    """
    path = Path(path)
    try:
        write_sanitized_feedback(path, path)
    except Exception:
        path.unlink(missing_ok=True)
        raise


def write_sanitized_feedback(
    source: str | os.PathLike[str], dest: str | os.PathLike[str], mode: int | None = None
) -> None:
    """Write the page at ``source``, sanitised, at ``dest``: only a sanitised page ever
    has ``dest``'s name (a temporary file beside it, renamed when complete), so a process
    stopped while sanitising (its time or memory) leaves no raw page there. ``mode``: the
    new file's permissions (default: ``source``'s)."""
    source, dest = Path(source), Path(dest)
    mode = source.stat().st_mode & 0o777 if mode is None else mode
    clean = sanitize_feedback(source.read_text(encoding="utf-8", errors="replace"))
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", dir=dest.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(clean)
        os.chmod(tmp, mode)
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@functools.lru_cache(maxsize=16)
def clean_stylesheet(css: str) -> str:
    """``css`` without what could run or fetch anything; safe to put inside ``<style>``.

    Kept for the same text: every feedback page carries the template's large stylesheets."""
    rules = tinycss2.parse_stylesheet(css, skip_comments=True, skip_whitespace=True)
    return _inside_style_element(_rules_css(rules))


def clean_style_attribute(value: str) -> str | None:
    """A ``style`` attribute's declarations that are safe and leave the box where the flow
    puts it and paint nothing outside it (``_moves_or_paints_out``), or None when none is left."""
    items = tinycss2.parse_blocks_contents(value, skip_comments=True)
    kept = _declarations_css(d for d in items if not _moves_or_paints_out(d, inline=True))
    return kept or None


#: properties that move a box from where the flow puts it (an offset applies to any box
#: that some class makes relative); dropped from the page's stylesheets and from outputs
_MOVING = frozenset(
    {"top", "right", "bottom", "left", "inset", "transform", "translate", "rotate", "scale"}
    | {"offset", "offset-path", "offset-distance", "offset-anchor", "offset-position"}
    | {"motion", "motion-path", "motion-offset", "zoom"}
)
#: what an output's own style may not do either: stack above the page, or paint far outside
#: its box (a shadow or reflection 3000 px up can draw a score over the real one)
_PAINTING_OUT = frozenset(
    {"z-index", "filter", "text-shadow", "box-shadow", "box-reflect", "outline-offset"}
    | {"border-image-outset", "border-image", "mask-border-outset", "position"}
)
#: the page's own sheet, last: sup and sub raised without an offset (what the template's
#: ``sup {position: relative; top: -0.5em}`` did); the grade summary at the top above
#: everything (no output may have a z-index: red team, a flex item overflowing upwards drew
#: a link and a fake score over it; first of their kind, so that markup closing the page's
#: </div>s cannot make a second one); an output's or a markdown cell's overflow clipped to
#: its own box (a 8000 px glyph on a zero line height spills 4000 px up)
OWN_SHEET = (
    "sub { vertical-align: sub } sup { vertical-align: super }\n"
    "body > div.container:first-of-type > .panel:first-child > .panel-heading:first-child"
    " { position: relative; z-index: 2147483647; background-color: #f5f5f5 }\n"
    ".output_subarea, .text_cell_render { overflow: auto }"
)
_VENDOR_PREFIX = re.compile(r"^-(webkit|moz|ms|o)-")


def _moves_or_paints_out(item, inline: bool) -> bool:
    """Whether a declaration could lay a box over the rest of the page (red team: an
    invisible link over the whole page makes any click the student's, and a box moved up
    3000 px covers the grade): a ``position`` other than plainly static or relative
    (fixed, sticky, absolute, or computed by ``var()``), offsets, transforms, motion paths,
    a negative or computed margin; and in an output's ``style`` (``inline``), any
    position, stacking, shadows, filters and reflections. Vendor prefixes count too."""
    if item.type != "declaration":
        return False
    name = _VENDOR_PREFIX.sub("", item.lower_name)
    tokens = [t for t in item.value if t.type not in ("whitespace", "comment")]
    if name.startswith(("inset-", "transform", "offset-")) or name in _MOVING:
        return True
    if name.startswith("margin"):
        return any(
            t.type == "function"
            or (t.type in ("number", "percentage", "dimension") and t.value < 0)
            for t in tokens
        )
    if inline and name in _PAINTING_OUT:
        return not (name == "position" and _is_ident(tokens, {"static"}))
    if name == "position":
        return not _is_ident(tokens, {"static", "relative"})
    return False


def _is_ident(tokens: list, names: set[str]) -> bool:
    """Whether ``tokens`` are one keyword, among ``names``."""
    return len(tokens) == 1 and tokens[0].type == "ident" and tokens[0].lower_value in names


class _Head(HTMLParser):
    """Reads the title and the ``<style>`` sheets that come before ``<body>``.

    What it finds is only text: the CSS is cleaned and the title escaped before they are
    written, so a page that fools this reader fools it into nothing worse.
    """

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.title, self.styles = "", []
        self._in: str | None = None
        self._done = False

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag == "body":
            self._done = True
        elif not self._done and tag in ("title", "style"):
            self._in = tag
            if tag == "style":
                self.styles.append("")

    def handle_endtag(self, tag: str) -> None:
        if tag == self._in:
            self._in = None

    def handle_data(self, data: str) -> None:
        if self._in == "title":
            self.title += data
        elif self._in == "style":
            self.styles[-1] += data


def _filter_attribute(tag: str, attribute: str, value: str) -> str | None:
    """nh3's per-attribute hook: clean styles, narrow URLs; None drops the attribute."""
    if attribute == "style":
        return clean_style_attribute(value)
    if attribute in URL_ATTRIBUTES:
        url = "".join(ch for ch in value if ch > " ").lower()  # browsers skip these too
        if _SCRIPT_SCHEME.match(url):
            return None
        if url.startswith("data:") and not (
            tag == "img" and attribute == "src" and _IMAGE_DATA_URL.match(url)
        ):
            return None
    return value


def _rules_css(rules: Iterable) -> str:
    out = []
    for rule in rules:
        if not _safe(getattr(rule, "prelude", None) or []):
            continue
        prelude = tinycss2.serialize(getattr(rule, "prelude", [])).strip()
        if rule.type == "qualified-rule":
            out.append(f"{prelude} {{{_block_css(rule.content)}}}")
        elif rule.type == "at-rule" and rule.content is not None:
            if rule.lower_at_keyword in _RULE_LIST_AT_RULES:
                inner = _rules_css(tinycss2.parse_rule_list(rule.content, True, True))
            elif rule.lower_at_keyword in _DECLARATION_AT_RULES:
                inner = _declarations_css(tinycss2.parse_blocks_contents(rule.content, True))
            else:
                continue
            head = " ".join(filter(None, (f"@{rule.lower_at_keyword}", prelude)))
            out.append(f"{head} {{\n{inner}\n}}")
    return "\n".join(out)


def _block_css(tokens: list) -> str:
    """A rule's body: its safe declarations, and its nested rules cleaned the same way."""
    items = tinycss2.parse_blocks_contents(tokens, skip_comments=True, skip_whitespace=True)
    nested = _rules_css(item for item in items if item.type == "qualified-rule")
    return _declarations_css(items) + (f"\n{nested}\n" if nested else "")


def _declarations_css(items: Iterable) -> str:
    """Declarations that run, fetch and move nothing (``_moves_or_paints_out``, as in a
    stylesheet: a class of the page's own sheets must not lay a student's box over it)."""
    kept = [
        f"{d.name}: {_value_css(d.value)}" + (" !important" if d.important else "")
        for d in items
        if d.type == "declaration"
        and d.lower_name not in _BAD_CSS_PROPERTIES
        and _safe(d.value)
        and not _moves_or_paints_out(d, inline=False)
    ]
    return "; ".join(kept)


def _value_css(tokens: list) -> str:
    """A declaration's value without its surrounding whitespace tokens. Not str.strip(): an
    escaped whitespace (bootstrap's IE hack ``4px \\9``) serialises as a backslash and a tab,
    and stripping the tab left a backslash that escaped the rule's closing brace."""
    start, end = 0, len(tokens)
    while start < end and tokens[start].type in ("whitespace", "comment"):
        start += 1
    while end > start and tokens[end - 1].type in ("whitespace", "comment"):
        end -= 1
    return tinycss2.serialize(tokens[start:end])


def _safe(tokens: Iterable) -> bool:
    """No token (at any depth) calls expression(), loads a non-data URL or names a script."""
    for token in tokens:
        kind = token.type
        if kind == "error":  # a bad URL or string: what a browser makes of it is not ours to bet
            return False
        if kind == "url" and not _CSS_DATA_URL.match(token.value.strip().lower()):
            return False
        if kind in ("string", "ident", "url") and _mentions_script(token.value):
            return False
        if kind == "function":
            name = token.lower_name
            if name in _BAD_CSS_FUNCTIONS or "expression" in name:
                return False
            if name in _URL_STRING_FUNCTIONS and not all(
                _CSS_DATA_URL.match(t.value.strip().lower())
                for t in token.arguments
                if t.type == "string"
            ):
                return False
            if name in ("url", "src") and not all(
                t.type == "string" and _CSS_DATA_URL.match(t.value.strip().lower())
                for t in token.arguments
                if t.type not in ("whitespace", "comment")
            ):
                return False
            if not _safe(token.arguments):
                return False
        if kind in ("() block", "[] block", "{} block") and not _safe(token.content):
            return False
    return True


def _mentions_script(text: str) -> bool:
    return bool(_SCRIPT_SCHEME.search("".join(ch for ch in text if ch > " ").lower()))


def _inside_style_element(css: str) -> str:
    # `<` has no meaning in CSS outside strings and URLs, where \3c is the same character;
    # escaping it means no text of the sheet can close the <style> element early.
    return css.replace("<", "\\3c ")
