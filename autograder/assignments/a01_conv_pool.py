"""Graded cases and sample bugs of assignment 01: convolution and pooling by hand.

The worked examples of the lecture notes are visible cases: the 5x5 image whose top-left output under
the 3x3 filter is 16, and the 5x5 feature map pooled with a 3x3 window and stride 2 (max, min and avg).
Hidden cases use other shapes, strides, paddings, non-square kernels and batches larger than one, a
float32 input for im2col (its columns keep x's dtype), pooling with the default mode and with a mode that
must raise ValueError. Each exercise lists the rules its docstring states beside the cases that check
them (``spec_rules``).
"""

from __future__ import annotations

import numpy as np
import torch

from . import Bug, Case, Exercise, Rule, UNCHANGED, forbids_rule, on_cases, randn

#: The lecture's 5x5 input image and 3x3 filter (top-left output 16), as (1, 1, H, W) batches.
SEED_IMAGE = np.array([[9, 4, 1, 2, 2],
                       [1, 1, 1, 0, 4],
                       [1, 2, 1, 0, 6],
                       [1, 0, 0, 2, 1],
                       [9, 6, 7, 4, 1]], dtype=np.float64)[None, None]
SEED_FILTER = np.array([[0, 2, 1],
                        [4, 1, 0],
                        [1, 0, 1]], dtype=np.float64)[None, None]

#: The lecture's 5x5 feature map for pooling (pool size 3, stride 2).
SEED_FEATURES = np.array([[-4, 0, -2, 4, 1],
                          [3, 1, 0, 2, 1],
                          [1, 0, 1, 1, 1],
                          [4, 6, 5, 1, 0],
                          [-1, 2, 0, 0, 0]], dtype=np.float64)[None, None]

_EXACT = {"rtol": 0.0, "atol": 0.0}
_FLOAT = {"rtol": 1e-7, "atol": 1e-9}


def _conv_rules(channels: tuple, padded: tuple) -> tuple[Rule, ...]:
    """The rules of both forward convolutions, whose cases (:func:`_conv_cases`) share their layout but
    for the last hidden case; ``channels`` and ``padded`` are the hidden cases with C > 1 and padding > 0."""
    every = on_cases((1, 2, 3), (1, 2, 3, 4, 5))
    return (
        Rule("Cross-correlation, no kernel flip: out[n, f, i, j] = b[f] + sum over c, u, v of "
             "x_pad[n, c, i*stride + u, j*stride + v] * w[f, c, u, v].",
             every + ": visible 1 is the lecture's example (top-left 16)"),
        Rule("b[f] is added to every output of filter f.", on_cases((2, 3), (1, 2, 3, 4, 5), "non-zero biases")),
        Rule("The sum runs over all input channels.", on_cases((2, 3), channels, "C > 1")),
        Rule("stride is the step of the window along H and W.", on_cases((3,), (2, 4), "stride 2 and 3")),
        Rule("padding adds zeros on each side of H and W (N and C are not padded).",
             on_cases((2,), padded, "padding 1 and 2")),
        Rule("H' = conv_output_size(H, KH, stride, padding), W' likewise with KW (floor included).",
             every + ": shape of each output; hidden 4 needs the floor, hidden 1 and 4 have KH != KW"),
        Rule("The output is float64.", "every case: dtype"),
        UNCHANGED,
    )


def _conv(seed: int, x_shape: tuple, n_filters: int, kernel: tuple, stride: int = 1,
          padding: int = 0) -> Case:
    """A random convolution case: x, w, b from three seeds derived from ``seed``."""
    c = x_shape[1]
    x = randn(*x_shape, seed=seed)
    w = randn(n_filters, c, *kernel, seed=seed + 1)
    b = randn(n_filters, seed=seed + 2)
    return Case(args=(x, w, b), kwargs={"stride": stride, "padding": padding})


def _conv_cases(base: int, last: tuple) -> dict[str, list[Case]]:
    """Visible and hidden forward-convolution cases with seeds from ``base``: the lecture example,
    then shapes with strides, paddings, non-square and 1x1 kernels; ``last`` is
    ``(x_shape, n_filters, kernel, stride, padding)`` of the final hidden case."""
    return {
        "visible": [
            Case(args=(SEED_IMAGE, SEED_FILTER, np.zeros(1))),
            _conv(base + 10, (2, 3, 6, 6), 4, (3, 3), stride=1, padding=1),
            _conv(base + 20, (1, 2, 7, 7), 3, (3, 3), stride=2, padding=0),
        ],
        "hidden": [
            _conv(base + 30, (2, 3, 8, 7), 2, (2, 4), stride=1, padding=0),
            _conv(base + 40, (1, 2, 9, 9), 3, (5, 5), stride=2, padding=1),
            _conv(base + 50, (3, 4, 5, 6), 2, (1, 1), stride=1, padding=0),
            _conv(base + 60, (2, 1, 10, 8), 2, (3, 2), stride=3, padding=2),
            _conv(base + 70, *last[:3], stride=last[3], padding=last[4]),
        ],
    }


def _conv_backward(seed: int, x_shape: tuple, n_filters: int, kernel: tuple, stride: int = 1,
                   padding: int = 0) -> Case:
    """A random backward case: the upstream gradient has the forward output's shape."""
    n, c, h, w_in = x_shape
    h_out = (h + 2 * padding - kernel[0]) // stride + 1
    w_out = (w_in + 2 * padding - kernel[1]) // stride + 1
    dout = randn(n, n_filters, h_out, w_out, seed=seed + 3)
    x = randn(*x_shape, seed=seed)
    w = randn(n_filters, c, *kernel, seed=seed + 1)
    b = randn(n_filters, seed=seed + 2)
    return Case(args=(dout, x, w, b), kwargs={"stride": stride, "padding": padding})


def _pool(x: np.ndarray, pool_size, stride, mode: str) -> Case:
    return Case(args=(x, pool_size, stride), kwargs={"mode": mode})


def _residual(in_channels: int, out_channels: int, x_shape: tuple, seed: int) -> Case:
    return Case(args=(in_channels, out_channels, torch.from_numpy(randn(*x_shape, seed=seed))))


EXERCISES = [
    Exercise(
        name="conv_output_size",
        points=1,
        visible=[
            Case(args=(5, 3)),
            Case(args=(32, 3), kwargs={"stride": 1, "padding": 1}),
            Case(args=(7, 3), kwargs={"stride": 2, "padding": 0}),
        ],
        hidden=[
            Case(args=(28, 5), kwargs={"stride": 1, "padding": 2}),
            Case(args=(224, 7), kwargs={"stride": 2, "padding": 3}),
            Case(args=(6, 3), kwargs={"stride": 2, "padding": 1}),
            Case(args=(10, 4), kwargs={"stride": 3, "padding": 0}),
            Case(args=(13, 2), kwargs={"stride": 2, "padding": 0}),
            Case(args=(1, 1)),
        ],
        **_EXACT,
        hint="Use integer floor division: (in_size + 2*padding - kernel_size) // stride + 1.",
        spec_rules=(
            Rule("floor((in_size + 2*padding - kernel_size) / stride) + 1.", on_cases((1, 2, 3), (1, 2, 3, 4, 5, 6))),
            Rule("An exact int: integer arithmetic (//), not float division.",
                 "every case: the kind of the number (int, not float)"),
            Rule("stride and padding default to 1 and 0.", on_cases((1,), (6,), "called without them")),
            Rule("padding is added on each side of the axis.", on_cases((2,), (1, 2, 3), "padding 1, 2, 3")),
            Rule("The floor applies when stride does not divide in_size + 2*padding - kernel_size.",
                 on_cases((), (2, 3, 5), "quotients 111.5, 2.5 and 5.5 (ties of round() included); visible 3 "
                                    "and hidden 4 divide exactly")),
        ),
    ),
    Exercise(
        name="conv_forward_naive",
        builds_on=("conv_output_size",),
        points=3,
        **_conv_cases(100, last=((1, 1, 4, 4), 1, (4, 4), 1, 0)),
        **_FLOAT,
        hint="Pad only H and W, multiply each window by w[f] without flipping it, sum over channels and "
             "kernel positions, then add b[f].",
        forbids=('torch.nn.functional.conv2d', 'torch.nn.Conv2d', 'scipy.signal', 'scipy.ndimage'),
        spec_rules=_conv_rules(channels=(1, 2, 3), padded=(2, 4)) + (
            forbids_rule("a library convolution (F.conv2d, nn.Conv2d, scipy.signal, scipy.ndimage)"),
        ),
    ),
    Exercise(
        name="conv_backward_naive",
        fields=('dx', 'dw', 'db'),
        points=3,
        visible=[
            _conv_backward(210, (2, 3, 5, 5), 4, (3, 3), stride=1, padding=1),
            _conv_backward(220, (1, 2, 7, 7), 3, (3, 3), stride=2, padding=0),
        ],
        hidden=[
            _conv_backward(230, (2, 2, 6, 5), 3, (2, 3), stride=1, padding=0),
            _conv_backward(240, (3, 2, 8, 8), 2, (3, 3), stride=2, padding=1),
            _conv_backward(250, (2, 3, 7, 6), 2, (3, 1), stride=3, padding=2),
            _conv_backward(260, (2, 4, 4, 4), 5, (1, 1), stride=1, padding=0),
            _conv_backward(270, (2, 1, 9, 9), 2, (5, 5), stride=2, padding=2),
        ],
        rtol=1e-7,
        atol=1e-8,
        hint="db sums dout over the batch and all positions; dw and dx add up the contribution of every "
             "window (+=) on the padded input, and dx is cropped back to (H, W) at the end.",
        forbids=('torch.nn.functional.conv2d', 'torch.nn.Conv2d', 'torch.autograd', 'scipy.signal', 'scipy.ndimage'),
        spec_rules=(
            Rule("(dx, dw, db) are the gradients of the loss sum(out * dout) of conv_forward_naive.",
                 on_cases((1, 2), (1, 2, 3, 4, 5), "the references agree with autograd")),
            Rule("dx, dw and db have the shapes of x, w and b, float64.", "every case: shape and dtype of each"),
            Rule("db sums dout over the batch and all positions.", on_cases((1,), (1, 2, 3, 4, 5), "N > 1")),
            Rule("Overlapping windows accumulate (+=) into dx and dw.",
                 on_cases((1, 2), (1, 2, 5), "kernels wider than the stride")),
            Rule("dx is computed on the padded input and cropped back to (H, W).",
                 on_cases((1,), (2, 3, 5), "padding 1 and 2")),
            Rule("stride is the step of the windows.", on_cases((2,), (2, 3, 5), "stride 2 and 3; in hidden 3 the "
                                                                            "stride exceeds the kernel's width")),
            UNCHANGED,
            forbids_rule("torch's convolutions or autograd, scipy.signal or scipy.ndimage"),
        ),
    ),
    Exercise(
        name="im2col",
        points=2,
        visible=[
            Case(args=(randn(1, 1, 4, 4, seed=310), 3)),
            Case(args=(randn(2, 3, 5, 5, seed=320), (2, 3)), kwargs={"stride": 1, "padding": 1}),
            Case(args=(randn(1, 2, 7, 7, seed=330), 3), kwargs={"stride": 2, "padding": 0}),
        ],
        hidden=[
            Case(args=(randn(2, 2, 6, 8, seed=340), (3, 2)), kwargs={"stride": 2, "padding": 1}),
            Case(args=(randn(3, 1, 5, 5, seed=350), 1)),
            Case(args=(randn(1, 3, 9, 7, seed=360), 4), kwargs={"stride": 3, "padding": 2}),
            Case(args=(randn(2, 4, 3, 3, seed=370), (3, 3)), kwargs={"stride": 1, "padding": 0}),
            Case(args=(randn(1, 2, 6, 6, seed=380), (1, 5)), kwargs={"stride": 1, "padding": 2}),
            Case(args=(randn(2, 2, 5, 4, seed=390).astype(np.float32), 2), kwargs={"stride": 2, "padding": 1}),
        ],
        **_FLOAT,
        hint="Rows run over (c, kh, kw) and columns over (oh, ow): after sliding_window_view, move the two "
             "kernel axes next to the channel axis before reshaping.",
        forbids=('torch.nn.functional.unfold', 'torch.nn.Unfold'),
        spec_rules=(
            Rule("cols[n, :, oh*W' + ow] is the window x_pad[n, :, oh*stride:oh*stride + KH, "
                 "ow*stride:ow*stride + KW].ravel().", on_cases((1, 2, 3), (1, 2, 3, 4, 5, 6))),
            Rule("Rows enumerate (c, kh, kw) in C order.", on_cases((2, 3), (1, 3, 4, 5, 6), "C > 1, KH != KW in "
                                                                                      "visible 2, hidden 1, 5")),
            Rule("Columns enumerate the output positions (oh, ow) in C order.",
                 on_cases((1, 2, 3), (1, 2, 3, 5, 6), "several output rows and columns; H' != W' in visible 2, "
                                                "hidden 1, 3, 5")),
            Rule("The shape is (N, C*KH*KW, H'*W') with H', W' as conv_output_size gives them.",
                 "every case: shape"),
            Rule("kernel_size is K for a square window or (KH, KW).",
                 on_cases((1, 2, 3), (1, 2, 3, 4, 5, 6), "an int in visible 1, 3, hidden 2, 3, 6; a pair in "
                                                   "visible 2, hidden 1, 4, 5")),
            Rule("stride is the step of the window along H and W.", on_cases((3,), (1, 3, 6), "stride 2 and 3")),
            Rule("padding adds zeros on each side of H and W.", on_cases((2,), (1, 3, 5, 6), "padding 1 and 2")),
            Rule("The columns have the dtype of x.", "every case: dtype; hidden 6: x in float32"),
            UNCHANGED,
            forbids_rule("F.unfold or nn.Unfold"),
        ),
    ),
    Exercise(
        name="conv_forward_im2col",
        builds_on=("conv_output_size", "im2col"),
        points=1,
        **_conv_cases(400, last=((4, 3, 12, 12), 6, (3, 3), 1, 1)),
        **_FLOAT,
        hint="Reshape w to (F, C*KH*KW), multiply it with the columns of im2col in one matmul, add "
             "b[:, None] and reshape to (N, F, H', W').",
        forbids=('torch.nn.functional.conv2d', 'torch.nn.Conv2d', 'scipy.signal', 'scipy.ndimage'),
        spec_rules=_conv_rules(channels=(1, 2, 3, 5), padded=(2, 4, 5)) + (
            Rule("The same numbers as conv_forward_naive, up to rounding.", "every case: to rtol 1e-7, atol 1e-9"),
            forbids_rule("a library convolution (F.conv2d, nn.Conv2d, scipy.signal, scipy.ndimage)"),
        ),
    ),
    Exercise(
        name="pool_forward",
        points=2,
        visible=[
            _pool(SEED_FEATURES, 3, 2, "max"),
            _pool(SEED_FEATURES, 3, 2, "min"),
            _pool(SEED_FEATURES, 3, 2, "avg"),
        ],
        hidden=[
            _pool(randn(2, 3, 8, 8, seed=610), 2, 2, "max"),
            _pool(randn(1, 2, 7, 9, seed=620), 3, 2, "avg"),
            _pool(randn(2, 2, 6, 5, seed=630), 2, 1, "min"),
            _pool(randn(1, 3, 9, 9, seed=640), (2, 3), (2, 3), "max"),
            _pool(randn(3, 1, 10, 7, seed=650), 3, 3, "avg"),
            _pool(randn(1, 2, 5, 8, seed=660), (3, 2), (1, 2), "min"),
            Case(args=(SEED_FEATURES, 3, 2), kwargs={"mode": "mean"}, raises="ValueError"),
            Case(args=(randn(2, 2, 5, 7, seed=670), 2, 3)),
        ],
        **_FLOAT,
        hint="Windows start every `stride` pixels with no padding, incomplete windows at the border are "
             "dropped, and 'avg' divides by the number of pixels in a window.",
        forbids=('torch.nn.functional.max_pool2d', 'torch.nn.functional.avg_pool2d', 'torch.nn.MaxPool2d', 'torch.nn.AvgPool2d', 'scipy.ndimage'),
        spec_rules=(
            Rule("mode 'max' takes the maximum of each window.", on_cases((1,), (1, 4, 8))),
            Rule("mode 'min' takes the minimum of each window.", on_cases((2,), (3, 6))),
            Rule("mode 'avg' takes the mean of the PH*PW values of each window.", on_cases((3,), (2, 5))),
            Rule("mode defaults to 'max'.", on_cases((), (8,), "called without mode")),
            Rule("Any other mode raises ValueError.", on_cases((), (7,), "mode='mean'")),
            Rule("Each channel is pooled separately.", on_cases((), (1, 2, 3, 4, 6, 8), "C > 1")),
            Rule("pool_size is P or (PH, PW); stride is S or (SH, SW).",
                 on_cases((1, 2, 3), (1, 2, 3, 4, 5, 6, 8), "pairs in hidden 4 and 6")),
            Rule("No padding: H' = floor((H - PH) / SH) + 1 and W' likewise; windows that would run past "
                 "the border are dropped.",
                 "every case: shape; windows are dropped in hidden 4, 5, 8, and hidden 8 has a stride "
                 "larger than the window"),
            Rule("The output is float64.", "every case: dtype"),
            UNCHANGED,
            forbids_rule("torch's pooling (F.max_pool2d, F.avg_pool2d, nn.MaxPool2d, nn.AvgPool2d) or scipy.ndimage"),
        ),
    ),
    Exercise(
        name="receptive_field",
        points=1,
        visible=[
            Case(args=([3, 3],)),
            Case(args=([3, 3, 3],)),
            Case(args=([7, 3, 3], [2, 2, 1])),
        ],
        hidden=[
            Case(args=([3] * 6,)),
            Case(args=([5, 5], [1, 1])),
            Case(args=([3, 3, 3, 3], [2, 2, 2, 2])),
            Case(args=([11, 3, 3], [4, 1, 1])),
            Case(args=([2, 2, 2], [2, 2, 2])),
            Case(args=([1, 1],)),
        ],
        **_EXACT,
        hint="Start from one pixel; each layer adds (k - 1) times the product of the strides of the layers "
             "before it.",
        spec_rules=(
            Rule("The width of the input patch that can influence one output unit.",
                 on_cases((1, 2, 3), (1, 2, 3, 4, 5, 6), "the references agree with autograd's gradient support")),
            Rule("For L 3x3 layers with stride 1 it is 1 + 2L.", on_cases((1, 2), (1,), "L = 2, 3, 6")),
            Rule("strides=None means every stride is 1.", on_cases((1, 2), (1, 6), "called without strides; "
                                                                           "hidden 2 passes ones")),
            Rule("Layers are listed first layer first: a layer's stride widens the layers after it.",
                 on_cases((3,), (3, 4, 5), "strides > 1, different per layer in visible 3 and hidden 4")),
            Rule("A 1x1 layer adds nothing (one pixel).", on_cases((), (6,))),
            Rule("The result is an int.", "every case: the kind of the number"),
        ),
    ),
    Exercise(
        name="conv_param_counts",
        fields=('standard', 'separable'),
        points=1,
        visible=[
            Case(args=(3, 64, 3)),
            Case(args=(32, 64, 3), kwargs={"bias": False}),
        ],
        hidden=[
            Case(args=(64, 128, 5)),
            Case(args=(128, 128, 3), kwargs={"bias": False}),
            Case(args=(1, 1, 1)),
            Case(args=(16, 32, (3, 5))),
            Case(args=(256, 512, 7), kwargs={"bias": True}),
        ],
        **_EXACT,
        hint="A standard conv has C_in*C_out*K*K weights; a separable one has C_in*K*K depthwise plus "
             "C_in*C_out pointwise weights, and with bias=True each of the convs has one bias per output "
             "channel.",
        forbids=('torch.nn',),
        spec_rules=(
            Rule("standard counts a KHxKW conv from C_in to C_out channels.", on_cases((1, 2), (1, 2, 3, 4, 5))),
            Rule("separable counts a depthwise KHxKW conv (one filter per input channel) and a pointwise 1x1 "
                 "conv from C_in to C_out channels.", on_cases((1, 2), (1, 2, 3, 4, 5))),
            Rule("bias=True (the default) gives every conv (standard, depthwise, pointwise) one bias per "
                 "output channel.", on_cases((1,), (1, 3, 4, 5), "the default, and bias=True passed in hidden 5")),
            Rule("bias=False: no biases.", on_cases((2,), (2,))),
            Rule("kernel_size is K or (KH, KW).", on_cases((1, 2), (1, 2, 3, 4, 5), "a pair in hidden 4")),
            Rule("Both counts are ints.", "every case: the kind of each number"),
            forbids_rule("torch modules (torch.nn)"),
        ),
    ),
    Exercise(
        name="residual_block",
        fields=('y', 'n_params', 'x_unchanged'),
        points=2,
        visible=[
            _residual(3, 3, (2, 3, 6, 6), seed=910),
            _residual(3, 8, (1, 3, 5, 5), seed=920),
        ],
        hidden=[
            _residual(4, 4, (1, 4, 7, 5), seed=930),
            _residual(2, 6, (3, 2, 4, 4), seed=940),
            _residual(5, 2, (2, 5, 6, 6), seed=950),
            _residual(1, 1, (1, 1, 3, 3), seed=960),
        ],
        numpy=False,
        **_FLOAT,
        hint="Use the attribute names conv1, conv2 and shortcut, keep the bias of every conv, pad the 3x3 "
             "convs by 1, and apply the last ReLU after adding the shortcut.",
        spec_rules=(
            Rule("forward computes relu(conv2(relu(conv1(x))) + shortcut(x)): the last ReLU after the "
                 "addition.", "every case: y"),
            Rule("The attributes are named conv1, conv2 and shortcut.",
                 "every case: the probe sets the weights in the order of the sorted parameter names"),
            Rule("conv1 and conv2 are 3x3 convs with padding 1 and a bias.", "every case: y and n_params"),
            Rule("shortcut is nn.Identity() when in_channels == out_channels.",
                 on_cases((1,), (1, 4), "n_params counts no shortcut parameters")),
            Rule("Otherwise shortcut is a 1x1 conv with a bias.", on_cases((2,), (2, 3))),
            Rule("forward maps [N, in_channels, H, W] to [N, out_channels, H, W].", "every case: shape of y"),
            Rule("forward does not modify x in place.",
                 "every case: x_unchanged (the probe compares x with a copy, on any device) and the input check"),
        ),
    ),
]

BUGS = [
    Bug(
        exercise="conv_forward_naive",
        find="window * w[f])",
        replace="window * w[f, :, ::-1, ::-1])",
        why="flips the kernel as in the textbook definition of convolution, although frameworks (and the "
            "exercise) compute cross-correlation",
    ),
    Bug(
        exercise="conv_backward_naive",
        find="db = dout.sum(axis=(0, 2, 3))",
        replace="db = dout.sum(axis=(2, 3)).mean(axis=0)",
        why="averages the bias gradient over the batch instead of summing it, as if the loss were a mean",
    ),
    Bug(
        exercise="pool_forward",
        find="windows.min(axis=(-2, -1))",
        replace="-windows.max(axis=(-2, -1))",
        why="takes min pooling as negated max pooling but forgets to negate the input: min(a) = -max(-a)",
    ),
    Bug(
        exercise="receptive_field",
        find="field, jump = 1, 1",
        replace="field, jump = 0, 1",
        why="starts counting from zero pixels instead of the one pixel a unit sees before any layer, so "
            "L 3x3 layers give 2L instead of 1 + 2L",
    ),
]
