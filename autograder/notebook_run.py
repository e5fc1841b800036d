"""Execute a notebook in its own folder with the grading environment set (used for references
and benchmarks; ``cvcourse grade`` executes through nbgrader)."""

from __future__ import annotations

import contextlib
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import nbformat
from nbclient import NotebookClient

from .course import IGNORE, KERNEL_ARGUMENTS


@contextlib.contextmanager
def environment(**values: str | None) -> Iterator[None]:
    """Set (or, with ``None``, unset) environment variables for the block; the kernel inherits them."""
    saved = {k: os.environ.get(k) for k in values}
    try:
        for k, v in values.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def execute_copy(folder: Path, notebook: str, workdir: Path, timeout: int = 600,
                 allow_errors: bool = False, **env: str | None) -> tuple[nbformat.NotebookNode, float]:
    """Copy ``folder`` to ``workdir`` and execute ``notebook`` there with ``env`` set.

    Returns:
        The executed notebook and its wall-clock execution time in seconds.

    Raises:
        nbclient.exceptions.CellExecutionError: if a cell fails and ``allow_errors`` is false.
    """
    if workdir.exists():
        shutil.rmtree(workdir)
    shutil.copytree(folder, workdir, ignore=shutil.ignore_patterns(*IGNORE))
    nb = nbformat.read(workdir / notebook, as_version=4)
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3", allow_errors=allow_errors,
                            extra_arguments=KERNEL_ARGUMENTS,
                            resources={"metadata": {"path": str(workdir)}})
    start = time.perf_counter()
    with environment(**env):
        client.execute()
    return nb, time.perf_counter() - start
