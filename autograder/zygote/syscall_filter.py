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
- a new user namespace (``unshare``, ``clone`` with CLONE_NEWUSER; ``clone3`` answers
  ENOSYS): inside one a kernel holds every capability over what it creates, much of the
  Linux kernel's attack surface;
- sockets of any family but ``AF_UNIX`` and netlink's ``NETLINK_ROUTE`` (EAFNOSUPPORT, as
  on a machine without IP; EPROTONOSUPPORT for other netlink protocols): a kernel speaks
  over Unix sockets, and what TCP, UDP and netlink sockets queue is not charged to the
  unit's memory cgroup (v1): red teams held 1.5 GiB in TCP or UDP buffers beside a 1000M
  limit, and 2.5 GiB in NETLINK_USERSOCK queues, one socket sending to others. The C
  library's ``getifaddrs`` needs NETLINK_ROUTE (ZeroMQ aborts the kernel without it:
  ipykernel binds a TCP pipe, refused here, and ZeroMQ first looks for a network interface
  of that name); an unprivileged route socket sends only to the Linux kernel, and queues
  only its replies, up to its receive buffer, which a kernel may not enlarge:
- ``setsockopt(SOL_SOCKET, SO_RCVBUF or SO_RCVBUFFORCE)`` (EPERM); ``io_uring`` (ENOSYS),
  which makes sockets without ``socket``;
- any call through another ABI (32-bit, x32), whose numbers are not these.

Once ipykernel has bound its sockets, and before the first cell, the kernel seals itself
(``seal``, run by ipykernel's ``exec_lines``: ``seal_line``): a second filter on top of the
first (filters stack; the stricter answer wins) refuses netlink sockets outright. A red team
held 1.4 GiB in NETLINK_ROUTE reply queues (requests the kernel refuses, answered with the
request echoed): ~190 KiB a socket, uncharged, times the open files of each of up to
``--nproc`` processes.

Standard library only: the zygote imports this by path, never through the package, and a
kernel executes it by path (the kernel site has a copy).
"""

from __future__ import annotations

import ctypes
import os
import platform
import struct

_AUDIT_ARCH = {"x86_64": 0xC000003E, "aarch64": 0xC00000B7}
_DENIED = {
    "x86_64": {"keyctl": 250, "add_key": 248, "request_key": 249, "setsid": 112},
    "aarch64": {"keyctl": 219, "add_key": 217, "request_key": 218, "setsid": 157},
}
#: calls that may not make a user namespace (their first argument holds the flags)
_NAMESPACING = {"x86_64": {"unshare": 272, "clone": 56}, "aarch64": {"unshare": 97, "clone": 220}}
#: clone3 takes its flags in memory a filter cannot read: "not implemented", so that the C
#: library falls back to clone (as container runtimes' default filters do)
_CLONE3 = 435
_CLONE_NEWUSER = 0x10000000
#: socket(domain, type, protocol): AF_UNIX; AF_NETLINK with protocol NETLINK_ROUTE only
_SOCKET = {"x86_64": 41, "aarch64": 198}
_AF_UNIX, _AF_NETLINK, _NETLINK_ROUTE = 1, 16, 0
#: setsockopt(fd, level, name, ...): a receive buffer is what a netlink socket queues in
_SETSOCKOPT = {"x86_64": 54, "aarch64": 208}
_SOL_SOCKET, _SO_RCVBUF, _SO_RCVBUFFORCE = 1, 8, 33
#: io_uring_setup, io_uring_enter, io_uring_register: the same numbers on both
_IO_URING = (425, 426, 427)
_X32_SYSCALL_BIT = 0x40000000
_LD_W_ABS, _JEQ_K, _JGE_K, _JSET_K, _RET_K = 0x20, 0x15, 0x35, 0x45, 0x06  # BPF codes
_ARCH_OFFSET, _NR_OFFSET = 4, 0  # in struct seccomp_data (little-endian)
_ARG0_OFFSET, _ARG1_OFFSET, _ARG2_OFFSET = 16, 24, 32  # each argument's low word
_RET_ALLOW, _RET_ERRNO, _EPERM, _ENOSYS = 0x7FFF0000, 0x00050000, 1, 38
_EAFNOSUPPORT, _EPROTONOSUPPORT = 97, 93
_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER, _PR_SET_NO_NEW_PRIVS = 22, 2, 38
#: what a kernel exits with when it could not seal itself: it must not run a cell unsealed
SEAL_FAILED = 70


def denied(machine: str | None = None) -> dict[str, int]:
    """The calls denied outright: names and numbers on ``machine`` (this one by default)."""
    return dict(_DENIED[machine or platform.machine()])


def program(machine: str | None = None, netlink_route: bool = True) -> bytes:
    """The filter as bytes: ``struct sock_filter`` instructions, as bubblewrap reads them;
    with ``netlink_route=False`` (the seal), no netlink socket at all."""
    machine = machine or platform.machine()
    # (code, k, label jumped to when true, label when false); labels are resolved below
    code: list[tuple[int, int, str | None, str | None]] = [
        (_LD_W_ABS, _ARCH_OFFSET, None, None),
        (_JEQ_K, _AUDIT_ARCH[machine], None, "deny"),
        (_LD_W_ABS, _NR_OFFSET, None, None),
    ]
    if machine == "x86_64":  # x32 calls: numbers from 2**30 up
        code.append((_JGE_K, _X32_SYSCALL_BIT, "deny", None))
    code += [(_JEQ_K, number, "deny", None) for number in _DENIED[machine].values()]
    code += [(_JEQ_K, number, "enosys", None) for number in (_CLONE3, *_IO_URING)]
    code += [(_JEQ_K, number, "flags", None) for number in _NAMESPACING[machine].values()]
    code.append((_JEQ_K, _SOCKET[machine], "family", None))
    code.append((_JEQ_K, _SETSOCKOPT[machine], "sockopt", None))
    code.append((_RET_K, _RET_ALLOW, None, None))
    labels = {"flags": len(code)}
    code += [
        (_LD_W_ABS, _ARG0_OFFSET, None, None),
        (_JSET_K, _CLONE_NEWUSER, "deny", None),
        (_RET_K, _RET_ALLOW, None, None),
    ]
    labels["family"] = len(code)
    code += [
        (_LD_W_ABS, _ARG0_OFFSET, None, None),
        (_JEQ_K, _AF_UNIX, "allow", None),
        (_JEQ_K, _AF_NETLINK, None, "no_family"),
    ]
    if netlink_route:
        code += [
            (_LD_W_ABS, _ARG2_OFFSET, None, None),
            (_JEQ_K, _NETLINK_ROUTE, "allow", None),
        ]
    code.append((_RET_K, _RET_ERRNO | _EPROTONOSUPPORT, None, None))
    labels["no_family"] = len(code)
    code.append((_RET_K, _RET_ERRNO | _EAFNOSUPPORT, None, None))
    labels["sockopt"] = len(code)
    code += [
        (_LD_W_ABS, _ARG1_OFFSET, None, None),
        (_JEQ_K, _SOL_SOCKET, None, "allow"),
        (_LD_W_ABS, _ARG2_OFFSET, None, None),
        (_JEQ_K, _SO_RCVBUF, "deny", None),
        (_JEQ_K, _SO_RCVBUFFORCE, "deny", None),
    ]
    labels["allow"] = len(code)
    code.append((_RET_K, _RET_ALLOW, None, None))
    labels["enosys"] = len(code)
    code.append((_RET_K, _RET_ERRNO | _ENOSYS, None, None))
    labels["deny"] = len(code)
    code.append((_RET_K, _RET_ERRNO | _EPERM, None, None))

    def offset(index: int, label: str | None) -> int:
        return 0 if label is None else labels[label] - index - 1

    return b"".join(
        struct.pack("=HBBI", op, offset(i, when_true), offset(i, when_false), k)
        for i, (op, k, when_true, when_false) in enumerate(code)
    )


class _Program(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_char_p)]


def install(code: bytes | None = None) -> None:
    """Apply the filter (``code``, default ``program()``) to this process and everything it
    starts from now on (the process must have no_new_privs set, as ``walls.drop_privileges``
    leaves it)."""
    code = program() if code is None else code
    prog = _Program(len(code) // 8, code)
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER, ctypes.byref(prog), 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_SECCOMP): the system call filter")


def seal() -> None:
    """The kernel's own last wall, before its first cell: no netlink socket from now on (see
    the module's docstring). A kernel that cannot seal itself exits (``SEAL_FAILED``)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:  # set already where jailed
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS)")
        install(program(netlink_route=False))
    except BaseException:  # noqa: BLE001 -- never a cell unsealed
        os._exit(SEAL_FAILED)


def seal_line(path: str) -> str:
    """The line ipykernel's ``exec_lines`` runs to seal the kernel: this file executed by
    ``path`` in a namespace of its own (nothing imported, no name left to the student)."""
    return (
        f"(lambda ns: (exec(compile(open({path!r}).read(), {path!r}, 'exec'), ns), "
        "ns['seal']()))({'__name__': 'gf_syscall_filter'})"
    )
