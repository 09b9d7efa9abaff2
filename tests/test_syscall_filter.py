"""autograder.zygote.syscall_filter: the seccomp filter of every jailed kernel, run here by
a small interpreter of the classic BPF it is written in, and installed in a process (the
jails themselves are tested with it in test_sandbox.py, both launchers)."""

from __future__ import annotations

import struct
import subprocess
import sys

from hypothesis import example, given
from hypothesis import strategies as st

from autograder.zygote import syscall_filter

ALLOW, EPERM, ENOSYS = "allow", "EPERM", "ENOSYS"
EAFNOSUPPORT, EPROTONOSUPPORT = "EAFNOSUPPORT", "EPROTONOSUPPORT"
ARCH = {"x86_64": 0xC000003E, "aarch64": 0xC00000B7}
NAMESPACING = {"x86_64": {"unshare": 272, "clone": 56}, "aarch64": {"unshare": 97, "clone": 220}}
CLONE3, CLONE_NEWUSER = 435, 0x10000000
SOCKET, IO_URING = {"x86_64": 41, "aarch64": 198}, (425, 426, 427)
SETSOCKOPT = {"x86_64": 54, "aarch64": 208}
AF_UNIX, AF_INET, AF_NETLINK, AF_INET6 = 1, 2, 16, 10
NETLINK_ROUTE, NETLINK_USERSOCK = 0, 2
SOL_SOCKET, SO_SNDBUF, SO_RCVBUF, SO_RCVBUFFORCE = 1, 7, 8, 33


def verdict(
    machine: str, arch: int, nr: int, arg0: int = 0, arg1: int = 0, arg2: int = 0, sealed=False
) -> str:
    """What the kernel would do with this call: the program (``sealed``: the kernel's own
    second one) run on its seccomp_data."""
    data = struct.pack("=iIQ6Q", nr, arch, 0, arg0, arg1, arg2, 0, 0, 0)
    code = syscall_filter.program(machine, netlink_route=not sealed)
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
            return {1: EPERM, 38: ENOSYS, 93: EPROTONOSUPPORT, 97: EAFNOSUPPORT}[k & 0xFFFF]
        taken = {0x15: acc == k, 0x35: acc >= k, 0x45: bool(acc & k)}[op]
        pc += 1 + (jt if taken else jf)
    raise AssertionError("the program ran off its end")


MACHINES = st.sampled_from(["x86_64", "aarch64"])


@given(MACHINES, st.integers(0, 500), st.integers(0, 2**32 - 1), st.integers(0, 2**32 - 1))
def test_every_other_call_is_allowed_and_every_listed_one_denied(machine, nr, arg0, arg2):
    denied = set(syscall_filter.denied(machine).values())
    namespacing = set(NAMESPACING[machine].values())
    got = verdict(machine, ARCH[machine], nr, arg0, SOL_SOCKET, arg2)
    if nr in denied:
        assert got == EPERM
    elif nr == CLONE3:
        assert got == ENOSYS  # the C library then falls back to clone
    elif nr in IO_URING:
        assert got == ENOSYS
    elif nr in namespacing:
        assert got == (EPERM if arg0 & CLONE_NEWUSER else ALLOW)
    elif nr == SOCKET[machine]:
        assert got == socket_verdict(arg0, arg2)
    elif nr == SETSOCKOPT[machine]:
        assert got == (EPERM if arg2 in (SO_RCVBUF, SO_RCVBUFFORCE) else ALLOW)
    else:
        assert got == ALLOW


@given(MACHINES, st.sampled_from(["unshare", "clone"]), st.integers(0, 2**32 - 1))
def test_unshare_and_clone_are_denied_exactly_when_they_would_make_a_user_namespace(
    machine, call, flags
):
    got = verdict(machine, ARCH[machine], NAMESPACING[machine][call], flags)
    assert got == (EPERM if flags & CLONE_NEWUSER else ALLOW)


def socket_verdict(family: int, protocol: int) -> str:
    if family == AF_UNIX or (family == AF_NETLINK and protocol == NETLINK_ROUTE):
        return ALLOW
    return EPROTONOSUPPORT if family == AF_NETLINK else EAFNOSUPPORT


@given(MACHINES, st.integers(0, 2**32 - 1), st.integers(0, 2**32 - 1))
@example("x86_64", AF_NETLINK, NETLINK_USERSOCK)  # one socket filled others' queues
@example("x86_64", AF_NETLINK, NETLINK_ROUTE)  # getifaddrs: ZeroMQ aborts without it
@example("x86_64", AF_INET6, 0)
def test_sockets_of_the_unix_family_and_netlink_route_only(machine, family, protocol):
    got = verdict(machine, ARCH[machine], SOCKET[machine], family, 1, protocol)
    assert got == socket_verdict(family, protocol)


@given(MACHINES, st.integers(0, 2**32 - 1), st.integers(0, 2**32 - 1))
@example("x86_64", AF_NETLINK, NETLINK_ROUTE)
@example("x86_64", AF_NETLINK, 2**32 - 1)
def test_the_seal_refuses_netlink_of_every_protocol_and_keeps_the_rest(machine, family, proto):
    got = verdict(machine, ARCH[machine], SOCKET[machine], family, 1, proto, sealed=True)
    if family == AF_NETLINK:
        assert got == EPROTONOSUPPORT
    else:
        assert got == socket_verdict(family, proto)
    for name, nr in syscall_filter.denied(machine).items():
        assert verdict(machine, ARCH[machine], nr, sealed=True) == EPERM, name


@given(MACHINES, st.integers(0, 2**32 - 1), st.integers(0, 2**32 - 1))
@example("x86_64", SOL_SOCKET, SO_RCVBUF)
@example("x86_64", SOL_SOCKET, SO_SNDBUF)
def test_no_socket_may_enlarge_its_receive_buffer(machine, level, name):
    got = verdict(machine, ARCH[machine], SETSOCKOPT[machine], 3, level, name)
    denied = level == SOL_SOCKET and name in (SO_RCVBUF, SO_RCVBUFFORCE)
    assert got == (EPERM if denied else ALLOW)


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
        "for family, kind, proto, refused in ((2, 2, 0, 97), (10, 2, 0, 97), (16, 3, 2, 93)):\n"
        "    try:\n"
        "        socket.socket(family, kind, proto)\n"
        "        raise SystemExit(f'opened a socket of family {family}')\n"
        "    except OSError as exc:\n"
        "        assert exc.errno == refused, exc\n"
        "assert libc.syscall(425, 8, 0) == -1 and ctypes.get_errno() == errno.ENOSYS\n"
        "a, b = socket.socketpair()\n"  # Unix sockets, as ZeroMQ's IPC and asyncio use
        "a.sendall(b'unix'); assert b.recv(4) == b'unix'\n"
        "a.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 2**16)\n"
        "try:\n"
        "    a.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 2**22)\n"
        "    raise SystemExit('enlarged a receive buffer')\n"
        "except PermissionError:\n"
        "    pass\n"
        "socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 0).close()\n"  # NETLINK_ROUTE
        "assert socket.if_nameindex()\n"  # the C library's netlink: lo at least
        "ran = []\n"
        "thread = threading.Thread(target=lambda: ran.append(1))\n"  # clone3, then clone
        "thread.start(); thread.join()\n"
        "out = subprocess.run([sys.executable, '-c', 'print(6 * 7)'], capture_output=True)\n"
        "print(out.stdout.decode().strip(), ran == [1])\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "42 True"
