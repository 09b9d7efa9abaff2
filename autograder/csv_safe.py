"""CSV cells a spreadsheet will not run: a text cell that starts like a formula gets a ``'``.

Spreadsheets treat a cell starting with ``= + - @`` (or a tab or carriage return before one)
as a formula (CSV injection); a student id such as ``-2+3`` or ``@SUM`` would run. Plain
numbers (``-1.5``) are left as they are.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable
from typing import TextIO

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")


def safe_cell(value: object) -> object:
    """``value``, with ``'`` in front when it is text a spreadsheet would take for a formula."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        if not _NUMBER.fullmatch(value):
            return "'" + value
    return value


def safe_row(row: Iterable[object]) -> list[object]:
    """Every cell of ``row`` through ``safe_cell``."""
    return [safe_cell(value) for value in row]


class SafeWriter:
    """A ``csv.writer`` whose rows go through ``safe_row``."""

    def __init__(self, f: TextIO, **kwargs: object):
        self._writer = csv.writer(f, **kwargs)

    def writerow(self, row: Iterable[object]) -> object:
        return self._writer.writerow(safe_row(row))

    def writerows(self, rows: Iterable[Iterable[object]]) -> None:
        for row in rows:
            self.writerow(row)


def safe_writer(f: TextIO, **kwargs: object) -> SafeWriter:
    """``csv.writer(f, **kwargs)`` that neutralises formula-like text cells."""
    return SafeWriter(f, **kwargs)
