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


def test_message_reports_shape_dtype_errors_and_which_elements():
    result = compare(np.array([1.0, 2.0]), np.array([1.0, 2.5]), rtol=1e-3, atol=0)
    assert not result.ok and result.failure == "values"
    for part in ("shape (2,)", "float64", "1 of 2 element(s)", "index (1,)", "max abs err 5.00e-01",
                 "max rel err 2.00e-01"):
        assert part in result.message
    assert "returned 2.0, expected 2.5" in result.message  # the first differing element
    assert "rtol" not in result.message  # the tolerance is stated once, by the caller
    assert result.max_abs == pytest.approx(0.5) and result.max_rel == pytest.approx(0.2)


def test_indices_and_counts_say_which_element_differs_without_error_sizes():
    result = compare(np.array([3, 0, 2, 1]), np.array([0, 2, 3, 1]), check_dtype=True)
    assert not result.ok and "values differ at 3 of 4 element(s) (first at index (0,): returned 3, expected 0)" \
        in result.message and "err" not in result.message


def test_tuples_of_numbers_read_as_one_value_and_empty_ones_pass():
    assert compare((1, 2.5), (1, 2.5), check_dtype=True).message == "returned (1, 2.5)"
    assert compare([], [], 0, 0).ok and compare((), (), 0, 0, check_dtype=True).ok
    assert not compare((1, 2), (1, 3), check_dtype=True).ok


def test_small_outputs_are_shown_side_by_side_and_large_ones_are_not():
    result = compare(np.array([[20.0, 1.0], [3.0, 4.0]]), np.array([[16.0, 1.0], [3.0, 4.0]]))
    assert result.details[0].split() == ["returned", "expected"]
    assert "20." in result.details[1] and "16." in result.details[1]  # the same row, next to each other
    assert compare(np.zeros(17), np.ones(17)).details == ()


@pytest.mark.parametrize("actual, expected, message", [
    (np.float32([1, 2]), np.float64([1, 2]), "returned float32, expected float64"),
    (np.float64([1, 2]), np.int64([1, 2]), "returned float64, expected int64"),
    (torch.ones(2, dtype=torch.float32), torch.ones(2, dtype=torch.float64), "returned float32, expected float64"),
    (3.0, 3, "returned float 3.0, expected int 3"),
    (True, 1, "returned bool True, expected int 1"),
    (1, True, "returned int 1, expected bool True"),
    (torch.tensor(3), 3, "returned an array of shape () (int64), expected a Python int"),
    (3, np.array(3), "returned int 3, expected an array of shape ()"),
])
def test_dtype_is_graded_when_asked(actual, expected, message):
    strict = compare(actual, expected, check_dtype=True)
    assert not strict.ok and strict.message == message and strict.failure in ("dtype", "type")
    assert compare(actual, expected).ok  # demo cells compare values only


def test_numpy_scalars_count_as_python_numbers_of_their_kind():
    assert compare(np.int64(3), 3, check_dtype=True).ok
    assert compare(np.float64(0.5), 0.5, check_dtype=True).ok
    assert compare(np.bool_(True), True, check_dtype=True).ok


def test_numbers_read_returned_x_expected_y():
    assert compare(4, 5).message == "returned 4, expected 5"
    assert compare(5, 5).message == "returned 5"
    assert compare(0.5, 0.25).message == "returned 0.5, expected 0.25 (abs err 2.50e-01)"


def test_tuple_fields_and_dict_keys_name_the_failing_item():
    a, b = np.zeros(2), np.ones(2)
    named = compare((a, a, b), (a, a, a), fields=("dx", "dw", "db"))
    assert named.message.startswith("db: ") and "dx" not in named.message
    assert compare((a, 3), (a, 4)).message == "item 1: returned 3, expected 4"
    keyed = compare({"loss": 1.0, "n": 2}, {"loss": 1.0, "n": 3})
    assert keyed.message == "['n']: returned 2, expected 3"


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
    assert "tolerance rtol=1e-07" in captured.out


def test_none_matches_only_none():
    # a case argument may be None (07's style_transfer without a content layer): inputs are compared too
    assert compare(None, None).ok and compare([None, "a"], [None, "a"]).ok
    assert not compare(0.0, None).ok and not compare(None, torch.zeros(1)).ok


def test_a_shape_is_judged_before_the_array_is_converted():
    """A tensor that claims more elements than it holds (one element, stride 0) fails on its shape without
    being converted: bfloat16 becomes float32 for numpy, which would allocate every element (1 PiB here)."""
    claim = torch.zeros(1, dtype=torch.bfloat16).expand(2 ** 48)
    result = compare(claim, np.zeros(3, dtype=np.float32), check_dtype=True)
    assert not result.ok and result.failure == "shape"
    assert result.message == "returned shape (281474976710656,), expected (3,)"
    wide = compare(claim, 3.0, check_dtype=True)
    assert not wide.ok and wide.failure == "type" and "an array of shape (281474976710656,)" in wide.message


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float8_e4m3fn, torch.complex32])
def test_a_dtype_numpy_lacks_is_compared_not_raised(dtype):
    actual = torch.ones(3).to(dtype)
    assert compare(actual, np.ones(3)).ok  # values only: float32 or complex64 for numpy
    result = compare(actual, np.ones(3), check_dtype=True)
    assert not result.ok and result.failure == "dtype" and str(dtype).replace("torch.", "") in result.message
