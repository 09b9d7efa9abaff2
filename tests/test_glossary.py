"""coursekit.glossary: every lesson's key terms in every language, right to left where needed."""

from __future__ import annotations

import fnmatch
import re
from html.parser import HTMLParser

import pytest

from autograder.course import LESSONS
from coursekit import glossary
from tests.conftest import REPO

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

CODES = ("en", "ar", "tr", "fa")
ARABIC_SCRIPT = re.compile(r"[\u0600-\u06FF]")
ONLY_PERSIAN = re.compile(r"[\u067E\u0686\u0698\u06AF\u06A9\u06CC]")  # پ چ ژ گ ک ی
ONLY_ARABIC = re.compile(r"[\u064A\u0643\u0649]")  # ي ك ى: Persian writes ی and ک
TURKISH_LETTERS = re.compile(r"[a-zçğıöşüA-ZÇĞİÖŞÜ]")


def test_the_languages_are_english_arabic_turkish_persian_with_their_direction():
    langs = glossary.languages()
    assert tuple(lang.code for lang in langs) == CODES
    assert {lang.code for lang in langs if lang.rtl} == {"ar", "fa"}


def test_every_lesson_has_a_glossary_and_every_glossary_a_lesson():
    assert set(glossary.lessons()) == set(LESSONS)


@pytest.mark.parametrize("lesson", LESSONS)
def test_every_term_is_given_in_every_language(lesson):
    rows = glossary.terms(lesson)
    assert len(rows) >= 5, f"{lesson}: only {len(rows)} key terms"
    for row in rows:
        assert tuple(row) == CODES, row
        for code, text in row.items():
            assert isinstance(text, str) and text.strip() == text and text, (lesson, code, row)
    english = [row["en"] for row in rows]
    assert len(set(english)) == len(english), f"{lesson}: a term twice"


@pytest.mark.parametrize("lesson", LESSONS)
def test_each_language_is_written_in_its_own_script(lesson):
    for row in glossary.terms(lesson):
        assert ARABIC_SCRIPT.search(row["ar"]) and ARABIC_SCRIPT.search(row["fa"]), row
        assert not ARABIC_SCRIPT.search(row["en"] + row["tr"]), row
        assert TURKISH_LETTERS.search(row["tr"]), row
        assert not ONLY_PERSIAN.search(row["ar"]), f"Persian letters in Arabic: {row['ar']}"
        assert not ONLY_ARABIC.search(row["fa"]), f"Arabic ي/ك in Persian: {row['fa']}"


class _Cells(HTMLParser):
    """The th/td cells of a table: (tag, attributes, text)."""

    def __init__(self) -> None:
        super().__init__()
        self.cells: list[tuple[str, dict, str]] = []
        self._open: tuple[str, dict] | None = None

    def handle_starttag(self, tag, attrs):
        if tag in ("th", "td"):
            self._open = (tag, dict(attrs))
            self.cells.append((tag, dict(attrs), ""))

    def handle_data(self, data):
        if self._open:
            tag, attrs, text = self.cells[-1]
            self.cells[-1] = (tag, attrs, text + data)

    def handle_endtag(self, tag):
        if tag in ("th", "td"):
            self._open = None


@pytest.mark.parametrize("lesson", LESSONS)
def test_the_html_table_marks_arabic_and_persian_right_to_left(lesson):
    parser = _Cells()
    parser.feed(glossary.table(lesson)._repr_html_())
    rows = glossary.terms(lesson)
    assert len(parser.cells) == len(CODES) * (len(rows) + 1)
    expected = [lang.name for lang in glossary.languages()]
    expected += [row[code] for row in rows for code in CODES]
    for (_, attrs, text), want in zip(parser.cells, expected, strict=True):
        assert text == want
        assert attrs["dir"] == ("rtl" if attrs["lang"] in ("ar", "fa") else "ltr"), attrs


def test_terms_are_escaped_in_html():
    lang = glossary.languages()[0]
    table = glossary.Table("x", ({"en": "<b>&</b>"},), (lang,))
    assert "&lt;b&gt;&amp;&lt;/b&gt;" in table._repr_html_() and "<b>" not in table._repr_html_()


def test_show_displays_html_and_a_text_fallback(capsys):
    from IPython.core.formatters import DisplayFormatter

    data, _ = DisplayFormatter().format(glossary.table("05_dropout"))
    assert 'dir="rtl"' in data["text/html"]
    text = data["text/plain"]
    assert text.startswith("Key terms: 05_dropout") and "early stopping" in text
    assert "الإيقاف المبكر" in text and "erken durdurma" in text and "توقف زودهنگام" in text
    glossary.show("05_dropout")  # outside a kernel IPython's display prints the text
    assert "weight decay" in capsys.readouterr().out


def test_an_unknown_lesson_names_the_known_ones():
    with pytest.raises(ValueError, match="01_backprop"):
        glossary.show("07_nope")


def test_the_data_file_is_packaged_with_coursekit():
    with open(REPO / "pyproject.toml", "rb") as f:
        package_data = tomllib.load(f)["tool"]["setuptools"]["package-data"]
    patterns = package_data.get("coursekit", []) + package_data.get("*", [])
    assert any(fnmatch.fnmatch(glossary.DATA.name, p) for p in patterns), package_data
    assert glossary.DATA.parent.name == "coursekit" and glossary.DATA.is_file()


@pytest.mark.parametrize("lesson", LESSONS)
def test_every_lesson_ends_with_its_own_key_terms(lesson):
    import json

    master = json.loads((REPO / "autograder" / "source" / lesson / f"{lesson}.ipynb").read_text())
    student = json.loads((REPO / "notebooks" / f"{lesson}.ipynb").read_text())
    for nb in (master, student):
        last = "".join(nb["cells"][-1]["source"])
        assert last == f'coursekit.glossary.show("{lesson}")', last
        assert "Key terms" in "".join(nb["cells"][-2]["source"])
