"""Execute a master notebook once and read back the numbers its text cites.

A claims test asserts each quantitative or comparative sentence of a lesson on the
values of the lesson's own executed master: the experiment cells keep what they
plot in plain variables, and ``execute_master`` appends one cell that turns the
ones a test needs into JSON.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import re
import tempfile
import time
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from traitlets.config import Config

from autograder.course import Course
from autograder.ready_client import configure
from autograder.site import KERNEL_ENV, cached_execution, store_execution

MARKER = "CLAIMS-JSON:"
REPO = Path(__file__).resolve().parents[2]
#: where ``make site`` keeps executed masters (autograder.site), filled by these executions
SITE_CACHE = REPO / "build" / "site-cache"
#: "<size>:<draw>", e.g. "1e-6:1": every model ``coursekit.models`` builds has its floating
#: parameters multiplied by 1 + size * N(0, 1) (noise drawn from ``draw`` and the model's own
#: initial weights, so that two runs built alike stay alike): a stand-in for another processor,
#: whose arithmetic differs in the last bits (bench/claims_robustness.py)
PERTURB_ENV = "GF_CLAIMS_PERTURB"
_PERTURB_CELL = """
import zlib as _zlib

import torch as _torch
from coursekit import models as _models


def _perturbed(build):
    def perturbed_build(*args, **kwargs):
        model = build(*args, **kwargs)
        params = [p for p in model.parameters() if p.is_floating_point()]
        key = _zlib.crc32(params[0].detach().numpy().tobytes()) if params else 0
        generator = _torch.Generator().manual_seed({draw} * 100_003 + key)
        with _torch.no_grad():
            for p in params:
                p.mul_(1 + {size} * _torch.randn(p.shape, generator=generator, dtype=p.dtype))
        return model

    return perturbed_build


for _name in ("mlp", "rnn", "recurrent"):
    setattr(_models, _name, _perturbed(getattr(_models, _name)))
"""


#: A folder: each execution's notebook (with outputs) and read-back values are kept there
KEEP_ENV = "GF_CLAIMS_KEEP"


def perturbation() -> tuple[float, int] | None:
    """(size, draw) from ``GF_CLAIMS_PERTURB``, or None (the lessons as they are)."""
    value = os.environ.get(PERTURB_ENV)
    if not value:
        return None
    size, draw = value.split(":")
    return float(size), int(draw)


@dataclass
class Executed:
    """An executed master: its cells, the numbers read back, and how long it ran."""

    lesson: str
    notebook: nbformat.NotebookNode
    values: dict
    seconds: float
    errors: list[str] = field(default_factory=list)  # errors outside the test cells

    def markdown(self) -> str:
        """All the lesson's text, to find the sentences the tests quote."""
        return "\n".join(c.source for c in self.notebook.cells if c.cell_type == "markdown")

    def output_text(self, fragment: str) -> str:
        """What the one code cell whose source holds ``fragment`` printed."""
        cells = [c for c in self.notebook.cells if c.cell_type == "code" and fragment in c.source]
        assert len(cells) == 1, f"{len(cells)} code cells hold {fragment!r}"
        return "".join(o.get("text", "") for o in cells[0].outputs if o.output_type == "stream")


def _is_test_cell(cell) -> bool:
    return bool(cell.metadata.get("nbgrader", {}).get("grade"))


#: executions started by ``prefetch``, by (lesson, read-back code)
_PENDING: dict[tuple[str, str], Future] = {}
_POOL: ProcessPoolExecutor | None = None


def prefetch(requests: list[tuple[str, str]]) -> None:
    """Start executing each (lesson, read-back code), two at a time (each kernel uses one
    thread; the machine has two cores), so that a claims module finds its lesson done or
    under way instead of running it alone while the other core idles."""
    global _POOL
    if len(requests) < 2:
        return  # nothing to run side by side
    _POOL = ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn"))
    for lesson, read_back in requests:
        _PENDING[(lesson, read_back)] = _POOL.submit(_execute_master, lesson, read_back)


def stop_prefetch() -> None:
    if _POOL is not None:
        _POOL.shutdown(wait=True, cancel_futures=True)


def execute_master(lesson: str, read_back: str, timeout: int = 600) -> Executed:
    """Run the master of ``lesson`` top to bottom (errors allowed, so that a test cell
    that cannot import its hidden checks does not stop the experiments), then the code
    ``read_back``, which must define a dict ``claims_out`` of JSON-able values.
    The execution ``prefetch`` started, if any.
    """
    future = _PENDING.pop((lesson, read_back), None)
    if future is not None:
        return future.result(timeout=2 * timeout)
    return _execute_master(lesson, read_back, timeout)


def _execute_master(lesson: str, read_back: str, timeout: int = 600) -> Executed:
    path = Course().master(lesson)
    nb = nbformat.read(path, as_version=4)
    lesson_cells = len(nb.cells)
    perturbed = perturbation()
    if perturbed is not None:
        size, draw = perturbed
        nb.cells.insert(0, nbformat.v4.new_code_cell(_PERTURB_CELL.format(size=size, draw=draw)))
    nb.cells.append(
        nbformat.v4.new_code_cell(
            read_back + f"\nimport json as _json\nprint({MARKER!r} + _json.dumps(claims_out))"
        )
    )
    with tempfile.TemporaryDirectory(prefix="gf-claims-") as sockets:
        config = Config()
        configure(config, Path(sockets) / "k")  # IPC, as graded: no TCP port
        client = NotebookClient(
            nb,
            timeout=timeout,
            config=config,
            kernel_name="python3",
            allow_errors=True,
            resources={"metadata": {"path": str(path.parent)}},
        )
        start = time.perf_counter()
        client.execute(env={**os.environ, **KERNEL_ENV})
        seconds = time.perf_counter() - start
    if perturbed is not None:
        failure = [o for o in nb.cells[0].outputs if o.output_type == "error"]
        assert not failure, f"the perturbation cell failed: {failure}"
        nb.cells.pop(0)
    errors = [
        f"cell {i}: {out.ename}: {out.evalue}"
        for i, cell in enumerate(nb.cells[:lesson_cells])
        if cell.cell_type == "code" and not _is_test_cell(cell)
        for out in cell.outputs
        if out.output_type == "error"
    ]
    text = "".join(
        out.get("text", "") for out in nb.cells[-1].outputs if out.output_type == "stream"
    )
    match = re.search(re.escape(MARKER) + r"(.*)", text)
    if match is None:
        failure = [o for o in nb.cells[-1].outputs if o.output_type == "error"]
        raise RuntimeError(f"the read-back cell printed no claims: {failure or text!r}")
    nb.cells.pop()
    if perturbed is None:
        # the site's build (tests/test_site.py, later in the run) reads this execution instead
        # of executing the master once more: same master, coursekit and kernel settings
        store_execution(nb, cached_execution(SITE_CACHE, lesson, path))
    executed = Executed(lesson, nb, json.loads(match.group(1)), seconds, errors)
    keep(executed)
    return executed


def keep(executed: Executed) -> None:
    """With ``GF_CLAIMS_KEEP=<folder>``, write the execution's notebook and values there
    (``<lesson>.ipynb``, ``<lesson>.json``): a claim can then be rewritten from the numbers
    of many perturbed draws, and checked against them, without running the lessons again."""
    folder = os.environ.get(KEEP_ENV)
    if not folder:
        return
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    nbformat.write(executed.notebook, out / f"{executed.lesson}.ipynb")
    (out / f"{executed.lesson}.json").write_text(json.dumps(executed.values), encoding="utf-8")


def kept(folder: str | Path, lesson: str) -> Executed:
    """The execution ``keep`` wrote for ``lesson`` in ``folder``, for a claims test to read."""
    folder = Path(folder)
    notebook = nbformat.read(folder / f"{lesson}.ipynb", as_version=4)
    values = json.loads((folder / f"{lesson}.json").read_text(encoding="utf-8"))
    return Executed(lesson, notebook, values, 0.0)


def header_points(lesson: str) -> tuple[int, int]:
    """(points the lesson's header states, the sum of its test cells' points)."""
    nb = nbformat.read(Course().master(lesson), as_version=4)
    stated = re.search(r"\*\*Points\*\*:\s*(\d+)", nb.cells[0].source)
    total = sum(
        cell.metadata["nbgrader"].get("points", 0) for cell in nb.cells if _is_test_cell(cell)
    )
    return (int(stated.group(1)) if stated else -1), total


def quoted(executed: Executed, sentence: str) -> str:
    """``sentence`` as the assertion message, after checking that the lesson says it."""
    flat = " ".join(executed.markdown().split())
    assert " ".join(sentence.split()) in flat, f"the lesson no longer says: {sentence!r}"
    return f"{executed.lesson} says: {sentence!r}"
