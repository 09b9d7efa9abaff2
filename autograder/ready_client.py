"""A kernel client that is ready when the kernel is: no idle wait after it has answered.

jupyter_client's ``wait_for_ready`` asks for ``kernel_info`` until the kernel replies and
an IOPub message shows that IOPub is connected, then drains IOPub until it has been
silent for 0.2 s: on every kernel start, about a quarter of a graded kernel's start.
nbclient (nbgrader's Execute) reads only the IOPub messages of the request it sent, so a
status message that arrives after a short drain is ignored there anyway.
"""

from __future__ import annotations

import time
from queue import Empty

from jupyter_client.asynchronous import AsyncKernelClient
from jupyter_core.utils import ensure_async

#: how long IOPub must be silent, once the kernel has answered, before the client is ready
DRAIN_SECONDS = 0.01


class QuickReadyClient(AsyncKernelClient):
    """``AsyncKernelClient`` whose ``wait_for_ready`` drains IOPub for ``DRAIN_SECONDS``
    instead of 0.2 s; otherwise as jupyter_client's (same checks, same errors)."""

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
