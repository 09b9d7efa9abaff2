"""Grades out of the class gradebook, in the formats instructors keep them.

``grades.read_class`` reads every submission of a graded class (scores from nbgrader's
gradebook, the judge's messages from ``report.json``); ``gradescope`` and ``canvas``
write them in those systems' formats. The plain CSV is ``autograder.gradebook.export``.
"""

from __future__ import annotations

from pathlib import Path

FORMATS = ("csv", "gradescope", "canvas")


def export(
    fmt: str,
    results: Path,
    out: Path,
    roster: Path | None = None,
    visibility: str = "visible",
) -> list[str]:
    """Write the grades of ``results`` (``autograder grade``'s --out) to ``out`` in ``fmt``;
    return the lines to tell the instructor."""
    from autograder.course import UsageError
    from autograder.exports import canvas, gradescope
    from autograder.exports.grades import GRADEBOOK, lesson_max_scores, read_class
    from autograder.gradebook import export as export_csv

    if roster is not None and fmt != "canvas":
        raise UsageError("--roster is for --format canvas")
    if fmt == "csv":
        rows = export_csv(results / GRADEBOOK, out)
        return [f"{rows} grade(s) written to {out}"]
    subs = read_class(results)
    if fmt == "gradescope":
        written = gradescope.write_gradescope(subs, out, visibility)
        where = out if out.suffix == ".json" else f"{out}/<lesson>/<student>/results.json"
        return [f"{len(written)} Gradescope results.json file(s) written: {where}"]
    if fmt == "canvas":
        found = canvas.write_canvas(
            subs, lesson_max_scores(results), out, canvas.read_roster(roster) if roster else None
        )
        lines = [f"{found.rows} student(s) written to {out} (Canvas: Grades > Import)"]
        if roster is None:
            lines.append(
                "no --roster: each student's folder name is written as 'SIS User ID'; "
                "Canvas asks you to match the rows it does not recognise"
            )
        if found.unmatched:
            lines.append(
                f"not in the roster ({len(found.unmatched)}), written without Canvas ids: "
                + ", ".join(found.unmatched[:20])
            )
        if found.new_assignments:
            lines.append(
                "new assignments in Canvas (no roster column '<lesson> (<id>)'): "
                + ", ".join(found.new_assignments)
            )
        return lines
    raise UsageError(f"--format must be one of {', '.join(FORMATS)}, got {fmt!r}")
