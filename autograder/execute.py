"""Run a notebook cell by cell with its kernel in the sandbox, from the grader's (trusted) process.

The grader is the Jupyter client: it sends each cell to the sandboxed kernel and keeps what comes
back. A test cell's record (see :mod:`course_utils.grading`) therefore belongs to the cell that was
running when it arrived; nothing the kernel does later can change it. A cell that runs too long is
interrupted; a kernel that dies, or a notebook that runs past its time limit, ends the run, and the
cells executed so far keep their outputs. A kernel that cannot start is retried, and then reported
as the machine's failure, not the student's.

Everything the kernel sends is the student's (:class:`_Client`): a cell's outputs change only while
it runs (display updates are ignored), every output counts against the cell's cap, a malformed
message is dropped, and a message the client cannot handle at all ends the run as the student's
failure, with the outputs kept so far.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import nbformat
import zmq
from jupyter_client.kernelspec import KernelSpec
from jupyter_client.manager import AsyncKernelManager
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionComplete, CellTimeoutError, DeadKernelError
from nbclient.util import ensure_async

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
#: Characters of a record's ``text/plain`` kept (the rest of a record bundle is dropped).
RECORD_TEXT = 200
#: Deepest nesting of a display's JSON data or metadata kept.
JSON_DEPTH = 32
_STREAMS = ("stdout", "stderr")
#: MIME types whose value may be any JSON (nbformat's rule); every other one holds text.
_JSON_MIME = re.compile(r"^application/(.*\+)?json$")

_LAUNCH = ["-m", "ipykernel_launcher", "-f", "{connection_file}", "--IPKernelApp.log_level=ERROR"]


@dataclass
class Execution:
    """How a run went, as the grader saw it.

    Attributes:
        status: ``"complete"``, or why it stopped (kernel died, time limit, a message the grader could
            not read, kernel did not start).
        infrastructure: the run failed for a reason that is not the student's (the kernel never started);
            once the kernel runs, whatever it does is the student's.
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
    """nbclient as a client that trusts nothing the kernel sends.

    Only the running cell's outputs can change, and only while it runs:

    * an IOPub message becomes an output only when it is a well-formed ``stream``, ``display_data``,
      ``execute_result`` or ``error`` (:func:`_output_from`); a message that cannot be read, or of any
      other type (``update_display_data``, comms, ...), is dropped and the cell goes on;
    * a ``display_id`` means nothing here: a display is a new output of the running cell, never an
      update of an earlier one, and no record arrives through an update;
    * every byte kept counts: against the cell's cap ``output_bytes``, or for a record (an output
      carrying :data:`RECORD_MIME`, kept with its short ``text/plain`` and nothing else) against the
      notebook's :data:`RECORD_BYTES`. Clearing a cell's outputs gives no budget back.
    """

    def __init__(self, nb, output_bytes: int, **kwargs):
        super().__init__(nb, **kwargs)
        self._output_bytes = output_bytes
        self._sent: dict[int, int] = {}
        self._records = 0

    async def _async_poll_output_msg(self, parent_msg_id: str, cell, cell_index: int) -> None:
        """nbclient's IOPub loop, skipping what cannot be read: a message that fails to deserialize
        (bad JSON, a header without ``msg_type``, ...) or whose parent header is not a mapping."""
        while True:
            try:
                msg = await ensure_async(self.kc.iopub_channel.get_msg(timeout=None))
            except zmq.ZMQError:
                raise
            except Exception as exc:  # noqa: BLE001 - the kernel's bytes; the message is consumed, skip it
                self.log.debug("dropped an IOPub message that could not be read: %r", exc)
                continue
            parent = msg.get("parent_header")
            if isinstance(parent, dict) and parent.get("msg_id") == parent_msg_id:
                try:
                    self.process_message(msg, cell, cell_index)
                except CellExecutionComplete:
                    return

    def process_message(self, msg, cell, cell_index):
        """Add what ``msg`` adds to the running ``cell``; raise CellExecutionComplete when it is idle."""
        msg_type, content = msg.get("msg_type"), msg.get("content")
        if not isinstance(content, dict):
            return None
        if msg_type in ("execute_input", "execute_result") and _count(content) is not None:
            cell["execution_count"] = _count(content)
        if msg_type == "status" and content.get("execution_state") == "idle":
            raise CellExecutionComplete()
        if msg_type == "clear_output":
            self.clear_output(cell.outputs, msg, cell_index)
            return None
        out = _output_from(msg_type, content)
        return None if out is None else self._keep(cell.outputs, out, cell_index)

    def clear_output(self, outs, msg, cell_index):
        """Clear the running cell's outputs now, or before its next output (``wait``)."""
        if msg["content"].get("wait"):
            self.clear_before_next_output = True
        else:
            outs[:] = []

    async def _check_raise_for_error(self, cell, cell_index, exec_reply):
        """Nothing to check: an error is one of the cell's outputs (``allow_errors``), and the content of
        the kernel's reply is not read."""

    def _keep(self, outs, out, cell_index: int):
        """Append ``out`` to the running cell's ``outs`` if the budgets allow; the output, or None."""
        if self.clear_before_next_output:
            outs[:] = []
            self.clear_before_next_output = False
        size = len(json.dumps(out))
        if RECORD_MIME in out.get("data", {}):
            self._records += size
            if self._records > RECORD_BYTES:
                return None
            outs.append(out)
            return out
        before = self._sent.get(cell_index, 0)
        self._sent[cell_index] = before + size
        if before + size <= self._output_bytes:
            outs.append(out)
            return out
        if before <= self._output_bytes:
            outs.append(nbformat.v4.new_output(
                "stream", name="stdout",
                text=f"\n[the grader dropped this cell's output beyond {self._output_bytes >> 10} KiB]\n"))
        return None


def _count(content: dict) -> int | None:
    """The message's execution count if it is one nbformat accepts (a non-negative int), else None."""
    count = content.get("execution_count")
    return count if type(count) is int and count >= 0 else None


def _text(value) -> bool:
    """Whether ``value`` is text as nbformat stores it: a string or a list of strings."""
    return isinstance(value, str) or isinstance(value, list) and all(isinstance(v, str) for v in value)


def _shallow(value, depth: int = JSON_DEPTH) -> bool:
    """Whether a JSON value nests at most ``depth`` levels (nbformat cannot validate or write much deeper)."""
    if isinstance(value, dict):
        value = list(value.values())
    return not isinstance(value, list) or depth > 0 and all(_shallow(v, depth - 1) for v in value)


def _bundle(data, metadata) -> tuple[dict, dict] | None:
    """A display's ``(data, metadata)`` if well formed, else None. A record's bundle keeps only the record
    and the start of its ``text/plain``, without metadata."""
    if not (isinstance(data, dict) and isinstance(metadata, dict) and _shallow(data) and _shallow(metadata)):
        return None
    if RECORD_MIME in data:
        record, text = {RECORD_MIME: data[RECORD_MIME]}, data.get("text/plain")
        if isinstance(text, str):
            record["text/plain"] = text[:RECORD_TEXT]
        return record, {}
    if not all(_JSON_MIME.match(mime) or _text(value) for mime, value in data.items()):
        return None
    return data, metadata


def _output_from(msg_type, content: dict) -> nbformat.NotebookNode | None:
    """The output an IOPub message's ``content`` makes, or None when it makes none or is malformed."""
    node = nbformat.NotebookNode
    if msg_type == "stream":
        name, text = content.get("name"), content.get("text")
        return node(output_type="stream", name=name, text=text) if name in _STREAMS and _text(text) else None
    if msg_type in ("display_data", "execute_result"):
        bundle = _bundle(content.get("data"), content.get("metadata", {}))
        if bundle is None:
            return None
        out = node(output_type=msg_type, data=bundle[0], metadata=bundle[1])
        if msg_type == "execute_result":
            out.execution_count = _count(content)
        return out
    if msg_type == "error":
        ename, evalue, trace = content.get("ename"), content.get("evalue"), content.get("traceback")
        if isinstance(ename, str) and isinstance(evalue, str) and isinstance(trace, list) and _text(trace):
            return node(output_type="error", ename=ename, evalue=evalue, traceback=trace)
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
            except Exception as exc:  # noqa: BLE001 - the kernel's messages broke the client: the kernel's fault
                run.status = (f"the kernel sent a message the grader could not read in code cell "
                              f"{run.cells_run + 1} ({type(exc).__name__})")
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
        kernel_env = (sandbox.environment(scratch, env, limits.device) if sandboxed
                      else dict(os.environ, **env, COURSE_DEVICE=limits.device))
        try:
            return asyncio.run(_run(nb, scratch, sockets, kernel_env, limits, sandboxed, uid))
        finally:
            shutil.rmtree(sockets, ignore_errors=True)
