"""The system calls a graded kernel may not make: a seccomp filter (classic BPF).

Installed in the kernel's process by the zygote (``install``) and handed to bubblewrap
(``--seccomp``, the same program: ``program``). Denied, with EPERM:

- ``keyctl``, ``add_key``, ``request_key``: the kernel's keyrings are not namespaced and
  outlive a kernel (a uid's user keyrings until reboot, its persistent one for days); a
  kernel could leave a key there, readable to all, for another student's kernel, make its
  uid's keyrings unclearable so that the next kernel of that uid fails to start, or have
  ``request_key`` start a helper program outside the jail;
- ``setsid``: every session is a scheduler group of its own (autogroup), so that children
  in new sessions would each take a CPU share as large as a whole kernel's;
- any call through another ABI (32-bit, x32), whose numbers are not these.

Standard library only: the zygote imports this by path, never through the package.
"""

from __future__ import annotations

import ctypes
import platform
import struct

_AUDIT_ARCH = {"x86_64": 0xC000003E, "aarch64": 0xC00000B7}
_DENIED = {
    "x86_64": {"keyctl": 250, "add_key": 248, "request_key": 249, "setsid": 112},
    "aarch64": {"keyctl": 219, "add_key": 217, "request_key": 218, "setsid": 157},
}
_X32_SYSCALL_BIT = 0x40000000
_LD_W_ABS, _JEQ_K, _JGE_K, _RET_K = 0x20, 0x15, 0x35, 0x06  # BPF instruction codes
_ARCH_OFFSET, _NR_OFFSET = 4, 0  # in struct seccomp_data
_RET_ALLOW, _RET_ERRNO, _EPERM = 0x7FFF0000, 0x00050000, 1
_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER = 22, 2


def _instruction(code: int, k: int, jt: int = 0, jf: int = 0) -> bytes:
    return struct.pack("=HBBI", code, jt, jf, k)


def denied(machine: str | None = None) -> dict[str, int]:
    """The denied calls' names and numbers on ``machine`` (this one by default)."""
    return dict(_DENIED[machine or platform.machine()])


def program(machine: str | None = None) -> bytes:
    """The filter as bytes: ``struct sock_filter`` instructions, as bubblewrap reads them."""
    machine = machine or platform.machine()
    numbers = list(_DENIED[machine].values())
    checks = numbers if machine != "x86_64" else [None, *numbers]  # None: the x32 check
    deny = 3 + len(checks) + 1  # index of the final "deny" instruction
    code = [
        _instruction(_LD_W_ABS, _ARCH_OFFSET),
        _instruction(_JEQ_K, _AUDIT_ARCH[machine], jt=0, jf=deny - 2),
        _instruction(_LD_W_ABS, _NR_OFFSET),
    ]
    for number in checks:
        to_deny = deny - len(code) - 1
        if number is None:
            code.append(_instruction(_JGE_K, _X32_SYSCALL_BIT, jt=to_deny))
        else:
            code.append(_instruction(_JEQ_K, number, jt=to_deny))
    code.append(_instruction(_RET_K, _RET_ALLOW))
    code.append(_instruction(_RET_K, _RET_ERRNO | _EPERM))
    return b"".join(code)


class _Program(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_char_p)]


def install() -> None:
    """Apply the filter to this process and everything it starts from now on (the process
    must have no_new_privs set, as ``walls.drop_privileges`` leaves it)."""
    code = program()
    prog = _Program(len(code) // 8, code)
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER, ctypes.byref(prog), 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_SECCOMP): the system call filter")
