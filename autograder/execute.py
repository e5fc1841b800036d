"""Run a notebook cell by cell with its kernel in the sandbox, from the grader's (trusted) process.

The grader is the Jupyter client: it sends each cell to the sandboxed kernel and keeps what comes
back. A test cell's record (see :mod:`course_utils.grading`) therefore belongs to the cell that was
running when it arrived; nothing the kernel does later can change it. A cell that runs too long is
interrupted; a kernel that dies, or a notebook that runs past its time limit, ends the run, and the
cells executed so far keep their outputs. A kernel that cannot start is retried, and then reported
as the machine's failure, not the student's.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import nbformat
from jupyter_client.kernelspec import KernelSpec
from jupyter_client.manager import AsyncKernelManager
from nbclient import NotebookClient
from nbclient.exceptions import CellTimeoutError, DeadKernelError

from course_utils.grading import RECORD_MIME

from . import sandbox
from .sandbox import Limits

#: Kernel start attempts before the run counts as an infrastructure failure.
START_ATTEMPTS = 3
#: Seconds to wait for a kernel to start, and for a cell's last outputs after its reply (a loaded
#: machine can take long for both; neither measures the student's code).
STARTUP_TIMEOUT = 240
IOPUB_TIMEOUT = 120
#: Record bytes a whole notebook may send (records are the outputs the grade is made of).
RECORD_BYTES = 256 << 20

_LAUNCH = ["-m", "ipykernel_launcher", "-f", "{connection_file}", "--IPKernelApp.log_level=ERROR"]


@dataclass
class Execution:
    """How a run went, as the grader saw it.

    Attributes:
        status: ``"complete"``, or why it stopped (kernel died, time limit, kernel did not start).
        infrastructure: the run failed for a reason that is not the student's (the kernel never started).
        cells_run: code cells executed.
        seconds: wall-clock time, kernel start included.
        sandboxed: whether the kernel ran in the sandbox.
    """

    status: str = "complete"
    infrastructure: bool = False
    cells_run: int = 0
    seconds: float = 0.0
    sandboxed: bool = True

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(asdict(self)))

    @classmethod
    def load(cls, path: Path) -> Execution:
        return cls(**json.loads(path.read_text()))


class SandboxKernelManager(AsyncKernelManager):
    """A kernel manager whose kernel runs in the sandbox and talks over unix sockets in ``sockets``."""

    def __init__(self, scratch: Path, sockets: Path, env: dict[str, str], limits: Limits, sandboxed: bool,
                 uid: int = sandbox.UNPRIVILEGED, **kwargs):
        super().__init__(transport="ipc", ip=str(sockets / "k"), connection_file=str(sockets / "kernel.json"),
                         **kwargs)
        argv = [sys.executable, *_LAUNCH]
        if sandboxed:
            argv = sandbox.command(argv, [scratch, sockets], scratch, env, limits, uid)
        # interrupts travel as messages: the kernel is not a child the grader can signal directly
        self._kernel_spec = KernelSpec(argv=argv, display_name="sandboxed python", language="python",
                                       interrupt_mode="message", env={} if sandboxed else env)
        self._sandboxed = sandboxed
        self._uid = uid

    @property
    def kernel_spec(self) -> KernelSpec:
        return self._kernel_spec

    def write_connection_file(self, **kwargs) -> None:
        super().write_connection_file(**kwargs)
        if self._sandboxed and os.geteuid() == 0:
            os.chown(self.connection_file, self._uid, self._uid)


class _Client(NotebookClient):
    """nbclient with a cap on what each cell may send (records have their own, larger budget)."""

    def __init__(self, nb, output_bytes: int, **kwargs):
        super().__init__(nb, **kwargs)
        self._output_bytes = output_bytes
        self._sent: dict[int, int] = {}
        self._records = 0

    def output(self, outs, msg, display_id, cell_index):
        content = msg.get("content", {})
        size = len(json.dumps(content, default=str))
        if RECORD_MIME in content.get("data", {}):
            self._records += size
            if self._records > RECORD_BYTES:
                return None
            return super().output(outs, msg, display_id, cell_index)
        before = self._sent.get(cell_index, 0)
        self._sent[cell_index] = before + size
        if before + size <= self._output_bytes:
            return super().output(outs, msg, display_id, cell_index)
        if before <= self._output_bytes:
            outs.append(nbformat.v4.new_output(
                "stream", name="stdout",
                text=f"\n[the grader dropped this cell's output beyond {self._output_bytes >> 10} KiB]\n"))
        return None


async def _start(nb, scratch: Path, sockets: Path, env: dict[str, str], limits: Limits, sandboxed: bool, uid: int):
    """Start a kernel (retrying); returns the client, or the last error."""
    error: Exception | None = None
    for _ in range(START_ATTEMPTS):
        km = SandboxKernelManager(scratch, sockets, env, limits, sandboxed, uid)
        client = _Client(nb, limits.output_bytes, km=km, timeout=limits.cell_timeout,
                         startup_timeout=STARTUP_TIMEOUT, iopub_timeout=IOPUB_TIMEOUT,
                         raise_on_iopub_timeout=False, interrupt_on_timeout=True, allow_errors=True,
                         record_timing=False, resources={"metadata": {"path": str(scratch)}},
                         error_on_timeout={"ename": "CellTimeoutError", "evalue": "",
                                           "traceback": [f"CellTimeoutError: the cell ran past its "
                                                         f"{limits.cell_timeout} s limit and was interrupted"]})
        client.reset_execution_trackers()
        try:
            await client.async_start_new_kernel(cwd=str(scratch), stdout=subprocess.DEVNULL,
                                                stderr=subprocess.DEVNULL)
            await client.async_start_new_kernel_client()
            return client
        except Exception as exc:  # noqa: BLE001 - whatever stopped the start, try again
            error = exc
            await _stop(client)
    return error


async def _stop(client: NotebookClient) -> None:
    if client.kc is not None:
        client.kc.stop_channels()
    if client.km is not None and client.km.has_kernel:
        await client.km.shutdown_kernel(now=True)


async def _run(nb, scratch: Path, sockets: Path, env: dict[str, str], limits: Limits, sandboxed: bool,
               uid: int) -> Execution:
    start = time.monotonic()
    deadline = start + limits.notebook_timeout
    run = Execution(sandboxed=sandboxed)
    client = await _start(nb, scratch, sockets, env, limits, sandboxed, uid)
    if isinstance(client, Exception):
        run.status = f"the kernel did not start ({type(client).__name__})"
        run.infrastructure = True
        return run
    try:
        for index, cell in enumerate(nb.cells):
            if cell.cell_type != "code" or not cell.source.strip():
                continue
            remaining = deadline - time.monotonic()
            if remaining < 1:
                run.status = f"stopped at the notebook's {limits.notebook_timeout} s limit"
                break
            client.timeout = int(min(limits.cell_timeout, remaining))
            client.iopub_timeout = int(min(IOPUB_TIMEOUT, remaining))
            try:
                await client.async_execute_cell(cell, index)
            except DeadKernelError:
                run.status = f"the kernel died in code cell {run.cells_run + 1}"
                break
            except CellTimeoutError:
                run.status = f"code cell {run.cells_run + 1} stopped responding"
                break
            run.cells_run += 1
            if time.monotonic() >= deadline:
                run.status = f"stopped at the notebook's {limits.notebook_timeout} s limit"
                break
    finally:
        await _stop(client)
    run.seconds = time.monotonic() - start
    return run


def execute(nb: nbformat.NotebookNode, scratch: Path, limits: Limits, env: dict[str, str],
            sandboxed: bool = True) -> Execution:
    """Execute ``nb`` in place with a fresh kernel whose working folder is ``scratch``.

    Args:
        nb: the notebook; its code cells get their outputs.
        scratch: the kernel's working folder, the only host folder it can write (made writable here).
        limits: time, memory, process and output limits.
        env: variables the kernel gets besides the sandbox's clean environment.
        sandboxed: run the kernel in the sandbox (``False`` only for trusted notebooks, or by request).

    When the grader is root, the kernel runs as a uid of its own (:func:`autograder.sandbox.uid_slot`),
    held for the run, so that kernels running side by side cannot exhaust each other's process limit.
    """
    with sandbox.uid_slot() as uid:
        sandbox.prepare_writable(scratch, uid)
        # unix socket paths are limited to about 100 bytes: the sockets get a short folder of their own
        sockets = sandbox.prepare_writable(Path(tempfile.mkdtemp(prefix="cvk-")), uid)
        kernel_env = sandbox.environment(scratch, env) if sandboxed else dict(os.environ, **env)
        try:
            return asyncio.run(_run(nb, scratch, sockets, kernel_env, limits, sandboxed, uid))
        finally:
            shutil.rmtree(sockets, ignore_errors=True)
