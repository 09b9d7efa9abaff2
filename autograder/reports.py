"""What a run leaves for the instructor: grades.csv, report.json, the closing summary."""

from __future__ import annotations

import json
import statistics
from collections import Counter
from pathlib import Path

from autograder.csv_safe import safe_writer

REPORT_KEYS = (
    "student",
    "lesson",
    "status",
    "score",
    "max_score",
    "reason",
    "notes",
    "cells",
    "feedback",
    "isolation",
    "kernels",  # how each kernel was started: zygote, bubblewrap (and why), limits only
)


def write_reports(out: Path, units_dir: Path) -> None:
    """``out``/grades.csv and report.json over every unit result in ``units_dir``."""
    results = [json.loads(p.read_text()) for p in sorted(units_dir.glob("*.json"))]
    with open(out / "grades.csv", "w", newline="", encoding="utf-8") as f:
        writer = safe_writer(f)  # no cell a spreadsheet runs as a formula
        writer.writerow(["student", "lesson", "score", "max_score", "status"])
        for r in results:
            writer.writerow(
                [
                    r["student"],
                    r["lesson"],
                    f"{r['score']:g}",
                    f"{r['max_score']:g}",
                    r["status"],
                ]
            )
    report = [{k: r.get(k) for k in REPORT_KEYS} for r in results]
    (out / "report.json").write_text(json.dumps(report, indent=1))


def summary(results: list[dict]) -> str:
    """The table printed at the end of a run."""
    students = sorted({r["student"] for r in results})
    lines = [
        f"{len(students)} student(s), {len(results)} notebook(s)",
        "",
        f"{'lesson':26s} {'mean score':>12s} {'max':>6s} {'graded':>8s}",
    ]
    for lesson in sorted({r["lesson"] for r in results}):
        rows = [r for r in results if r["lesson"] == lesson]
        mean = statistics.mean(r["score"] for r in rows)
        lines.append(f"{lesson:26s} {mean:12.2f} {rows[0]['max_score']:6g} {len(rows):8d}")
    problems = Counter(r["status"] for r in results if r["status"] != "graded")
    lines.append("")
    if problems:
        lines.append(
            "not fully graded, by reason: "
            + ", ".join(f"{status} {count}" for status, count in sorted(problems.items()))
        )
    else:
        lines.append("every notebook ran and was graded")
    return "\n".join(lines)
