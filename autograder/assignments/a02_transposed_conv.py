"""Graded cases and sample bugs of assignment 02: transposed convolution and upsampling.

The lecture's worked example (input and kernel both [[0, 1], [2, 3]], stride 1, no padding, output
[[0, 0, 1], [0, 4, 6], [4, 12, 9]]) and its 2x2 -> 4x4 shape example (3x3 kernel, stride 2, padding 1,
output padding 1) are visible cases. Hidden cases use other shapes, channel counts, strides, paddings
and output paddings, non-square kernels, odd sizes for pooling and ties between maxima. Each exercise
lists the rules its docstring states beside the cases that check them (``spec_rules``).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from . import Bug, Case, Exercise, Rule, UNCHANGED, forbids_rule, on_cases, randn

#: The lecture's 2x2 input and 2x2 kernel of the transposed-convolution problem.
SEED_INPUT = np.array([[0, 1],
                       [2, 3]], dtype=np.float64)
SEED_KERNEL = np.array([[0, 1],
                        [2, 3]], dtype=np.float64)

#: A small integer feature map for max pooling with switches; its bottom-right 2x2 block has a tie.
POOL_EXAMPLE = np.array([[1, 5, 2, 0],
                         [3, 4, 7, 6],
                         [8, 0, 1, 2],
                         [2, 9, 3, 3]], dtype=np.float64)[None, None]

_EXACT = {"rtol": 0.0, "atol": 0.0}
_FLOAT = {"rtol": 1e-7, "atol": 1e-9}


def _tconv(seed: int, x_shape: tuple, out_channels: int, kernel: tuple, stride: int = 1,
           padding: int = 0, output_padding: int = 0) -> Case:
    """A random transposed-convolution case; w has PyTorch's (C_in, C_out, KH, KW) layout."""
    x = randn(*x_shape, seed=seed)
    w = randn(x_shape[1], out_channels, *kernel, seed=seed + 1)
    b = randn(out_channels, seed=seed + 2)
    return Case(args=(x, w, b), kwargs={"stride": stride, "padding": padding,
                                        "output_padding": output_padding})


def _ties(seed: int, shape: tuple) -> np.ndarray:
    """Small non-negative integers as float64, so that windows often hold equal maxima."""
    return np.random.default_rng(seed).integers(0, 3, shape).astype(np.float64)


def _unpool(x: np.ndarray, pool_size, stride, seed: int | None = None) -> Case:
    """Switches from torch's max pooling of ``x``; the values to unpool are random (seed given) or the
    pooled maxima themselves (``seed=None``, needed when windows overlap and switches repeat)."""
    pooled, switches = F.max_pool2d(torch.from_numpy(x), pool_size, stride, return_indices=True)
    y = pooled.numpy() if seed is None else randn(*pooled.shape, seed=seed)
    return Case(args=(y, switches.numpy(), tuple(x.shape[2:])))


EXERCISES = [
    Exercise(
        name="conv_transpose_output_size",
        points=1,
        visible=[
            Case(args=(2, 2)),
            Case(args=(2, 3), kwargs={"stride": 2, "padding": 1, "output_padding": 1}),
            Case(args=(4, 4), kwargs={"stride": 2, "padding": 1}),
        ],
        hidden=[
            Case(args=(7, 3), kwargs={"stride": 2, "padding": 1}),
            Case(args=(5, 5), kwargs={"stride": 1, "padding": 2}),
            Case(args=(3, 3), kwargs={"stride": 3}),
            Case(args=(8, 2), kwargs={"stride": 2}),
            Case(args=(6, 4), kwargs={"stride": 3, "padding": 2, "output_padding": 2}),
            Case(args=(10, 3), kwargs={"stride": 2, "padding": 0, "output_padding": 1}),
            Case(args=(1, 1)),
        ],
        **_EXACT,
        hint="The stamps start every `stride` pixels and the last one ends at (in_size - 1)*stride + "
             "kernel_size; `padding` is removed at both ends, `output_padding` added at one end only.",
        spec_rules=(
            Rule("(in_size - 1)*stride - 2*padding + kernel_size + output_padding, as nn.ConvTranspose2d "
                 "defines it.", on_cases((1, 2, 3), (1, 2, 3, 4, 5, 6, 7), "the references agree with "
                                                                    "nn.ConvTranspose1d")),
            Rule("padding is cropped from each end.", on_cases((2, 3), (1, 2, 5), "padding 1 and 2")),
            Rule("output_padding is added at the far end only.", on_cases((2,), (5, 6), "output_padding 1 and 2")),
            Rule("stride, padding and output_padding default to 1, 0 and 0.",
                 on_cases((1,), (3, 4, 7), "called without some or all of them")),
            Rule("The result is an int.", "every case: the kind of the number"),
        ),
    ),
    Exercise(
        name="conv_transpose_naive",
        points=3,
        visible=[
            Case(args=(SEED_INPUT[None, None], SEED_KERNEL[None, None], np.zeros(1))),
            _tconv(110, (1, 1, 2, 2), 1, (3, 3), stride=2, padding=1, output_padding=1),
            _tconv(120, (2, 3, 3, 4), 2, (3, 3), stride=1, padding=1),
        ],
        hidden=[
            _tconv(130, (1, 2, 4, 5), 3, (4, 4), stride=2, padding=1),
            _tconv(140, (2, 1, 3, 3), 2, (3, 2), stride=3, padding=0, output_padding=2),
            _tconv(150, (1, 3, 5, 4), 1, (1, 1), stride=2, padding=0, output_padding=1),
            _tconv(160, (2, 2, 4, 4), 2, (5, 5), stride=1, padding=2),
            _tconv(170, (1, 2, 3, 3), 4, (3, 3), stride=2, padding=2, output_padding=1),
            _tconv(180, (3, 1, 2, 3), 1, (2, 2), stride=2, padding=0),
        ],
        **_FLOAT,
        hint="Add x[n, c, i, j] * w[c] (summed over c) into the canvas window that starts at "
             "(i*stride, j*stride), then crop `padding` rows and columns from *each* side (the "
             "output_padding rows stay at the bottom and right) and add b.",
        forbids=('torch.nn.functional.conv_transpose2d', 'torch.nn.ConvTranspose2d'),
        spec_rules=(
            Rule("Every x[n, c, i, j] adds x[n, c, i, j] * w[c] into the canvas window whose top-left corner is "
                 "(i*stride, j*stride); the same numbers as F.conv_transpose2d.",
                 on_cases((1, 2, 3), (1, 2, 3, 4, 5, 6), "visible 1 is the lecture's example; the references "
                                                   "agree with F.conv_transpose2d")),
            Rule("The contributions of all input channels add up, for all output channels at once.",
                 on_cases((3,), (1, 2, 3, 4, 5), "C_in > 1 or C_out > 1")),
            Rule("w has PyTorch's layout (C_in, C_out, KH, KW).", on_cases((3,), (1, 2, 3, 5), "C_in != C_out")),
            Rule("stride is the step of the stamps.", on_cases((2,), (1, 2, 3, 5, 6), "stride 2 and 3; hidden 2, "
                                                                              "3 have gaps between stamps")),
            Rule("padding rows and columns are cropped from each side of the canvas.",
                 on_cases((2, 3), (1, 4, 5), "padding 1 and 2")),
            Rule("output_padding rows and columns (less than stride) are kept at the bottom and right.",
                 on_cases((2,), (2, 3, 5), "output_padding = stride - 1, its largest value")),
            Rule("b is added to each output channel.", on_cases((2, 3), (1, 2, 3, 4, 5, 6), "visible 1 has b = 0")),
            Rule("H' = (H - 1)*stride - 2*padding + KH + output_padding, W' likewise with KW; float64.",
                 "every case: shape and dtype; hidden 2 has KH != KW"),
            UNCHANGED,
            forbids_rule("F.conv_transpose2d or nn.ConvTranspose2d"),
        ),
    ),
    Exercise(
        name="conv_matrix",
        points=2,
        visible=[
            Case(args=(SEED_KERNEL, (3, 3))),
            Case(args=(randn(3, 3, seed=210), (4, 4))),
            Case(args=(randn(2, 3, seed=220), (4, 5))),
        ],
        hidden=[
            Case(args=(randn(3, 3, seed=230), (5, 5))),
            Case(args=(randn(1, 1, seed=240), (3, 4))),
            Case(args=(randn(3, 2, seed=250), (6, 4))),
            Case(args=(randn(4, 4, seed=260), (4, 4))),
            Case(args=(randn(2, 2, seed=270), (2, 3))),
        ],
        **_FLOAT,
        hint="Row i*W' + j is the (H, W) zero image with the kernel (not flipped) pasted at rows "
             "i..i+KH-1 and columns j..j+KW-1, flattened in C order.",
        forbids=('torch.nn.functional.conv2d', 'torch.nn.Conv2d'),
        spec_rules=(
            Rule("M @ x.ravel() is the cross-correlation of x with w (no flip), flattened in C order.",
                 on_cases((1, 2, 3), (1, 2, 3, 4, 5), "the references agree with F.conv2d on basis images; "
                                                "visible 1 is the lecture's kernel")),
            Rule("Row i*W' + j belongs to output position (i, j); column r*W + q to input pixel (r, q).",
                 on_cases((3,), (2, 3, 5), "KH != KW or H != W")),
            Rule("The shape is (H'*W', H*W) with H' = H - KH + 1 and W' = W - KW + 1.",
                 "every case: shape; hidden 4: a kernel as large as the image gives one row"),
            Rule("The matrix is float64, the dtype of w.", "every case: dtype"),
            UNCHANGED,
            forbids_rule("a library convolution (F.conv2d, nn.Conv2d)"),
        ),
    ),
    Exercise(
        name="upsample_nearest",
        points=1,
        visible=[
            Case(args=(SEED_INPUT[None, None], 2)),
            Case(args=(randn(2, 3, 3, 4, seed=310), 3)),
        ],
        hidden=[
            Case(args=(randn(1, 2, 5, 3, seed=320), 2)),
            Case(args=(randn(3, 1, 2, 2, seed=330), 4)),
            Case(args=(randn(1, 1, 4, 4, seed=340), 1)),
            Case(args=(randn(2, 2, 3, 5, seed=350), 3)),
        ],
        **_EXACT,
        hint="Repeat every pixel `factor` times along H and again along W (np.repeat with axis=2, then "
             "axis=3).",
        forbids=('torch.nn.functional.interpolate', 'torch.nn.Upsample', 'torch.nn.UpsamplingNearest2d'),
        spec_rules=(
            Rule("out[n, c, r, q] = x[n, c, r // factor, q // factor], as F.interpolate(mode='nearest').",
                 on_cases((1, 2), (1, 2, 3, 4), "the references agree with F.interpolate; H != W in visible 2, "
                                           "hidden 1, 4")),
            Rule("factor is at least 1; factor 1 gives x's values.", on_cases((), (3,), "factor 1")),
            Rule("The shape is (N, C, H*factor, W*factor), float64.", "every case: shape and dtype"),
            UNCHANGED,
            forbids_rule("F.interpolate, nn.Upsample or nn.UpsamplingNearest2d"),
        ),
    ),
    Exercise(
        name="upsample_bed_of_nails",
        points=1,
        visible=[
            Case(args=(SEED_INPUT[None, None], 2)),
            Case(args=(randn(2, 3, 3, 4, seed=410), 3)),
        ],
        hidden=[
            Case(args=(randn(1, 2, 5, 3, seed=420), 2)),
            Case(args=(randn(3, 1, 2, 2, seed=430), 4)),
            Case(args=(randn(1, 1, 4, 4, seed=440), 1)),
            Case(args=(randn(2, 2, 3, 5, seed=450), 3)),
        ],
        **_EXACT,
        hint="Start from zeros of shape (N, C, H*factor, W*factor) and write x into every factor-th row "
             "and column, starting at row 0 and column 0 (the top-left corner of each block).",
        spec_rules=(
            Rule("out[n, c, factor*i, factor*j] = x[n, c, i, j]: the top-left corner of each block.",
                 on_cases((1, 2), (1, 2, 3, 4))),
            Rule("Every other position is zero.", on_cases((1, 2), (1, 2, 4), "factor 2, 3 and 4")),
            Rule("factor is at least 1; factor 1 gives x's values.", on_cases((), (3,), "factor 1")),
            Rule("The shape is (N, C, H*factor, W*factor), float64.", "every case: shape and dtype"),
            UNCHANGED,
        ),
    ),
    Exercise(
        name="max_pool_with_switches",
        fields=('out', 'switches'),
        points=2,
        visible=[
            Case(args=(POOL_EXAMPLE, 2, 2)),
            Case(args=(randn(2, 3, 6, 6, seed=510), 2, 2)),
            Case(args=(randn(1, 2, 7, 7, seed=520), 3, 2)),
        ],
        hidden=[
            Case(args=(randn(2, 2, 8, 6, seed=530), 2, 2)),
            Case(args=(randn(1, 3, 9, 9, seed=540), 3, 3)),
            Case(args=(randn(2, 1, 7, 5, seed=550), (2, 3), (2, 1))),
            Case(args=(randn(1, 2, 5, 8, seed=560), (3, 2), (1, 2))),
            Case(args=(_ties(570, (2, 2, 6, 6)), 2, 2)),
            Case(args=(_ties(580, (1, 1, 7, 7)), 3, 2)),
            Case(args=(randn(1, 1, 6, 7, seed=590), 2, 2)),
        ],
        **_EXACT,
        hint="A switch is row * W + col in the whole input plane (W is the input's width), not the "
             "position inside the window; on ties keep the first maximum in row-major order (np.argmax "
             "does).",
        forbids=('torch.nn.functional.max_pool2d', 'torch.nn.MaxPool2d'),
        spec_rules=(
            Rule("out holds the maximum of each window; switches its flat index row*W + col in the (H, W) "
                 "input plane, as F.max_pool2d(..., return_indices=True).",
                 on_cases((1, 2, 3), (1, 2, 3, 4, 5, 6, 7), "the references agree with F.max_pool2d; H != W in "
                                                      "hidden 1, 3, 4, 7")),
            Rule("On ties the first maximum in row-major order wins.",
                 on_cases((1,), (5, 6), "windows with equal maxima (visible 1: its bottom-right window)")),
            Rule("pool_size is P or (PH, PW); stride is S or (SH, SW).", on_cases((), (3, 4), "pairs")),
            Rule("Overlapping windows (stride below the window) are pooled independently.",
                 on_cases((3,), (3, 4, 6))),
            Rule("No padding: H' = (H - PH) // SH + 1 and W' likewise; windows past the border are dropped.",
                 "every case: shape; windows are dropped in hidden 3 and 7"),
            Rule("out is float64 and switches int64.", "every case: dtype of each"),
            UNCHANGED,
            forbids_rule("F.max_pool2d or nn.MaxPool2d"),
        ),
    ),
    Exercise(
        name="max_unpool",
        points=2,
        visible=[
            _unpool(POOL_EXAMPLE, 2, 2, seed=None),
            _unpool(randn(2, 3, 6, 6, seed=610), 2, 2, seed=611),
        ],
        hidden=[
            _unpool(randn(2, 2, 8, 6, seed=620), 2, 2, seed=621),
            _unpool(randn(1, 3, 9, 9, seed=630), 3, 3, seed=631),
            _unpool(randn(1, 2, 7, 7, seed=640), 2, 2, seed=641),
            _unpool(randn(2, 1, 6, 8, seed=650), (2, 4), (2, 4), seed=651),
            _unpool(randn(1, 2, 7, 7, seed=660), 3, 2, seed=None),
        ],
        **_EXACT,
        hint="Start from zeros of shape (N, C, H*W), write y at the switch positions of each plane "
             "(np.put_along_axis on the flattened planes), then reshape to (N, C, H, W).",
        forbids=('torch.nn.functional.max_unpool2d', 'torch.nn.MaxUnpool2d'),
        spec_rules=(
            Rule("out[n, c].ravel()[switches[n, c, i, j]] = y[n, c, i, j], as F.max_unpool2d.",
                 on_cases((1, 2), (1, 2, 3, 4, 5), "the references agree with F.max_unpool2d")),
            Rule("Zero elsewhere.", on_cases((1, 2), (1, 2, 3, 4, 5), "hidden 3 has a last row and column no "
                                                                "window covered")),
            Rule("output_shape is (H, W), in that order.", on_cases((), (1, 4), "H != W")),
            Rule("Switches that repeat (overlapping windows) carry the same value.", on_cases((), (5,))),
            Rule("The shape is (N, C, H, W), float64.", "every case: shape and dtype"),
            UNCHANGED,
            forbids_rule("F.max_unpool2d or nn.MaxUnpool2d"),
        ),
    ),
    Exercise(
        name="bilinear_kernel",
        points=1,
        visible=[
            Case(args=(2,)),
            Case(args=(3,)),
        ],
        hidden=[
            Case(args=(1,)),
            Case(args=(4,)),
            Case(args=(5,)),
            Case(args=(8,)),
        ],
        **_FLOAT,
        hint="k = 2*factor - factor % 2, centre c = (k - 1) / 2, 1-D weights 1 - |u - c| / factor for "
             "u = 0..k-1, and the 2-D kernel is the outer product of the 1-D weights with themselves.",
        spec_rules=(
            Rule("Entry (u, v) is t[u] * t[v] with t[u] = 1 - |u - (k - 1)/2| / factor.",
                 on_cases((1, 2), (1, 2, 3, 4), "the references reproduce F.interpolate(mode='bilinear')")),
            Rule("k = 2*factor - factor % 2.", on_cases((1, 2), (1, 2, 3, 4), "even factors in visible 1, hidden 2, "
                                                                        "4; odd in visible 2, hidden 1, 3")),
            Rule("factor is at least 1.", on_cases((), (1,), "factor 1 gives [[1.0]]")),
            Rule("The kernel is float64.", "every case: dtype"),
        ),
    ),
]

BUGS = [
    Bug(
        exercise="conv_transpose_output_size",
        find="- 2 * padding",
        replace="- padding",
        why="subtracts the padding once, as if a transposed convolution cropped it from one side only",
    ),
    Bug(
        exercise="conv_transpose_naive",
        find="canvas[:, :, padding:padding + H_out, padding:padding + W_out]",
        replace="canvas[:, :, :H_out, :W_out]",
        why="crops all the padding from the bottom and right instead of `padding` rows and columns from "
            "each side, so the shape is right but the output is shifted",
    ),
    Bug(
        exercise="upsample_bed_of_nails",
        find="out[:, :, ::factor, ::factor] = x",
        replace="out[:, :, factor // 2::factor, factor // 2::factor] = x",
        why="drives each nail into the middle of its block instead of its top-left corner",
    ),
    Bug(
        exercise="max_pool_with_switches",
        find="switches = rows * W + cols",
        replace="switches = local",
        why="records where the maximum lies inside its window instead of its flat index in the input "
            "plane, so unpooling would put every value into the first block",
    ),
]
