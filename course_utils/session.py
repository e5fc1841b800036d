"""The first cell of every notebook: seeds, print options, CPU threads, the device, and progress bars.

On a shared CPU, torch's default of one thread per core makes every training step fight the other
processes for the cores (a U-Net step took 795 ms with the default threads against 111 ms with one,
while another process kept both cores busy). The course's tensors are small, so notebooks run torch on
:data:`DEFAULT_THREADS` thread unless ``$CVCOURSE_THREADS`` asks for more.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

import numpy as np
import torch

from .device import get_device, seed_everything

#: True while the notebook is being autograded (nbgrader sets ``NBGRADER_EXECUTION``): heavy demo cells
#: then run on smaller inputs. It changes how much a demo shows, never what a check expects.
GRADING: bool = bool(os.environ.get("NBGRADER_EXECUTION"))

THREADS_ENV = "CVCOURSE_THREADS"
DEFAULT_THREADS = 1
#: Resolution of figures shown while grading (the grader only needs them in the feedback page).
GRADING_DPI = 50


def cpu_threads() -> int:
    """Threads torch may use on the CPU: ``$CVCOURSE_THREADS`` if set (a positive integer), else 1.

    Raises:
        ValueError: ``$CVCOURSE_THREADS`` is not a positive integer.
    """
    value = os.environ.get(THREADS_ENV, "").strip()
    if not value:
        return DEFAULT_THREADS
    if not value.isdigit() or int(value) < 1:
        raise ValueError(f"{THREADS_ENV} must be a positive integer, not {value!r}")
    return int(value)


def start_notebook(seed: int = 0) -> torch.device:
    """Seed every generator, set short print options and torch's CPU threads; return the device.

    While grading, figures are drawn at :data:`GRADING_DPI` (and :func:`course_utils.save_figure`
    writes no file): pictures cost grading time and earn no points.

    Returns:
        The device the notebook runs on (see :func:`course_utils.get_device`).
    """
    seed_everything(seed)
    np.set_printoptions(precision=4, suppress=True)
    torch.set_printoptions(precision=4, sci_mode=False)
    torch.set_num_threads(cpu_threads())
    if GRADING:
        import matplotlib

        matplotlib.rcParams["figure.dpi"] = GRADING_DPI
    return get_device()


def progress(iterable: Iterable | None = None, **kwargs):
    """A progress bar for a long loop: a widget in Jupyter (not lines on stderr), none while grading.

    Takes tqdm's arguments (``total``, ``desc``, ...).
    """
    from tqdm.auto import tqdm

    kwargs.setdefault("disable", GRADING)
    return tqdm(iterable, **kwargs)
