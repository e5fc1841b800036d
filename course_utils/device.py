"""Device choice, seeding and the determinism switch used by every check."""

from __future__ import annotations

import contextlib
import os
import random
from collections.abc import Iterator

import numpy as np
import torch

DEVICE_ENV = "COURSE_DEVICE"


def get_device(prefer: str | None = None) -> torch.device:
    """The device the course runs on: ``prefer``, else ``$COURSE_DEVICE``, else cuda if there is one, else cpu.

    An Apple GPU (``mps``) is used only when asked for: it has no float64, in which the checks and parts
    of the notebooks compute (the checks then run on the CPU, :func:`check_device`).

    Raises:
        ValueError: if the requested device is not available on this machine.
    """
    name = prefer or os.environ.get(DEVICE_ENV, "").strip()
    if name:
        device = torch.device(name)
        if device.type == "cuda" and not torch.cuda.is_available():
            raise ValueError(f"{DEVICE_ENV}={name!r} but CUDA is not available on this machine")
        if device.type == "mps" and not torch.backends.mps.is_available():
            raise ValueError(f"{DEVICE_ENV}={name!r} but MPS is not available on this machine")
        return device
    if torch.cuda.is_available():
        return torch.device("cuda")
    return torch.device("cpu")


def check_device() -> torch.device:
    """The device a check runs the student's function on: :func:`get_device`'s, the CPU in place of mps."""
    device = get_device()
    return torch.device("cpu") if device.type == "mps" else device


def seed_everything(seed: int) -> None:
    """Seed Python's, numpy's and torch's (all devices) global generators."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


@contextlib.contextmanager
def deterministic(enabled: bool = True) -> Iterator[None]:
    """Within the block: TF32 off and deterministic algorithms where torch has them.

    Checks run inside this block so that references made on a GPU agree with a CPU run.
    The previous settings are restored on exit.
    """
    saved = (
        torch.backends.cuda.matmul.allow_tf32,
        torch.backends.cudnn.allow_tf32,
        torch.backends.cudnn.deterministic,
        torch.backends.cudnn.benchmark,
        torch.are_deterministic_algorithms_enabled(),
        torch.is_deterministic_algorithms_warn_only_enabled(),
    )
    if enabled:
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False
        torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        yield
    finally:
        (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32,
         torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark) = saved[:4]
        torch.use_deterministic_algorithms(saved[4], warn_only=saved[5])
