"""autograder.sandbox: limits, and the bubblewrap jail a graded kernel runs in.

The jail tests run code the way a student's kernel runs (through the launcher,
under bwrap) and look, from inside, for everything it must not see or reach.
They need bubblewrap; under CI=true its absence is a failure, not a skip.
"""

import ast
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import pytest

from autograder import sandbox
from autograder.unit_memory import UnitMemory, own_memory_group
from autograder.zygote import walls
from autograder.zygote.client import start as start_zygote
from tests.conftest import IN_CI
from tests.jail_probe import check_seen, listener, probe_code

MODE = sandbox.isolation_mode()
needs_jail = pytest.mark.skipif(
    MODE == sandbox.LIMITS_ONLY and not IN_CI,
    reason="bubblewrap (Debian's bubblewrap package) is not available here",
)


def _run(args, code, timeout=60, extra=()):
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "autograder.sandbox",
            *args,
            "--",
            sys.executable,
            "-c",
            code,
            *extra,
        ],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture(scope="module")
def zygote(tmp_path_factory):
    """A kernel zygote, where this machine isolates kernels as their own users."""
    if MODE != sandbox.ISOLATED:
        yield None
        return
    site = sandbox.build_kernel_site(tmp_path_factory.mktemp("zygote-site")).parent
    running = start_zygote(tmp_path_factory.mktemp("zygote"), sandbox.zygote_env(site))
    yield running
    running.stop()


@pytest.fixture(params=["bwrap", "zygote"])
def jail(request, tmp_path, zygote):
    """Launcher arguments for a jailed run (under bubblewrap, or forked by the zygote and
    walled in by its own system calls), and the folder it shares with the grader."""
    if request.param == "zygote" and zygote is None:
        pytest.skip("the zygote forks kernels as their own users: it needs root")
    site = tmp_path / "site"
    sandbox.build_kernel_site(site)
    ipc = tmp_path / "ipc"
    ipc.mkdir()
    uid = 61999
    if MODE == sandbox.ISOLATED:
        os.chown(ipc, uid, uid)
    socket_path = str(zygote.socket) if request.param == "zygote" else ""
    spec = sandbox.Jail(
        MODE, uid, str(ipc), str(site), env=sandbox.kernel_env(), zygote=socket_path
    )
    return ["--memory", str(2**31), "--nproc", "64", "--jail", str(spec.write(tmp_path / "j"))], ipc


def test_memory_cpu_and_file_limits_apply():
    code = (
        "import os, resource, json; print(json.dumps([resource.getrlimit(resource.RLIMIT_AS)[0],"
        " len(os.sched_getaffinity(0)), resource.getrlimit(resource.RLIMIT_NOFILE)]))"
    )
    done = _run(["--memory", str(2**30), "--cpus", "1"], code)
    files = [min(walls.KERNEL_FILES, n) for n in resource.getrlimit(resource.RLIMIT_NOFILE)]
    assert json.loads(done.stdout) == [2**30, 1, files], done.stderr


def test_memory_bomb_raises_memory_error():
    done = _run(["--memory", str(512 * 2**20)], "b = bytearray(2 * 2**30)")
    assert "MemoryError" in done.stderr


def test_usage_without_separator():
    done = subprocess.run(
        [sys.executable, "-m", "autograder.sandbox", "--memory", "1"],
        capture_output=True,
        text=True,
    )
    assert done.returncode != 0 and "usage" in done.stderr


def test_ci_has_the_jail():
    """CI must run the jailed tests: a machine without bubblewrap fails here, not silently."""
    if IN_CI:
        assert MODE != sandbox.LIMITS_ONLY, "CI needs bubblewrap (apt-get install bubblewrap)"


def test_the_kernel_site_holds_no_master_and_no_verdict(tmp_path):
    site = sandbox.build_kernel_site(tmp_path)
    names = {str(p.relative_to(site)) for p in site.rglob("*") if p.is_file()}
    assert "protocol.py" in names and "kernel/collect/record.py" in names
    assert not any(n.startswith(("judge", "source", "grade", "unit")) for n in names), names
    text = "".join(p.read_text() for p in site.rglob("*.py"))
    assert "BEGIN SOLUTION" not in text and "QUESTIONS" not in text


@needs_jail
def test_jailed_code_sees_only_its_own_world(jail):
    args, ipc = jail
    port = listener()
    code = probe_code(ipc / "seen.json", port.getsockname()[1])
    done = _run(args, code)
    port.close()
    assert done.returncode == 0, done.stderr
    assert "bubblewrap" not in done.stderr, done.stderr  # the zygote did not fall back
    check_seen(json.loads((ipc / "seen.json").read_text()), ipc, MODE)


@needs_jail
def test_what_the_jail_starts_dies_with_it(jail):
    args, ipc = jail
    marker = ipc / "daemon-was-here"
    code = (
        "import os, time\n"
        "if os.fork() == 0:\n"
        "    try:\n"
        "        os.setsid()\n"
        "    except OSError:  # the jail's system call filter denies it: alive all the same\n"
        "        pass\n"
        "    time.sleep(3)\n"
        f"    open({str(marker)!r}, 'w').write('alive')\n"
        "    os._exit(0)\n"
        f"open({str(ipc / 'parent')!r}, 'w').write('exits')\n"
    )
    done = _run(args, code)
    assert (ipc / "parent").exists(), done.stderr
    time.sleep(5)
    assert not marker.exists(), "a process the jailed code left behind outlived it"


@needs_jail
def test_a_fork_bomb_meets_the_process_limit(jail):
    args, ipc = jail
    code = (
        "import os\n"
        "n = 0\n"
        "try:\n"
        "    for _ in range(500):\n"
        "        if os.fork() == 0:\n"
        "            import time; time.sleep(30); os._exit(0)\n"
        "        n += 1\n"
        "except OSError:\n"
        f"    open({str(ipc / 'limited')!r}, 'w').write(str(n))\n"
    )
    done = _run(args, code, timeout=120)
    assert (ipc / "limited").exists(), done.stderr


@needs_jail
@pytest.mark.parametrize("where", ["/tmp/fill", "fill"], ids=["tmp", "home"])
def test_disk_in_the_jail_is_bounded(jail, where):
    args, ipc = jail
    code = (
        "try:\n"
        f"    with open({where!r}, 'wb') as f:\n"
        "        for _ in range(2000):\n"
        "            f.write(b'x' * 2**20)\n"
        "    result = 'wrote 2 GB'\n"
        "except OSError as exc:\n"
        "    result = f'stopped: {exc.errno}'\n"
        f"open({str(ipc / 'disk')!r}, 'w').write(result)\n"
    )
    _run(args, code, timeout=120)
    assert (ipc / "disk").read_text().startswith("stopped"), (ipc / "disk").read_text()


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting a tmpfs needs root")
def test_the_shared_folder_is_a_small_tmpfs_seen_only_by_the_unit(tmp_path):
    folder = tmp_path / "ipc"
    folder.mkdir()
    # a unit: mounts, writes a file, waits while the grader's side looks, then cleans up
    code = (
        "import os, subprocess, sys\n"
        "from pathlib import Path\n"
        "from autograder.sandbox import private_tmpfs, remove_shared_folder\n"
        f"folder = Path({str(folder)!r})\n"
        "assert private_tmpfs(folder)\n"
        "out = subprocess.run(['df', '--output=fstype,size', str(folder)],\n"
        "                     capture_output=True, text=True).stdout\n"
        "(folder / 'inside').write_text('x')\n"
        "print(out.split()[-2:], folder.stat().st_uid, flush=True)\n"
        "sys.stdin.readline()\n"
        "remove_shared_folder(folder)\n"
    )
    unit = subprocess.Popen(
        [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    seen = unit.stdout.readline()
    assert "'tmpfs'" in seen and seen.split()[-1] == "0", seen  # root's: see kernel_sockets
    # the grader's own view: no mount there, and nothing the unit wrote
    assert not os.path.ismount(folder) and list(folder.iterdir()) == []
    unit.communicate("done\n", timeout=30)
    assert unit.returncode == 0
    assert not folder.exists(), "the shared folder's mount point was left on the grader's disk"


_KEYS = """
import ctypes, platform
libc = ctypes.CDLL(None, use_errno=True)
add_key, keyctl = {"x86_64": (248, 250), "aarch64": (217, 219)}[platform.machine()]
"""


def _as_uid(uid: int, code: str) -> str:
    """Run ``code`` (with _KEYS) in a child of this (root) process that becomes ``uid``, as
    an earlier kernel of that uid, or a later one looking, would be: what it prints."""
    read, write = os.pipe()
    child = os.fork()
    if child == 0:
        os.close(read)
        try:
            os.setresgid(uid, uid, uid)
            os.setresuid(uid, uid, uid)
            found: dict = {}
            exec(_KEYS + code, found)
            os.write(write, str(found.get("result")).encode())
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read) as answer:
        text = answer.read()
    os.waitpid(child, 0)
    return text


@needs_jail
@pytest.mark.skipif(MODE != sandbox.ISOLATED, reason="a uid of its own needs root")
@pytest.mark.parametrize(
    "keyring",
    ["-4", "-5", "libc.syscall(keyctl, 22, -1, -3)"],  # user, user session, persistent
    ids=["user", "user-session", "persistent"],
)
def test_keys_left_in_the_uids_keyrings_are_gone_once_a_kernel_started(jail, keyring):
    """The kernel keeps a uid's user keyrings after its processes end (the persistent one
    for days): what a process of that uid left there (before kernels were kept from keyrings,
    say) is cleared when a kernel of that uid starts."""
    args, _ = jail
    leave = (
        "payload = b'left by an earlier kernel'\n"
        f"result = libc.syscall(add_key, b'user', b'gf-probe', payload, len(payload), {keyring})\n"
    )
    assert int(_as_uid(61999, leave)) > 0
    done = _run(args, "pass")
    assert done.returncode == 0, done.stderr
    look = f"result = libc.syscall(keyctl, 10, {keyring}, b'user', b'gf-probe', 0)\n"
    assert _as_uid(61999, look) == "-1", "a key left in the uid's keyrings was still there"


@needs_jail
def test_a_kernel_may_not_use_keyrings_sessions_user_namespaces_nor_ip_sockets(jail):
    """Keyrings are not namespaced (a key could pass to another student's kernel, a uid's
    keyrings be made unclearable), each session is a CPU share of its own (autogroup), a
    user namespace gives every capability over what it makes, and TCP, UDP and netlink
    buffers are not charged to the unit's memory cgroup (v1: red teams held 1.5 GiB in TCP
    or UDP buffers beside a 1000M limit, 2.5 GiB in NETLINK_USERSOCK queues beside 1G): the
    system call filter denies them, in the kernel and in its children. Unix sockets, which
    a kernel speaks over, work."""
    args, ipc = jail
    code = _KEYS + (
        "import errno, os\n"
        "def err(result):\n"
        "    return errno.errorcode.get(ctypes.get_errno()) if result < 0 else 'allowed'\n"
        "seen = {\n"
        "    'add_key': err(libc.syscall(add_key, b'user', b'gf', b'x', 1, -4)),\n"
        "    'keyctl': err(libc.syscall(keyctl, 0, -4, 1)),\n"
        "    'request_key': err(libc.syscall(add_key + 1, b'user', b'gf', None, -3)),\n"
        "    'unshare_user': err(libc.unshare(0x10000000)),\n"
        "}\n"
        "child = os.fork()\n"
        "if child == 0:\n"
        "    try:\n"
        "        os.setsid()\n"
        "        os._exit(0)\n"
        "    except OSError as exc:\n"
        "        os._exit(exc.errno)\n"
        "seen['setsid'] = errno.errorcode.get(os.waitstatus_to_exitcode(os.waitpid(child, 0)[1]))\n"
        "import socket\n"
        "for name, kind, proto in (('AF_INET', 2, 0), ('AF_INET6', 2, 0), ('AF_NETLINK', 3, 2)):\n"
        "    try:\n"
        "        socket.socket(getattr(socket, name), kind, proto).close()\n"
        "        seen[name] = 'allowed'\n"
        "    except OSError as exc:\n"
        "        seen[name] = errno.errorcode[exc.errno]\n"
        "a, b = socket.socketpair()\n"
        "a.sendall(b'x')\n"
        "seen['AF_UNIX'] = 'allowed' if b.recv(1) == b'x' else 'broken'\n"
        f"open({str(ipc / 'seen')!r}, 'w').write(repr(seen))\n"
    )
    done = _run(args, code)
    assert done.returncode == 0, done.stderr
    seen = (ipc / "seen").read_text()
    expected = dict.fromkeys(("add_key", "keyctl", "request_key", "unshare_user", "setsid"))
    expected = {k: "EPERM" for k in expected}
    expected |= {"AF_INET": "EAFNOSUPPORT", "AF_INET6": "EAFNOSUPPORT"}
    expected |= {"AF_NETLINK": "EPROTONOSUPPORT"}  # NETLINK_USERSOCK; only ROUTE is allowed
    expected |= {"AF_UNIX": "allowed"}
    assert seen == repr(expected), seen


def _run_in_a_login_session(args, code):
    """``_run`` from a grader whose process has a session keyring with a key of its own in
    it, as after an ssh login (pam_keyinit)."""
    launcher = _KEYS + (
        "import os, sys\n"
        "ring = libc.syscall(keyctl, 1, b'gf-test-login')\n"  # KEYCTL_JOIN_SESSION_KEYRING
        "assert ring > 0, ctypes.get_errno()\n"
        "secret = b'the grader s own secret'\n"
        "assert libc.syscall(add_key, b'user', b'gf-grader', secret, len(secret), -3) > 0\n"
        "os.execv(sys.executable, [sys.executable, *sys.argv[1:]])\n"
    )
    kernel = [sys.executable, "-c", code]
    argv = [sys.executable, "-c", launcher, "-m", "autograder.sandbox", *args, "--", *kernel]
    return subprocess.run(argv, capture_output=True, text=True, timeout=60)


@needs_jail
def test_the_kernel_does_not_possess_the_graders_session_keyring(jail):
    """Even the names of the keys in the grader's session keyring stay out of sight (a
    process sees in /proc/keys the keys it possesses): the kernel has a keyring of its own."""
    args, ipc = jail
    code = f"open({str(ipc / 'keys')!r}, 'w').write(open('/proc/keys').read())\n"
    done = _run_in_a_login_session(args, code)
    assert done.returncode == 0, done.stderr
    keys = (ipc / "keys").read_text()
    assert "gf-grader" not in keys and "gf-test-login" not in keys, keys


def test_the_connection_file_is_never_written_through_a_link_the_kernel_left(tmp_path):
    """The kernel's folder is the kernel's to write: a link it left at connection.json
    (to a file of the grader's) must not be followed by the launcher, which runs as root."""
    victim = tmp_path / "victim.txt"
    victim.write_text("the grader's own file")
    ipc = tmp_path / "ipc"
    ipc.mkdir()
    (ipc / "connection.json").symlink_to(victim)
    source = tmp_path / "kernel-1.json"
    source.write_text('{"key": "secret"}')
    jail = sandbox.Jail(MODE, 61999, str(ipc), str(tmp_path / "site"))
    with pytest.raises(FileExistsError):
        sandbox._private_connection_file(jail, ["python", "-f", str(source)])
    assert victim.read_text() == "the grader's own file"
    assert victim.stat().st_uid == os.getuid()
    (ipc / "connection.json").unlink()
    kernel = sandbox._private_connection_file(jail, ["python", "-f", str(source)])
    assert kernel == ["python", "-f", str(ipc / "connection.json")]
    assert json.loads((ipc / "connection.json").read_text()) == {"key": "secret"}


def test_the_kernel_binds_its_sockets_in_its_own_folder_not_where_the_grader_connects(tmp_path):
    source = tmp_path / "kernel-1.json"
    info = {"transport": "ipc", "ip": str(tmp_path / "grader" / "k"), "shell_port": 1}
    source.write_text(json.dumps(info))
    ipc = tmp_path / "kernel"
    ipc.mkdir()
    jail = sandbox.Jail(MODE, 61999, str(ipc), str(tmp_path / "site"))
    kernel = sandbox._private_connection_file(jail, ["python", "-f", str(source)])
    written = json.loads(Path(kernel[-1]).read_text())
    assert written == {**info, "ip": str(ipc / "k")}


@needs_jail
@pytest.mark.skipif(own_memory_group() is None, reason="no memory cgroup to make groups in")
def test_the_kernel_and_what_it_starts_are_in_the_units_memory_cgroup(jail):
    """Seen from outside (the jail has a cgroup namespace of its own): a child of the jailed
    process that holds 80 MiB is charged to the unit's group."""
    args, _ = jail
    spec = Path(args[args.index("--jail") + 1])
    hold = "b = bytearray(80 * 2**20); b[::4096] = b'x' * len(b[::4096])"
    code = f"import subprocess, sys\nsubprocess.run([sys.executable, '-c', {hold!r}], check=True)\n"
    with UnitMemory(2**30) as group:
        spec.write_text(json.dumps({**json.loads(spec.read_text()), "cgroup": str(group)}))
        done = _run(args, code)
        peaks = [group / "memory.max_usage_in_bytes", group / "memory.peak"]  # v1, v2
        peak = int(next(p for p in peaks if p.exists()).read_text())
    assert done.returncode == 0, done.stderr
    assert peak >= 80 * 2**20, peak


@pytest.mark.skipif(own_memory_group() is None, reason="no memory cgroup to make groups in")
def test_in_a_memory_cgroup_the_address_space_has_headroom(jail):
    """A lesson's kernel maps 1.5-1.7 GB to hold ~0.4 GB: where the unit's group bounds what
    it holds, a kernel of 1 GiB may map 1.5 GiB (limited at 1 GiB, every kernel died); the
    address space is still limited (the headroom, and the zygote's preloaded extra), and
    so are its open files."""
    args, ipc = jail
    args = ["--memory", str(2**30), *args[2:]]
    spec = Path(args[args.index("--jail") + 1])
    code = (
        "import mmap, resource, sys\n"
        "m = mmap.mmap(-1, 3 * 2**29)\n"  # mapped, never touched
        "limits = [resource.getrlimit(resource.RLIMIT_AS)[0]]\n"
        "limits += resource.getrlimit(resource.RLIMIT_NOFILE)\n"
        "open(sys.argv[1], 'w').write(repr(limits))\n"
    )
    with UnitMemory(2**30) as group:
        spec.write_text(json.dumps({**json.loads(spec.read_text()), "cgroup": str(group)}))
        done = _run(args, code, extra=[str(ipc / "limit")])
    assert done.returncode == 0, done.stderr
    limit, *files = ast.literal_eval((ipc / "limit").read_text())
    assert files == [min(walls.KERNEL_FILES, n) for n in resource.getrlimit(resource.RLIMIT_NOFILE)]
    assert (
        2**30 + walls.GROUPED_ADDRESS_HEADROOM <= limit < 2**30 + 2 * walls.GROUPED_ADDRESS_HEADROOM
    )
    without = _run(["--memory", str(2**30)], code, extra=[os.devnull])  # no group: the bound
    assert without.returncode != 0 and "Cannot allocate memory" in without.stderr, without.stderr
