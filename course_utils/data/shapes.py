"""A procedural, seeded data set of textured shapes for classification, detection and segmentation.

Every scene is an RGB image on a textured background holding 1..k objects. Each object has a shape
class (:data:`CLASSES`), a size, position, rotation, colour and a texture (:data:`TEXTURES`). For each
scene the generator returns the image, the class labels, boxes ``(x1, y1, x2, y2)``, instance masks
and a semantic mask.

Reproducibility: scene ``i`` of seed ``s`` is drawn from its own generator
``numpy.random.default_rng([s, i])``, and pixels are computed with additions, multiplications and
comparisons only (no per-pixel trigonometry), so the same seed gives bit-identical data on any
machine; ``make_scenes(n, seed=s)[i]`` does not depend on ``n``.

Speed: each object is rendered with whole-array numpy operations (no per-pixel Python loops).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

#: Shape classes; label ``c`` is ``CLASSES[c]`` and semantic-mask value ``c + 1`` (0 is background).
CLASSES = ("circle", "square", "triangle", "star", "cross", "ring")
#: Surface textures of objects (and backgrounds).
TEXTURES = ("solid", "stripes", "checks", "dots", "noise")
#: Semantic-mask value of pixels that belong to no object.
BACKGROUND = 0


@dataclass
class Scene:
    """One scene.

    Attributes:
        image: Tensor[3, H, W], float32 in [0, 1].
        labels: Tensor[K], int64 class indices into :data:`CLASSES`.
        boxes: Tensor[K, 4], float32 ``(x1, y1, x2, y2)`` in pixels; ``x2, y2`` are exclusive, so a
            box covers columns ``x1 .. x2 - 1`` (the tight box of the instance mask).
        masks: Tensor[K, H, W], bool; the visible pixels of each object.
        semantic: Tensor[H, W], int64; ``label + 1`` on object pixels, :data:`BACKGROUND` elsewhere.
        textures: Tensor[K], int64 indices into :data:`TEXTURES`.
    """

    image: torch.Tensor
    labels: torch.Tensor
    boxes: torch.Tensor
    masks: torch.Tensor
    semantic: torch.Tensor
    textures: torch.Tensor


# -- shape masks, on coordinates (u, v) in the object's frame, object radius 1 --------------------------


def _polygon(u: np.ndarray, v: np.ndarray, corners: list[tuple[float, float]]) -> np.ndarray:
    """Inside a convex polygon whose corners run counter-clockwise (half-plane tests only)."""
    inside = np.ones(u.shape, dtype=bool)
    for (ax, ay), (bx, by) in zip(corners, corners[1:] + corners[:1]):
        inside &= (bx - ax) * (v - ay) - (by - ay) * (u - ax) >= 0
    return inside


def _regular(n: int, radius: float, phase: float) -> list[tuple[float, float]]:
    return [(radius * math.cos(phase + 2 * math.pi * k / n), radius * math.sin(phase + 2 * math.pi * k / n))
            for k in range(n)]


_TRIANGLE = _regular(3, 1.0, math.pi / 2)
_PENTAGON = _regular(5, 0.42, math.pi / 2 + math.pi / 5)  # the star's inner corners
_STAR_TIPS = [  # one triangle per point of the star: its tip and the two inner corners beside it
    [_regular(5, 1.0, math.pi / 2)[k], _PENTAGON[k], _PENTAGON[k - 1]]
    for k in range(5)
]


def shape_mask(name: str, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Boolean mask of shape ``name`` at object-frame coordinates ``(u, v)`` (radius 1, centre 0)."""
    r2 = u * u + v * v
    if name == "circle":
        return r2 <= 1.0
    if name == "square":
        return (np.abs(u) <= 0.78) & (np.abs(v) <= 0.78)
    if name == "triangle":
        return _polygon(u, v, _TRIANGLE)
    if name == "star":
        mask = _polygon(u, v, _PENTAGON)
        for tip in _STAR_TIPS:
            mask |= _polygon(u, v, tip)
        return mask
    if name == "cross":
        au, av = np.abs(u), np.abs(v)
        return ((au <= 0.3) & (av <= 0.95)) | ((av <= 0.3) & (au <= 0.95))
    if name == "ring":
        return (r2 <= 1.0) & (r2 >= 0.36)
    raise ValueError(f"unknown shape {name!r}; choose from {', '.join(CLASSES)}")


# -- textures ------------------------------------------------------------------------------------------


def _texture(kind: str, x: np.ndarray, y: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A pattern in [0, 1] over pixel coordinates (x, y): 0 shows the first colour, 1 the second."""
    if kind == "solid":
        return np.zeros(x.shape)
    angle = rng.uniform(0, math.pi)
    ca, sa = math.cos(angle), math.sin(angle)
    period = rng.uniform(3.0, 6.0)
    a, b = (x * ca + y * sa) / period, (-x * sa + y * ca) / period
    if kind == "stripes":
        return (np.floor(a) % 2).astype(np.float64)
    if kind == "checks":
        return ((np.floor(a) + np.floor(b)) % 2).astype(np.float64)
    if kind == "dots":
        da, db = a - np.floor(a) - 0.5, b - np.floor(b) - 0.5
        return (da * da + db * db <= 0.09).astype(np.float64)
    if kind == "noise":
        return rng.random(x.shape)
    raise ValueError(f"unknown texture {kind!r}; choose from {', '.join(TEXTURES)}")


def _colour(rng: np.random.Generator, low: float, high: float) -> np.ndarray:
    """A random saturated RGB colour with brightness between ``low`` and ``high``."""
    hue = rng.uniform(0, 6)
    sector, frac = int(hue) % 6, hue - int(hue)
    ramps = [(1, frac, 0), (1 - frac, 1, 0), (0, 1, frac), (0, 1 - frac, 1), (frac, 0, 1), (1, 0, 1 - frac)]
    base = np.array(ramps[sector])
    value = rng.uniform(low, high)
    grey = rng.uniform(0.0, 0.35)  # desaturate a little
    return value * ((1 - grey) * base + grey)


# -- scenes --------------------------------------------------------------------------------------------


def _place(rng, size, radius, taken: list[tuple[float, float, float]]) -> tuple[float, float] | None:
    """A centre for a new object that keeps it inside the image and clear of the others."""
    for _ in range(30):
        margin = 1.1 * radius  # a rotated square's corners reach 1.1 radii from its centre
        cx, cy = rng.uniform(margin, size - margin), rng.uniform(margin, size - margin)
        if all((cx - ox) ** 2 + (cy - oy) ** 2 >= (0.9 * (radius + orad)) ** 2 for ox, oy, orad in taken):
            return cx, cy
    return None


def make_scene(rng: np.random.Generator, size: int = 64, max_objects: int = 3, min_objects: int = 1,
               classes: tuple[int, ...] | None = None, min_radius: float | None = None,
               max_radius: float | None = None) -> Scene:
    """Draw one scene from ``rng`` (see :class:`Scene`).

    Args:
        rng: the scene's own generator.
        size: image height and width in pixels.
        max_objects, min_objects: number of objects (fewer if the image is too crowded to place them).
        classes: class indices to draw from (default: all of :data:`CLASSES`).
        min_radius, max_radius: object radius in pixels (default 0.12 and 0.22 of ``size``).
    """
    classes = tuple(range(len(CLASSES))) if classes is None else tuple(classes)
    lo = size * 0.12 if min_radius is None else min_radius
    hi = size * 0.22 if max_radius is None else max_radius
    coords = np.arange(size, dtype=np.float64) + 0.5
    x, y = np.meshgrid(coords, coords)

    bg_kind = TEXTURES[rng.integers(len(TEXTURES))]
    bg_a, bg_b = _colour(rng, 0.25, 0.55), _colour(rng, 0.25, 0.55)
    bg_pattern = 0.35 * _texture(bg_kind, x, y, rng)[..., None]
    image = (1 - bg_pattern) * bg_a + bg_pattern * bg_b

    count = int(rng.integers(min_objects, max_objects + 1))
    taken, labels, textures, masks = [], [], [], []
    owner = np.full((size, size), -1, dtype=np.int64)
    for _ in range(count):
        radius = rng.uniform(lo, hi)
        centre = _place(rng, size, radius, taken)
        label = classes[int(rng.integers(len(classes)))]
        texture = int(rng.integers(len(TEXTURES)))
        angle = rng.uniform(0, 2 * math.pi)
        if centre is None:
            continue
        cx, cy = centre
        ca, sa = math.cos(angle), math.sin(angle)
        dx, dy = (x - cx) / radius, (y - cy) / radius
        mask = shape_mask(CLASSES[label], ca * dx + sa * dy, -sa * dx + ca * dy)
        if not mask.any():
            continue
        light = bool(rng.integers(2))  # light objects on the dark background, or very dark ones
        c1 = _colour(rng, 0.75, 1.0) if light else _colour(rng, 0.0, 0.12)
        c2 = _colour(rng, 0.55, 0.85) if light else _colour(rng, 0.1, 0.3)
        pattern = _texture(TEXTURES[texture], x, y, rng)[..., None]
        image = np.where(mask[..., None], (1 - pattern) * c1 + pattern * c2, image)
        owner[mask] = len(labels)
        taken.append((cx, cy, radius))
        labels.append(label)
        textures.append(texture)
        masks.append(mask)

    inst = np.stack([owner == k for k in range(len(labels))]) if labels else np.zeros((0, size, size), bool)
    keep = [k for k in range(len(labels)) if inst[k].any()]
    inst = inst[keep]
    labels = [labels[k] for k in keep]
    textures = [textures[k] for k in keep]
    boxes = np.zeros((len(keep), 4), dtype=np.float32)
    for k, m in enumerate(inst):
        rows, cols = np.flatnonzero(m.any(axis=1)), np.flatnonzero(m.any(axis=0))
        boxes[k] = (cols[0], rows[0], cols[-1] + 1, rows[-1] + 1)
    semantic = np.zeros((size, size), dtype=np.int64)
    for k, m in enumerate(inst):
        semantic[m] = labels[k] + 1
    return Scene(
        image=torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1), dtype=np.float32)).clamp_(0, 1),
        labels=torch.tensor(labels, dtype=torch.int64),
        boxes=torch.from_numpy(boxes),
        masks=torch.from_numpy(inst),
        semantic=torch.from_numpy(semantic),
        textures=torch.tensor(textures, dtype=torch.int64),
    )


def make_scenes(n: int, size: int = 64, seed: int = 0, **options) -> list[Scene]:
    """``n`` scenes; scene ``i`` comes from ``numpy.random.default_rng([seed, i])``.

    ``options`` are passed to :func:`make_scene` (``max_objects``, ``min_objects``, ``classes``,
    ``min_radius``, ``max_radius``).
    """
    return [make_scene(np.random.default_rng([seed, i]), size, **options) for i in range(n)]


# -- a torch Dataset and pictures ----------------------------------------------------------------------

#: RGB colour of each semantic-mask value (background first, then :data:`CLASSES`).
SEMANTIC_COLOURS = np.array([[0.12, 0.12, 0.12], [0.90, 0.30, 0.25], [0.25, 0.55, 0.90], [0.30, 0.75, 0.35],
                             [0.95, 0.80, 0.20], [0.70, 0.40, 0.85], [0.30, 0.85, 0.85]])


#: Name of each semantic-mask value: ``SEMANTIC_NAMES[v]`` is painted ``SEMANTIC_COLOURS[v]``.
SEMANTIC_NAMES = ("background", *CLASSES)


def colourize(semantic: torch.Tensor | np.ndarray) -> np.ndarray:
    """Semantic mask (H, W) of values 0..len(CLASSES) -> RGB image (H, W, 3); other values white."""
    s = np.asarray(semantic.cpu() if isinstance(semantic, torch.Tensor) else semantic)
    out = np.ones((*s.shape, 3))
    valid = (s >= 0) & (s < len(SEMANTIC_COLOURS))
    out[valid] = SEMANTIC_COLOURS[s[valid]]
    return out


def class_legend(where, values=None, void: bool = False, fontsize: float = 9, ncol: int | None = None):
    """Name the colour of each semantic-mask value that :func:`colourize` paints.

    Args:
        where: a matplotlib ``Figure`` (the legend goes in one row under its panels) or ``Axes`` (the
            legend goes to the right of it).
        values: the mask values to list, e.g. those that occur in the masks shown (default: all,
            ``0 .. len(CLASSES)``).
        void: also list white, the colour of the void label (any other value).
        ncol: columns of the legend (default: one row under a figure, one column beside an axes).

    Returns:
        The matplotlib ``Legend``.
    """
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    values = range(len(SEMANTIC_COLOURS)) if values is None else [int(v) for v in values]
    handles = [Patch(facecolor=SEMANTIC_COLOURS[v], edgecolor="0.4", label=SEMANTIC_NAMES[v]) for v in values]
    if void:
        handles.append(Patch(facecolor="white", edgecolor="0.4", label="void"))
    style = {"handles": handles, "fontsize": fontsize, "frameon": False, "handlelength": 1.2,
             "columnspacing": 1.2}
    if isinstance(where, Figure):
        return where.legend(loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=ncol or len(handles), **style)
    return where.legend(loc="center left", bbox_to_anchor=(1.02, 0.5), ncol=ncol or 1, **style)


class ShapesDataset(torch.utils.data.Dataset):
    """``n`` shapes scenes made once at construction, served for one task.

    Args:
        n: number of scenes.
        size: image height and width.
        seed: data-set seed (scene ``i`` is the same for any ``n``).
        task: what ``dataset[i]`` returns:
            ``"segmentation"``: ``(image Tensor[3, H, W], semantic Tensor[H, W] int64)``;
            ``"detection"``: ``(image, {"boxes": Tensor[K, 4], "labels": Tensor[K], "masks": Tensor[K, H, W]})``;
            ``"classification"``: ``(image, label)`` with one object per scene.
        **options: passed to :func:`make_scene`.
    """

    TASKS = ("segmentation", "detection", "classification")

    def __init__(self, n: int, size: int = 64, seed: int = 0, task: str = "segmentation", **options):
        if task not in self.TASKS:
            raise ValueError(f"task must be one of {', '.join(self.TASKS)}, not {task!r}")
        if task == "classification":
            options = {**options, "min_objects": 1, "max_objects": 1}
        self.task = task
        self.scenes = make_scenes(n, size, seed, **options)

    def __len__(self) -> int:
        return len(self.scenes)

    def __getitem__(self, i: int):
        s = self.scenes[i]
        if self.task == "segmentation":
            return s.image, s.semantic
        if self.task == "classification":
            return s.image, s.labels[0]
        return s.image, {"boxes": s.boxes, "labels": s.labels, "masks": s.masks}

    def tensors(self) -> tuple[torch.Tensor, torch.Tensor]:
        """All images stacked (Tensor[N, 3, H, W]) with the task's dense target (semantic masks
        Tensor[N, H, W] or labels Tensor[N]); detection targets do not stack."""
        images = torch.stack([s.image for s in self.scenes])
        if self.task == "segmentation":
            return images, torch.stack([s.semantic for s in self.scenes])
        if self.task == "classification":
            return images, torch.stack([s.labels[0] for s in self.scenes])
        raise ValueError("detection targets have a different number of boxes per scene")


def show_scenes(scenes: list[Scene], n: int = 8, boxes: bool = True, semantic: bool = True,
                save: str | None = None):
    """A gallery: the first ``n`` scenes with their boxes and labels, and below them their semantic masks
    with a legend of the class colours (the classes that occur in them)."""
    import matplotlib.pyplot as plt

    from ..images import draw_boxes, save_figure

    scenes = scenes[:n]
    rows = 2 if semantic else 1
    fig, axes = plt.subplots(rows, len(scenes), figsize=(2.0 * len(scenes), 2.1 * rows), squeeze=False)
    for j, s in enumerate(scenes):
        ax = axes[0, j]
        ax.imshow(s.image.permute(1, 2, 0).numpy(), interpolation="nearest")
        if boxes:
            draw_boxes(ax, s.boxes, color="white", labels=[CLASSES[c] for c in s.labels.tolist()], fontsize=7.5)
        if semantic:
            axes[1, j].imshow(colourize(s.semantic), interpolation="nearest")
        for ax in axes[:, j]:
            ax.axis("off")
    fig.tight_layout()
    if semantic:
        class_legend(fig, torch.cat([s.semantic.flatten() for s in scenes]).unique().tolist())
    if save:
        save_figure(fig, save)
    return fig
