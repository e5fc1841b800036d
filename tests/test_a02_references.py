"""Assignment 02's reference outputs (made from the instructor's solution) against independent
oracles: F.conv_transpose2d and nn.ConvTranspose2d, F.conv2d on basis images, F.interpolate,
F.max_pool2d / F.max_unpool2d, and the lecture's hand-worked example."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from autograder.course import hidden_reference_file, visible_reference_file
from course_utils import store
from reference_files import close as _close
from reference_files import pair as _pair
from reference_files import reference_cases

A = "02_transposed_conv"


def _cases(name, which=("visible", "hidden")):
    return reference_cases(A, name, which)


def test_seed_worked_example():
    """Input and kernel [[0, 1], [2, 3]], stride 1, no padding: the lecture's answer, worked by hand."""
    case = _cases("conv_transpose_naive")[0]
    x, w, b = case["args"]
    assert x[0, 0].tolist() == [[0, 1], [2, 3]] and w[0, 0].tolist() == [[0, 1], [2, 3]]
    assert not b.any() and case["kwargs"] == {}
    assert case["expected"][0, 0].tolist() == [[0, 0, 1], [0, 4, 6], [4, 12, 9]]
    # the same numbers from the matrix view: M.T of the 3x3 convolution applied to the input
    m = _cases("conv_matrix")[0]
    assert m["args"][0].tolist() == [[0, 1], [2, 3]] and tuple(m["args"][1]) == (3, 3)
    _close((m["expected"].T @ x[0, 0].reshape(-1)).reshape(3, 3), case["expected"][0, 0])


def test_seed_shape_example():
    """The lecture's 3x3 transposed conv with stride 2 and padding 1 takes 2x2 to 4x4 (output padding 1)."""
    size = next(c for c in _cases("conv_transpose_output_size")
                if c["args"] == [2, 3] and c["kwargs"] == {"stride": 2, "padding": 1, "output_padding": 1})
    assert size["expected"] == 4
    layer = _cases("conv_transpose_naive")[1]
    assert tuple(layer["args"][0].shape[2:]) == (2, 2) and tuple(layer["args"][1].shape[2:]) == (3, 3)
    assert layer["kwargs"] == {"stride": 2, "padding": 1, "output_padding": 1}
    assert tuple(layer["expected"].shape[2:]) == (4, 4)


def test_output_size_matches_conv_transpose_module():
    for c in _cases("conv_transpose_output_size"):
        size, k = c["args"]
        layer = torch.nn.ConvTranspose1d(1, 1, k, **c["kwargs"])
        with torch.no_grad():
            assert c["expected"] == layer(torch.zeros(1, 1, size)).shape[-1]


def test_conv_transpose_matches_torch():
    for c in _cases("conv_transpose_naive"):
        x, w, b = c["args"]
        _close(c["expected"], F.conv_transpose2d(x, w, b, **c["kwargs"]))


def test_conv_matrix_columns_are_convolutions_of_basis_images():
    """Column q of M is the (flattened) convolution of the image that is 1 at pixel q and 0 elsewhere."""
    for c in _cases("conv_matrix"):
        w, (h, wd) = c["args"]
        basis = torch.eye(h * wd, dtype=torch.float64).reshape(h * wd, 1, h, wd)
        columns = F.conv2d(basis, w[None, None]).reshape(h * wd, -1)
        _close(c["expected"], columns.T)


def test_conv_matrix_transpose_is_conv_transpose():
    """The lecture's claim: multiplying by M.T is the transposed convolution."""
    gen = torch.Generator().manual_seed(0)
    for c in _cases("conv_matrix"):
        w, (h, wd) = c["args"]
        m = c["expected"]
        y = torch.randn(1, 1, h - w.shape[0] + 1, wd - w.shape[1] + 1, generator=gen, dtype=torch.float64)
        _close((m.T @ y.reshape(-1)).reshape(h, wd), F.conv_transpose2d(y, w[None, None])[0, 0])


def test_upsample_nearest_matches_interpolate():
    for c in _cases("upsample_nearest"):
        x, f = c["args"]
        _close(c["expected"], F.interpolate(x, scale_factor=f, mode="nearest"))


def test_bed_of_nails_is_a_transposed_conv_with_a_corner_kernel():
    for c in _cases("upsample_bed_of_nails"):
        x, f = c["args"]
        channels = x.shape[1]
        corner = torch.zeros(channels, 1, f, f, dtype=torch.float64)
        corner[:, 0, 0, 0] = 1
        _close(c["expected"], F.conv_transpose2d(x, corner, stride=f, groups=channels))


def test_max_pool_with_switches_matches_torch_indices():
    for c in _cases("max_pool_with_switches"):
        x, k, s = c["args"]
        out, switches = c["expected"]
        want_out, want_switches = F.max_pool2d(x, _pair(k), _pair(s), return_indices=True)
        _close(out, want_out, atol=0)
        assert switches.dtype == torch.int64 and torch.equal(switches, want_switches)


def test_pool_cases_include_ties():
    """At least one hidden input has windows whose maximum occurs twice (first one wins)."""
    tied = 0
    for c in _cases("max_pool_with_switches"):
        x, k, s = c["args"]
        windows = x.unfold(2, _pair(k)[0], _pair(s)[0]).unfold(3, _pair(k)[1], _pair(s)[1]).flatten(-2)
        tied += int(((windows == windows.amax(-1, keepdim=True)).sum(-1) > 1).sum())
    assert tied > 0


def test_max_unpool_matches_torch():
    for c in _cases("max_unpool"):
        y, switches, (h, w) = c["args"]
        # a stride-1 window of this size makes the default output size (h, w); the switches do the rest
        window = (h - y.shape[2] + 1, w - y.shape[3] + 1)
        out = F.max_unpool2d(y, switches, kernel_size=window, stride=1, output_size=(h, w))
        _close(c["expected"], out, atol=0)


@pytest.mark.parametrize("which", ["visible", "hidden"])
def test_unpool_switches_come_from_max_pooling(which):
    """Every case's switches are valid flat indices into the output planes."""
    ref = store.load(visible_reference_file(A) if which == "visible" else hidden_reference_file(A))
    for c in ref["exercises"]["max_unpool"]["cases"]:
        y, switches, (h, w) = c["args"]
        assert switches.shape == y.shape and 0 <= int(switches.min()) and int(switches.max()) < h * w


def test_bilinear_kernel_reproduces_bilinear_resize():
    """A stride-f transposed conv with the kernel equals F.interpolate(bilinear) away from the border."""
    gen = torch.Generator().manual_seed(1)
    for c in _cases("bilinear_kernel"):
        (f,) = c["args"]
        kernel = c["expected"]
        k = kernel.shape[0]
        assert kernel.shape == (k, k) and k == 2 * f - f % 2
        x = torch.randn(1, 1, 7, 6, generator=gen, dtype=torch.float64)
        up = F.conv_transpose2d(x, kernel[None, None], stride=f, padding=(k - f) // 2)
        resized = F.interpolate(x, scale_factor=f, mode="bilinear", align_corners=False)
        assert up.shape == resized.shape
        inner = (..., slice(f, -f or None), slice(f, -f or None)) if f > 1 else (...,)
        _close(up[inner], resized[inner], atol=1e-12)


def test_bilinear_kernel_values_by_hand():
    by_factor = {c["args"][0]: c["expected"] for c in _cases("bilinear_kernel")}
    _close(by_factor[2][0], np.array([1, 3, 3, 1]) / 16)
    _close(by_factor[3][2], np.array([1, 2, 3, 2, 1]) / 3)
    _close(by_factor[1], [[1.0]])
