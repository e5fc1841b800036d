"""Graded cases and sample bugs of assignment 06: DeepDream.

Every exercise takes and returns torch tensors (float64 in the checks). Exercises that take a model are
graded through probes in their test cells, as in 05: a case names a probe network (``"tiny"``: the seeded
random CNN of :func:`course_utils.models.tiny.tiny_cnn`; ``"paper"``: the hand-weighted grey-image network
of :func:`course_utils.models.tiny.paper_cam_net`), the probe builds it (in train mode when the case says
``train=True``), calls the student's function through :func:`course_utils.probes.side_effects` and also
returns, as named fields, what the call left behind on the model and the image
(:data:`~course_utils.probes.LEFT_BEHIND`: hooks, ``.grad``, train/eval mode, parameters and their
``requires_grad``, an image left requiring grad). The property checks of the issue are items of the probes' results: the jitter round trip
is exact, the dream's objective rises in every octave and its pixels stay inside the model's input range,
and diverse dreams are less alike than dreams without the diversity term.

The seeds' worked examples are visible cases: on the paper network, whose layer ``relu`` holds
``relu(x)`` and ``relu(-x)``, the DeepDream gradient of ``1/2 sum a^2`` is the image itself (and twice the
image at ``conv``), so one normalised step multiplies the image by ``1 + step / mean|x|``. Hidden cases use
other layers (up to the logits), shapes, octave counts and step sizes, train mode, a dead layer, ties
between guide features, a zero image in a Gram batch, offsets larger than the image, sizes that round
half to even, and the errors the docstrings promise.
"""

from __future__ import annotations

import numpy as np
import torch

from course_utils.probes import LEFT_BEHIND

from . import Bug, Case, Exercise, Rule, normal as _normal, tensor64 as _t, uniform_image as _image

_EXACT = {"rtol": 0.0, "atol": 0.0}
_FLOAT = {"rtol": 1e-6, "atol": 1e-9}
#: Loops of steps: each step divides by a mean, so rounding differences grow a little along the way.
_LOOP = {"rtol": 1e-5, "atol": 1e-8}

#: The grey 2x2 image of the paper network (one channel), as in assignment 05.
PAPER_IMAGE = [[[[1.0, -2.0], [3.0, 0.0]]]]

#: The worked example of the guide objective: two dream positions and three guide positions, 2 channels.
GUIDE_ACTIVATION = [[[[1.0, 0.0]], [[0.0, 2.0]]]]
GUIDE_FEATURES = [[[[2.0, 0.0, 1.0]], [[0.0, 1.0, 1.0]]]]

#: The worked example of the Gram diversity: feature vectors (1, 1) and (1, 0) at a single position.
GRAM_EXAMPLE = [[[[1.0]], [[1.0]]], [[[1.0]], [[0.0]]]]


def _bounds(low: list[float], high: list[float]) -> dict:
    return {"low": _t(low), "high": _t(high)}


def _arange(shape: tuple) -> torch.Tensor:
    return torch.arange(float(np.prod(shape)), dtype=torch.float64).reshape(shape)


def _tied_guide(seed: int) -> torch.Tensor:
    """Guide features [1, 3, 2, 3] whose positions 1 and 4 hold the same vector (a tie for any dream)."""
    g = _normal((1, 3, 2, 3), seed)
    g[0, :, 1, 1] = g[0, :, 0, 1]
    return g


def _with_zero_image(shape: tuple, seed: int, zero: int) -> torch.Tensor:
    f = _normal(shape, seed).clamp(min=0)
    f[zero] = 0.0
    return f


#: Bounds of the normalised input that the dream cases clip to (per channel, like an ImageNet model's).
TINY_BOUNDS = _bounds([-0.9, -0.7, -0.8], [0.8, 1.0, 0.6])

EXERCISES = [
    Exercise(
        name="guide_objective",
        points=2,
        visible=[
            Case(args=(_t(GUIDE_ACTIVATION), _t(GUIDE_FEATURES))),
            Case(args=(_normal((1, 4, 3, 3), 110), _normal((1, 4, 2, 5), 111))),
        ],
        hidden=[
            Case(args=(_normal((1, 3, 4, 4), 120), _tied_guide(121))),
            Case(args=(_normal((1, 5, 3, 2), 130), _normal((1, 5, 1, 1), 131))),
            Case(args=(torch.zeros(1, 3, 2, 2, dtype=torch.float64), _normal((1, 3, 2, 2), 140))),
            Case(args=(_normal((1, 3, 3, 3), 150).abs(), -_normal((1, 3, 2, 2), 151).abs())),
            Case(args=(_normal((1, 16, 5, 4), 160), _normal((1, 16, 6, 6), 161))),
        ],
        numpy=False,
        **_FLOAT,
        fields=("value", "gradient"),
        hint="Treat each position as a C-vector: score every dream position against every guide position "
             "(dot products), keep each dream position's best guide vector (the first on a tie), sum the best "
             "scores; the gradient holds the chosen guide vectors, in the activation's shape.",
        spec_rules=(
            Rule("value is the sum over the dream's positions of the best dot product with any guide position",
                 "visible 1, visible 2, hidden 1, hidden 5"),
            Rule("gradient holds, at each dream position, the guide vector that wins there", "visible 1, hidden 5"),
            Rule("a tie goes to the first guide position in row-major order",
                 "visible 1, hidden 1, hidden 3: an all-zero activation ties everywhere"),
            Rule("the guide may have any number of positions, one included", "hidden 2"),
            Rule("the best score may be negative (it is not clipped at 0)", "hidden 4"),
            Rule("both outputs are tensors of the activation's dtype, and the inputs stay unchanged", "every case"),
        ),
    ),
    Exercise(
        name="layer_gradient",
        builds_on=("guide_objective",),
        points=2,
        visible=[
            Case(args=("paper", 0, _t(PAPER_IMAGE), "relu")),
            Case(args=("paper", 0, _t(PAPER_IMAGE), "conv")),
            Case(args=("tiny", 0, _image(210), "features.relu2")),
            Case(args=("tiny", 0, _image(210), "features.relu1"), kwargs={"guide": _normal((1, 4, 3, 3), 211)}),
        ],
        hidden=[
            Case(args=("paper", 0, _t(PAPER_IMAGE), "gap")),
            Case(args=("tiny", 21, _image(220, (9, 12)), "features.conv1"), kwargs={"train": True}),
            Case(args=("tiny", 22, _image(230, (8, 8)), "features.pool1")),
            Case(args=("tiny", 23, _image(240, (12, 12)), "fc")),
            Case(args=("tiny", 24, _image(250, (10, 14)), "features.relu2"),
                 kwargs={"guide": _normal((1, 6, 2, 2), 251)}),
            Case(args=("tiny", 25, _image(260), "features.conv9"), raises="AttributeError"),
            Case(args=("paper", 0, torch.zeros(1, 1, 3, 3, dtype=torch.float64), "relu")),
        ],
        numpy=False,
        **_FLOAT,
        fields=("value", "gradient", *LEFT_BEHIND),
        hint="Forward a detached copy of the image (requires_grad) to the layer, then backpropagate with the "
             "activation itself as the gradient at the layer (torch.autograd.grad(a, x, grad_outputs=...)), "
             "or the guide's gradient when a guide is given; the value is 1/2 sum a^2.",
        spec_rules=(
            Rule("value is 1/2 * sum of the squared activation (a sum, not a mean)",
                 "visible 1, visible 2, visible 3, hidden 1, hidden 4"),
            Rule("gradient is d value / d image, from the activation set as the gradient at the layer",
                 "visible 1: it equals the image, visible 2: twice the image, visible 3, hidden 1, hidden 3"),
            Rule("any layer whose output is one tensor, the logits included", "hidden 3: max pooling, hidden 4: fc"),
            Rule("with a guide, value and gradient at the layer come from guide_objective",
                 "visible 4, hidden 5"),
            Rule("a dead layer gives value 0 and a zero gradient", "hidden 7"),
            Rule("raises AttributeError for a layer the model does not have", "hidden 6"),
            Rule("leaves no hook, sets no .grad on parameters, keeps train/eval mode and parameters",
                 "every case: the probe's side effects, hidden 2: a model in train mode"),
            Rule("the image comes back unchanged, without .grad and not requiring grad", "every case"),
        ),
    ),
    Exercise(
        name="jitter",
        points=1,
        visible=[
            Case(args=(_arange((1, 1, 3, 4)), (1, 2))),
            Case(args=(_arange((1, 1, 3, 4)), (1, 2)), kwargs={"undo": True}),
            Case(args=(_normal((1, 3, 5, 5), 310), (-2, 3))),
        ],
        hidden=[
            Case(args=(_normal((1, 3, 4, 4), 320), (0, 0))),
            Case(args=(_normal((1, 3, 4, 5), 330), (7, -9))),
            Case(args=(_normal((1, 2, 6, 3), 340), (2, -1)), kwargs={"undo": True}),
            Case(args=(_normal((2, 3, 5, 7), 350), (-3, -3)), kwargs={"undo": True}),
            Case(args=(_arange((1, 1, 2, 6)), (1, 4))),
        ],
        numpy=False,
        **_EXACT,
        copies=True,
        fields=("shifted", "round trip exact"),
        hint="torch.roll by (dy, dx) over the last two dimensions moves row i to row i + dy and column j to "
             "j + dx, wrapping around; undo rolls by (-dy, -dx).",
        spec_rules=(
            Rule("rows move down by dy and columns right by dx, wrapping around (a circular shift)",
                 "visible 1, visible 3, hidden 5"),
            Rule("undo=True is the exact inverse", "visible 2, hidden 3, hidden 4; every case: the round trip"),
            Rule("offsets may be negative or larger than the image", "visible 3, hidden 2, hidden 4"),
            Rule("every image of a batch and every channel moves the same way", "visible 3, hidden 4"),
            Rule("returns a new tensor, also for the offset (0, 0)", "every case, hidden 1"),
        ),
    ),
    Exercise(
        name="dream_step",
        builds_on=("jitter", "layer_gradient"),
        points=2,
        visible=[
            Case(args=("paper", 0, _t(PAPER_IMAGE), "relu", 0.5)),
            Case(args=("paper", 0, _t(PAPER_IMAGE), "relu", 0.5), kwargs=_bounds([-1.5], [3.0])),
            Case(args=("tiny", 0, _image(410), "features.relu2", 0.1), kwargs={"offset": (2, -3), **TINY_BOUNDS}),
        ],
        hidden=[
            Case(args=("paper", 0, torch.zeros(1, 1, 2, 3, dtype=torch.float64), "relu", 1.0)),
            Case(args=("tiny", 31, _image(420, (8, 8)), "features.conv2", 0.2),
                 kwargs={"offset": (5, 7), "train": True, **TINY_BOUNDS}),
            Case(args=("tiny", 32, _image(430), "features.relu1", 0.01), kwargs={"normalize": False}),
            Case(args=("tiny", 33, _image(440), "features.relu2", 0.05),
                 kwargs={"offset": (1, 1), "guide": _normal((1, 6, 3, 3), 441)}),
            Case(args=("tiny", 34, _image(450, (9, 13)), "features.pool1", 0.3),
                 kwargs={"offset": (-4, 2), **_bounds([-0.2, -0.1, -0.3], [0.3, 0.2, 0.1])}),
        ],
        numpy=False,
        **_FLOAT,
        fields=("new image", "value", *LEFT_BEHIND),
        hint="Jitter, take layer_gradient at the shifted image, add step_size * g / mean|g| (just g when it is "
             "all zero, or when normalize is False), undo the jitter, then clamp each channel to [low[c], high[c]].",
        spec_rules=(
            Rule("the step is step_size * g / mean(|g|), so the mean pixel moves by step_size",
                 "visible 1: the image times 1 + 0.5 / 1.5, visible 3, hidden 2"),
            Rule("normalize=False takes the raw step step_size * g", "hidden 3"),
            Rule("a zero gradient leaves the image as it was (no division by zero)", "hidden 1"),
            Rule("the gradient is taken at the jittered image and the step is un-jittered",
                 "visible 3, hidden 2: offsets larger than the image, hidden 5"),
            Rule("each channel is clamped to its own [low[c], high[c]] when bounds are given",
                 "visible 2, visible 3, hidden 5"),
            Rule("value is layer_gradient's value at the jittered image", "every case"),
            Rule("a guide is passed on to layer_gradient", "hidden 4"),
            Rule("leaves the model and the image as they were", "every case: side effects, hidden 2: train mode"),
        ),
    ),
    Exercise(
        name="octave_pyramid",
        points=2,
        visible=[
            Case(args=(_normal((1, 3, 20, 20), 510), 3, 2.0)),
            Case(args=(_normal((1, 3, 28, 14), 520), 2, 1.4)),
        ],
        hidden=[
            Case(args=(_normal((1, 3, 7, 9), 530), 1, 1.4)),
            Case(args=(_normal((1, 2, 10, 10), 540), 2, 4.0)),
            Case(args=(_normal((1, 3, 30, 45), 550), 4, 1.5)),
            Case(args=(_normal((1, 3, 17, 23), 560), 3, 1.3)),
            Case(args=(_normal((1, 3, 8, 8), 570), 2, 1.0), raises="ValueError"),
            Case(args=(_normal((1, 3, 8, 8), 580), 0, 1.4), raises="ValueError"),
            Case(args=(_normal((1, 1, 4, 4), 590), 4, 2.0), raises="ValueError"),
        ],
        numpy=False,
        **_FLOAT,
        copies=True,
        forbids=("torchvision.transforms", "scipy.ndimage", "skimage.transform"),
        hint="Octave k (k = 0 is the image itself) has round(H / scale**k) x round(W / scale**k) pixels "
             "(Python's round), resized from the original with F.interpolate(mode='bilinear', "
             "align_corners=False); return the smallest first and a copy of the image last.",
        spec_rules=(
            Rule("n_octaves images, the smallest first and the image itself (a copy) last",
                 "visible 1, visible 2, hidden 1: one octave"),
            Rule("octave k is round(H / scale**k) x round(W / scale**k), with Python's round (2.5 -> 2)",
                 "visible 2, hidden 2: a half, hidden 3, hidden 4"),
            Rule("every octave is resized from the original image, bilinearly, align_corners=False",
                 "visible 1, hidden 3, hidden 4"),
            Rule("raises ValueError when octave_scale <= 1", "hidden 5"),
            Rule("raises ValueError when n_octaves < 1", "hidden 6"),
            Rule("raises ValueError when the smallest octave would have a side of 0 pixels", "hidden 7"),
            Rule("may not use torchvision.transforms, scipy.ndimage or skimage.transform", "every case"),
            Rule("returns new tensors, none of them the input", "every case"),
        ),
    ),
    Exercise(
        name="deepdream",
        builds_on=("octave_pyramid", "dream_step"),
        points=2,
        visible=[
            Case(args=("tiny", 0, _image(610, (16, 16)), "features.relu2", 0.05),
                 kwargs={"n_octaves": 2, "octave_scale": 1.5, "steps": 3, "max_jitter": 2, **TINY_BOUNDS}),
        ],
        hidden=[
            Case(args=("tiny", 41, _image(620, (14, 18)), "features.conv2", 0.1),
                 kwargs={"n_octaves": 3, "octave_scale": 1.3, "steps": 2, "max_jitter": 1, "seed": 3, **TINY_BOUNDS}),
            Case(args=("tiny", 42, _image(630, (12, 12)), "features.relu1", 0.02),
                 kwargs={"n_octaves": 1, "steps": 4, "max_jitter": 0, "normalize": False}),
            Case(args=("tiny", 43, _image(640, (16, 16)), "features.relu2", 0.1),
                 kwargs={"n_octaves": 2, "steps": 2, "max_jitter": 1, "guide": _normal((1, 6, 2, 2), 641)}),
            Case(args=("tiny", 44, _image(650, (15, 15)), "features.relu2", 0.2),
                 kwargs={"n_octaves": 2, "octave_scale": 1.4, "steps": 3, "max_jitter": 20, "seed": 7, "train": True,
                         **TINY_BOUNDS}),
        ],
        numpy=False,
        **_LOOP,
        fields=("image", "objective per step", "rises in every octave", "inside [low, high]", *LEFT_BEHIND),
        hint="Octaves from octave_pyramid, smallest first; detail starts at zero; at each octave upsample the "
             "detail bilinearly to the octave's size, add it to the octave, take `steps` dream_steps with "
             "offsets torch.randint(-max_jitter, max_jitter + 1, (2,), generator=g) (none drawn when max_jitter is 0), "
             "then keep detail = dream - octave.",
        spec_rules=(
            Rule("octaves from octave_pyramid, smallest first; the result has the image's shape",
                 "visible 1, hidden 1, hidden 2: one octave"),
            Rule("the detail (dream minus octave) is carried up, resized bilinearly to the next octave",
                 "visible 1, hidden 1, hidden 4"),
            Rule("each step's offset is torch.randint(-max_jitter, max_jitter + 1, (2,), generator) with the seed given",
                 "visible 1, hidden 1: seed 3, hidden 4: jitter larger than the octave"),
            Rule("max_jitter 0 draws no offsets and shifts nothing", "hidden 2"),
            Rule("objective per step is dream_step's value, Tensor[n_octaves, steps]", "every case"),
            Rule("the objective rises in every octave", "every case"),
            Rule("the pixels stay inside [low, high] when bounds are given", "visible 1, hidden 1, hidden 4"),
            Rule("normalize and guide are passed on to dream_step", "hidden 2: normalize=False, hidden 3: a guide"),
            Rule("leaves the model and the image as they were", "every case: side effects, hidden 4: train mode"),
        ),
    ),
    Exercise(
        name="gram_diversity",
        points=2,
        visible=[
            Case(args=(_t(GRAM_EXAMPLE),)),
            Case(args=(_normal((3, 4, 3, 3), 710).clamp(min=0),)),
        ],
        hidden=[
            Case(args=(_normal((1, 4, 3, 3), 720).repeat(2, 1, 1, 1),)),
            Case(args=(_with_zero_image((3, 4, 3, 3), 730, zero=1),)),
            Case(args=(_normal((4, 8, 2, 5), 740),)),
            Case(args=(_normal((2, 3, 4, 4), 750, scale=100.0),)),
            Case(args=(_normal((1, 4, 3, 3), 760),), raises="ValueError"),
        ],
        numpy=False,
        **_FLOAT,
        fields=("value", "gradient"),
        hint="G_b = F_b F_b^T / (h w) with F_b = features[b] as C x (h w); the value is the mean over pairs "
             "b < b' of <G_b, G_b'> / (|G_b| |G_b'|); differentiate it with autograd on a detached copy.",
        spec_rules=(
            Rule("value is the mean over pairs b < b' of the cosine similarity of the Gram matrices",
                 "visible 1: 0.5 by hand, visible 2, hidden 3"),
            Rule("gradient is d value / d features, same shape and dtype", "visible 2, hidden 3, hidden 4"),
            Rule("identical images give 1 and a zero gradient", "hidden 1"),
            Rule("a pair with an all-zero image counts 0 and adds nothing to the gradient", "hidden 2"),
            Rule("the value does not depend on the features' scale", "hidden 4"),
            Rule("raises ValueError for a batch of one", "hidden 5"),
            Rule("both outputs are detached tensors of the features' dtype; the input stays unchanged",
                 "every case"),
        ),
    ),
    Exercise(
        name="diverse_dreams",
        builds_on=("gram_diversity",),
        points=2,
        visible=[
            Case(args=("tiny", 0, _image(810, (12, 12)), "features.relu2", 1, 3, 8, 0.05, 2.0),
                 kwargs=TINY_BOUNDS),
        ],
        hidden=[
            Case(args=("tiny", 51, _image(820, (10, 10)), "features.conv2", 4, 2, 6, 0.1, 5.0),
                 kwargs={"seed": 2, **TINY_BOUNDS}),
            Case(args=("tiny", 52, _image(830, (12, 12)), "features.relu1", 0, 4, 5, 0.05, 1.0)),
        ],
        numpy=False,
        **_LOOP,
        fields=("images", "objective per step", "similarity", "similarity fell", "objective rose", *LEFT_BEHIND),
        hint="Start from the image repeated n times plus 0.1 * seeded noise; each step, at the layer set the "
             "gradient to 1/(h w) on the channel minus weight times gram_diversity's gradient, backpropagate, "
             "take a step divided by mean |g| over the whole batch, clamp.",
        spec_rules=(
            Rule("the start is the image repeated plus 0.1 * torch.randn with a generator seeded with seed",
                 "visible 1, hidden 1: seed 2"),
            Rule("objective is the sum over images of the channel's mean minus weight * gram_diversity",
                 "every case"),
            Rule("each step is step_size * g / mean(|g|) over the batch, clamped when bounds are given",
                 "visible 1, hidden 1, hidden 2: no bounds"),
            Rule("the diversity term makes the images' Gram matrices less alike than weight 0 does", "every case"),
            Rule("the objective rises", "every case"),
            Rule("leaves the model and the image as they were", "every case: side effects"),
        ),
    ),
]


BUGS = [
    Bug(
        exercise="layer_gradient",
        find="value = 0.5 * (activation ** 2).sum()",
        replace="value = (activation ** 2).sum()",
        why="reports sum a^2 instead of 1/2 sum a^2, so the value no longer belongs to the gradient that "
            "setting the activation as the layer's gradient gives",
    ),
    Bug(
        exercise="jitter",
        find="dy, dx = -dy, -dx",
        replace="dy, dx = dy, dx",
        why="undoes a shift by shifting the same way again, so every un-jittered step lands twice as far off",
    ),
    Bug(
        exercise="dream_step",
        find="scale = grad.abs().mean()",
        replace="scale = grad.abs().max()",
        why="divides by the largest |g| instead of the mean, so the typical pixel hardly moves and the step "
            "size means something else at every layer",
    ),
    Bug(
        exercise="octave_pyramid",
        find="for k in range(n_octaves - 1, -1, -1):",
        replace="for k in range(n_octaves):",
        why="returns the largest octave first, so the dream would start on the full image and end on a thumbnail",
    ),
    Bug(
        exercise="deepdream",
        find="        dream = octave + detail\n",
        replace="        dream = octave.clone()\n",
        why="starts every octave from the plain photo, so the detail dreamed at the small scales is thrown away",
    ),
]
