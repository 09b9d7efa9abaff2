"""The grader's kernel client: ready when the kernel is, through sockets the kernel cannot
replace.

jupyter_client's ``wait_for_ready`` asks for ``kernel_info`` until the kernel replies and
an IOPub message shows that IOPub is connected, then drains IOPub until it has been
silent for 0.2 s: on every kernel start, about a quarter of a graded kernel's start.
nbclient (nbgrader's Execute) reads only the IOPub messages of the request it sent, so a
status message that arrives after a short drain is ignored there anyway.

A jailed kernel binds its sockets in a folder of its own; the client connects only once it
has moved them out of the kernel's reach (``autograder.kernel_sockets``).
"""

from __future__ import annotations

import time
from pathlib import Path
from queue import Empty

from jupyter_client.asynchronous import AsyncKernelClient
from jupyter_core.utils import ensure_async
from traitlets import Unicode
from traitlets.config import Config

from autograder import kernel_sockets

#: how long IOPub must be silent, once the kernel has answered, before the client is ready
DRAIN_SECONDS = 0.01


class QuickReadyClient(AsyncKernelClient):
    """``AsyncKernelClient`` whose ``wait_for_ready`` drains IOPub for ``DRAIN_SECONDS``
    instead of 0.2 s; otherwise as jupyter_client's (same checks, same errors). With
    ``kernel_folder`` set, its channels start once the kernel's sockets have been moved from
    there to where it connects (``ip``'s folder)."""

    kernel_folder = Unicode("", help="where the jailed kernel binds its sockets").tag(config=True)

    async def start_channels(self, *args, **kwargs) -> None:  # type: ignore[override]
        if self.kernel_folder:
            ports = [self.shell_port, self.iopub_port, self.stdin_port, self.hb_port]
            kernel_prefix = str(Path(self.kernel_folder) / Path(self.ip).name)
            await kernel_sockets.take(
                kernel_prefix, self.ip, [*ports, self.control_port], self._async_is_alive
            )
        super().start_channels(*args, **kwargs)

    async def _async_wait_for_ready(self, timeout: float | None = None) -> None:
        deadline = time.time() + (float("inf") if timeout is None else timeout)
        while True:
            self.kernel_info()
            try:
                msg = await ensure_async(self.shell_channel.get_msg(timeout=1))
            except Empty:
                pass
            else:
                if msg["msg_type"] == "kernel_info_reply":
                    try:  # one IOPub message (its status) shows that IOPub is connected
                        await ensure_async(self.iopub_channel.get_msg(timeout=0.2))
                    except Empty:
                        pass
                    else:
                        self._handle_kernel_info_reply(msg)
                        break
            if not await self._async_is_alive():
                raise RuntimeError("Kernel died before replying to kernel_info")
            if time.time() > deadline:
                raise RuntimeError(f"Kernel didn't respond in {timeout:.0f} seconds")
        while True:  # drain what is already there (the reply's status messages)
            try:
                await ensure_async(self.iopub_channel.get_msg(timeout=DRAIN_SECONDS))
            except Empty:
                break

    wait_for_ready = _async_wait_for_ready  # AsyncKernelClient binds it to its base's


def configure(config: Config, sockets: Path, kernel_folder: Path | None = None) -> None:
    """Have nbgrader's and nbclient's kernels, per ``config``, speak ZeroMQ's IPC transport
    through socket files ``sockets``-N (no TCP port) with a ``QuickReadyClient``; a jailed
    kernel binds them in ``kernel_folder`` (``autograder.kernel_sockets``)."""
    config.KernelManager.transport = "ipc"
    config.KernelManager.ip = str(sockets)
    config.AsyncKernelManager.client_factory = QuickReadyClient
    config.QuickReadyClient.kernel_folder = str(kernel_folder or "")
