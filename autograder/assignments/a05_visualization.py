"""Graded cases and sample bugs of assignment 05: visualizing and understanding CNNs.

Every exercise takes and returns torch tensors (float64, and float32 where a case checks that the dtype
follows the input's). Methods that take a model are graded through probes in their test cells: a case
names a probe model (``"tiny"``: a seeded random CNN, ``"paper"``: the hand-weighted network of
:func:`course_utils.models.tiny.paper_cam_net`, ``"failing"``: the paper network with a layer that raises
``ForwardFailed`` after its ReLU) and the probe builds it, calls the student's function through the
probe helper :func:`course_utils.probes.side_effects` and returns, as named fields beside the result,
what the call left behind (:data:`~course_utils.probes.LEFT_BEHIND`: hooks, ``.grad`` on the parameters
or the image, train/eval modes and parameters changed, the image made to require grad); a call that
raises and leaves something behind
raises ``SideEffectsAfterError`` instead. The seeds' worked examples are visible cases: the 3x3 ReLU of
the guided-backpropagation slide under all three backward rules, and the paper network's Grad-CAM, CAM,
saliency and guided gradients. Hidden cases cover the edges: constant filters, ties between images,
units in the corner of the map, strides that do not divide the image, per-channel occlusion values,
a query that is itself in the database, pre-ReLU layers, percentiles of 0 and 100, a zero gradient,
the errors the docstrings name, and hooks that must go also when the forward pass fails."""

from __future__ import annotations

import numpy as np
import torch

from course_utils.probes import LEFT_BEHIND

from . import Bug, Case, Exercise, Rule, UNCHANGED, normal, on_cases, tensor64

_EXACT = {"rtol": 0.0, "atol": 0.0}
_FLOAT = {"rtol": 1e-6, "atol": 1e-9}

#: The seed's 3x3 example: forward input of a ReLU and the gradient that arrives at its output.
RELU_INPUT = [[1.0, -1.0, 5.0], [2.0, -5.0, -7.0], [-3.0, 2.0, 4.0]]
RELU_GRAD = [[-2.0, 3.0, -1.0], [6.0, -3.0, 1.0], [2.0, -1.0, 3.0]]

#: The grey 2x2 image the paper network's answers are worked out on (one channel).
PAPER_IMAGE = [[[1.0, -2.0], [3.0, 0.0]]]

#: The shapes classifier's layers up to ``features.conv5`` as (kernel, stride, padding).
SHAPES_LAYERS = [(3, 1, 1), (2, 2, 0), (3, 1, 1), (2, 2, 0), (3, 1, 1), (2, 2, 0), (3, 1, 1), (3, 1, 1)]


def _uniform(shape: tuple, seed: int, low: float = 0.0, high: float = 1.0) -> torch.Tensor:
    return torch.from_numpy(np.random.default_rng(seed).uniform(low, high, shape))


def _filters(shape: tuple, seed: int, constant: dict | None = None) -> torch.Tensor:
    """Normal filters; ``constant`` maps a filter index to the value that fills it entirely."""
    w = normal(shape, seed, 0.3)
    for index, value in (constant or {}).items():
        w[index] = value
    return w


def _activations(shape: tuple, seed: int, relu: bool = True, copies: dict | None = None,
                 zero_channels: tuple = ()) -> torch.Tensor:
    """Random activations [N, C, h, w]; ``copies`` maps an image index to the image it repeats
    (a tie between images); ``zero_channels`` are all zero (every image ties)."""
    a = normal(shape, seed)
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
    return normal((1, 3, size, size), seed, 0.5)


def _dyadic(shape: tuple, seed: int) -> torch.Tensor:
    """float32 multiples of 1/4 in [-1, 1], -1 and 1 included: min-max maps them exactly in any dtype."""
    w = torch.from_numpy(np.random.default_rng(seed).integers(-4, 5, shape) / 4).float()
    w.view(-1)[0], w.view(-1)[-1] = -1.0, 1.0
    return w


def _model_rules(cases: str, image: bool = True) -> tuple[Rule, ...]:
    """The rules of an exercise that takes a model, each a field of its probe in every case ``cases``."""
    rules = (
        Rule("No hook is left on any module of the model (nor on its parameters, nor a global one).",
             f"{cases}: probe field 'hooks left' (hooks the call added and did not remove) is 0"),
        Rule("The model's parameters collect no .grad" + (", nor does the input image." if image else "."),
             f"{cases}: probe field 'tensors with .grad' is 0"),
        Rule("The train/eval mode of every module is left as it was.",
             f"{cases}: probe field 'modes changed' is 0 (the probe networks come in eval mode)"),
        Rule("The model's parameters and buffers are left unchanged.",
             f"{cases}: probe field 'parameters changed' is 0"),
    )
    if image:
        rules += (Rule("The input image comes back unchanged, without .grad and with requires_grad as it was.",
                       f"every case: the image is compared with a pristine copy; {cases}: probe field "
                       f"'image requires_grad' is False"),)
    return rules


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
            Case(args=(_filters((2, 1, 3, 3), 170), "maxabs", True), raises="ValueError"),
            Case(args=(_dyadic((3, 2, 3, 3), 180), "minmax", False)),
        ],
        numpy=False,
        **_FLOAT,
        hint="Take min/max (or max |w|) over each filter's own (C_in, kh, kw) values when per_filter, else "
             "over the whole tensor; a constant filter maps to 0 under 'minmax', an all-zero one to 0.5 under "
             "'symmetric'.",
        spec_rules=(
            Rule("'minmax': the smallest value goes to 0 and the largest to 1 (linearly, so values lie in [0, 1]).",
                 on_cases((1, 3), (1, 3, 6, 9))),
            Rule("'symmetric': 0.5 + w / (2 m), m the largest absolute value, so 0 maps to 0.5.",
                 on_cases((2,), (2, 4, 5, 7))),
            Rule("per_filter: min/max (or m) over each filter weights[i] on its own.", on_cases((1, 2), (1, 2, 6, 7))),
            Rule("not per_filter: min/max (or m) over the whole tensor.", on_cases((3,), (3, 4, 5, 9))),
            Rule("A constant filter (empty range) maps to 0 under 'minmax'.",
                 on_cases((), (1, 3), "filters 1 and 3 of hidden 1 are constant; hidden 3 is one constant tensor")),
            Rule("An all-zero filter maps to 0.5 under 'symmetric'.",
                 on_cases((), (2, 4), "filter 3 of hidden 2 is zero; hidden 4 is all zero")),
            Rule("Same shape and dtype as weights, for any float dtype.",
                 "every case: shape and dtype; hidden 9 is float32"),
            Rule("Raises ValueError for another mode.", on_cases((), (8,), "mode 'maxabs'")),
            UNCHANGED,
        ),
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
            Case(args=(_activations((5, 2, 3, 3), 280, relu=False).float(), 2)),
        ],
        numpy=False,
        **_EXACT,
        fields=("values", "images", "rows", "cols"),
        hint="One entry per image: each image's best position in the channel (first in row-major order on a "
             "tie), then the k images with the largest such values, ties by the lower image index.",
        spec_rules=(
            Rule("For every channel, the k images with the largest maximum of that channel, in decreasing "
                 "order of that maximum (values).", on_cases((1, 2), (1, 2, 3, 4, 5, 6))),
            Rule("images: their indices; rows, cols: the position of the maximum in each.",
                 on_cases((1, 2), (1, 2, 3, 4, 5, 6), "hidden 1 (3x4) and 2 (6x2) have maps that are not square")),
            Rule("Each output is Tensor[C, k].", "every case: shape"),
            Rule("values have the dtype of activations; images, rows and cols are int64.",
                 "every case: dtype; hidden 6 is float32"),
            Rule("Ties within an image: the first position in row-major order wins.",
                 on_cases((), (3, 5), "all-zero channels")),
            Rule("Ties between images: the lower image index comes first.",
                 on_cases((), (3, 5), "images 5 and 6 repeat image 1; all-zero channels")),
            Rule("1 <= k <= N.", on_cases((), (1, 2, 5), "k = N in hidden 1 and 5, k = 1 in hidden 2")),
            UNCHANGED,
        ),
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
        fields=("y0", "x0", "y1", "x1"),
        hint="Walk from the layer back to the input: indices a..b of a layer's output see "
             "a*s - p .. b*s - p + k - 1 of its input; clip to the image and return a half-open box.",
        spec_rules=(
            Rule("The box of the unit's receptive field through every (kernel, stride, padding) layer, in order.",
                 on_cases((1, 2), (2, 3, 4, 5, 6))),
            Rule("position is (row, col) and input_size is (height, width).",
                 on_cases((2,), (2, 5), "units off the diagonal; hidden 5 has a 64 x 40 image")),
            Rule("layers may be empty: the unit is then an input pixel.", on_cases((), (1,))),
            Rule("Clipped to the image.", on_cases((2,), (3, 4, 5, 6), "units at the border, padding")),
            Rule("(y0, x0, y1, x1), half-open.", "every case: the four values"),
            Rule("Python ints.", "every case: the kind of each number (int)"),
        ),
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
        fields=("projected", "components", "ratio"),
        hint="Centre the features, take the two eigenvectors of the covariance with the largest eigenvalues, "
             "flip each so its largest-magnitude entry is positive, then project the centred data.",
        forbids=('sklearn.decomposition', 'torch.pca_lowrank', 'torch.svd_lowrank', 'torch.linalg.svd',
                 'torch.linalg.svdvals', 'torch.svd', 'numpy.linalg.svd', 'scipy.linalg.svd'),
        spec_rules=(
            Rule("projected: the centred features times the components.",
                 on_cases((1, 2), (1, 2, 3, 4), "visible 2 and hidden 3 are far from centred")),
            Rule("components: unit eigenvectors of the covariance matrix for its largest and second-largest "
                 "eigenvalue, in that order.", on_cases((1, 2), (1, 2, 3, 4))),
            Rule("Each component's largest-magnitude entry is positive.", on_cases((1, 2), (1, 2, 3, 4))),
            Rule("ratio: the two eigenvalues divided by the total variance (the covariance's trace).",
                 on_cases((1, 2), (1, 2, 3, 4))),
            Rule("Shapes [N, 2], [2, D] and [2], in the dtype of features.", "every case: shape and dtype"),
            Rule("N >= 2, D >= 2.", on_cases((), (1, 2), "D = 2 in hidden 1; N = 6 < D = 12 in hidden 2")),
            Rule("No library PCA and no SVD (the covariance and torch.linalg.eigh).",
                 "every case: the grader withholds the points of an answer that calls one (forbids; a "
                 "tensor's own .svd() method is not seen)"),
            UNCHANGED,
        ),
    ),
    Exercise(
        name="nearest_neighbours",
        points=1,
        visible=[
            Case(args=(normal((4, 6), 410), normal((30, 6), 411), 3)),
        ],
        hidden=[
            Case(args=(normal((3, 5), 420), normal((7, 5), 421), 7)),
            Case(args=(normal((20, 3), 430)[[2, 9]], normal((20, 3), 430), 4)),
            Case(args=(normal((2, 4), 440), normal((9, 4), 441)[[0, 1, 2, 3, 3, 4, 5, 3, 6]], 8)),
            Case(args=(normal((5, 96), 450, shift=10.0), normal((60, 96), 451, shift=10.0), 1)),
        ],
        numpy=False,
        rtol=1e-6,
        atol=1e-6,
        fields=("indices", "distances"),
        hint="Euclidean distance; sort each row ascending with a stable sort so that equal distances keep "
             "the lower database index first; return (indices int64, distances).",
        forbids=('sklearn.neighbors',),
        spec_rules=(
            Rule("For each query, the k database rows nearest in Euclidean distance, in increasing distance, "
                 "and those distances.", on_cases((1,), (1, 2, 3, 4))),
            Rule("indices are int64; both are Tensor[Q, k].", "every case: shape and dtype"),
            Rule("Equal distances keep the lower database index first.",
                 on_cases((), (3,), "database rows 3, 4 and 7 are equal")),
            Rule("1 <= k <= M.", on_cases((), (1, 4), "k = M in hidden 1, k = 1 in hidden 4")),
            Rule("Do not use sklearn.neighbors.",
                 "every case: the grader withholds the points of an answer that does (forbids)"),
            UNCHANGED,
        ),
    ),
    Exercise(
        name="occlusion_map",
        points=2,
        visible=[
            Case(args=("tiny", 0, _image(510), 1, 4, 2)),
            Case(args=("tiny", 0, _image(510), 2, 4, 4), kwargs={"baseline": 0.5, "score": "logit"}),
            Case(args=("paper", 0, tensor64(PAPER_IMAGE), 0, 1, 1), kwargs={"score": "logit"}),
        ],
        hidden=[
            Case(args=("tiny", 1, _image(520, (13, 11)), 0, 5, 3)),
            Case(args=("tiny", 2, _image(530, (8, 8)), 2, 8, 1), kwargs={"baseline": -1.0}),
            Case(args=("tiny", 3, _image(540), 1, 2, 5), kwargs={"baseline": tensor64([0.2, -0.4, 0.9])}),
            Case(args=("tiny", 4, _image(550, (20, 20)), 0, 2, 1), kwargs={"score": "logit"}),
            Case(args=("paper", 0, _image(560, (5, 6), channels=1), 1, 2, 2), kwargs={"baseline": 0.25}),
            Case(args=("paper", 0, tensor64(PAPER_IMAGE), 0, 1, 1), kwargs={"score": "probability"}, raises="ValueError"),
            Case(args=("tiny", 5, _image(570, (7, 9)), 2, 3, 2), kwargs={"batch_size": 5}),
        ],
        numpy=False,
        **_FLOAT,
        fields=("drop", "forward passes with autograd", "batches within batch_size", *LEFT_BEHIND),
        hint="Patch corners at 0, stride, 2*stride, ... as long as the patch fits; each entry is the score "
             "of the original image minus the score with that patch set to the baseline (per channel if "
             "the baseline has one value per channel); 'prob' is the softmax probability of the label.",
        spec_rules=(
            Rule("At [i, j]: the score of the unchanged image minus the score with the square at "
                 "(i * stride, j * stride).", on_cases((1, 2, 3), (1, 2, 3, 4, 5, 7))),
            Rule("Corners at i * stride, j * stride for every i, j that keep the square inside: the map is "
                 "[(H - patch) // stride + 1, (W - patch) // stride + 1].",
                 "every case: shape; hidden 1 (13 x 11, patch 5, stride 3) needs the floor"),
            Rule("patch <= min(H, W).", on_cases((), (2,), "patch = H = W (a 1 x 1 map)")),
            Rule("baseline: one value for every channel, or a Tensor[C] of one value per channel.",
                 on_cases((2,), (2, 3, 5), "hidden 3 has one value per channel")),
            Rule("score 'prob': the softmax probability of label; 'logit': its raw score.",
                 on_cases((1, 2, 3), (1, 4), "prob in visible 1, hidden 1; logit in visible 2, 3, hidden 4")),
            Rule("At most batch_size occluded images go through the model at once.",
                 on_cases((), (4, 7), "probe field 'batches within batch_size': hidden 7 has batch_size 5 for "
                                 "12 positions, hidden 4 the default 64 for 361")),
            Rule("Every forward pass runs without autograd.",
                 "every case: probe field 'forward passes with autograd' is 0"),
            Rule("Raises ValueError for another score.", on_cases((), (6,), "score 'probability'")),
            *_model_rules("every case"),
        ),
    ),
    Exercise(
        name="saliency_map",
        points=2,
        visible=[
            Case(args=("paper", 0, tensor64(PAPER_IMAGE), 1)),
            Case(args=("tiny", 0, _image(610), 2)),
        ],
        hidden=[
            Case(args=("paper", 0, tensor64(PAPER_IMAGE), 0)),
            Case(args=("tiny", 5, _image(620, (9, 14)), 0)),
            Case(args=("tiny", 6, _image(630, (16, 16)), 1)),
        ],
        numpy=False,
        **_FLOAT,
        fields=("saliency", "attached to autograd", *LEFT_BEHIND),
        hint="Differentiate the raw class score (not the probability) with respect to a copy of the image "
             "and return the largest |gradient| over the channels; leave the input without .grad.",
        spec_rules=(
            Rule("max over channels of |d S_label / d image|, S the raw class score (not the probability).",
                 on_cases((1, 2), (1, 2, 3), "the paper network's answers in visible 1 and hidden 1")),
            Rule("Tensor[H, W] in the dtype of image.", "every case: shape and dtype"),
            Rule("Detached.", "every case: probe field 'attached to autograd' is False"),
            *_model_rules("every case"),
        ),
    ),
    Exercise(
        name="relu_backward",
        points=1,
        visible=[
            Case(args=(tensor64(RELU_INPUT), tensor64(RELU_GRAD), "backprop")),
            Case(args=(tensor64(RELU_INPUT), tensor64(RELU_GRAD), "deconvnet")),
            Case(args=(tensor64(RELU_INPUT), tensor64(RELU_GRAD), "guided")),
        ],
        hidden=[
            Case(args=(normal((2, 3, 4, 4), 710).round(), normal((2, 3, 4, 4), 711), "backprop")),
            Case(args=(normal((2, 3, 4, 4), 710).round(), normal((2, 3, 4, 4), 711), "deconvnet")),
            Case(args=(normal((2, 3, 4, 4), 710).round(), normal((2, 3, 4, 4), 711).round(), "guided")),
            Case(args=(torch.zeros(5, dtype=torch.float64), tensor64([1.0, -1.0, 0.0, 2.0, -3.0]), "guided")),
            Case(args=(tensor64(RELU_INPUT), tensor64(RELU_GRAD), "saliency"), raises="ValueError"),
        ],
        numpy=False,
        **_EXACT,
        hint="backprop keeps the gradient where the forward input was > 0; deconvnet keeps the positive "
             "gradient whatever the input; guided does both (an input of exactly 0 passes nothing back).",
        spec_rules=(
            Rule("'backprop': grad_output * [x > 0].", on_cases((1,), (1,), "visible 1 is the lecture's example")),
            Rule("'deconvnet': max(grad_output, 0), whatever x.", on_cases((2,), (2,))),
            Rule("'guided': max(grad_output, 0) * [x > 0].", on_cases((3,), (3, 4))),
            Rule("An input of exactly 0 counts as inactive.",
                 on_cases((), (1, 3, 4), "inputs rounded to integers (zeros among them); hidden 4 is all zero")),
            Rule("Any shape; the result has the shape and dtype of the inputs.",
                 "every case: shape and dtype (3 x 3, 2 x 3 x 4 x 4 and 1-d inputs)"),
            Rule("Raises ValueError for another rule.", on_cases((), (5,), "rule 'saliency'")),
            UNCHANGED,
        ),
    ),
    Exercise(
        name="modified_backprop",
        builds_on=("relu_backward",),
        points=2,
        visible=[
            Case(args=("paper", 0, tensor64(PAPER_IMAGE), 1, "backprop")),
            Case(args=("paper", 0, tensor64(PAPER_IMAGE), 1, "deconvnet")),
            Case(args=("paper", 0, tensor64(PAPER_IMAGE), 1, "guided")),
            Case(args=("tiny", 0, _image(810), 0, "guided")),
        ],
        hidden=[
            Case(args=("paper", 0, tensor64(PAPER_IMAGE), 0, "guided")),
            Case(args=("tiny", 7, _image(820, (10, 14)), 2, "backprop")),
            Case(args=("tiny", 8, _image(830), 1, "deconvnet")),
            Case(args=("tiny", 9, _image(840, (16, 16)), 0, "guided")),
            Case(args=("failing", 0, tensor64(PAPER_IMAGE), 1, "guided"), raises="ForwardFailed"),
        ],
        numpy=False,
        **_FLOAT,
        fields=("gradient", "attached to autograd", *LEFT_BEHIND),
        hint="Replace the backward pass of every nn.ReLU in the model with the rule (a backward hook that "
             "returns the new gradient works), differentiate the class score, and remove every hook, "
             "also when something fails.",
        spec_rules=(
            Rule("The gradient of the raw class score with respect to the input, every nn.ReLU's backward "
                 "replaced by the rule (relu_backward).", on_cases((1, 2, 3, 4), (1, 2, 3, 4),
                                                              "visible 1-3 are the paper network by hand")),
            Rule("'backprop' gives the true gradient.", on_cases((1,), (2,))),
            Rule("'deconvnet' and 'guided' as in relu_backward.", on_cases((2, 3, 4), (1, 3, 4))),
            Rule("Tensor[C, H, W], detached.",
                 "every case: shape and dtype; probe field 'attached to autograd' is False"),
            Rule("Every hook it registers is removed, also when the forward pass raises, and the error goes on "
                 "to the caller.",
                 on_cases((), (5,), "the 'failing' network raises ForwardFailed in its forward pass: the case must "
                               "raise it, and the probe turns anything left behind (hooks) into "
                               "SideEffectsAfterError")),
            *_model_rules("every case"),
        ),
    ),
    Exercise(
        name="grad_cam",
        points=2,
        visible=[
            Case(args=("paper", 0, "relu", tensor64(PAPER_IMAGE), 0)),
            Case(args=("paper", 0, "relu", tensor64(PAPER_IMAGE), 1)),
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
        fields=("map", "attached to autograd", *LEFT_BEHIND),
        hint="Weights = gradient of the class score at the layer's output averaged over its rows and "
             "columns; map = ReLU of the weighted sum of the layer's channels, at the layer's resolution.",
        spec_rules=(
            Rule("ReLU(sum_k alpha_k A_k), alpha_k the mean over positions of d S_label / d A_k, S the raw "
                 "class score.", on_cases((1, 2, 3), (1, 2, 3, 4), "visible 1 and 2 are the paper network by hand")),
            Rule("Any named layer, before or after a ReLU.",
                 on_cases((1, 3), (1, 2, 3, 4), "conv2, relu1, pool1 and conv (pre-ReLU) in the hidden cases")),
            Rule("At the layer's resolution, not normalised.",
                 "every case: shape and values; hidden 3 (pool1) is half the image's size"),
            Rule("Detached.", "every case: probe field 'attached to autograd' is False"),
            *_model_rules("every case"),
        ),
    ),
    Exercise(
        name="class_activation_map",
        points=1,
        visible=[
            Case(args=(tensor64([[[1.0, 0.0], [3.0, 0.0]], [[0.0, 2.0], [0.0, 0.0]]]), tensor64([[1.0, 2.0], [-1.0, 1.0]]), 0)),
            Case(args=(normal((6, 4, 4), 1010).clamp(min=0), normal((3, 6), 1011), 2)),
        ],
        hidden=[
            Case(args=(normal((1, 3, 5), 1020), normal((4, 1), 1021), 3)),
            Case(args=(normal((96, 1, 1), 1030), normal((6, 96), 1031), 0)),
            Case(args=(normal((8, 7, 5), 1040).clamp(min=0), normal((5, 8), 1041), 4)),
        ],
        numpy=False,
        **_FLOAT,
        hint="CAM of class c: sum over channels k of fc_weight[c, k] * features[k]; no ReLU and no "
             "normalisation.",
        spec_rules=(
            Rule("sum_k fc_weight[label, k] * features[k].", on_cases((1, 2), (1, 2, 3),
                                                                 "visible 1 is the paper network")),
            Rule("Not rectified.", on_cases((2,), (1, 3), "negative entries in the expected maps")),
            Rule("Not normalised.", on_cases((1, 2), (1, 2, 3))),
            Rule("Tensor[h, w].", "every case: shape and dtype; hidden 2 is 1 x 1 with 96 channels"),
            UNCHANGED,
        ),
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
        fields=("value", "attached to autograd", *LEFT_BEHIND),
        hint="An int target is that class's raw score (logit); (layer, channel) is the mean of that channel's "
             "map at the layer's output; (layer, channel, row, column) is the single unit.",
        spec_rules=(
            Rule("An int target: the raw score (logit) of that class.", on_cases((1,), (1,))),
            Rule("(layer, channel): the mean of that channel of the layer's output map.", on_cases((2,), (2,))),
            Rule("(layer, channel, row, col): that one unit.", on_cases((3,), (3, 4), "units on the border of the map in the hidden")),
            Rule("layer is a name for model.get_submodule.", on_cases((2, 3), (2, 3, 4), "relu2, conv2, conv1, pool1")),
            Rule("A 0-dimensional tensor attached to the autograd graph.",
                 "every case: shape (); probe field 'attached to autograd' is True"),
            *_model_rules("every case"),
        ),
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
            # relu2 channel 1 is negative before its ReLU everywhere on this image: the gradient is exactly 0
            Case(args=("tiny", 20, _batch_image(1250, 8), ("features.relu2", 1, 2, 2), 0.5, 0.0)),
        ],
        numpy=False,
        **_FLOAT,
        copies=True,
        fields=("new image", "grad", "attached to autograd", *LEFT_BEHIND),
        hint="value = objective - l2 * (sum of squared pixels); step = lr * gradient / mean |gradient|; "
             "return a new image and the raw gradient, and leave the input as it was.",
        spec_rules=(
            Rule("grad: the gradient of objective(model, image, target) - l2 * sum(image ** 2) with respect to "
                 "the image.", on_cases((1, 2), (1, 2, 3, 4), "l2 = 0 in visible 2 and hidden 4")),
            Rule("new image: image + lr * grad / mean(|grad|).", on_cases((1, 2), (1, 2, 3))),
            Rule("If the gradient is exactly zero: image + lr * grad.",
                 on_cases((), (4,), "an inactive relu2 unit and l2 = 0")),
            Rule("new image is a new tensor.", "every case: no output shares memory with the input (copies)"),
            Rule("Both detached.", "every case: probe field 'attached to autograd' is False"),
            *_model_rules("every case"),
        ),
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
            Case(args=(normal((1, 3, 16, 7), 1340), 1.3)),
            Case(args=(torch.ones(1, 2, 5, 5, dtype=torch.float64), 0.8)),
            Case(args=(_uniform((1, 2, 4, 5), 1350), 1.5)),
        ],
        numpy=False,
        rtol=1e-9,
        atol=1e-12,
        hint="Radius r = ceil(2 sigma), weights exp(-t^2 / (2 sigma^2)) for t = -r..r normalised to sum 1, "
             "applied to rows and columns of every channel separately, with reflect padding.",
        forbids=('torchvision.transforms.functional.gaussian_blur', 'torchvision.transforms.GaussianBlur', 'torchvision.transforms.v2'),
        spec_rules=(
            Rule("Radius r = ceil(2 sigma).",
                 on_cases((1,), (1, 2, 3, 4, 5), "2 sigma is an integer in visible 1, hidden 1 and 5; r = 5 in hidden 2")),
            Rule("Kernel exp(-t^2 / (2 sigma^2)) for t = -r..r, normalised to sum 1.",
                 on_cases((1,), (1, 2, 3, 4, 5), "hidden 4: a constant image stays constant")),
            Rule("Along rows and then along columns (separable), every channel on its own.",
                 on_cases((1,), (1, 2, 3, 5), "several channels; hidden 3 is not square")),
            Rule("reflect padding, the size is kept.",
                 "every case: shape and values at the border; hidden 5 has H = r + 1, the least reflect allows"),
            Rule("H and W larger than the radius.", on_cases((), (5,), "H = 4 > r = 3")),
            Rule("Do not use torchvision's Gaussian blur.",
                 "every case: the grader withholds the points of an answer that does (forbids)"),
            UNCHANGED,
        ),
    ),
    Exercise(
        name="clip_small",
        points=2,
        visible=[
            Case(args=(normal((1, 3, 8, 8), 1410), normal((1, 3, 8, 8), 1411), 20.0, 30.0)),
            Case(args=(normal((1, 3, 5, 6), 1460), normal((1, 3, 5, 6), 1461), 0.0, 0.0)),
        ],
        hidden=[
            Case(args=(normal((1, 3, 6, 7), 1420), normal((1, 3, 6, 7), 1421), 0.0, 0.0)),
            Case(args=(normal((1, 3, 5, 5), 1430), normal((1, 3, 5, 5), 1431), 100.0, 0.0)),
            Case(args=(normal((1, 3, 9, 4), 1440), normal((1, 3, 9, 4), 1441), 0.0, 50.0)),
            Case(args=(normal((1, 3, 6, 6), 1450).round(), torch.ones(1, 3, 6, 6, dtype=torch.float64), 25.0, 25.0)),
        ],
        numpy=False,
        **_EXACT,
        copies=True,
        hint="Both masks come from the image you were given: a pixel goes to 0 (all channels) if its norm "
             "over the channels, or the sum over channels of |pixel * gradient|, is strictly below that "
             "quantity's percentile (torch.quantile, linear).",
        spec_rules=(
            Rule("A pixel whose norm over the channels is strictly below the pixel_percentile of all norms "
                 "is zeroed.", on_cases((1,), (2, 4))),
            Rule("A pixel whose contribution sum_c |image[c] * grad[c]| is strictly below the "
                 "contribution_percentile of all contributions is zeroed.", on_cases((1,), (3, 4))),
            Rule("Zeroed in every channel where either rule applies, else unchanged.", on_cases((1,), (2, 3, 4))),
            Rule("Percentiles are torch.quantile(values, p / 100), linear interpolation.",
                 on_cases((1,), (3, 4), "percentiles between data points")),
            Rule("A percentile of 0 zeroes nothing.", on_cases((2,), (1,), "both percentiles 0")),
            Rule("Percentiles in [0, 100].", on_cases((2,), (1, 2), "0 and 100: only the largest norm survives")),
            Rule("Strictly below: a pixel equal to the percentile is kept.",
                 on_cases((), (4,), "integer images with ties at the percentile")),
            Rule("A new image.", "every case: the output shares no memory with image (copies); it matters "
                                 "in visible 2 and hidden 1, where nothing is zeroed"),
            UNCHANGED,
        ),
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
        fields=("shape", "finite", "margin reached", "dtype", *LEFT_BEHIND[:4]),
        hint="Start from seeded small noise, take `steps` ascent steps (jitter before and un-jitter after "
             "each, then blur every `blur_every` steps and clip small pixels), and return [1, 3, size, size]; "
             "the check is that the class score ends at least `margin` above its value on a grey image.",
        spec_rules=(
            Rule("An input that maximises the objective: the class score ends at least the case's margin above "
                 "its value on a grey (all-zero) image.", "every case: probe field 'margin reached'"),
            Rule("Tensor[1, 3, size, size], finite.", "every case: probe fields 'shape' and 'finite'"),
            Rule("In the model's dtype.", "every case: probe field 'dtype'"),
            Rule("L2++: blur every blur_every steps, clip_small with the percentiles, jitter.",
                 on_cases((), (2,), "blur_every 4, both percentiles 5, jitter 1")),
            *_model_rules("every case", image=False),
        ),
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
