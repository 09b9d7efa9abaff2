"""autograder.forkserver and autograder.unit_warmup: units fork from a process that has
loaded (and warmed) what they need, without running anything of a submission."""

import gc
import importlib.util
import subprocess
import sys
from pathlib import Path

from autograder import forkserver
from autograder.feedback_exporter import render_sample

COLLECT = Path(forkserver.__file__).parent / "kernel" / "collect"
# loaded by the preload or on first use by the warm-up (each a fraction of a second per unit)
WARMED = (
    "nbgrader.converters",
    "pygments",
    "torch.fx.experimental.symbolic_shapes",
    "torch._dynamo",
)


def test_preload_names_every_lesson_check_and_ends_with_the_warmup():
    checks = {f"autograder.kernel.collect.{p.stem}" for p in COLLECT.glob("*.py")} - {
        "autograder.kernel.collect.__init__"
    }
    assert checks and checks <= set(forkserver.PRELOAD), checks - set(forkserver.PRELOAD)
    assert forkserver.PRELOAD[-1] == "autograder.unit_warmup"  # it freezes what came before
    missing = [name for name in forkserver.PRELOAD if importlib.util.find_spec(name) is None]
    assert not missing, f"the forkserver would fail to import {missing}"


def test_the_forkserver_module_itself_loads_nothing_heavy():
    """``autograder grade`` starts the forkserver first: importing this must stay cheap."""
    code = (
        "import sys, autograder.forkserver; "
        "print(sorted(m for m in ('torch', 'nbgrader', 'nbconvert') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout


def _what_a_forked_process_has(queue):
    queue.put(
        {
            "modules": [m for m in WARMED if m in sys.modules],
            "frozen": gc.get_freeze_count(),
            "mappers_to_configure": sys.modules["nbgrader.api"].Base.registry._new_mappers,
        }
    )


def test_a_process_forked_from_it_has_the_preload_loaded_and_the_gc_frozen():
    context = forkserver.forkserver()
    forkserver.start()
    queue = context.Queue()
    proc = context.Process(target=_what_a_forked_process_has, args=(queue,))
    proc.start()
    found = queue.get(timeout=120)
    proc.join(30)
    assert found["modules"] == list(WARMED), found
    assert found["frozen"] > 100_000, f"only {found['frozen']} objects frozen"
    assert not found["mappers_to_configure"], "each unit's first gradebook query configures them"


def test_the_warmup_page_is_sanitised_and_shows_the_sample():
    page = render_sample()
    assert "<script" not in page.lower()
    assert "Content-Security-Policy" in page
    assert "data:image/png;base64," in page and "3.14" in page and "Title" in page


def test_after_the_warmup_the_judges_first_optimizer_and_backward_load_nothing():
    """What a judge's check does first (an optimizer, a backward with an explicit gradient)
    imports nothing more in a unit: the warm-up paid for it (about 1 s a unit otherwise)."""
    code = (
        "import sys, autograder.unit_warmup, torch\n"
        "before = set(sys.modules)\n"
        "w = torch.zeros(3, requires_grad=True)\n"
        "opt = torch.optim.SGD([w], lr=0.1, momentum=0.9)\n"
        "(w * 2).backward(torch.ones(3))\n"
        "opt.step()\n"
        "torch.optim.Adam([w]).step()\n"
        "print(sorted(set(sys.modules) - before))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout
