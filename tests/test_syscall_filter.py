"""autograder.zygote.syscall_filter: the seccomp filter of every jailed kernel, run here by
a small interpreter of the classic BPF it is written in, and installed in a process (the
jails themselves are tested with it in test_sandbox.py, both launchers)."""

from __future__ import annotations

import struct
import subprocess
import sys

from hypothesis import given
from hypothesis import strategies as st

from autograder.zygote import syscall_filter

ALLOW, EPERM, ENOSYS, EAFNOSUPPORT = "allow", "EPERM", "ENOSYS", "EAFNOSUPPORT"
ARCH = {"x86_64": 0xC000003E, "aarch64": 0xC00000B7}
NAMESPACING = {"x86_64": {"unshare": 272, "clone": 56}, "aarch64": {"unshare": 97, "clone": 220}}
CLONE3, CLONE_NEWUSER = 435, 0x10000000
SOCKET, IO_URING = {"x86_64": 41, "aarch64": 198}, (425, 426, 427)
AF_UNIX, AF_INET, AF_NETLINK, AF_INET6 = 1, 2, 16, 10


def verdict(machine: str, arch: int, nr: int, arg0: int = 0) -> str:
    """What the kernel would do with this call: the program run on its seccomp_data."""
    data = struct.pack("=iIQ6Q", nr, arch, 0, arg0, 0, 0, 0, 0, 0)
    code = syscall_filter.program(machine)
    program = [struct.unpack("=HBBI", code[i : i + 8]) for i in range(0, len(code), 8)]
    pc, acc = 0, 0
    for _ in range(len(program)):  # no loops in classic BPF: each step moves forward
        op, jt, jf, k = program[pc]
        if op == 0x20:  # ld word at k
            acc = struct.unpack_from("=I", data, k)[0]
            pc += 1
            continue
        if op == 0x06:  # ret k
            if k == 0x7FFF0000:
                return ALLOW
            assert k >> 16 == 0x0005, hex(k)  # SECCOMP_RET_ERRNO
            return {1: EPERM, 38: ENOSYS, 97: EAFNOSUPPORT}[k & 0xFFFF]
        taken = {0x15: acc == k, 0x35: acc >= k, 0x45: bool(acc & k)}[op]
        pc += 1 + (jt if taken else jf)
    raise AssertionError("the program ran off its end")


MACHINES = st.sampled_from(["x86_64", "aarch64"])


@given(MACHINES, st.integers(0, 500), st.integers(0, 2**32 - 1))
def test_every_other_call_is_allowed_and_every_listed_one_denied(machine, nr, arg0):
    denied = set(syscall_filter.denied(machine).values())
    namespacing = set(NAMESPACING[machine].values())
    got = verdict(machine, ARCH[machine], nr, arg0)
    if nr in denied:
        assert got == EPERM
    elif nr == CLONE3:
        assert got == ENOSYS  # the C library then falls back to clone
    elif nr in IO_URING:
        assert got == ENOSYS
    elif nr in namespacing:
        assert got == (EPERM if arg0 & CLONE_NEWUSER else ALLOW)
    elif nr == SOCKET[machine]:
        assert got == (ALLOW if arg0 in (AF_UNIX, AF_NETLINK) else EAFNOSUPPORT)
    else:
        assert got == ALLOW


@given(MACHINES, st.sampled_from(["unshare", "clone"]), st.integers(0, 2**32 - 1))
def test_unshare_and_clone_are_denied_exactly_when_they_would_make_a_user_namespace(
    machine, call, flags
):
    got = verdict(machine, ARCH[machine], NAMESPACING[machine][call], flags)
    assert got == (EPERM if flags & CLONE_NEWUSER else ALLOW)


@given(MACHINES, st.integers(0, 2**32 - 1))
def test_sockets_only_of_the_unix_and_netlink_families(machine, family):
    got = verdict(machine, ARCH[machine], SOCKET[machine], family)
    assert got == (ALLOW if family in (AF_UNIX, AF_NETLINK) else EAFNOSUPPORT)


def test_each_listed_call_is_denied_and_clone3_not_implemented():
    for machine in ARCH:
        for name, nr in syscall_filter.denied(machine).items():
            assert verdict(machine, ARCH[machine], nr) == EPERM, (machine, name)
        assert verdict(machine, ARCH[machine], CLONE3) == ENOSYS
        assert verdict(machine, ARCH[machine], 39) == ALLOW  # getpid on x86_64, say


@given(MACHINES, st.integers(0, 2**32 - 1), st.integers(0, 2**31 - 1))
def test_calls_through_another_abi_are_denied(machine, arch, nr):
    if arch != ARCH[machine]:
        assert verdict(machine, arch, nr) == EPERM
    if machine == "x86_64" and nr >= 0x40000000:  # x32
        assert verdict(machine, ARCH[machine], nr) == EPERM


def test_the_listed_calls_are_the_ones_named():
    assert syscall_filter.denied("x86_64") == {
        "keyctl": 250, "add_key": 248, "request_key": 249, "setsid": 112,
    }  # fmt: skip
    assert syscall_filter.denied("aarch64") == {
        "keyctl": 219, "add_key": 217, "request_key": 218, "setsid": 157,
    }  # fmt: skip


def test_a_process_with_the_filter_keeps_working_but_makes_none_of_the_denied_calls():
    code = (
        "import ctypes, errno, os, subprocess, sys, threading\n"
        "from autograder.zygote import syscall_filter\n"
        "libc = ctypes.CDLL(None, use_errno=True)\n"
        "libc.prctl(38, 1, 0, 0, 0)\n"  # no_new_privs, as a jailed kernel has it
        "syscall_filter.install()\n"
        "for name, number in syscall_filter.denied().items():\n"
        "    assert libc.syscall(number, 0, 0, 0, 0, 0) == -1, name\n"
        "    assert ctypes.get_errno() == errno.EPERM, (name, ctypes.get_errno())\n"
        "assert libc.unshare(0x10000000) == -1 and ctypes.get_errno() == errno.EPERM\n"
        "import socket\n"
        "for family in (socket.AF_INET, socket.AF_INET6):\n"
        "    try:\n"
        "        socket.socket(family, socket.SOCK_DGRAM)\n"
        "        raise SystemExit(f'opened a socket of family {family}')\n"
        "    except OSError as exc:\n"
        "        assert exc.errno == errno.EAFNOSUPPORT, exc\n"
        "assert libc.syscall(425, 8, 0) == -1 and ctypes.get_errno() == errno.ENOSYS\n"
        "a, b = socket.socketpair()\n"  # Unix sockets, as ZeroMQ's IPC and asyncio use
        "a.sendall(b'unix'); assert b.recv(4) == b'unix'\n"
        "socket.socket(socket.AF_NETLINK, socket.SOCK_RAW).close()\n"
        "ran = []\n"
        "thread = threading.Thread(target=lambda: ran.append(1))\n"  # clone3, then clone
        "thread.start(); thread.join()\n"
        "out = subprocess.run([sys.executable, '-c', 'print(6 * 7)'], capture_output=True)\n"
        "print(out.stdout.decode().strip(), ran == [1])\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "42 True"
