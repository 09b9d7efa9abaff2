"""Gradescope's ``results.json``, one per submission (one Gradescope assignment = one lesson).

The format is Gradescope's documented autograder output
(https://gradescope-autograders.readthedocs.io/en/latest/specs/): a top-level ``score``,
``execution_time`` (seconds), ``output``, ``visibility``, ``stdout_visibility``,
``extra_data`` and ``tests``, each test with ``name``, ``score``, ``max_score``, ``status``
(``passed``/``failed``), ``output`` and ``visibility``. Here a test is one graded cell.

Inside Gradescope's own autograder container, ``run_autograder`` grades the one submission
with ``autograder grade`` and writes its file with ``--out /autograder/results/results.json``
(a path ending in ``.json`` takes exactly one submission); elsewhere the files go to
``OUT/<lesson>/<student>/results.json``.
"""

from __future__ import annotations

import json
from pathlib import Path

from autograder.course import UsageError
from autograder.exports.grades import Submission
from autograder.submissions import name_hash

VISIBILITIES = ("visible", "hidden", "after_due_date", "after_published")


def _output(sub: Submission) -> str:
    lines = [f"{sub.lesson}: {sub.score:g} / {sub.max_score:g} points"]
    if sub.reason:
        lines.append(sub.reason)
    lines += sub.notes
    return "\n".join(lines)


def results_json(sub: Submission, visibility: str = "visible") -> dict:
    """Gradescope's results.json for ``sub``: the gradebook's score and one test per cell."""
    if visibility not in VISIBILITIES:
        raise UsageError(f"visibility must be one of {', '.join(VISIBILITIES)}, got {visibility!r}")
    result: dict = {
        "score": sub.score,
        "output": _output(sub),
        "visibility": visibility,
        "stdout_visibility": "hidden",  # run_autograder's own log is for the instructor
        "extra_data": {"student": sub.student, "lesson": sub.lesson, "status": sub.status},
        "tests": [
            {
                "name": cell.name,
                "score": cell.score,
                "max_score": cell.max_score,
                "status": "passed" if cell.score >= cell.max_score else "failed",
                "output": cell.message,
                "visibility": visibility,
            }
            for cell in sub.cells
        ],
    }
    if sub.seconds is not None:
        result["execution_time"] = round(sub.seconds)  # whole seconds, as documented
    return result


def _folder_name(name: str) -> str:
    """A student or lesson id as one path component (ids from submissions are already safe)."""
    return name if name not in {"", ".", ".."} and "/" not in name else f"id-{name_hash(name)}"


def write_gradescope(subs: list[Submission], out: Path, visibility: str = "visible") -> list[Path]:
    """Write each submission's results.json; return the files written.

    ``out`` ending in ``.json`` is the one file of a class of exactly one submission
    (Gradescope's ``/autograder/results/results.json``); otherwise a folder that receives
    ``<lesson>/<student>/results.json``.
    """
    if out.suffix == ".json":
        if len(subs) != 1:
            raise UsageError(
                f"--out {out}: one results.json holds one submission, the gradebook has "
                f"{len(subs)} (give a folder instead)"
            )
        targets = [out]
    else:
        targets = [
            out / _folder_name(s.lesson) / _folder_name(s.student) / "results.json" for s in subs
        ]
    for sub, path in zip(subs, targets, strict=True):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(results_json(sub, visibility), indent=1), encoding="utf-8")
    return targets
