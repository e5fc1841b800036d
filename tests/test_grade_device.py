"""The device of a graded kernel: the CPU unless the grader asks for a GPU (``CVCOURSE_DEVICE``), whatever
the grader's own ``COURSE_DEVICE`` says. With a GPU the memory limit is on private writable memory, since
the CUDA driver reserves far more address space than the address-space limit allows, and the limit still
stops a runaway allocation. A GPU the sandbox cannot reach stops grading before it starts."""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import torch

from autograder import sandbox
from autograder.sandbox import Limits, SandboxUnavailable

_GIB = 1 << 30


def test_graded_kernels_use_the_cpu_unless_a_gpu_is_asked_for(monkeypatch, tmp_path):
    monkeypatch.setenv("COURSE_DEVICE", "cuda")  # the instructor's own notebooks; not the graded kernels'
    monkeypatch.delenv("CVCOURSE_DEVICE", raising=False)
    limits = Limits.from_env()
    assert limits.device == "cpu" and not limits.gpu
    assert sandbox.environment(tmp_path, {}, limits.device)["COURSE_DEVICE"] == "cpu"
    monkeypatch.setenv("CVCOURSE_DEVICE", "cuda:1")
    assert Limits.from_env().device == "cuda:1" and Limits.from_env().gpu
    monkeypatch.setenv("CVCOURSE_DEVICE", "mps")
    with pytest.raises(ValueError, match="cpu or cuda"):
        Limits.from_env()


ALLOCATE = """import sys
try:
    import torch
except (ImportError, OSError, MemoryError) as exc:
    print('NO-TORCH', type(exc).__name__, flush=True)
    sys.exit()
print('TORCH', flush=True)
try:
    hog = torch.ones(int(sys.argv[1]) // 4)
    print('ALLOCATED', flush=True)
except RuntimeError as exc:  # torch's own out-of-memory error
    print('LIMITED', 'memory' in str(exc).lower(), flush=True)
"""


def _run(limits: Limits, request: int) -> str:
    with sandbox.uid_slot() as uid:
        scratch = sandbox.prepare_writable(Path(tempfile.mkdtemp(prefix="cvtest-")), uid)
        argv = sandbox.command([sys.executable, "-c", ALLOCATE, str(request)], [scratch], scratch,
                               sandbox.environment(scratch, {}, limits.device), limits, uid)
        return subprocess.run(argv, capture_output=True, text=True, timeout=120).stdout


def test_with_a_gpu_the_memory_limit_counts_memory_not_address_space():
    """At 2 GiB, the address-space limit stops torch from loading (it maps about 3.3 GiB, as the CUDA
    driver maps far more); the GPU's limit lets it load and still stops an allocation of 40 GiB."""
    small = 2 * _GIB
    assert _run(Limits(memory=small), 1 << 20).split() == ["NO-TORCH", "ImportError"]
    said = _run(Limits(memory=small, device="cuda"), 40 * _GIB)
    assert said.split() == ["TORCH", "LIMITED", "True"], said
    assert _run(Limits(memory=small, device="cuda"), small // 2).split() == ["TORCH", "ALLOCATED"]


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU the sandbox may reach")
def test_a_gpu_the_kernels_cannot_reach_stops_grading(monkeypatch, tmp_path):
    monkeypatch.setenv("CVCOURSE_DEVICE", "cuda")
    monkeypatch.setattr(sandbox, "_probed", False)
    with pytest.raises(SandboxUnavailable, match=r"CVCOURSE_DEVICE=cuda, but a sandboxed kernel cannot use it"):
        sandbox.probe(tmp_path)
