"""Prove a grading plan safe on the master: every cell that runs starts as it would have.

The master is run twice, with and without its plan (``autograder.plan``), with a probe
around every code cell that prints a fingerprint of what a cell can see: the global
names it reads (its own and those its solution functions read: ``plan.names_read``), the
global random generators (torch, numpy, random) and torch's settings (default dtype,
grad mode, threads, deterministic algorithms). The plan is safe when, before every cell
that runs, the names it reads and torch's settings are the same in both runs, and so is
each global random generator the cell draws from (its state moves across the cell and
the two runs leave it apart: a cell that seeds it is not asked). A
difference is an error naming the cell that runs, what differs, and the skipped cells
that changed it.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from autograder.plan import names_read, skipped

MARK = "GF-PROBE "
_RNGS = ("torch_rng", "numpy_rng", "random")
_SETTINGS = ("dtype", "grad", "threads", "deterministic")

# Runs in the kernel: defines __gf_probe(tag, names), which prints one line, MARK + JSON.
PROBE_DEFINITION = r"""
def __gf_probe(tag, names):
    import hashlib, json, random, sys
    torch, np = sys.modules.get("torch"), sys.modules.get("numpy")

    def digest(data):
        return hashlib.sha256(data).hexdigest()[:16]

    def fp(v, depth=0):
        if v is None or isinstance(v, (bool, int, float, complex, str, bytes)):
            return repr(v)[:2000]
        if torch is not None and isinstance(v, torch.Tensor):
            t = v.detach().cpu().contiguous()
            data = t.float() if t.dtype == torch.bfloat16 else t
            grad = "" if v.grad is None else fp(v.grad, depth + 1)
            head = f"tensor{tuple(t.shape)}{t.dtype}{v.requires_grad}:"
            return head + digest(data.numpy().tobytes()) + grad
        if torch is not None and isinstance(v, torch.nn.Module):
            return f"{type(v).__name__}(training={v.training})" + fp(dict(v.state_dict()), depth)
        if torch is not None and isinstance(v, torch.Generator):
            return "generator:" + digest(v.get_state().numpy().tobytes())
        if np is not None and isinstance(v, np.ndarray) and v.dtype != object:
            return f"array{v.shape}{v.dtype}:{digest(np.ascontiguousarray(v).tobytes())}"
        if np is not None and isinstance(v, np.random.Generator):
            return "rng:" + repr(v.bit_generator.state)
        if np is not None and isinstance(v, np.generic):
            return repr(v)
        if isinstance(v, type) or callable(v) or isinstance(v, type(sys)):
            return getattr(v, "__qualname__", getattr(v, "__name__", type(v).__name__))
        if depth > 4:
            return type(v).__name__
        if np is not None and isinstance(v, np.ndarray):
            return fp(v.tolist(), depth + 1)
        if isinstance(v, (list, tuple, set, frozenset)):
            items = sorted(v, key=repr) if isinstance(v, (set, frozenset)) else v
            return type(v).__name__ + "[" + ",".join(fp(x, depth + 1) for x in items) + "]"
        if isinstance(v, dict):
            return "{" + ",".join(f"{k!r}:{fp(x, depth + 1)}" for k, x in v.items()) + "}"
        if hasattr(v, "__dict__"):
            return type(v).__name__ + fp(dict(vars(v)), depth + 1)
        return type(v).__name__

    user = globals()
    state = {"random": digest(repr(random.getstate()).encode())}
    if torch is not None:
        state["torch_rng"] = digest(torch.random.get_rng_state().numpy().tobytes())
        state["dtype"] = str(torch.get_default_dtype())
        state["grad"] = torch.is_grad_enabled()
        state["threads"] = torch.get_num_threads()
        state["deterministic"] = torch.are_deterministic_algorithms_enabled()
    if np is not None:
        state["numpy_rng"] = digest(fp(np.random.get_state()).encode())
    state["names"] = {n: fp(user[n]) if n in user else "<unbound>" for n in names}
    print("GF-PROBE " + json.dumps({"tag": tag, **state}))
"""


def _code(source: str) -> dict:
    return {"cell_type": "code", "metadata": {}, "source": source, "outputs": [],
            "execution_count": None}  # fmt: skip


def _source(cell: dict) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else str(src)


def _reads(master: dict) -> dict[int, list[str]]:
    """{code cell index: global names it needs at its start}: what it reads, and what the
    solution cells before it read (their functions run when it calls them)."""
    needed: dict[int, list[str]] = {}
    solutions: set[str] = set()
    for i, cell in enumerate(master["cells"]):
        if cell.get("cell_type") != "code":
            continue
        try:
            own = names_read(_source(cell))
        except SyntaxError:
            own = set()
        if cell.get("metadata", {}).get("nbgrader", {}).get("solution"):
            solutions |= own
        needed[i] = sorted(own | solutions)
    return needed


def probed(master: dict) -> tuple[dict, set[int]]:
    """The master with a probe before and after every code cell, and the indices of its
    plan's cells in that notebook."""
    plan = skipped(master)
    reads = _reads(master)
    nb = json.loads(json.dumps(master))
    cells, skip = [_code(PROBE_DEFINITION)], set()
    for i, cell in enumerate(master["cells"]):
        if i not in reads:
            cells.append(cell)
            continue
        cells.append(_code(f"__gf_probe('before {i}', {reads[i]!r})"))
        if i in plan:
            skip.add(len(cells))
        cells.append(cell)
        cells.append(_code(f"__gf_probe('after {i}', {reads[i]!r})"))
    nb["cells"] = cells
    return nb, skip


def fingerprints(executed: dict) -> dict[str, dict]:
    """{probe tag: fingerprint} of an executed probed notebook."""
    found = {}
    for cell in executed["cells"]:
        for out in cell.get("outputs", []):
            text = out.get("text", "") if out.get("output_type") == "stream" else ""
            text = "".join(text) if isinstance(text, list) else text
            for line in text.splitlines():
                if line.startswith(MARK):
                    probe = json.loads(line[len(MARK) :])
                    found[probe.pop("tag")] = probe
    return found


def differences(master: dict, full: dict[str, dict], planned: dict[str, dict]) -> list[str]:
    """What a cell that runs would see differently under the plan (empty: the plan is safe).

    ``full``, ``planned``: ``fingerprints`` of the probed master run without and with it.
    """
    plan = skipped(master)
    problems = []
    for i in sorted(_reads(master)):
        if i in plan:
            continue
        before, after = f"before {i}", f"after {i}"
        a, b = full.get(before), planned.get(before)
        if a is None or b is None:
            problems.append(f"cell {i}: its probe did not run (the run stopped?)")
            continue
        changed = [k for k in _SETTINGS if a.get(k) != b.get(k)]
        changed += [f"global name {n!r}" for n in a["names"] if a["names"][n] != b["names"].get(n)]
        # a generator the cell moved and the two runs left apart: it drew from another
        # state (a cell that seeds it leaves it alike, whatever it started from)
        apart = [r for r in _RNGS if full.get(after, {}).get(r) != planned.get(after, {}).get(r)]
        drawn = [r for r in apart if _draws(r, before, after, full, planned)]
        changed += [
            f"the {r.replace('_', ' ')} it draws from" for r in drawn if a.get(r) != b.get(r)
        ]
        if changed:
            culprits = _culprits(plan, i, full, changed)
            first = _source(master["cells"][i]).strip().splitlines()[0][:60]
            problems.append(
                f"cell {i} ({first!r}) would start differently under the plan: "
                f"{', '.join(changed)} (changed by skipped cell(s) {culprits})"
            )
    return problems


def _draws(rng: str, before: str, after: str, *runs: dict[str, dict]) -> bool:
    """Whether the cell between the probes ``before`` and ``after`` moved ``rng``."""
    return any(
        rng in run.get(before, {}) and run.get(after, {}).get(rng) != run[before][rng]
        for run in runs
    )


def _culprits(plan: set[int], before: int, full: dict[str, dict], changed: list[str]) -> list[int]:
    """Skipped cells before ``before`` across which, in the full run, anything moved."""

    def moved(s: int) -> bool:
        a, b = full.get(f"before {s}", {}), full.get(f"after {s}", {})
        keys = set(_SETTINGS) | set(_RNGS)
        return any(a.get(k) != b.get(k) for k in keys) or a.get("names") != b.get("names")

    return [s for s in sorted(plan) if s < before and moved(s)]


def prove(master: dict, execute: Callable[[dict, set[int]], dict]) -> tuple[list[str], dict, dict]:
    """Run the probed master without and with its plan (``execute(nb, skip)`` returns the
    executed notebook): the differences a cell that runs would see, and both runs."""
    nb, skip = probed(master)
    full = execute(nb, set())
    planned = execute(nb, skip)
    return differences(master, fingerprints(full), fingerprints(planned)), full, planned
