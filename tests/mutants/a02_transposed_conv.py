"""Mutants and alternative answers of assignment 02 (beyond the ``partial`` sample's bugs).

No answer of 02 calls another, so a mutant in any exercise must cost that exercise alone.
"""

from autograder.assignments import Bug

from . import Alternative

MUTANTS = [
    Bug("conv_transpose_output_size", "2 * padding + kernel_size + output_padding",
        "2 * padding + kernel_size + 2 * output_padding",
        "adds the output padding at both ends, like the padding"),
    # flipped kernel
    Bug("conv_transpose_naive", "np.tensordot(x[:, :, i, j], w, axes=1)",
        "np.tensordot(x[:, :, i, j], w[:, :, ::-1, ::-1], axes=1)",
        "flips the kernel, as if the transpose of a convolution needed it"),
    Bug("conv_matrix", "pasted[i:i + KH, j:j + KW] = w", "pasted[i:i + KH, j:j + KW] = w[::-1, ::-1]",
        "flips the kernel (true convolution instead of cross-correlation)"),
    # dtype slip: switches as floats
    Bug("max_pool_with_switches", "return out, switches.astype(np.int64)", "return out, switches.astype(np.float64)",
        "returns the switches as floats"),
    # boundary: ties go to the last maximum (only the hidden tie cases see it)
    Bug("max_pool_with_switches", "local = flat.argmax(axis=-1)",
        "local = PH * PW - 1 - flat[..., ::-1].argmax(axis=-1)",
        "keeps the last maximum on ties"),
    # changed its input: offsets the switches in place to unpool all planes at once (values are right)
    Bug("max_unpool", "    np.put_along_axis(out, switches.reshape(N, C, -1), y.reshape(N, C, -1), axis=-1)\n"
                      "    return out.reshape(N, C, H, W)",
        "    switches += (np.arange(N * C) * H * W).reshape(N, C, 1, 1)\n"
        "    out.reshape(-1)[switches.reshape(-1)] = y.reshape(-1)\n"
        "    return out.reshape(N, C, H, W)",
        "adds each plane's offset to the switches in place"),
    # non-square boundary: H and W swapped (only non-square hidden planes see it)
    Bug("max_unpool", "H, W = output_shape", "W, H = output_shape",
        "reads output_shape as (W, H)"),
    # dtype slip: float32 tent weights (values within rtol of float64)
    Bug("bilinear_kernel", "tent = 1 - np.abs(np.arange(k) - (k - 1) / 2) / factor",
        "tent = (1 - np.abs(np.arange(k) - (k - 1) / 2) / factor).astype(np.float32)",
        "builds the weights in float32"),
    Bug("upsample_bed_of_nails", "out = np.zeros((N, C, H * factor, W * factor), dtype=x.dtype)",
        "out = np.zeros((N, C, H * factor, W * factor), dtype=np.float32)",
        "a float32 canvas"),
]

ALTERNATIVES = [
    Alternative("conv_transpose_naive", '''def conv_transpose_naive(x, w, b, stride=1, padding=0, output_padding=0):
    """Zero insertion, full padding, and a correlation with the flipped kernel (einsum over windows)."""
    N, C_in, H, W = x.shape
    _, C_out, KH, KW = w.shape
    z = np.zeros((N, C_in, (H - 1) * stride + 1, (W - 1) * stride + 1))
    z[:, :, ::stride, ::stride] = x
    z = np.pad(z, ((0, 0), (0, 0), (KH - 1, KH - 1 + output_padding), (KW - 1, KW - 1 + output_padding)))
    windows = sliding_window_view(z, (KH, KW), axis=(2, 3))
    full = np.einsum("ncijuv,couv->noij", windows, w[:, :, ::-1, ::-1])
    Ho, Wo = full.shape[2] - 2 * padding, full.shape[3] - 2 * padding
    return full[:, :, padding:padding + Ho, padding:padding + Wo] + b[None, :, None, None]''',
        "the gather form: a stride-1 correlation of the zero-stuffed input with the flipped kernel"),
    Alternative("conv_matrix", '''def conv_matrix(w, in_shape):
    """Column k is the convolution of the k-th basis image."""
    KH, KW = w.shape
    H, W = in_shape
    basis = np.eye(H * W).reshape(H * W, H, W)
    windows = sliding_window_view(basis, (KH, KW), axis=(1, 2))
    return np.einsum("kijuv,uv->ijk", windows, w).reshape(-1, H * W)''', "the images of the basis vectors"),
    Alternative("upsample_nearest", '''def upsample_nearest(x, factor):
    return np.kron(x, np.ones((factor, factor)))''', "a Kronecker product"),
    Alternative("upsample_bed_of_nails", '''def upsample_bed_of_nails(x, factor):
    nail = np.zeros((factor, factor))
    nail[0, 0] = 1
    return np.kron(x, nail)''', "a Kronecker product with a one-hot block"),
    Alternative("max_pool_with_switches", '''def max_pool_with_switches(x, pool_size, stride):
    """Loops over output positions."""
    PH, PW = (pool_size, pool_size) if np.isscalar(pool_size) else pool_size
    SH, SW = (stride, stride) if np.isscalar(stride) else stride
    N, C, H, W = x.shape
    Ho, Wo = (H - PH) // SH + 1, (W - PW) // SW + 1
    out = np.empty((N, C, Ho, Wo))
    switches = np.empty((N, C, Ho, Wo), dtype=np.int64)
    for n in range(N):
        for c in range(C):
            for i in range(Ho):
                for j in range(Wo):
                    win = x[n, c, i * SH:i * SH + PH, j * SW:j * SW + PW]
                    u, v = np.unravel_index(np.argmax(win), win.shape)
                    out[n, c, i, j] = win[u, v]
                    switches[n, c, i, j] = (i * SH + u) * W + j * SW + v
    return out, switches''', "loops"),
    Alternative("max_unpool", '''def max_unpool(y, switches, output_shape):
    """Loops, on a copy of nothing: the switches are only read."""
    N, C = y.shape[:2]
    H, W = output_shape
    out = np.zeros((N, C, H, W), dtype=y.dtype)
    for n in range(N):
        for c in range(C):
            rows, cols = np.divmod(switches[n, c], W)
            out[n, c, rows, cols] = y[n, c]
    return out''', "divmod into rows and columns"),
    Alternative("bilinear_kernel", '''def bilinear_kernel(factor):
    k = 2 * factor - factor % 2
    centre = (k - 1) / 2
    return np.array([[(1 - abs(u - centre) / factor) * (1 - abs(v - centre) / factor) for v in range(k)]
                     for u in range(k)])''', "nested comprehensions"),
]
