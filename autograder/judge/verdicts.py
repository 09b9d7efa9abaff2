"""Decide every graded cell's points from what the kernel reported, outside the kernel.

The master says which hidden check each test cell runs (its hidden region calls
``hidden.<check>(...)`` of ``autograder.kernel.collect.<module>``). The executed
notebook holds, in each test cell, the report the kernel emitted
(``autograder.protocol``). A cell earns its points only when the judge, running
that check here on the report, finds no mistake. A cell that ran without error
but reported nothing, reported for another check, reported twice or sent a
malformed report is ``tampered``; so is a kernel whose own check passed where the
judge's failed.
"""

from __future__ import annotations

import importlib
import inspect
import re
from dataclasses import dataclass
from typing import Any

from autograder import protocol
from autograder.judge import answers
from autograder.judge.replay import replay_check
from autograder.kernel.collect.record import judge_observed
from coursekit.checks import CheckFailed

_IMPORT = re.compile(r"from autograder\.kernel\.collect import (\w+) as hidden")
_CALL = re.compile(r"hidden\.(\w+)\(")


@dataclass
class HiddenCheck:
    """The hidden check a test cell runs, by the master."""

    lesson: str
    module: str
    function: str


@dataclass
class CellVerdict:
    grade_id: str
    passed: bool
    message: str
    tampered: str | None = None


def _source(cell: dict) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else str(src)


def hidden_call(source: str) -> tuple[str, str] | None:
    """(module, check) that a test cell's hidden region calls, if it calls one that exists."""
    if "### BEGIN HIDDEN TESTS" not in source:
        return None
    text = source.split("### BEGIN HIDDEN TESTS", 1)[1]
    module, call = _IMPORT.search(text), _CALL.search(text)
    if not (module and call):
        return None
    try:
        found = importlib.import_module(f"autograder.kernel.collect.{module.group(1)}")
    except ImportError:
        return None
    if getattr(getattr(found, call.group(1), None), "kind", None) is None:
        return None
    return module.group(1), call.group(1)


def hidden_checks(master: dict, lesson: str) -> dict[str, HiddenCheck]:
    """{grade id: its hidden check} for every test cell of the master."""
    found = {}
    for cell in master["cells"]:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if not meta.get("grade") or cell.get("cell_type") != "code":
            continue
        called = hidden_call(_source(cell))
        if called is not None:
            found[meta["grade_id"]] = HiddenCheck(lesson, *called)
    return found


def _reports(cell: dict) -> list[Any]:
    return [
        out["data"][protocol.REPORT_MIME]
        for out in cell.get("outputs", [])
        if isinstance(out, dict)
        and out.get("output_type") in ("display_data", "execute_result")
        and isinstance(out.get("data"), dict)
        and protocol.REPORT_MIME in out["data"]
    ]


def _kernel_error(cell: dict) -> str | None:
    for out in cell.get("outputs", []):
        if isinstance(out, dict) and out.get("output_type") == "error":
            return f"{out.get('ename', '')}: {out.get('evalue', '')}"
    return None


def _check(hidden: HiddenCheck) -> Any:
    module = importlib.import_module(f"autograder.kernel.collect.{hidden.module}")
    return getattr(module, hidden.function)


def _kind(hidden: HiddenCheck) -> str | None:
    return getattr(_check(hidden), "kind", None)


def run_check(hidden: HiddenCheck, payload: Any) -> None:
    """Judge one report; raises CheckFailed naming the mistake."""
    check = _check(hidden)
    kind = getattr(check, "kind", None)
    if kind == "collected":
        students = len(inspect.signature(check.check).parameters)
        replay_check(check.check, payload, students)
    elif kind == "observed":
        judge_observed(check.judge, payload)
    elif kind == "answered":
        if not isinstance(payload, dict) or "answer" not in payload:
            raise CheckFailed("no answer was reported")
        answers.QUESTIONS[hidden.lesson][hidden.function](payload["answer"])
    else:
        raise CheckFailed(f"unknown hidden check {hidden.function}")


def judge_cell(grade_id: str, hidden: HiddenCheck | None, cell: dict) -> CellVerdict:
    """The verdict on one executed test cell."""
    error = _kernel_error(cell)
    reports = _reports(cell)
    if hidden is None:
        return CellVerdict(grade_id, False, "this test cell has no hidden check to judge it")
    if not reports:
        if error is not None:
            return CellVerdict(grade_id, False, error)
        return CellVerdict(
            grade_id, False, "the test cell reported nothing", "a test cell ran without reporting"
        )
    tampered = "the test cell reported more than once" if len(reports) > 1 else None
    try:
        check, payload = protocol.read_report(reports[0])
    except Exception as exc:  # noqa: BLE001 -- whatever a report does to the reader: no points
        return CellVerdict(grade_id, False, "malformed report", f"malformed report: {exc}"[:200])
    if check != hidden.function:
        why = f"another check's report ({check[:60]!r}) in the cell of {hidden.function!r}"
        return CellVerdict(grade_id, False, "the report is for another check", why)
    try:
        run_check(hidden, payload)
    except CheckFailed as exc:
        if error is None and _kind(hidden) != "answered":  # an honest kernel fails alike
            tampered = tampered or "the kernel's own check passed where the judge's failed"
        return CellVerdict(grade_id, False, f"{type(exc).__name__}: {exc}", tampered)
    except Exception as exc:  # a report the checks cannot even read: never points
        return CellVerdict(
            grade_id,
            False,
            f"the report could not be judged ({type(exc).__name__}: {exc})",
            tampered,
        )
    return CellVerdict(grade_id, True, "passed", tampered)


def judge_notebook(executed: dict, master: dict, lesson: str) -> dict[str, CellVerdict]:
    """{grade id: verdict} for every test cell of the executed notebook."""
    checks = hidden_checks(master, lesson)
    verdicts = {}
    for cell in executed.get("cells", []):
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if meta.get("grade") and cell.get("cell_type") == "code":
            grade_id = meta["grade_id"]
            verdicts[grade_id] = judge_cell(grade_id, checks.get(grade_id), cell)
    return verdicts
