"""Showing arrays as pictures: range mapping, image grids, saved figures, the bundled photos."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .checks import as_numpy

#: scikit-image's bundled pictures that the course uses (no download needed): photos, three grey textures
#: (brick, grass, gravel) and a stained tissue sample (``immunohistochemistry``), whose brown and blue
#: strokes serve as a painting-like style image.
PHOTOS = ("astronaut", "camera", "chelsea", "coffee", "rocket", "brick", "grass", "gravel", "immunohistochemistry")

FIGURE_DIR_ENV = "COURSE_FIGURE_DIR"


def tone_map(x: Any, mode: str = "minmax", low: float | None = None, high: float | None = None) -> np.ndarray:
    """Map values to the displayable range [0, 1].

    Args:
        x: array or tensor of any shape.
        mode: ``"minmax"`` maps ``low``/``high`` (default: the array's min and max) to 0 and 1, so
            even a tiny range such as [-1e-6, 1e-6] fills the whole grey scale; ``"clip"`` keeps
            values as they are and clips them to [0, 1], so values far outside the range saturate
            and values in a tiny range all look the same grey; ``"symmetric"`` maps
            [-m, m] to [0, 1] with m = max |x|, so zero is mid-grey (for signed filters and gradients).
        low, high: explicit range for ``"minmax"``.

    Returns:
        float64 numpy array with the shape of ``x`` and values in [0, 1].
    """
    a = as_numpy(x).astype(np.float64)
    if mode == "clip":
        return np.clip(a, 0.0, 1.0)
    if mode == "symmetric":
        m = float(np.max(np.abs(a))) if a.size else 0.0
        return np.full_like(a, 0.5) if m == 0 else (a / m + 1.0) / 2.0
    if mode != "minmax":
        raise ValueError(f"mode must be 'minmax', 'clip' or 'symmetric', not {mode!r}")
    lo = float(a.min()) if low is None else low
    hi = float(a.max()) if high is None else high
    if hi <= lo:
        return np.zeros_like(a)
    return np.clip((a - lo) / (hi - lo), 0.0, 1.0)


def to_hwc(image: Any) -> np.ndarray:
    """(C, H, W) or (H, W, C) or (H, W) array/tensor -> (H, W) or (H, W, 3) numpy array."""
    a = as_numpy(image)
    if a.ndim == 3 and a.shape[0] in (1, 3) and a.shape[-1] not in (1, 3):
        a = np.moveaxis(a, 0, -1)
    if a.ndim == 3 and a.shape[-1] == 1:
        a = a[..., 0]
    return a


def show_images(images: Sequence[Any] | Any, titles: Sequence[str] | None = None, ncols: int | None = None,
                mode: str = "minmax", cmap: str = "gray", size: float = 2.2, save: str | None = None,
                suptitle: str | None = None):
    """Show images in a grid, each tone-mapped on its own with ``mode`` (see :func:`tone_map`).

    Args:
        images: a sequence of (H, W), (H, W, 3) or (3, H, W) arrays/tensors, or one (N, ...) batch.
        titles: one title per image.
        ncols: columns of the grid (default: up to 8).
        save: file name; the figure is also written to ``figures/<save>`` (see :func:`save_figure`).

    Returns:
        The matplotlib figure.
    """
    import matplotlib.pyplot as plt

    if isinstance(images, (np.ndarray, torch.Tensor)):
        images = list(images)
    n = len(images)
    ncols = ncols or min(n, 8)
    nrows = math.ceil(n / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * nrows), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i >= n:
            continue
        img = tone_map(to_hwc(images[i]), mode)
        ax.imshow(img, cmap=cmap if img.ndim == 2 else None, vmin=0, vmax=1, interpolation="nearest")
        if titles is not None:
            ax.set_title(titles[i], fontsize=9)
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    if save:
        save_figure(fig, save)
    return fig


def save_figure(fig, name: str) -> Path:
    """Write ``fig`` to ``$COURSE_FIGURE_DIR/name`` (default ``figures/name``) and return the path.

    While grading (:data:`course_utils.session.GRADING`) nothing is written: the grader's scratch
    folder is thrown away, and saving a figure takes as long as drawing it.
    """
    from .session import GRADING

    folder = Path(os.environ.get(FIGURE_DIR_ENV, "figures"))
    path = folder / (name if Path(name).suffix else f"{name}.png")
    if GRADING:
        return path
    folder.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    return path


def load_photo(name: str = "chelsea", size: int | tuple[int, int] | None = None, gray: bool = False) -> torch.Tensor:
    """One of scikit-image's bundled photos as a float32 tensor in [0, 1].

    Args:
        name: one of :data:`PHOTOS`.
        size: resize to ``size`` (square) or ``(height, width)``; default: original size.
        gray: return one channel.

    Returns:
        Tensor[3, H, W] (or Tensor[1, H, W] when ``gray``), float32, values in [0, 1].
    """
    from skimage import color, data

    if name not in PHOTOS:
        raise ValueError(f"unknown photo {name!r}; choose from {', '.join(PHOTOS)}")
    img = getattr(data, name)()
    img = img.astype(np.float32) / (255.0 if img.dtype == np.uint8 else 1.0)
    if img.ndim == 2:
        img = np.stack([img] * 3, axis=-1)
    img = img[..., :3]
    if gray:
        img = color.rgb2gray(img)[..., None].astype(np.float32)
    t = torch.from_numpy(np.ascontiguousarray(img)).permute(2, 0, 1)
    if size is not None:
        hw = (size, size) if isinstance(size, int) else tuple(size)
        t = torch.nn.functional.interpolate(t[None], size=hw, mode="bilinear", antialias=True,
                                            align_corners=False)[0].clamp(0, 1)
    return t.contiguous()


def show_image(ax, image: Any, title: str | None = None, fontsize: float = 9) -> None:
    """Draw one (3, H, W), (H, W, 3) or (H, W) image in [0, 1] on ``ax``, pixel for pixel, without ticks."""
    a = to_hwc(image)
    ax.imshow(a, cmap="gray" if a.ndim == 2 else None, vmin=0, vmax=1, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=fontsize)


def draw_boxes(ax, boxes: Any, color: str = "white", labels: Sequence[str] | None = None, lw: float = 1.2,
               ls: str = "-", alpha: float = 1.0, fontsize: float = 8, text_color: str | None = None) -> None:
    """Outline boxes on ``ax``, each with an optional label on a coloured tag above its top-left corner.

    Args:
        boxes: Tensor[K, 4] or list of ``(x1, y1, x2, y2)`` in pixel coordinates, where pixel ``(i, j)``
            covers ``[j, j + 1) x [i, i + 1)``: a box drawn from ``x1 - 0.5`` so that its edges lie on
            the pixel borders that ``imshow`` draws.
        labels: one string per box.
        text_color: colour of the labels (default: black on a light ``color``, white on a dark one).
    """
    from matplotlib.colors import to_rgb
    from matplotlib.patches import Rectangle

    if text_color is None:
        r, g, b = to_rgb(color)
        text_color = "black" if 0.299 * r + 0.587 * g + 0.114 * b > 0.6 else "white"
    for k, (x1, y1, x2, y2) in enumerate(torch.as_tensor(boxes, dtype=torch.float64).reshape(-1, 4).tolist()):
        ax.add_patch(Rectangle((x1 - 0.5, y1 - 0.5), x2 - x1, y2 - y1, fill=False, ec=color, lw=lw, ls=ls,
                               alpha=alpha))
        if labels is not None:
            ax.text(x1 - 0.5, y1 - 1.0, labels[k], fontsize=fontsize, color=text_color, va="bottom",
                    bbox={"facecolor": color, "alpha": 0.75, "pad": 0.8, "lw": 0})


def overlay_heatmap(ax, image: Any, heat: Any, title: str | None = None, signed: bool = False,
                    alpha: float = 0.5, cmap: str = "jet", colorbar: bool = False, fontsize: float = 8):
    """Draw ``image`` and, on top of it, a heat map upsampled bilinearly to the image's size.

    Args:
        image: Tensor[3, H, W] in [0, 1].
        heat: Tensor[h, w] of any size and range. Unsigned maps are min-max scaled to [0, 1] (cmap
            ``cmap``); ``signed`` maps keep their sign, with 0 white and +-max|heat| red and blue.
        colorbar: add a colour bar in the heat map's own units.

    Returns:
        The heat map's ``AxesImage`` (for a shared colour bar).
    """
    image = torch.as_tensor(image, dtype=torch.float32).cpu()
    heat = torch.as_tensor(heat, dtype=torch.float32).detach().cpu()
    big = torch.nn.functional.interpolate(heat[None, None], size=image.shape[-2:], mode="bilinear",
                                          align_corners=False)[0, 0]
    ax.imshow(to_hwc(image), vmin=0, vmax=1)
    if signed:
        m = float(big.abs().max().clamp(min=1e-12))
        shown = ax.imshow(big.numpy(), cmap="bwr", vmin=-m, vmax=m, alpha=alpha)
    else:
        lo, hi = float(big.min()), float(big.max())
        shown = ax.imshow(big.numpy(), cmap=cmap, vmin=lo, vmax=hi if hi > lo else lo + 1, alpha=alpha)
    if colorbar:
        ax.figure.colorbar(shown, ax=ax, fraction=0.046, pad=0.04)
    if title:
        ax.set_title(title, fontsize=fontsize)
    ax.axis("off")
    return shown


def draw_numbers(ax, grid: Any, title: str | None = None, cmap: str = "Blues", vmin: float | None = None,
                 vmax: float | None = None, boxes: Sequence[tuple] = (), fmt: str = "{:g}",
                 fontsize: float = 10):
    """Draw a small 2-D array as coloured cells with each number written on its cell, without ticks.

    Args:
        ax: the matplotlib axes to draw on.
        grid: array or tensor of shape (H, W).
        cmap, vmin, vmax: the colour scale (default: from the grid's own min to its max); pass the same
            ``vmin``/``vmax`` to several grids to compare them by colour.
        boxes: outlines, each ``(row, col, height, width)`` in cells, or with a colour as a fifth item
            (default red).
        fmt: format of the numbers.

    Returns:
        The ``AxesImage`` (for a colour bar). Each number is written in black or white, whichever reads
        better on its cell's colour.
    """
    from matplotlib.patches import Rectangle

    a = as_numpy(grid).astype(np.float64)
    shown = ax.imshow(a, cmap=cmap, vmin=vmin, vmax=vmax)
    for (r, c), value in np.ndenumerate(a):
        red, green, blue, _ = shown.cmap(shown.norm(value))
        dark = 0.299 * red + 0.587 * green + 0.114 * blue < 0.5
        ax.text(c, r, fmt.format(value + 0.0), ha="center", va="center", fontsize=fontsize,  # no "-0"
                color="white" if dark else "black")
    for box in boxes:
        r, c, h, w = box[:4]
        ax.add_patch(Rectangle((c - 0.5, r - 0.5), w, h, fill=False, lw=2.5,
                               edgecolor=box[4] if len(box) > 4 else "tab:red"))
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=9)
    return shown
