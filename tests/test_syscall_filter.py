"""autograder.zygote.syscall_filter: the seccomp filter of every jailed kernel (the jails
themselves are tested in test_sandbox.py, both launchers)."""

from __future__ import annotations

import struct
import subprocess
import sys

import pytest

from autograder.zygote import syscall_filter

RET_ALLOW, RET_EPERM = 0x7FFF0000, 0x00050001


def _instructions(code: bytes) -> list[tuple[int, int, int, int]]:
    assert len(code) % 8 == 0
    return [struct.unpack("=HBBI", code[i : i + 8]) for i in range(0, len(code), 8)]


@pytest.mark.parametrize("machine", ["x86_64", "aarch64"])
def test_every_denied_call_and_every_other_abi_jump_to_eperm(machine):
    program = _instructions(syscall_filter.program(machine))
    deny = len(program) - 1
    assert program[-1] == (0x06, 0, 0, RET_EPERM) and program[-2] == (0x06, 0, 0, RET_ALLOW)
    assert program[1][3] == {"x86_64": 0xC000003E, "aarch64": 0xC00000B7}[machine]
    assert 1 + 1 + program[1][2] == deny  # another architecture's calls: denied
    checked = {}
    for index, (code, jt, _, k) in enumerate(program[3:-2], start=3):
        assert index + 1 + jt == deny, (index, code, k)
        checked[k] = code
    denied = set(syscall_filter.denied(machine).values())
    assert {k for k, code in checked.items() if code == 0x15} == denied
    if machine == "x86_64":  # x32 calls (numbers from 2**30) are denied too
        assert checked.get(0x40000000) == 0x35


def test_a_process_with_the_filter_keeps_working_but_makes_none_of_the_denied_calls():
    code = (
        "import ctypes, errno, os, subprocess, sys\n"
        "from autograder.zygote import syscall_filter\n"
        "libc = ctypes.CDLL(None, use_errno=True)\n"
        "libc.prctl(38, 1, 0, 0, 0)\n"  # no_new_privs, as a jailed kernel has it
        "syscall_filter.install()\n"
        "for name, number in syscall_filter.denied().items():\n"
        "    assert libc.syscall(number, 0, 0, 0, 0, 0) == -1, name\n"
        "    assert ctypes.get_errno() == errno.EPERM, (name, ctypes.get_errno())\n"
        "out = subprocess.run([sys.executable, '-c', 'print(6 * 7)'], capture_output=True)\n"
        "print(out.stdout.decode().strip(), os.getpid() > 0)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "42 True"
