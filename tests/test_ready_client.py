"""autograder.ready_client: a kernel client ready once the kernel has answered, no idle wait."""

from __future__ import annotations

import asyncio
import json
import sys

import nbformat
import pytest
from jupyter_client import AsyncKernelManager
from nbclient import NotebookClient
from traitlets.config import Config

from autograder import ready_client
from autograder.ready_client import QuickReadyClient


def _notebook() -> nbformat.NotebookNode:
    cells = [
        nbformat.v4.new_code_cell("import sys\nprint('out'); print('err', file=sys.stderr)"),
        nbformat.v4.new_code_cell("x = 6 * 7\nx"),
        nbformat.v4.new_code_cell("1 / 0"),
    ]
    return nbformat.v4.new_notebook(cells=cells)


def _outputs(client_factory: type | None) -> list:
    config = Config()
    if client_factory is not None:
        config.AsyncKernelManager.client_factory = client_factory
    nb = _notebook()
    NotebookClient(nb, kernel_name="python3", allow_errors=True, config=config).execute()
    return [
        [(o.output_type, o.get("text"), o.get("data"), o.get("ename")) for o in cell.outputs]
        for cell in nb.cells
    ]


def test_a_notebook_runs_with_it_exactly_as_with_jupyter_clients_own_client():
    assert _outputs(QuickReadyClient) == _outputs(None)


def test_it_waits_for_the_reply_and_drains_iopub_only_briefly(monkeypatch):
    waits: list[float | None] = []
    replies: list[dict] = []

    async def ready() -> None:
        km = AsyncKernelManager(kernel_name="python3", client_factory=QuickReadyClient)
        await km.start_kernel()
        client = km.client()
        assert isinstance(client, QuickReadyClient)
        real = type(client.iopub_channel).get_msg

        async def get_msg(channel, timeout=None):
            waits.append(timeout)
            return await real(channel, timeout=timeout)

        monkeypatch.setattr(type(client.iopub_channel), "get_msg", get_msg)
        handled = client._handle_kernel_info_reply
        monkeypatch.setattr(
            client, "_handle_kernel_info_reply", lambda msg: (replies.append(msg), handled(msg))
        )
        await client.start_channels()
        try:
            await client.wait_for_ready(timeout=60)
        finally:
            client.stop_channels()
            await km.shutdown_kernel(now=True)

    asyncio.run(ready())
    assert [r["msg_type"] for r in replies] == ["kernel_info_reply"]
    assert waits and waits[-1] == ready_client.DRAIN_SECONDS, waits  # ended by the drain
    assert 0.2 not in waits[waits.index(ready_client.DRAIN_SECONDS) :], waits


def test_a_kernel_that_dies_before_answering_is_an_error():
    async def dead() -> None:
        km = AsyncKernelManager(kernel_name="python3", client_factory=QuickReadyClient)
        await km.start_kernel()
        client = km.client()
        await km.shutdown_kernel(now=True)
        await client.start_channels()
        try:
            await client.wait_for_ready(timeout=30)
        finally:
            client.stop_channels()

    with pytest.raises(RuntimeError, match="died before replying"):
        asyncio.run(dead())


# a kernel that binds where the grader's launcher tells it (autograder.sandbox does so)
_BIND_IN = """
import json, os, sys
info = json.load(open(sys.argv[1]))
info["ip"] = os.path.join(sys.argv[2], os.path.basename(info["ip"]))
own = os.path.join(sys.argv[2], "connection.json")
json.dump(info, open(own, "w"))
os.execv(sys.executable, [sys.executable, "-m", "ipykernel_launcher", "-f", own])
"""


def test_a_kernel_binding_in_its_own_folder_is_reached_through_the_moved_sockets(
    tmp_path, monkeypatch
):
    from autograder.kernel_sockets import make_folders

    kernel, grader = make_folders(tmp_path, None)
    spec = tmp_path / "jupyter" / "kernels" / "python3"
    spec.mkdir(parents=True)
    argv = [sys.executable, "-c", _BIND_IN, "{connection_file}", str(kernel)]
    (spec / "kernel.json").write_text(json.dumps({"argv": argv, "language": "python"}))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    config = Config()
    ready_client.configure(config, grader / "k", kernel)

    async def run() -> dict:
        km = AsyncKernelManager(kernel_name="python3", config=config)
        await km.start_kernel()
        client = km.client()
        await client.start_channels()
        try:
            await client.wait_for_ready(timeout=60)
            reply = await client.execute_interactive("6 * 7", timeout=30)
            assert [p.name for p in kernel.iterdir()] == ["connection.json"]
            assert len([p for p in grader.iterdir() if p.is_socket()]) == 5
            return reply["content"]
        finally:
            client.stop_channels()
            await km.shutdown_kernel(now=True)

    assert asyncio.run(run())["status"] == "ok"
