"""course_utils.checks against numpy.allclose as the independent oracle, and its messages."""

import numpy as np
import pytest
import torch

from course_utils.checks import assert_close, compare


@pytest.mark.parametrize("seed", range(20))
def test_compare_agrees_with_numpy_allclose(seed):
    rng = np.random.default_rng(seed)
    e = rng.standard_normal((3, 4)) * 10.0 ** rng.integers(-3, 3)
    a = e + rng.standard_normal((3, 4)) * 10.0 ** rng.integers(-12, 0)
    rtol, atol = 10.0 ** rng.integers(-9, -2), 10.0 ** rng.integers(-12, -3)
    assert compare(a, e, rtol, atol).ok == np.allclose(a, e, rtol=rtol, atol=atol)


def test_message_reports_shape_dtype_errors_and_tolerance():
    result = compare(np.array([1.0, 2.0]), np.array([1.0, 2.5]), rtol=1e-3, atol=0)
    assert not result.ok
    for part in ("shape (2,)", "float64", "max abs err 5.00e-01", "max rel err 2.00e-01", "rtol=0.001"):
        assert part in result.message
    assert result.max_abs == pytest.approx(0.5) and result.max_rel == pytest.approx(0.2)


def test_torch_and_numpy_mix_and_nested_structures():
    t = torch.arange(6, dtype=torch.float64).reshape(2, 3)
    assert compare((t, {"b": 1.0}), (t.numpy(), {"b": 1.0})).ok
    assert not compare((t, 2), (t.numpy(), 3)).ok
    assert not compare(t, t.T.numpy()).ok  # shape mismatch, not broadcast
    assert "expected (3, 2)" in compare(t, t.T.numpy()).message


@pytest.mark.parametrize("bad", [None, "text", object(), [1.0, 2.0]])
def test_wrong_types_fail_cleanly(bad):
    assert not compare(bad, np.zeros(2)).ok or isinstance(bad, list)


def test_nan_and_inf_handling():
    assert compare(np.array([np.nan, 1.0]), np.array([np.nan, 1.0])).ok
    assert not compare(np.array([np.nan, 1.0]), np.array([0.0, 1.0])).ok
    assert compare(np.array([np.inf]), np.array([np.inf])).ok
    assert not compare(np.array([-np.inf]), np.array([np.inf])).ok


def test_assert_close_prints_and_raises_with_hint(capsys):
    assert_close(np.ones(2), np.ones(2), name="ok")
    with pytest.raises(AssertionError, match="Hint: flip"):
        assert_close(np.ones(2), np.zeros(2), name="bad", hint="flip the kernel")
    captured = capsys.readouterr()
    assert "PASS ok" in captured.out and "FAIL bad" in captured.out and captured.err == ""
