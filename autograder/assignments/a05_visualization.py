"""Graded cases and sample bugs of assignment 05: visualizing and understanding CNNs.

Every exercise takes and returns torch tensors (float64). Methods that take a model are graded
through probes in their test cells: a case names a probe model (``"tiny"``: a seeded random CNN,
``"paper"``: the hand-weighted network of :func:`course_utils.models.tiny.paper_cam_net`) and the probe
builds it, calls the student's function and also reports side effects (hooks left behind, an input
changed or given a ``.grad``). The seeds' worked examples are visible cases: the 3x3 ReLU of the
guided-backpropagation slide under all three backward rules, and the paper network's Grad-CAM, CAM,
saliency and guided gradients. Hidden cases cover the edges: constant filters, ties between images,
units in the corner of the map, strides that do not divide the image, per-channel occlusion values,
a query that is itself in the database, pre-ReLU layers, and percentiles of 0 and 100.
"""

from __future__ import annotations

import numpy as np
import torch

from . import Bug, Case, Exercise

_EXACT = {"rtol": 0.0, "atol": 0.0}
_FLOAT = {"rtol": 1e-6, "atol": 1e-9}

#: The seed's 3x3 example: forward input of a ReLU and the gradient that arrives at its output.
RELU_INPUT = [[1.0, -1.0, 5.0], [2.0, -5.0, -7.0], [-3.0, 2.0, 4.0]]
RELU_GRAD = [[-2.0, 3.0, -1.0], [6.0, -3.0, 1.0], [2.0, -1.0, 3.0]]

#: The grey 2x2 image the paper network's answers are worked out on (one channel).
PAPER_IMAGE = [[[1.0, -2.0], [3.0, 0.0]]]

#: The shapes classifier's layers up to ``features.conv5`` as (kernel, stride, padding).
SHAPES_LAYERS = [(3, 1, 1), (2, 2, 0), (3, 1, 1), (2, 2, 0), (3, 1, 1), (2, 2, 0), (3, 1, 1), (3, 1, 1)]


def _t(values) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float64)


def _normal(shape: tuple, seed: int, scale: float = 1.0, shift: float = 0.0) -> torch.Tensor:
    return torch.from_numpy(np.random.default_rng(seed).standard_normal(shape) * scale + shift)


def _uniform(shape: tuple, seed: int, low: float = 0.0, high: float = 1.0) -> torch.Tensor:
    return torch.from_numpy(np.random.default_rng(seed).uniform(low, high, shape))


def _filters(shape: tuple, seed: int, constant: dict | None = None) -> torch.Tensor:
    """Normal filters; ``constant`` maps a filter index to the value that fills it entirely."""
    w = _normal(shape, seed, 0.3)
    for index, value in (constant or {}).items():
        w[index] = value
    return w


def _activations(shape: tuple, seed: int, relu: bool = True, copies: dict | None = None,
                 zero_channels: tuple = ()) -> torch.Tensor:
    """Random activations [N, C, h, w]; ``copies`` maps an image index to the image it repeats
    (a tie between images); ``zero_channels`` are all zero (every image ties)."""
    a = _normal(shape, seed)
    a = a.clamp(min=0) if relu else a
    for dst, src in (copies or {}).items():
        a[dst] = a[src]
    for c in zero_channels:
        a[:, c] = 0
    return a


def _features(n: int, d: int, seed: int, shift: float = 0.0) -> torch.Tensor:
    """``n`` points in ``d`` dimensions with a random linear correlation (distinct variances)."""
    rng = np.random.default_rng(seed)
    mixing = rng.standard_normal((d, d)) * np.linspace(2.0, 0.2, d)[:, None]
    return torch.from_numpy(rng.standard_normal((n, d)) @ mixing + shift)


def _image(seed: int, size: tuple = (12, 12), channels: int = 3) -> torch.Tensor:
    return _uniform((channels, *size), seed, -1.0, 1.0)


def _batch_image(seed: int, size: int = 10) -> torch.Tensor:
    return _normal((1, 3, size, size), seed, 0.5)


EXERCISES = [
    Exercise(
        name="tone_map_filters",
        points=2,
        visible=[
            Case(args=(_filters((4, 3, 5, 5), 110), "minmax", True)),
            Case(args=(_filters((4, 3, 5, 5), 110), "symmetric", True)),
            Case(args=(_filters((6, 2, 3, 3), 120), "minmax", False)),
        ],
        hidden=[
            Case(args=(_filters((5, 3, 3, 3), 130, constant={1: 0.3, 3: 0.0}), "minmax", True)),
            Case(args=(_filters((5, 3, 3, 3), 130, constant={1: 0.3, 3: 0.0}), "symmetric", True)),
            Case(args=(torch.full((2, 4, 3, 3), -0.7, dtype=torch.float64), "minmax", False)),
            Case(args=(torch.zeros(2, 4, 3, 3, dtype=torch.float64), "symmetric", False)),
            Case(args=(_filters((8, 16, 3, 3), 140), "symmetric", False)),
            Case(args=(-_filters((3, 3, 7, 7), 150).abs(), "minmax", True)),
            Case(args=(_filters((1, 1, 1, 1), 160), "symmetric", True)),
        ],
        numpy=False,
        **_FLOAT,
        hint="Take min/max (or max |w|) over each filter's own (C_in, kh, kw) values when per_filter, else "
             "over the whole tensor; a constant filter maps to 0 under 'minmax', an all-zero one to 0.5 under "
             "'symmetric'.",
    ),
    Exercise(
        name="top_k_activations",
        points=2,
        visible=[
            Case(args=(_activations((6, 3, 4, 4), 210, relu=False), 3)),
            Case(args=(_activations((10, 4, 5, 5), 220), 5)),
        ],
        hidden=[
            Case(args=(_activations((5, 2, 3, 4), 230), 5)),
            Case(args=(_activations((7, 3, 6, 2), 240, relu=False), 1)),
            Case(args=(_activations((8, 3, 4, 4), 250, copies={5: 1, 6: 1}, zero_channels=(2,)), 4)),
            Case(args=(_activations((9, 5, 1, 1), 260, relu=False), 3)),
            Case(args=(_activations((4, 2, 3, 3), 270, zero_channels=(0, 1)), 4)),
        ],
        numpy=False,
        **_EXACT,
        hint="One entry per image: each image's best position in the channel (first in row-major order on a "
             "tie), then the k images with the largest such values, ties by the lower image index.",
    ),
    Exercise(
        name="receptive_box",
        points=1,
        visible=[
            Case(args=((4, 4), SHAPES_LAYERS, (64, 64))),
            Case(args=((0, 7), SHAPES_LAYERS, (64, 64))),
        ],
        hidden=[
            Case(args=((3, 2), [], (10, 10))),
            Case(args=((2, 5), [(5, 2, 0), (3, 2, 0)], (40, 50))),
            Case(args=((0, 0), [(7, 2, 3), (3, 2, 1), (3, 1, 1)], (32, 32))),
            Case(args=((7, 7), SHAPES_LAYERS, (64, 64))),
            Case(args=((0, 4), SHAPES_LAYERS, (64, 40))),
            Case(args=((1, 2), [(11, 4, 2), (3, 2, 0), (5, 1, 2), (3, 2, 0)], (227, 227))),
        ],
        numpy=False,
        **_EXACT,
        hint="Walk from the layer back to the input: indices a..b of a layer's output see "
             "a*s - p .. b*s - p + k - 1 of its input; clip to the image and return a half-open box.",
    ),
    Exercise(
        name="pca_2d",
        points=2,
        visible=[
            Case(args=(_features(40, 5, 310),)),
            Case(args=(_features(30, 8, 320, shift=5.0),)),
        ],
        hidden=[
            Case(args=(_features(3, 2, 330),)),
            Case(args=(_features(6, 12, 340),)),
            Case(args=(_features(50, 4, 350, shift=1000.0),)),
            Case(args=(_features(200, 96, 360),)),
        ],
        numpy=False,
        rtol=1e-6,
        atol=1e-8,
        hint="Centre the features, take the two eigenvectors of the covariance with the largest eigenvalues, "
             "flip each so its largest-magnitude entry is positive, then project the centred data.",
        forbids=('sklearn.decomposition', 'torch.pca_lowrank'),
    ),
    Exercise(
        name="nearest_neighbours",
        points=1,
        visible=[
            Case(args=(_normal((4, 6), 410), _normal((30, 6), 411), 3)),
        ],
        hidden=[
            Case(args=(_normal((3, 5), 420), _normal((7, 5), 421), 7)),
            Case(args=(_normal((20, 3), 430)[[2, 9]], _normal((20, 3), 430), 4)),
            Case(args=(_normal((2, 4), 440), _normal((9, 4), 441)[[0, 1, 2, 3, 3, 4, 5, 3, 6]], 8)),
            Case(args=(_normal((5, 96), 450, shift=10.0), _normal((60, 96), 451, shift=10.0), 1)),
        ],
        numpy=False,
        rtol=1e-6,
        atol=1e-6,
        hint="Euclidean distance; sort each row ascending with a stable sort so that equal distances keep "
             "the lower database index first; return (indices int64, distances).",
        forbids=('sklearn.neighbors',),
    ),
    Exercise(
        name="occlusion_map",
        points=2,
        visible=[
            Case(args=("tiny", 0, _image(510), 1, 4, 2)),
            Case(args=("tiny", 0, _image(510), 2, 4, 4), kwargs={"baseline": 0.5, "score": "logit"}),
            Case(args=("paper", 0, _t(PAPER_IMAGE), 0, 1, 1), kwargs={"score": "logit"}),
        ],
        hidden=[
            Case(args=("tiny", 1, _image(520, (13, 11)), 0, 5, 3)),
            Case(args=("tiny", 2, _image(530, (8, 8)), 2, 8, 1), kwargs={"baseline": -1.0}),
            Case(args=("tiny", 3, _image(540), 1, 2, 5), kwargs={"baseline": _t([0.2, -0.4, 0.9])}),
            Case(args=("tiny", 4, _image(550, (20, 20)), 0, 2, 1), kwargs={"score": "logit"}),
            Case(args=("paper", 0, _image(560, (5, 6), channels=1), 1, 2, 2), kwargs={"baseline": 0.25}),
        ],
        numpy=False,
        **_FLOAT,
        hint="Patch corners at 0, stride, 2*stride, ... as long as the patch fits; each entry is the score "
             "of the original image minus the score with that patch set to the baseline (per channel if "
             "the baseline has one value per channel); 'prob' is the softmax probability of the label.",
    ),
    Exercise(
        name="saliency_map",
        points=2,
        visible=[
            Case(args=("paper", 0, _t(PAPER_IMAGE), 1)),
            Case(args=("tiny", 0, _image(610), 2)),
        ],
        hidden=[
            Case(args=("paper", 0, _t(PAPER_IMAGE), 0)),
            Case(args=("tiny", 5, _image(620, (9, 14)), 0)),
            Case(args=("tiny", 6, _image(630, (16, 16)), 1)),
        ],
        numpy=False,
        **_FLOAT,
        hint="Differentiate the raw class score (not the probability) with respect to a copy of the image "
             "and return the largest |gradient| over the channels; leave the input without .grad.",
    ),
    Exercise(
        name="relu_backward",
        points=1,
        visible=[
            Case(args=(_t(RELU_INPUT), _t(RELU_GRAD), "backprop")),
            Case(args=(_t(RELU_INPUT), _t(RELU_GRAD), "deconvnet")),
            Case(args=(_t(RELU_INPUT), _t(RELU_GRAD), "guided")),
        ],
        hidden=[
            Case(args=(_normal((2, 3, 4, 4), 710).round(), _normal((2, 3, 4, 4), 711), "backprop")),
            Case(args=(_normal((2, 3, 4, 4), 710).round(), _normal((2, 3, 4, 4), 711), "deconvnet")),
            Case(args=(_normal((2, 3, 4, 4), 710).round(), _normal((2, 3, 4, 4), 711).round(), "guided")),
            Case(args=(torch.zeros(5, dtype=torch.float64), _t([1.0, -1.0, 0.0, 2.0, -3.0]), "guided")),
        ],
        numpy=False,
        **_EXACT,
        hint="backprop keeps the gradient where the forward input was > 0; deconvnet keeps the positive "
             "gradient whatever the input; guided does both (an input of exactly 0 passes nothing back).",
    ),
    Exercise(
        name="modified_backprop",
        builds_on=("relu_backward",),
        points=2,
        visible=[
            Case(args=("paper", 0, _t(PAPER_IMAGE), 1, "backprop")),
            Case(args=("paper", 0, _t(PAPER_IMAGE), 1, "deconvnet")),
            Case(args=("paper", 0, _t(PAPER_IMAGE), 1, "guided")),
            Case(args=("tiny", 0, _image(810), 0, "guided")),
        ],
        hidden=[
            Case(args=("paper", 0, _t(PAPER_IMAGE), 0, "guided")),
            Case(args=("tiny", 7, _image(820, (10, 14)), 2, "backprop")),
            Case(args=("tiny", 8, _image(830), 1, "deconvnet")),
            Case(args=("tiny", 9, _image(840, (16, 16)), 0, "guided")),
        ],
        numpy=False,
        **_FLOAT,
        hint="Replace the backward pass of every nn.ReLU in the model with the rule (a backward hook that "
             "returns the new gradient works), differentiate the class score, and remove every hook, "
             "also when something fails.",
    ),
    Exercise(
        name="grad_cam",
        points=2,
        visible=[
            Case(args=("paper", 0, "relu", _t(PAPER_IMAGE), 0)),
            Case(args=("paper", 0, "relu", _t(PAPER_IMAGE), 1)),
            Case(args=("tiny", 0, "features.relu2", _image(910), 2)),
        ],
        hidden=[
            Case(args=("tiny", 10, "features.conv2", _image(920), 0)),
            Case(args=("tiny", 11, "features.relu1", _image(930, (8, 10)), 1)),
            Case(args=("tiny", 12, "features.pool1", _image(940, (14, 14)), 2)),
            Case(args=("paper", 0, "conv", _image(950, (3, 4), channels=1), 0)),
        ],
        numpy=False,
        **_FLOAT,
        hint="Weights = gradient of the class score at the layer's output averaged over its rows and "
             "columns; map = ReLU of the weighted sum of the layer's channels, at the layer's resolution.",
    ),
    Exercise(
        name="class_activation_map",
        points=1,
        visible=[
            Case(args=(_t([[[1.0, 0.0], [3.0, 0.0]], [[0.0, 2.0], [0.0, 0.0]]]), _t([[1.0, 2.0], [-1.0, 1.0]]), 0)),
            Case(args=(_normal((6, 4, 4), 1010).clamp(min=0), _normal((3, 6), 1011), 2)),
        ],
        hidden=[
            Case(args=(_normal((1, 3, 5), 1020), _normal((4, 1), 1021), 3)),
            Case(args=(_normal((96, 1, 1), 1030), _normal((6, 96), 1031), 0)),
            Case(args=(_normal((8, 7, 5), 1040).clamp(min=0), _normal((5, 8), 1041), 4)),
        ],
        numpy=False,
        **_FLOAT,
        hint="CAM of class c: sum over channels k of fc_weight[c, k] * features[k]; no ReLU and no "
             "normalisation.",
    ),
    Exercise(
        name="objective",
        points=2,
        visible=[
            Case(args=("tiny", 0, _batch_image(1110), 1)),
            Case(args=("tiny", 0, _batch_image(1110), ("features.relu2", 3))),
            Case(args=("tiny", 0, _batch_image(1110), ("features.relu2", 3, 2, 4))),
        ],
        hidden=[
            Case(args=("tiny", 13, _batch_image(1120, 12), 0)),
            Case(args=("tiny", 14, _batch_image(1130, 12), ("features.conv2", 5))),
            Case(args=("tiny", 15, _batch_image(1140, 8), ("features.conv1", 0, 0, 7))),
            Case(args=("tiny", 16, _batch_image(1150, 12), ("features.pool1", 2, 5, 0))),
        ],
        numpy=False,
        **_FLOAT,
        hint="An int target is that class's raw score (logit); (layer, channel) is the mean of that channel's "
             "map at the layer's output; (layer, channel, row, column) is the single unit.",
    ),
    Exercise(
        name="ascent_step",
        points=2,
        visible=[
            Case(args=("tiny", 0, _batch_image(1210), 1, 0.1, 0.01)),
            Case(args=("tiny", 0, _batch_image(1210), ("features.relu2", 3), 0.05, 0.0)),
        ],
        hidden=[
            Case(args=("tiny", 17, _batch_image(1220, 12), 2, 0.2, 0.1)),
            Case(args=("tiny", 18, _batch_image(1230, 8), ("features.relu2", 0, 1, 1), 1.0, 0.001)),
            Case(args=("tiny", 19, _batch_image(1240, 10), 0, 0.01, 1.0)),
        ],
        numpy=False,
        **_FLOAT,
        hint="value = objective - l2 * (sum of squared pixels); step = lr * gradient / mean |gradient|; "
             "return a new image and the raw gradient, and leave the input as it was.",
    ),
    Exercise(
        name="gaussian_blur",
        points=1,
        visible=[
            Case(args=(_uniform((1, 3, 10, 10), 1310), 1.0)),
        ],
        hidden=[
            Case(args=(_uniform((2, 3, 8, 9), 1320), 0.5)),
            Case(args=(_uniform((1, 1, 12, 12), 1330), 2.4)),
            Case(args=(_normal((1, 3, 16, 7), 1340), 1.3)),
            Case(args=(torch.ones(1, 2, 5, 5, dtype=torch.float64), 0.8)),
        ],
        numpy=False,
        rtol=1e-9,
        atol=1e-12,
        hint="Radius r = ceil(2 sigma), weights exp(-t^2 / (2 sigma^2)) for t = -r..r normalised to sum 1, "
             "applied to rows and columns of every channel separately, with reflect padding.",
        forbids=('torchvision.transforms.functional.gaussian_blur', 'torchvision.transforms.GaussianBlur', 'torchvision.transforms.v2'),
    ),
    Exercise(
        name="clip_small",
        points=2,
        visible=[
            Case(args=(_normal((1, 3, 8, 8), 1410), _normal((1, 3, 8, 8), 1411), 20.0, 30.0)),
            Case(args=(_normal((1, 3, 5, 6), 1460), _normal((1, 3, 5, 6), 1461), 0.0, 0.0)),
        ],
        hidden=[
            Case(args=(_normal((1, 3, 6, 7), 1420), _normal((1, 3, 6, 7), 1421), 0.0, 0.0)),
            Case(args=(_normal((1, 3, 5, 5), 1430), _normal((1, 3, 5, 5), 1431), 100.0, 0.0)),
            Case(args=(_normal((1, 3, 9, 4), 1440), _normal((1, 3, 9, 4), 1441), 0.0, 50.0)),
            Case(args=(_normal((1, 3, 6, 6), 1450).round(), torch.ones(1, 3, 6, 6, dtype=torch.float64), 25.0, 25.0)),
        ],
        numpy=False,
        **_EXACT,
        hint="Both masks come from the image you were given: a pixel goes to 0 (all channels) if its norm "
             "over the channels, or the sum over channels of |pixel * gradient|, is strictly below that "
             "quantity's percentile (torch.quantile, linear).",
    ),
    Exercise(
        name="visualize",
        builds_on=("ascent_step", "gaussian_blur", "clip_small"),
        points=2,
        visible=[
            Case(args=("tiny", 4, 1, 12, 5.0), kwargs={"steps": 40, "lr": 0.05, "l2": 0.001}),
        ],
        hidden=[
            Case(args=("tiny", 8, 2, 12, 5.0), kwargs={"steps": 40, "lr": 0.05, "l2": 0.001}),
            Case(args=("tiny", 3, 2, 16, 1.0), kwargs={"steps": 40, "lr": 0.05, "l2": 0.001, "blur_every": 4,
                                                     "blur_sigma": 0.5, "pixel_percentile": 5.0,
                                                     "contribution_percentile": 5.0, "jitter": 1}),
        ],
        numpy=False,
        **_EXACT,
        hint="Start from seeded small noise, take `steps` ascent steps (jitter before and un-jitter after "
             "each, then blur every `blur_every` steps and clip small pixels), and return [1, 3, size, size]; "
             "the check is that the class score ends at least `margin` above its value on a grey image.",
    ),
]


BUGS = [
    Bug(
        exercise="top_k_activations",
        find="position // w, position % w",
        replace="position % w, position // w",
        why="returns the column of the best position as its row and the reverse, so every patch is cropped "
            "from the mirror image of the right place",
    ),
    Bug(
        exercise="pca_2d",
        find="centred = features - features.mean(dim=0, keepdim=True)",
        replace="centred = features",
        why="forgets to centre the features, so the first 'component' points at the data's mean instead of "
            "along its largest spread",
    ),
    Bug(
        exercise="saliency_map",
        find="return grad.abs().amax(dim=0)",
        replace="return grad.amax(dim=0)",
        why="takes the largest signed gradient instead of the largest absolute one, so pixels that lower the "
            "score strongly look unimportant",
    ),
    Bug(
        exercise="modified_backprop",
        find="handle.remove()",
        replace="pass  # the hooks stay on the model",
        why="never removes its hooks, so the model keeps the modified ReLU rule and every later gradient "
            "(saliency, Grad-CAM) silently goes through it",
    ),
    Bug(
        exercise="grad_cam",
        find="return torch.relu(torch.einsum(",
        replace="return (torch.einsum(",
        why="drops Grad-CAM's final ReLU, so regions that speak against the class show up as negative "
            "evidence mixed into the map",
    ),
    Bug(
        exercise="clip_small",
        find="(norms >= torch.quantile",
        replace="(norms > torch.quantile",
        why="zeroes pixels whose norm equals the percentile, so a percentile of 0 still wipes out the "
            "darkest pixel",
    ),
]
