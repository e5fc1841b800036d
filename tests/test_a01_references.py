"""Assignment 01's reference outputs (made from the instructor's solution) against independent
oracles: torch.nn.functional, autograd, nn.Conv2d parameter counts, and the seeds' worked examples."""

import pytest
import torch
import torch.nn.functional as F

from reference_files import close as _close
from reference_files import pair as _pair
from reference_files import reference_cases

A = "01_conv_pool"


def _cases(name, which=("visible", "hidden")):
    return reference_cases(A, name, which)


def test_seed_worked_examples():
    conv = _cases("conv_forward_naive")[0]
    assert conv["expected"][0, 0, 0, 0].item() == 16
    expected = {"max": [[3, 4], [6, 5]], "min": [[-4, -2], [-1, 0]], "avg": [[0, 1], [2, 1]]}
    seen = {c["kwargs"]["mode"]: c["expected"][0, 0] for c in _cases("pool_forward")[:3]}
    for mode, grid in expected.items():
        _close(seen[mode], grid)


def test_conv_output_size_matches_conv2d_shapes():
    for c in _cases("conv_output_size"):
        size, k = c["args"]
        out = F.conv1d(torch.zeros(1, 1, size), torch.zeros(1, 1, k), **c["kwargs"])
        assert c["expected"] == out.shape[-1]


@pytest.mark.parametrize("name", ["conv_forward_naive", "conv_forward_im2col"])
def test_conv_forward_matches_conv2d(name):
    for c in _cases(name):
        x, w, b = c["args"]
        _close(c["expected"], F.conv2d(x, w, b, **c["kwargs"]))


def test_conv_backward_matches_autograd():
    for c in _cases("conv_backward_naive"):
        dout, x, w, b = (t.clone().requires_grad_(i > 0) for i, t in enumerate(c["args"]))
        F.conv2d(x, w, b, **c["kwargs"]).backward(dout)
        for got, want in zip(c["expected"], (x.grad, w.grad, b.grad)):
            _close(got, want, atol=1e-9)


def test_im2col_matches_unfold():
    for c in _cases("im2col"):
        x, k = c["args"]
        _close(c["expected"], F.unfold(x, _pair(k), stride=c["kwargs"].get("stride", 1),
                                       padding=c["kwargs"].get("padding", 0)))


def test_pool_matches_torch_pooling():
    ops = {"max": F.max_pool2d, "min": lambda x, k, s: -F.max_pool2d(-x, k, s), "avg": F.avg_pool2d}
    modes = []
    for c in _cases("pool_forward"):
        x, k, s = c["args"]
        mode = c["kwargs"].get("mode", "max")  # the spec's default
        modes.append(mode)
        if mode not in ops:
            assert c["expected"] == {"<raises>": "ValueError"}, mode
            continue
        _close(c["expected"], ops[mode](x, _pair(k), _pair(s)))
    assert "mean" in modes, "an unknown mode is a case"
    assert any("mode" not in c["kwargs"] for c in _cases("pool_forward")), "the default mode is a case"


def test_im2col_keeps_the_dtype_of_x():
    dtypes = {c["args"][0].dtype for c in _cases("im2col")}
    assert torch.float32 in dtypes
    for c in _cases("im2col"):
        assert c["expected"].dtype == c["args"][0].dtype


def test_receptive_field_matches_gradient_support():
    """The receptive field is the extent of the input pixels that move one output unit."""
    for c in _cases("receptive_field"):
        kernels = c["args"][0]
        strides = c["args"][1] if len(c["args"]) > 1 else [1] * len(kernels)
        x = torch.zeros(1, 1, 1, 200, dtype=torch.float64, requires_grad=True)
        y = x
        for k, s in zip(kernels, strides):
            y = F.conv2d(y, torch.ones(1, 1, 1, k, dtype=torch.float64), stride=(1, s))
        y[0, 0, 0, y.shape[-1] // 2].backward()
        support = torch.nonzero(x.grad[0, 0, 0]).flatten()
        assert c["expected"] == int(support.max() - support.min() + 1)


def test_param_counts_match_nn_conv2d():
    def count(*modules):
        return sum(p.numel() for m in modules for p in m.parameters())

    for c in _cases("conv_param_counts"):
        cin, cout, k = c["args"]
        bias = c["kwargs"].get("bias", True)
        standard = torch.nn.Conv2d(cin, cout, k, bias=bias)
        depthwise = torch.nn.Conv2d(cin, cin, k, groups=cin, bias=bias)
        pointwise = torch.nn.Conv2d(cin, cout, 1, bias=bias)
        assert tuple(c["expected"]) == (count(standard), count(depthwise, pointwise))


def test_residual_block_matches_functional_reference():
    for c in _cases("residual_block"):
        cin, cout, x = c["args"]
        shapes = {"conv1.weight": (cout, cin, 3, 3), "conv1.bias": (cout,),
                  "conv2.weight": (cout, cout, 3, 3), "conv2.bias": (cout,)}
        if cin != cout:
            shapes |= {"shortcut.weight": (cout, cin, 1, 1), "shortcut.bias": (cout,)}
        gen = torch.Generator().manual_seed(0)
        p = {k: torch.randn(shapes[k], generator=gen, dtype=torch.float64) * 0.1 for k in sorted(shapes)}
        main = F.conv2d(F.relu(F.conv2d(x, p["conv1.weight"], p["conv1.bias"], padding=1)),
                        p["conv2.weight"], p["conv2.bias"], padding=1)
        short = x if cin == cout else F.conv2d(x, p["shortcut.weight"], p["shortcut.bias"])
        y, n_params, x_unchanged = c["expected"]
        _close(y, F.relu(main + short))
        assert n_params == sum(v.numel() for v in p.values())
        assert x_unchanged is True
