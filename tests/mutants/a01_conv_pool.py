"""Mutants and alternative answers of assignment 01 (beyond the ``partial`` sample's bugs).

``conv_forward_naive`` builds on ``conv_output_size``, and ``conv_forward_im2col`` on
``conv_output_size`` and ``im2col`` (``builds_on``): their calls get the reference's answers (replay), so
a bug in ``conv_output_size`` or ``im2col`` costs only that exercise, and the mutants of both here prove
it. A dependent answer that calls them with other arguments than the reference's gets its own answers.
"""

from autograder.assignments import Bug

from . import Alternative

MUTANTS = [
    # dtype slip: values within rtol of float64, caught by the dtype only
    Bug("conv_forward_naive", "dtype=np.result_type(x, w, b))", "dtype=np.float32)",
        "accumulates into a float32 buffer"),
    Bug("conv_forward_naive", "top, left = i * stride, j * stride", "top, left = i, j",
        "ignores the stride when placing the window"),
    # off-by-one boundary: the crop is empty when padding is 0
    Bug("conv_backward_naive", "dx = dx_pad[:, :, padding:padding + H, padding:padding + W]",
        "dx = dx_pad[:, :, padding:-padding, padding:-padding]",
        "crops with negative indices, which gives an empty dx when padding is 0"),
    # changed its input: min pooling as -max(-x), negating x in place (values are right)
    Bug("pool_forward", "        return windows.min(axis=(-2, -1))",
        "        np.negative(x, out=x)\n        return -windows.max(axis=(-2, -1))",
        "negates the input in place to reuse max pooling"),
    # another order: the stride of the current layer is applied before its kernel
    Bug("receptive_field", "        field += (k - 1) * jump\n        jump *= s",
        "        jump *= s\n        field += (k - 1) * jump",
        "multiplies in the layer's own stride before adding its kernel"),
    # dtype slip: np.prod([]) is 1.0, so the count comes back as a float
    Bug("receptive_field", "    field, jump = 1, 1\n    for k, s in zip(kernel_sizes, strides):\n"
                           "        field += (k - 1) * jump\n        jump *= s\n    return field",
        "    return 1 + sum((k - 1) * np.prod(strides[:i]) for i, k in enumerate(kernel_sizes))",
        "a closed formula with np.prod, whose empty product is the float 1.0"),
    Bug("conv_param_counts", "depthwise = in_channels * (KH * KW + extra)",
        "depthwise = in_channels * KH * KW + extra",
        "counts one bias for the whole depthwise conv instead of one per channel"),
    # changed its input: the identity shortcut is x itself, and += writes into it (values are right)
    Bug("residual_block", "        return F.relu(residual + self.shortcut(x))",
        "        out = self.shortcut(x)\n        out += residual\n        return F.relu(out)",
        "adds in place into the shortcut, which is x itself when the shortcut is the identity"),
    # wrong padding: conv2 shrinks the map
    Bug("residual_block", "self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1)",
        "self.conv2 = nn.Conv2d(out_channels, out_channels, 3)",
        "forgets the padding of the second conv"),
    # built on by conv_forward_naive and conv_forward_im2col, which must not lose their points:
    # rounding ties: round() of 5.5 and 111.5 goes up (only hidden quotients that are not whole see it)
    Bug("conv_output_size", "return (in_size + 2 * padding - kernel_size) // stride + 1",
        "return round((in_size + 2 * padding - kernel_size) / stride) + 1",
        "rounds the quotient instead of taking its floor"),
    # dtype slip: right values as a numpy float (np.zeros would refuse it as a shape without the replay)
    Bug("conv_output_size", "return (in_size + 2 * padding - kernel_size) // stride + 1",
        "return np.floor((in_size + 2 * padding - kernel_size) / stride) + 1",
        "float division and np.floor: a float, not the exact int the spec asks for"),
    Bug("conv_output_size", "(in_size + 2 * padding - kernel_size) //", "(in_size + padding - kernel_size) //",
        "adds the padding on one side only"),
    # built on by conv_forward_im2col: wrong order of the rows (kh, kw, c) instead of (c, kh, kw)
    Bug("im2col", "windows.transpose(0, 1, 4, 5, 2, 3)", "windows.transpose(0, 4, 5, 1, 2, 3)",
        "puts the channel axis after the kernel axes"),
    # dtype slip: a float64 buffer (only the float32 hidden case sees it)
    Bug("im2col", "    return windows.transpose(0, 1, 4, 5, 2, 3).reshape(N, C * KH * KW, H_out * W_out)",
        "    cols = np.zeros((N, C * KH * KW, H_out * W_out))\n"
        "    cols[...] = windows.transpose(0, 1, 4, 5, 2, 3).reshape(N, C * KH * KW, H_out * W_out)\n"
        "    return cols",
        "fills a float64 np.zeros buffer, whatever the dtype of x"),
    # non-square boundary: (KH, KW) read as (KW, KH)
    Bug("im2col", "KH, KW = (kernel_size, kernel_size)", "KW, KH = (kernel_size, kernel_size)",
        "reads a kernel pair as (KW, KH)"),
    # its own bug: a call of conv_output_size that the reference does not make (no replay) gives a
    # wrong W' for non-square kernels
    Bug("conv_forward_im2col", "W_out = conv_output_size(W, KW, stride, padding)",
        "W_out = conv_output_size(W, KH, stride, padding)",
        "computes W' with the kernel's height"),
    # optional argument at its default: the default mode is max, not avg
    Bug("pool_forward", 'mode="max"):', 'mode="avg"):', "makes 'avg' the default mode"),
    # a required error: unknown modes fall through to the mean
    Bug("pool_forward", """    if mode not in ("max", "min", "avg"):
        raise ValueError(f"mode must be 'max', 'min' or 'avg', not {mode!r}")
""", "", "does not check the mode: 'mean' (or any other name) silently averages"),
]

ALTERNATIVES = [
    Alternative("conv_output_size", '''def conv_output_size(in_size, kernel_size, stride=1, padding=0):
    return math.floor((in_size + 2 * padding - kernel_size) / stride) + 1
import math''', "float division then floor (an int for non-negative sizes)"),
    Alternative("conv_forward_naive", '''def conv_forward_naive(x, w, b, stride=1, padding=0):
    """Vectorised with sliding_window_view and einsum: no loops at all."""
    KH, KW = w.shape[2:]
    x_pad = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    windows = sliding_window_view(x_pad, (KH, KW), axis=(2, 3))[:, :, ::stride, ::stride]
    return np.einsum("ncijuv,fcuv->nfij", windows, w) + b[None, :, None, None]''', "einsum over windows"),
    Alternative("conv_backward_naive", '''def conv_backward_naive(dout, x, w, b, stride=1, padding=0):
    """Loops over the kernel offsets (u, v) instead of the output positions."""
    N, C, H, W = x.shape
    F_, _, KH, KW = w.shape
    Ho, Wo = dout.shape[2:]
    x_pad = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    dx_pad = np.zeros(x_pad.shape)
    dw = np.zeros(w.shape)
    for u in range(KH):
        for v in range(KW):
            rows = slice(u, u + stride * (Ho - 1) + 1, stride)
            cols = slice(v, v + stride * (Wo - 1) + 1, stride)
            dw[:, :, u, v] = np.einsum("nfij,ncij->fc", dout, x_pad[:, :, rows, cols])
            dx_pad[:, :, rows, cols] += np.einsum("nfij,fc->ncij", dout, w[:, :, u, v])
    return dx_pad[:, :, padding:padding + H, padding:padding + W], dw, dout.sum(axis=(0, 2, 3))''',
        "another order of the sums: kernel offsets outside, einsum inside"),
    Alternative("pool_forward", '''def pool_forward(x, pool_size, stride, mode="max"):
    """Loops over output positions; min as -max(-x) without touching x; avg as sum / count."""
    if mode not in ("max", "min", "avg"):
        raise ValueError(mode)
    PH, PW = (pool_size, pool_size) if np.isscalar(pool_size) else pool_size
    SH, SW = (stride, stride) if np.isscalar(stride) else stride
    N, C, H, W = x.shape
    Ho, Wo = (H - PH) // SH + 1, (W - PW) // SW + 1
    out = np.empty((N, C, Ho, Wo))
    for i in range(Ho):
        for j in range(Wo):
            win = x[:, :, i * SH:i * SH + PH, j * SW:j * SW + PW]
            if mode == "max":
                out[:, :, i, j] = win.max(axis=(2, 3))
            elif mode == "min":
                out[:, :, i, j] = -(-win).max(axis=(2, 3))
            else:
                out[:, :, i, j] = win.sum(axis=(2, 3)) / (PH * PW)
    return out''', "loops, negation on a copy, sum divided by the window size"),
    Alternative("receptive_field", '''import math
def receptive_field(kernel_sizes, strides=None):
    strides = strides or [1] * len(kernel_sizes)
    return 1 + sum((k - 1) * math.prod(strides[:i]) for i, k in enumerate(kernel_sizes))''',
        "closed formula with math.prod (an int, also for the empty product)"),
    Alternative("conv_param_counts", '''def conv_param_counts(in_channels, out_channels, kernel_size, bias=True):
    KH, KW = np.broadcast_to(kernel_size, 2)
    standard = in_channels * out_channels * KH * KW + (out_channels if bias else 0)
    separable = in_channels * KH * KW + in_channels * out_channels + ((in_channels + out_channels) if bias else 0)
    return standard, separable''', "numpy integer arithmetic (numpy ints count as ints)"),
    Alternative("im2col", '''def im2col(x, kernel_size, stride=1, padding=0):
    """Loops over output positions."""
    KH, KW = (kernel_size, kernel_size) if np.isscalar(kernel_size) else kernel_size
    N, C, H, W = x.shape
    x_pad = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    Ho, Wo = (H + 2 * padding - KH) // stride + 1, (W + 2 * padding - KW) // stride + 1
    cols = np.zeros((N, C * KH * KW, Ho * Wo), dtype=x.dtype)
    for i in range(Ho):
        for j in range(Wo):
            cols[:, :, i * Wo + j] = x_pad[:, :, i * stride:i * stride + KH,
                                           j * stride:j * stride + KW].reshape(N, -1)
    return cols''', "loops instead of sliding_window_view"),
    Alternative("conv_forward_im2col", '''def conv_forward_im2col(x, w, b, stride=1, padding=0):
    """Keyword arguments for im2col, einsum instead of @, the shape from the columns."""
    N, _, H, W = x.shape
    F_, _, KH, KW = w.shape
    cols = im2col(x, kernel_size=(KH, KW), stride=stride, padding=padding)
    out = np.einsum("fk,nkp->nfp", w.reshape(F_, -1), cols) + b[None, :, None]
    return out.reshape(N, F_, conv_output_size(H, KH, stride, padding), -1)''',
        "im2col called by keyword, einsum, W' from the number of columns"),
    Alternative("residual_block", '''class ResidualBlock(nn.Module):
    def __init__(self, in_channels, out_channels):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1)
        self.conv2 = nn.Conv2d(out_channels, out_channels, kernel_size=3, padding=1)
        self.shortcut = nn.Identity() if in_channels == out_channels else nn.Conv2d(in_channels, out_channels, 1)
        self.relu = nn.ReLU()

    def forward(self, x):
        return self.relu(self.shortcut(x) + self.conv2(self.relu(self.conv1(x))))''',
        "ReLU as a module, the addition in the other order"),
]
