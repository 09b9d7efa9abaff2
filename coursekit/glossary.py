"""Each lesson's key terms in English, Arabic, Turkish and Persian, as a table.

The articles this course grew from are in Arabic, Turkish and Persian; every lesson ends
with ``glossary.show("<lesson id>")``. The terms live in one data file,
``coursekit/glossary.json``: ``languages`` (code -> name, writing direction) and
``lessons`` (lesson id -> terms, each ``{language code: term}``). Arabic and Persian
cells are marked ``dir="rtl"`` with their ``lang``, so they read right to left.
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path

DATA = Path(__file__).with_name("glossary.json")


@dataclass(frozen=True)
class Language:
    code: str  # BCP 47: en, ar, tr, fa
    name: str  # in the language itself
    rtl: bool


@cache
def _data() -> dict:
    return json.loads(DATA.read_text(encoding="utf-8"))


def languages() -> tuple[Language, ...]:
    """The glossary's languages, in column order."""
    return tuple(
        Language(code, spec["name"], spec["dir"] == "rtl")
        for code, spec in _data()["languages"].items()
    )


def lessons() -> tuple[str, ...]:
    """The lesson ids that have a glossary."""
    return tuple(_data()["lessons"])


def terms(lesson_id: str) -> list[dict[str, str]]:
    """The key terms of ``lesson_id``: one ``{language code: term}`` per term."""
    known = _data()["lessons"]
    if lesson_id not in known:
        raise ValueError(
            f"no glossary for lesson {lesson_id!r}; the lessons are {', '.join(known)}"
        )
    return [dict(term) for term in known[lesson_id]]


@dataclass(frozen=True)
class Table:
    """A lesson's glossary: HTML in a notebook, aligned text elsewhere."""

    lesson_id: str
    rows: tuple[dict[str, str], ...]
    columns: tuple[Language, ...]

    def _repr_html_(self) -> str:
        def cell(tag: str, lang: Language, text: str) -> str:
            direction = "rtl" if lang.rtl else "ltr"
            return (
                f'<{tag} lang="{lang.code}" dir="{direction}" style="text-align: start">'
                f"{html.escape(text)}</{tag}>"
            )

        head = "".join(cell("th", lang, lang.name) for lang in self.columns)
        body = "".join(
            "<tr>" + "".join(cell("td", lang, row[lang.code]) for lang in self.columns) + "</tr>"
            for row in self.rows
        )
        caption = f"Key terms: {html.escape(self.lesson_id)}"
        return (
            f'<table class="coursekit-glossary"><caption>{caption}</caption>'
            f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
        )

    def __repr__(self) -> str:
        grid = [[lang.name for lang in self.columns]]
        grid += [[row[lang.code] for lang in self.columns] for row in self.rows]
        widths = [max(len(line[i]) for line in grid) for i in range(len(self.columns))]
        lines = [
            " | ".join(text.ljust(w) for text, w in zip(line, widths, strict=True)) for line in grid
        ]
        lines.insert(1, "-+-".join("-" * w for w in widths))
        return f"Key terms: {self.lesson_id}\n" + "\n".join(line.rstrip() for line in lines)


def table(lesson_id: str) -> Table:
    """The glossary of ``lesson_id`` as a displayable table."""
    return Table(lesson_id, tuple(terms(lesson_id)), languages())


def show(lesson_id: str) -> None:
    """Display the glossary of ``lesson_id`` (an HTML table in a notebook, text elsewhere)."""
    from IPython.display import display

    display(table(lesson_id))
