"""Hostile submissions: forged grades and escapes from the kernel's jail.

One class of attackers is graded once (module fixture) on the fixture course.
Every attacker answers wrongly (add returns 0, answer_sqrt = 1.0) and then tries,
from its answer cell, to make the test cells pass anyway — by rewriting them,
patching what they call, or forging what the kernel reports — or to read or
change what is not its own. None may earn a point; the forgeries a judge can see
are reported as ``tampered``; the class run exits 0 and the honest students
beside them are graded as if alone.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import threading
from pathlib import Path

import pytest

from autograder.cli import main
from autograder.course import REPO_DIR, Course
from autograder.protocol import REPORT_MIME
from autograder.release import release
from autograder.sandbox import ISOLATED, isolation_mode
from autograder.unit_memory import own_memory_group
from tests.conftest import FIXTURE_COURSE, with_answers

pytestmark = pytest.mark.slow
LESSON = "fixture_sum"
GOOD = {"add": "def add(a, b):\n    return a + b", "answer_sqrt": "answer_sqrt = 4.0"}
# passes the visible check (add(1, 2) == 3) and nothing else: a forgery must hide the rest
WRONG_ADD = "\ndef add(a, b):\n    return 3 if (a, b) == (1, 2) else 0\n"
WRONG_SQRT = "answer_sqrt = 1.0"


def _display(report: dict) -> str:
    """Code that emits ``report`` as the kernel side would."""
    return (
        "from IPython.display import display as _d\n"
        f"_d({{{REPORT_MIME!r}: {report!r}, 'text/plain': 'ok'}}, raw=True)\n"
    )


def _rewrite_tests(replacement: str) -> str:
    """An IPython input transformer that replaces every test cell with ``replacement``."""
    return (
        "def _fake(lines):\n"
        "    text = ''.join(lines)\n"
        "    if 'checks.exercise' in text or 'hidden' in text:\n"
        f"        return [{replacement!r}]\n"
        "    return lines\n"
        "get_ipython().input_transformers_post.append(_fake)\n"
    )


FORGED_PASS = "print('✓ add: all visible checks passed')\n"
ATTACKS = {
    # rewrite the test cells so that they print success and report nothing
    "transformer": _rewrite_tests(FORGED_PASS) + WRONG_ADD,
    # an input transformer on the AST level (IPython's ast_transformers)
    "ast_transformer": (
        "import ast\n"
        "class _Gut(ast.NodeTransformer):\n"
        "    def visit_Module(self, node):\n"
        "        src = ast.unparse(node)\n"
        "        return ast.parse('pass') if 'checks.exercise' in src else node\n"
        "get_ipython().ast_transformers.append(_Gut())\n" + WRONG_ADD
    ),
    # the hidden checks made no-ops (the package attribute and the module the cell imports)
    "rebind_hidden": (
        "import autograder.kernel.collect.examples as _ex\n"
        "_ex.add = lambda *a: None\n_ex.q_sqrt = lambda *a: None\n" + WRONG_ADD
    ),
    # every visible check function made to pass
    "rebind_checks": (
        "import contextlib, coursekit.checks as _c\n"
        "for _n in ('expect', 'expect_close', 'expect_number', 'expect_shape', 'fail'):\n"
        "    setattr(_c, _n, lambda *a, **k: None)\n"
        "_c.exercise = lambda *a, **k: contextlib.nullcontext()\n" + WRONG_ADD
    ),
    # an import hook that hands the test cells fake modules
    "import_hook": (
        "import builtins, types\n"
        "_real = builtins.__import__\n"
        "_fake_mod = types.SimpleNamespace(add=lambda *a: None, q_sqrt=lambda *a: None,"
        " exercise=lambda *a, **k: __import__('contextlib').nullcontext(),"
        " expect_close=lambda *a, **k: None, expect_number=lambda *a, **k: None,"
        " expect=lambda *a, **k: None)\n"
        "def _hook(name, globals=None, locals=None, fromlist=(), level=0):\n"
        "    if name.startswith(('autograder', 'coursekit')):\n"
        "        return types.SimpleNamespace(\n"
        "            examples=_fake_mod, checks=_fake_mod, **vars(_fake_mod))\n"
        "    return _real(name, globals, locals, fromlist, level)\n"
        "builtins.__import__ = _hook\n"
        "checks = _fake_mod\n" + WRONG_ADD
    ),
    # numpy's comparisons patched to agree with anything
    "patched_numpy": (
        "import numpy as np, math\n"
        "np.allclose = np.isclose = lambda *a, **k: True\n"
        "np.all = lambda *a, **k: True\n"
        "math.isclose = lambda *a, **k: True\n" + WRONG_ADD
    ),
    # a forged report that claims the check ran and found nothing wrong
    "forged_empty_report": _rewrite_tests(
        _display({"version": 1, "check": "add", "payload": {"log": []}})
    )
    + WRONG_ADD,
    # a forged report with outputs the student's function never produced (and wrong ones)
    "forged_wrong_values": _rewrite_tests(
        _display(
            {
                "version": 1,
                "check": "add",
                "payload": {
                    "log": [
                        {"call": 0, "returned": 1, "after": [], "np_global": False},
                        {"call": 0, "returned": 7, "after": [], "np_global": False},
                    ]
                },
            }
        )
    )
    + WRONG_ADD,
    # a report for another check, in the test cell of add
    "report_for_another_check": _rewrite_tests(
        _display({"version": 1, "check": "q_sqrt", "payload": {"answer": 4.0}})
    )
    + WRONG_ADD,
    # a report that is not one: wrong version, deep nesting, an array that lies about its size
    "malformed_report": _rewrite_tests(
        _display(
            {
                "version": 1,
                "check": "add",
                "payload": {
                    "log": [
                        {
                            "call": 0,
                            "returned": {
                                "__array__": "ndarray",
                                "dtype": "float64",
                                "shape": [10**9],
                                "data": "AAAA",
                            },
                        }
                    ]
                },
            }
        )
    )
    + WRONG_ADD,
    # reports sent from a thread while the test cells run
    "thread_reports": (
        "import threading, time\n"
        "def _spam():\n"
        "    for _ in range(100):\n"
        "        try:\n"
        + "".join(
            "            " + line + "\n"
            for line in _display({"version": 1, "check": "add", "payload": {"log": []}}).split("\n")
            if line
        )
        + "        except Exception:\n"
        "            pass\n"
        "        time.sleep(0.05)\n"
        "threading.Thread(target=_spam, daemon=True).start()\n" + WRONG_ADD
    ),
    # the grader's stderr rule used backwards: silence stderr and claim success
    "stdout_claims": "import sys\nsys.stderr = sys.stdout\nprint('passed')\n" + WRONG_ADD,
}

# What an attacker looks for from inside its kernel: the answer is right only if it finds
# nothing (so a leak costs the attacker a point, and the test sees it).
ESCAPE_PROBE = r"""
import glob, os, socket
from ipykernel import get_connection_file
own = os.path.dirname(get_connection_file())  # the kernel's own sockets: the only ones it sees
found = [f'another kernel: {p}' for p in glob.glob('/tmp/gfk-*') if p != os.path.dirname(own)]
found += [f'where the grader connects: {p}' for p in glob.glob('/tmp/gfk-*/grader')]
for path in SECRETS + glob.glob('/tmp/gf-grade-*') + glob.glob('/tmp/gfk-*/*/connection.json'):
    if os.path.exists(path) and not path.startswith(own + '/'):
        found.append(path)
import autograder, coursekit
pkg = os.path.dirname(autograder.__file__)
found += [p for p in ('source', 'judge', 'grade.py', '../.git', '../notebooks')
          if os.path.exists(os.path.join(pkg, p))]
try:
    open(os.path.join(os.path.dirname(coursekit.__file__), 'checks.py'), 'a').write('#')
    found.append('coursekit writable')
except OSError:
    pass
for path in [p for p in glob.glob('/tmp/gfk-*/*/k-*') if not p.startswith(own + '/')]:
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(1)
    try:
        s.connect(path)
        found.append('socket ' + path)
    except OSError:
        pass
pids = [p for p in os.listdir('/proc') if p.isdigit()]
if len(pids) > 6:
    found.append(f'{len(pids)} processes visible')
if os.fork() == 0:  # a daemon that would rewrite the results after the unit
    try:
        os.setsid()
    except OSError:  # the kernel's system call filter denies it: a daemon all the same
        pass
    import time
    time.sleep(8)
    for p in [os.path.join(r, 'grades.csv') for r in SECRETS]:
        try:
            open(p, 'w').write('student,lesson,score\nescape,all,100\n')
        except OSError:
            pass
    os._exit(0)
print('FOUND', found)
answer_sqrt = 4.0 if not found else -1.0
"""


# Attacks on the grader's own resources, beside right answers (found by a red team).
RESOURCE_ATTACKS = {
    # write to any descriptor the kernel inherited from the grader (its log, say)
    "inherited_fds": (
        "import os\n"
        "for fd in map(int, os.listdir('/proc/self/fd')):\n"
        "    try:\n"
        "        target = os.readlink(f'/proc/self/fd/{fd}')\n"
        "        if target.startswith('/') and not target.startswith(('/dev', '/proc')):\n"
        "            os.write(fd, b'y' * 2**20)\n"
        "            raise SystemExit('wrote into ' + target)\n"
        "    except OSError:\n"
        "        pass\n"
    ),
    # fill the folder the kernel shares with the grader
    "fill_shared_folder": (
        "import glob, os\n"
        "for d in glob.glob('/tmp/gfk-*/*'):\n"
        "    try:\n"
        "        with open(os.path.join(d, 'fill'), 'wb') as f:\n"
        "            for _ in range(512):\n"
        "                f.write(b'z' * 2**20)\n"
        "    except OSError:\n"
        "        pass\n"
    ),
    # 60 MB of output, past the grader's cap of 40 MB for a notebook: it keeps no more
    "flood_output": (
        "import sys\n"
        "for _ in range(60):\n    sys.stdout.write('x' * 2**20)\n    sys.stdout.flush()\n"
    ),
    # a report whose decoding overflows: must be a malformed report, not a grader error
    "overflowing_report": (
        "import autograder.kernel.collect.examples as _ex\n"
        "from IPython.display import display as _d\n"
        f"_ex.add = lambda s: _d({{{REPORT_MIME!r}: {{'version': 1, 'check': 'add', "
        "'payload': {'__scalar__': 'int8', 'value': 1000}}, 'text/plain': ''}, raw=True)\n"
    ),
    # a kernel that never says it is idle again
    "no_idle": "get_ipython().kernel._publish_status = lambda *a, **k: None\n",
}


# A red team's attack on the grader's file system: the kernel puts a link to a file of the
# grader's where its connection file was, and makes nbgrader's log say that the kernel never
# started (a comm's target name is logged), so that the grader (root) starts another kernel
# in the same folder and writes the new connection file through the link.
LINK_AND_RESTART = (
    "import os, time\n"
    "from comm import create_comm\n"
    "from ipykernel import get_connection_file\n"
    "_file = get_connection_file()\n"
    "os.unlink(_file)\n"
    "os.symlink(VICTIM, _file)\n"
    'create_comm(target_name="Kernel didn\'t respond in")\n'
    "create_comm(target_name='Kernel died before replying to kernel_info')\n"
    "time.sleep(1)\n"
    "os._exit(1)\n"
)


# A red team's attack on the grader's ZeroMQ sockets: the kernel closes its own sockets and
# puts links to another socket of the host (HOST: the zygote's, a daemon's) where they were;
# the grader's ZeroMQ sockets (root's) reconnected through those paths on their own.
REDIRECT_SOCKETS = (
    "import glob, os, time\n"
    "from ipykernel.kernelapp import IPKernelApp\n"
    "_app = IPKernelApp.instance()\n"
    "for _name in ('stdin', 'control', 'iopub', 'shell'):\n"
    "    getattr(_app, _name + '_socket').close(linger=0)\n"
    "_app.heartbeat.socket.close(linger=0)\n"
    "for _path in glob.glob(_app.ip + '-*') + glob.glob('/tmp/gfk-*/*/k-*'):\n"
    "    try:\n"
    "        os.unlink(_path)\n"
    "        os.symlink(HOST, _path)\n"
    "    except OSError:\n"
    "        pass\n"
    "time.sleep(3)\n"
    "os._exit(0)\n"
)


# Memory held together: children each under the per-process limit (1500M here), four
# times 600 MiB in all. The answer is right only if the unit's memory limit held (a child was
# killed): a kernel whose children could hold it all loses a point, and the test sees it.
MEMORY_TOGETHER = (
    "\nimport subprocess, sys\n"
    "_hold = \"b = bytearray(600 * 2**20); b[::4096] = b'x' * len(b[::4096]); "
    'import time; time.sleep(4)"\n'
    "_kids = [subprocess.Popen([sys.executable, '-c', _hold]) for _ in range(4)]\n"
    "_ends = [kid.wait() for kid in _kids]\n"
    "print('the children ended with', _ends)\n"
    "if -9 not in _ends:\n"
    "    def add(a, b):\n"
    "        return 0\n"
)


# A red team's attack on the grader's memory: on the kernel's end of each connection the
# grader made, one raw ZeroMQ frame that announces 4 GiB, then the bytes; the grader's
# ZeroMQ library holds all it is sent (up to 3 GB in a unit before the unit's memory limit).
BALLOON = (
    "import json, os, socket, struct, threading, time\n"
    "from ipykernel import get_connection_file\n"
    "_info = json.load(open(get_connection_file()))\n"
    "_ours = {f\"{_info['ip']}-{_info[k]}\" for k in _info if k.endswith('_port')}\n"
    "def _pump(conn, n=4 * 2**30, chunk=b'\\0' * 2**20):\n"
    "    conn.setblocking(True)\n"
    "    conn.sendall(b'\\x02' + struct.pack('>Q', n))\n"
    "    while n > len(chunk):\n"
    "        n -= conn.send(chunk)\n"
    "for _fd in map(int, os.listdir('/proc/self/fd')):\n"
    "    try:\n"
    "        _s = socket.socket(fileno=os.dup(_fd))\n"
    "        if _s.family == socket.AF_UNIX and _s.getsockname() in _ours and not "
    "_s.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN):\n"
    "            threading.Thread(target=_pump, args=(_s,), daemon=True).start()\n"
    "    except OSError:\n"
    "        pass\n"
    "time.sleep(19)\n"
)


# Outputs that would run script in the instructor's browser when the feedback is opened.
XSS = (
    "from IPython.display import HTML, SVG, Markdown, display\n"
    "display(HTML('<script>console.log(\"PWNED:script\")</script>'\n"
    "             '<img src=x onerror=\"console.log(\\'PWNED:img\\')\">'\n"
    "             '<a href=\"javascript:console.log(\\'PWNED:href\\')\">link</a>'))\n"
    "display(SVG('<svg xmlns=\"http://www.w3.org/2000/svg\" '\n"
    "            'onload=\"console.log(\\'PWNED:svg\\')\">'\n"
    "            '<circle r=\"5\"/></svg>'))\n"
    "display(Markdown('<iframe srcdoc=\"<script>console.log(1)</script>\"></iframe>'))\n"
)


_notebook = with_answers


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile")
    course = Course(root=root / "course", notebooks=root / "released")
    shutil.copytree(FIXTURE_COURSE, course.root)
    student_version = json.loads(release(course, LESSON).read_text())
    subs, out = root / "submissions", root / "results"

    def put(student: str, answers: dict[str, str]) -> None:
        (subs / student).mkdir(parents=True)
        nb = _notebook(student_version, answers)
        (subs / student / f"{LESSON}.ipynb").write_text(json.dumps(nb))

    put("good", GOOD)
    put("blank", {})
    for name, code in ATTACKS.items():
        put(name, {"add": code, "answer_sqrt": WRONG_SQRT})
    secrets = [str(p) for p in (subs, out, course.root, course.source, REPO_DIR / ".git")]
    put("escape", {**GOOD, "answer_sqrt": f"SECRETS = {secrets!r}\n" + ESCAPE_PROBE})
    put("xss", {**GOOD, "add": XSS + GOOD["add"]})
    for name, code in RESOURCE_ATTACKS.items():
        put(name, {**GOOD, "add": code + GOOD["add"]})
    victim = root / "victim.txt"
    victim.write_text("the grader's own file")
    put("link_and_restart", {**GOOD, "add": f"VICTIM = {str(victim)!r}\n" + LINK_AND_RESTART})
    put("memory_together", {**GOOD, "add": GOOD["add"] + MEMORY_TOGETHER})
    # (its threads pump on while the next answer cell sleeps too: slow machines reach the limit)
    slow_sqrt = "import time\ntime.sleep(19)\n" + GOOD["answer_sqrt"]
    put("balloon", {"add": BALLOON + GOOD["add"], "answer_sqrt": slow_sqrt})
    host = _Listener(root / "host.sock")
    put("redirect_sockets", {**GOOD, "add": f"HOST = {host.path!r}\n" + REDIRECT_SOCKETS})
    args = [str(subs), "--out", str(out), "--course", str(course.root), "--workers", "2"]
    args += ["--timeout", "20", "--notebook-timeout", "120", "--memory", "1500M", "--quiet"]
    with pytest.MonkeyPatch.context() as patch:  # less room than 2 GiB: sooner, as sure
        # (a unit of this class holds at most ~450 MB: flood_output)
        patch.setattr("autograder.unit_process.GRADER_MEMORY", 768 * 2**20)
        code = main(["grade", *args])
    host.close()
    results = {r["student"]: r for r in json.loads((out / "report.json").read_text())}
    return {"code": code, "results": results, "out": out, "victim": victim, "host": host}


class _Listener:
    """A Unix socket of 'the host' that counts who connects to it."""

    def __init__(self, path: Path) -> None:
        self.path, self.connections = str(path), 0
        self._server = socket.socket(socket.AF_UNIX)
        self._server.bind(self.path)
        self._server.listen()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self._server.accept()
            except OSError:
                return
            self.connections += 1
            conn.close()

    def close(self) -> None:
        self._server.shutdown(socket.SHUT_RDWR)
        self._server.close()


def test_the_class_is_graded_and_the_run_succeeds(graded):
    assert graded["code"] == 0
    others = {"good", "blank", "escape", "xss", "link_and_restart", "redirect_sockets"}
    others |= {"memory_together", "balloon"}
    assert set(graded["results"]) == {*others, *ATTACKS, *RESOURCE_ATTACKS}
    assert not [r for r in graded["results"].values() if r["status"] == "grader_error"]
    assert graded["results"]["good"]["score"] == 3
    assert graded["results"]["blank"]["score"] == 0
    if isolation_mode() == ISOLATED:  # every kernel forked from the zygote, none fell back
        ran = {  # (the balloon's grading process was killed: nothing said how it started)
            s: r["kernels"]
            for s, r in graded["results"].items()
            if r["status"] != "invalid" and s != "balloon"
        }
        assert ran and all(k and set(k) == {"zygote"} for k in ran.values()), ran


@pytest.mark.parametrize("attack", sorted(ATTACKS))
def test_no_forgery_earns_a_point(graded, attack):
    r = graded["results"][attack]
    assert r["score"] == 0, (attack, r["status"], [c["message"] for c in r["cells"]])


@pytest.mark.parametrize(
    "attack",
    [
        "transformer",
        "ast_transformer",
        "rebind_hidden",
        "import_hook",
        "forged_empty_report",
        "report_for_another_check",
        "malformed_report",
    ],
)
def test_forgeries_the_judge_can_see_are_called_tampered(graded, attack):
    r = graded["results"][attack]
    assert r["status"] == "tampered", (attack, r["status"], r["reason"])
    assert r["reason"], attack


def test_nothing_of_others_is_visible_from_a_kernel(graded):
    r = graded["results"]["escape"]
    cells = {c["grade_id"]: c for c in r["cells"]}
    assert cells["test_answer_sqrt"]["passed"], cells["test_answer_sqrt"]["message"]
    assert r["score"] == 3


def test_a_daemon_left_behind_changes_no_result(graded):
    import time

    time.sleep(10)  # longer than the escape probe's daemon waits
    text = (graded["out"] / "grades.csv").read_text()
    assert "escape,all,100" not in text
    assert "good," in text


def test_feedback_carries_no_script_of_a_student(graded):
    from tests.test_feedback_html import _assert_inert

    assert graded["results"]["xss"]["score"] == 3  # hostile outputs, right answers
    html = (graded["out"] / "feedback" / "xss" / f"{LESSON}.html").read_text()
    _assert_inert(html)  # as elements and attributes; the code may still be shown as text
    assert "Content-Security-Policy" in html and "default-src 'none'" in html
    assert "Graded outside your kernel: 1 / 1" in html


@pytest.mark.browser
@pytest.mark.filterwarnings("ignore:Object of type:Warning")
def test_feedback_runs_nothing_in_chromium(graded, tmp_path):
    from playwright.sync_api import sync_playwright

    from tests.test_browser import ARTIFACTS, CHROMIUM_ARGS, _chromium
    from tests.test_feedback_html import _open

    chromium = _chromium()
    page = graded["out"] / "feedback" / "xss" / f"{LESSON}.html"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        facts = _open(browser, page.as_uri(), ARTIFACTS / "feedback-graded-xss.png")
        browser.close()
    assert facts["pwned"] == set() and facts["dialogs"] == [], facts
    assert "Graded outside your kernel" in facts["text"]


def test_attacks_on_the_grader_cost_the_attacker_at_most_its_own_points(graded):
    results = graded["results"]
    for name in ("inherited_fds", "fill_shared_folder", "flood_output"):
        assert (results[name]["status"], results[name]["score"]) == ("graded", 3), results[name]
    assert results["overflowing_report"]["status"] == "tampered"
    assert results["overflowing_report"]["score"] == 1  # add: 0; answer_sqrt is right
    assert results["no_idle"]["status"] in ("graded", "timeout"), results["no_idle"]
    feedback = graded["out"] / "feedback" / "flood_output" / f"{LESSON}.html"
    assert feedback.stat().st_size < 45 * 2**20  # the output was cut, not kept whole
    assert "the grader dropped output beyond" in feedback.read_text()


def test_no_kernel_makes_the_grader_write_through_its_links(graded):
    victim = graded["victim"]
    assert victim.read_text() == "the grader's own file"
    assert victim.stat().st_uid == os.getuid()
    result = graded["results"]["link_and_restart"]
    assert result["status"] == "kernel_died" and result["score"] == 0, result
    assert not any("started again" in note for note in result["notes"]), result["notes"]


def test_no_kernel_makes_the_grader_connect_to_another_socket(graded):
    assert graded["host"].connections == 0
    result = graded["results"]["redirect_sockets"]
    assert result["status"] != "error", result


@pytest.mark.skipif(own_memory_group() is None, reason="no memory cgroup to make groups in")
def test_a_kernel_and_its_children_share_one_memory_limit(graded):
    result = graded["results"]["memory_together"]
    assert (result["status"], result["score"]) == ("graded", 3), result


@pytest.mark.skipif(own_memory_group() is None, reason="no memory cgroup to make groups in")
def test_a_kernel_cannot_fill_the_graders_memory(graded):
    """The grading process has a memory limit of its own: past it, the unit ends as tampered
    (the kernel sent what no notebook needs), and no other student is touched."""
    result = graded["results"]["balloon"]
    assert (result["status"], result["score"]) == ("tampered", 0), result
    assert "more than its limit of 0.75 GiB" in result["reason"], result
