"""autograder.reports: grades.csv and report.json from the units' results; the summary."""

from __future__ import annotations

import csv
import json

from autograder.reports import REPORT_KEYS, summary, write_reports


def _result(student: str, lesson: str, score: float, status: str = "graded") -> dict:
    return {
        "student": student,
        "lesson": lesson,
        "status": status,
        "score": score,
        "max_score": 3.0,
        "reason": "" if status == "graded" else "why",
        "notes": [],
        "cells": [],
        "feedback": None,
        "isolation": "isolated",
        "seconds": 1.0,  # kept in the unit file, not in the report
    }


def test_reports_hold_one_row_per_unit_and_the_report_keys(tmp_path):
    units = tmp_path / "units"
    units.mkdir()
    rows = [_result("ann", "l1", 3), _result("bob", "l1", 0, "tampered")]
    for i, r in enumerate(rows):
        (units / f"{i}.json").write_text(json.dumps(r))
    write_reports(tmp_path, units)
    grades = list(csv.DictReader((tmp_path / "grades.csv").open()))
    assert [(g["student"], g["score"], g["status"]) for g in grades] == [
        ("ann", "3", "graded"),
        ("bob", "0", "tampered"),
    ]
    report = json.loads((tmp_path / "report.json").read_text())
    assert [set(r) for r in report] == [set(REPORT_KEYS)] * 2
    assert report[1]["isolation"] == "isolated"


def test_summary_counts_what_was_not_fully_graded():
    text = summary([_result("ann", "l1", 3), _result("bob", "l1", 0, "tampered")])
    assert "2 student(s), 2 notebook(s)" in text and "tampered 1" in text
    assert "1.50" in text  # the lesson's mean score
