"""Graded cases and sample bugs of assignment 02: transposed convolution and upsampling.

The lecture's worked example (input and kernel both [[0, 1], [2, 3]], stride 1, no padding, output
[[0, 0, 1], [0, 4, 6], [4, 12, 9]]) and its 2x2 -> 4x4 shape example (3x3 kernel, stride 2, padding 1,
output padding 1) are visible cases. Hidden cases use other shapes, channel counts, strides, paddings
and output paddings, non-square kernels, odd sizes for pooling and ties between maxima.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from . import Bug, Case, Exercise, randn

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
