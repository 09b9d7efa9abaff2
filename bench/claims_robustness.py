"""Which of the lessons' claims hold only for the exact arithmetic of one processor.

A lesson's short training runs take another path from a difference in the last bits of the
arithmetic: another processor (other MKL/oneDNN kernels) gives other numbers, and a sentence
asserted on one machine can be false on a student's. This bench runs the claims tests
(tests/claims/) with the parameters of every model ``coursekit.models`` builds perturbed by a
relative 1e-6 (``GF_CLAIMS_PERTURB``; one draw of noise per run), a stand-in for another
processor, and reports which tests fail in which draws. A claim that fails in some draw
should be made robust: a wider statement, an average over seeds, or a sturdier experiment.

    python -m bench.claims_robustness [--draws 6] [--first 1] [--size 1e-6] [--out FILE.md]
        [--keep FOLDER]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path

from bench.machine import describe
from tests.claims.executed import KEEP_ENV, PERTURB_ENV

REPO = Path(__file__).resolve().parents[1]
CLAIMS = sorted((REPO / "tests" / "claims").glob("test_claims_0*.py"))


def failures(size: float, draw: int, keep: Path | None = None) -> tuple[dict[str, str], int]:
    """({test id: first line of its failure}, tests run) of the claims tests under one draw;
    with ``keep``, each lesson's executed notebook and values are kept in keep/draw-<n>."""
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report.xml"
        env = {**os.environ, PERTURB_ENV: f"{size}:{draw}"}
        if keep is not None:
            env[KEEP_ENV] = str(keep.resolve() / f"draw-{draw}")
        command = [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:randomly",
            "-p",
            "no:cacheprovider",
        ]
        command += [f"--junitxml={report}", *map(str, CLAIMS)]
        subprocess.run(command, cwd=REPO, env=env, capture_output=True, check=False)
        cases = ET.parse(report).getroot().iter("testcase")
        found, run = {}, 0
        for case in cases:
            run += 1
            failed = case.find("failure")
            if failed is None:
                failed = case.find("error")
            if failed is not None:
                name = (
                    f"{Path(case.get('classname', '').replace('.', '/')).name}::{case.get('name')}"
                )
                found[name] = (failed.get("message") or "").splitlines()[0][:160]
        return found, run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--draws", type=int, default=6)
    parser.add_argument(
        "--first", type=int, default=1, help="the first draw (draws first, first + 1, ...)"
    )
    parser.add_argument("--size", type=float, default=1e-6)
    parser.add_argument(
        "--keep",
        type=Path,
        help="keep each draw's executed lessons and values in KEEP/draw-<n> (tests.claims."
        "executed.kept reads them back)",
    )
    parser.add_argument(
        "--out", type=Path, default=Path(__file__).parent / "results" / "claims_robustness.md"
    )
    args = parser.parse_args()
    start = time.perf_counter()
    by_draw = {}
    tests = 0
    draws = range(args.first, args.first + args.draws)
    for draw in draws:
        by_draw[draw], tests = failures(args.size, draw, args.keep)
        print(f"draw {draw}: {len(by_draw[draw])} of {tests} claims tests failed", flush=True)
    fragile = sorted({name for found in by_draw.values() for name in found})
    lines = [
        "# How robust the lessons' claims are",
        "",
        describe(),
        "",
        f"The claims tests ({tests} tests, {len(CLAIMS)} lessons) run {args.draws} times (draws "
        f"{draws[0]} to {draws[-1]}), each "
        f"time with the parameters of every model `coursekit.models` builds multiplied by "
        f"1 + {args.size:g} × N(0, 1) (one draw of noise per run): a stand-in for another "
        "processor, whose arithmetic differs in the last bits. A test that fails in some "
        "draw asserts a sentence that holds for this machine's exact numbers only.",
        "",
        f"`python -m bench.claims_robustness --draws {args.draws} --first {args.first} "
        f"--size {args.size:g}`, "
        f"{(time.perf_counter() - start) / 60:.0f} minutes.",
        "",
    ]
    if not fragile:
        lines.append("**Every claims test passed in every draw.**")
    else:
        lines += ["| claims test | failed in draws | first line of the failure |", "|---|---|---|"]
        for name in fragile:
            failed_in = [d for d, found in by_draw.items() if name in found]
            message = by_draw[failed_in[0]][name].replace("|", "\\|")
            lines.append(f"| `{name}` | {', '.join(map(str, failed_in))} | {message} |")
    args.out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
