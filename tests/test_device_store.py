"""Device choice, seeding, the determinism switch and the reference store."""

import numpy as np
import pytest
import torch

from course_utils import deterministic, get_device, seed_everything, store
from course_utils.device import check_device


def test_get_device_default_and_override(monkeypatch):
    monkeypatch.delenv("COURSE_DEVICE", raising=False)
    assert get_device().type == ("cuda" if torch.cuda.is_available() else "cpu")
    monkeypatch.setenv("COURSE_DEVICE", "cpu")
    assert get_device() == torch.device("cpu")


def test_an_apple_gpu_only_when_asked_for_and_checks_on_the_cpu_there(monkeypatch):
    """MPS has no float64: chosen by itself it would break every check (their cases are float64)."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    monkeypatch.delenv("COURSE_DEVICE", raising=False)
    assert get_device() == torch.device("cpu")
    monkeypatch.setenv("COURSE_DEVICE", "mps")
    assert get_device() == torch.device("mps") and check_device() == torch.device("cpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_unavailable_device_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("COURSE_DEVICE", "cuda")
    with pytest.raises(ValueError, match="CUDA is not available"):
        get_device()


def test_seed_everything_repeats_all_generators():
    seed_everything(3)
    first = (np.random.rand(), torch.rand(1).item())
    seed_everything(3)
    assert (np.random.rand(), torch.rand(1).item()) == first


def test_deterministic_restores_previous_settings():
    before = (torch.backends.cuda.matmul.allow_tf32, torch.are_deterministic_algorithms_enabled())
    with deterministic():
        assert torch.backends.cuda.matmul.allow_tf32 is False
        assert torch.are_deterministic_algorithms_enabled()
    assert (torch.backends.cuda.matmul.allow_tf32, torch.are_deterministic_algorithms_enabled()) == before


def test_store_round_trip_converts_numpy_and_keeps_structure(tmp_path):
    obj = {"a": np.arange(4.0), "b": (1, 2.5, "x"), "c": [torch.ones(2, dtype=torch.float64)], "d": np.float64(2)}
    back = store.load(store.save(tmp_path / "r.pt", obj))
    assert torch.equal(back["a"], torch.arange(4.0, dtype=torch.float64))
    assert back["b"] == (1, 2.5, "x") and back["d"] == 2.0
    assert back["c"][0].dtype == torch.float64


def test_store_refuses_to_unpickle_code(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    path = tmp_path / "evil.pt"
    torch.save({"x": Evil()}, path)
    with pytest.raises(Exception):
        store.load(path)
