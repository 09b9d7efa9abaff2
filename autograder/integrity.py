"""Detect a submission that replaces functions the tests rely on.

The grader inserts a cell before the student's code that takes a snapshot of
the functions of numpy, torch, math, builtins and the check modules, and a
cell before every test cell that compares them with the snapshot and prints
one line: ``autograder integrity: ok`` or ``autograder integrity: replaced
numpy.allclose, ...``. Test cells that run after a replacement score 0.

This catches replacing ``np.allclose`` or ``torch.nn.functional.linear``; a
determined attacker inside the same Python process can defeat any in-process
check, which is why the kernel also runs isolated (autograder.sandbox).
"""

from __future__ import annotations

import builtins
import importlib
import inspect
import sys
from collections.abc import Callable

OK = "autograder integrity: ok"
REPLACED = "autograder integrity: replaced "
WATCHED = (
    "builtins",
    "math",
    "numpy",
    "numpy.linalg",
    "numpy.testing",
    "torch",
    "torch.nn",
    "torch.nn.functional",
    "torch.nn.init",
    "torch.nn.utils",
    "torch.linalg",
    "coursekit.checks",
    "coursekit.gradcheck",
    "autograder.checks.common",
)
# Watched too when the lesson's checks have imported them: importing them here
# would cost seconds per notebook for lessons that do not use them.
WATCHED_IF_LOADED = ("scipy.stats",)


# IPython swaps these on every execution; torch re-wraps some functions lazily
# (e.g. torch._dynamo wraps torch.manual_seed): fingerprints look through wrappers.
_VOLATILE = {"input", "raw_input", "getpass", "exit", "quit", "display", "get_ipython", "help"}


def _fingerprint(value: object) -> int:
    inner = inspect.unwrap(value) if inspect.isfunction(value) else value
    code = getattr(inner, "__code__", None)
    return id(code) if code is not None else id(value)


def _callables(module: object) -> dict[str, int]:
    return {
        name: _fingerprint(value)
        for name, value in vars(module).items()
        if callable(value)
        and not isinstance(value, type)  # classes: tests call functions
        and not name.startswith("__")
        and name not in _VOLATILE
    }


def snapshot(*extra: str) -> Callable[[], str]:
    """Import and fingerprint the watched modules (and ``extra`` ones, e.g. the lesson's
    hidden checks); return the function that checks them."""
    taken: dict[str, dict[str, int]] = {}
    names = [*WATCHED, *extra]
    for name in names + [m for m in WATCHED_IF_LOADED if m in sys.modules]:
        try:
            module = builtins if name == "builtins" else importlib.import_module(name)
        except ImportError:
            continue
        taken[name] = _callables(module)
    stdout = sys.stdout

    def check() -> str:
        replaced = []
        for name, functions in taken.items():
            now = vars(sys.modules.get(name, builtins if name == "builtins" else object()))
            for attr, ident in functions.items():
                if attr not in now or _fingerprint(now[attr]) != ident:
                    replaced.append(f"{name}.{attr}")
        line = OK if not replaced else REPLACED + ", ".join(sorted(replaced)[:10])
        stdout.write(line + "\n")
        stdout.flush()
        return line

    return check


def warnings_to_stdout() -> None:
    """Show warnings on stdout: nbgrader scores a test cell 0 for any stderr output, and a
    warning printed by a correct solution must not cost points."""
    import warnings

    def show(message, category, filename, lineno, file=None, line=None):
        sys.stdout.write(warnings.formatwarning(message, category, filename, lineno, line))

    warnings.showwarning = show


def snapshot_cell(modules: list[str]) -> str:
    """The grader's first cell: route warnings to stdout, fingerprint what tests use."""
    return (
        "import autograder.integrity as _autograder_integrity\n"
        "_autograder_integrity.warnings_to_stdout()\n"
        f"_autograder_integrity_check = _autograder_integrity.snapshot(*{modules!r})"
    )


CHECK_CELL = "_autograder_integrity_check();"
