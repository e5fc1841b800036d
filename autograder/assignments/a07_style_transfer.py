"""Graded cases and sample bugs of assignment 07: style transfer, feature inversion and texture synthesis.

Every exercise takes and returns torch tensors (float64 in the checks). The three losses return their value
and their gradient (detached), the way 06's ``layer_gradient`` does: the optimisation loop sets those
gradients at the layers and backpropagates them to the image, and a loop that builds on the losses gets the
reference's answers to its calls (see :mod:`course_utils.replay`). Functions that take a model are graded
through probes in their test cells, as in 06: a case names the probe network (``"tiny"``: the seeded random
CNN of :func:`course_utils.models.tiny.tiny_cnn`), the probe builds it (in train mode when the case says
``train=True``), calls the student's function through :func:`course_utils.probes.side_effects` and returns,
as named fields, what the call left behind (:data:`~course_utils.probes.LEFT_BEHIND`).

The notes' definitions are visible cases: the Gram matrix ``G = F F^T`` summed over the positions, and the
course's normalisation, its mean over the ``H W`` positions (the worked example: positions ``(1, 2)`` and
``(3, 0)`` give the sum ``[[10, 2], [2, 4]]`` and the mean ``[[5, 1], [1, 2]]``); the content loss
``1/2 sum (F - P)^2``; the style loss ``sum_l w_l E_l`` with ``E_l = sum (G - G_hat)^2 / (4 C_l^2)`` for mean
Gram matrices, which is the notes' ``1 / (4 N_l^2 M_l^2)`` for summed ones. Hidden cases use other shapes,
batches, single positions, constant images, extreme values and the errors the docstrings promise.
"""

from __future__ import annotations

import numpy as np
import torch

from course_utils.probes import LEFT_BEHIND

from . import Bug, Case, Exercise, Rule, UNCHANGED, forbids_rule, on_cases
from . import normal as _normal, tensor64 as _t, uniform_image as _image

_FLOAT = {"rtol": 1e-9, "atol": 1e-12}
#: A few Adam steps on a probe network: rounding differences grow a little along the way.
_LOOP = {"rtol": 1e-6, "atol": 1e-9}

#: The notes' Gram matrix by hand: one image, two channels, two positions (1, 2) and (3, 0).
GRAM_EXAMPLE = [[[[1.0, 3.0]], [[2.0, 0.0]]]]

#: Probe layers of the tiny network: style at both ReLUs, content at the second.
STYLE_LAYERS = ["features.relu1", "features.relu2"]
CONTENT_LAYER = "features.relu2"

#: What the extractor's probe reports besides the features: the image gradient of sum(f^2) over the features,
#: and the side effects on the model (no image is handed to side_effects: the probe's copy requires grad).
EXTRACT_FIELDS = ("features", "gradient of sum f^2", *LEFT_BEHIND[:4])


def _grams(seed: int, channels: list[int]) -> list[torch.Tensor]:
    """Mean Gram matrices [1, C, C] of random non-negative features (what a style image gives)."""
    out = []
    for k, c in enumerate(channels):
        f = _normal((1, c, 12), seed + k).clamp(min=0)
        out.append(f @ f.transpose(1, 2) / 12)
    return out


def _relu_features(seed: int, shapes: list[tuple]) -> list[torch.Tensor]:
    return [_normal(s, seed + k).clamp(min=0) for k, s in enumerate(shapes)]


def _constant_channel(shape: tuple, seed: int) -> torch.Tensor:
    x = _normal(shape, seed)
    x[:, 1] = 3.0
    return x


#: Bounds of the normalised input that the loop cases clamp to (per channel, like an ImageNet model's).
TINY_BOUNDS = {"low": _t([-0.9, -0.7, -0.8]), "high": _t([0.8, 1.0, 0.6])}
_STYLE = {"content_weight": 1.0, "style_weights": [20.0, 10.0], "tv_weight": 0.05}

EXERCISES = [
    Exercise(
        name="gram_matrix",
        points=2,
        visible=[
            Case(args=(_t(GRAM_EXAMPLE),)),
            Case(args=(_t(GRAM_EXAMPLE),), kwargs={"normalize": False}),
            Case(args=(_normal((2, 4, 3, 5), 110),)),
        ],
        hidden=[
            Case(args=(_normal((1, 6, 1, 1), 120),)),
            Case(args=(_normal((3, 5, 4, 2), 130).clamp(min=0),), kwargs={"normalize": False}),
            Case(args=(_normal((1, 1, 7, 3), 140),)),
            Case(args=(_normal((2, 3, 6, 6), 150, scale=1e3),)),
            Case(args=(_normal((4, 5, 6), 160),), raises="ValueError"),
        ],
        numpy=False,
        **_FLOAT,
        copies=True,
        hint="With F = features[n] as a C x (H W) matrix, G[n] = F @ F.T, divided by H * W when normalize is "
             "True (the mean over the positions), not by C * H * W.",
        spec_rules=(
            Rule("G[n] = F F^T with F = features[n] as C x (H W): the outer products of the positions' "
                 "feature vectors, summed", on_cases((1, 2, 3), (1, 2, 4))),
            Rule("normalize=True (the default) divides by H * W, the number of positions, and nothing else",
                 on_cases((1, 3), (1, 3, 4), "visible 1: [[5, 1], [1, 2]] by hand")),
            Rule("normalize=False gives the notes' sum", on_cases((2,), (2,), "[[10, 2], [2, 4]] by hand")),
            Rule("one Gram matrix per image of the batch, Tensor[N, C, C]", on_cases((3,), (2,))),
            Rule("a single position or a single channel works", on_cases((), (1, 3))),
            Rule("raises ValueError unless features is 4-dimensional", on_cases((), (5,))),
            Rule("returns a new tensor in the features' dtype", "every case"),
            UNCHANGED,
        ),
    ),
    Exercise(
        name="content_loss",
        points=1,
        visible=[
            Case(args=(_t([[[[1.0, 2.0], [0.0, -1.0]]]]), _t([[[[0.0, 2.0], [2.0, 1.0]]]]))),
            Case(args=(_normal((1, 5, 3, 4), 210), _normal((1, 5, 3, 4), 211))),
        ],
        hidden=[
            Case(args=(_normal((1, 4, 2, 2), 220), _normal((1, 4, 2, 2), 220))),
            Case(args=(_normal((2, 3, 5, 1), 230, scale=50.0), _normal((2, 3, 5, 1), 231))),
            Case(args=(_normal((1, 6, 1, 1), 240), _normal((1, 6, 1, 1), 241))),
            Case(args=(_normal((1, 4, 3, 3), 250), _normal((1, 4, 3, 2), 251)), raises="ValueError"),
        ],
        numpy=False,
        **_FLOAT,
        fields=("value", "gradient"),
        hint="value = 0.5 * ((features - target) ** 2).sum() (a sum, not a mean); its gradient with respect to "
             "the features is features - target.",
        spec_rules=(
            Rule("value is 1/2 * the sum of squared differences (not a mean)",
                 on_cases((1, 2), (2, 3), "visible 1: 1/2 (1 + 0 + 4 + 4) = 4.5 by hand")),
            Rule("gradient is d value / d features = features - target", on_cases((1, 2), (2,))),
            Rule("equal features give 0 and a zero gradient", on_cases((), (1,))),
            Rule("raises ValueError when the shapes differ", on_cases((), (4,))),
            Rule("both outputs are tensors in the features' dtype", "every case"),
            UNCHANGED,
        ),
    ),
    Exercise(
        name="style_loss",
        builds_on=("gram_matrix",),
        points=2,
        visible=[
            Case(args=([_t(GRAM_EXAMPLE)], [_t([[[4.0, 1.0], [1.0, 2.0]]])], [1.0])),
            Case(args=(_relu_features(310, [(1, 3, 4, 4), (1, 5, 2, 2)]), _grams(315, [3, 5]), [1.0, 0.5])),
        ],
        hidden=[
            Case(args=(_relu_features(320, [(1, 4, 3, 3)]), _grams(325, [4]), [0.0])),
            Case(args=(_relu_features(330, [(1, 2, 5, 5), (1, 4, 3, 3), (1, 8, 1, 2)]), _grams(335, [2, 4, 8]),
                       [3.0, 1.0, 100.0])),
            Case(args=([_t(GRAM_EXAMPLE)], [_t([[[5.0, 1.0], [1.0, 2.0]]])], [7.0])),
            Case(args=(_relu_features(340, [(2, 3, 4, 2), (2, 2, 2, 2)]), _grams(345, [3, 2]), [2.0, 1.0])),
            Case(args=(_relu_features(350, [(1, 3, 2, 2)]), _grams(355, [3, 3]), [1.0, 1.0]), raises="ValueError"),
            Case(args=([], [], []), raises="ValueError"),
        ],
        numpy=False,
        **_FLOAT,
        fields=("value", "gradients"),
        hint="For each layer l: G = gram_matrix(F_l) (the mean over positions), E_l = sum((G - G_hat)^2) / (4 C^2), "
             "value = sum_l w_l E_l; dE_l/dF_l = (G - G_hat) @ F / (C^2 H W) with F as C x (H W).",
        spec_rules=(
            Rule("value is sum_l w_l * sum((G_l - G_hat_l)^2) / (4 C_l^2) with mean Gram matrices "
                 "(the notes' E_l)", on_cases((1, 2), (2, 3), "visible 1: 1 * (1 + 0 + 0 + 0) / 16 by hand")),
            Rule("gradients is a list: d value / d features[l] for every layer, in order", on_cases((1, 2), (2,))),
            Rule("a matching Gram matrix gives 0 and zero gradients", on_cases((), (3,))),
            Rule("a layer of weight 0 adds nothing", on_cases((), (1,))),
            Rule("a batch of N images sums over the batch, each compared with the one style Gram matrix",
                 on_cases((), (4,))),
            Rule("raises ValueError when the three lists differ in length or are empty", on_cases((), (5, 6))),
            Rule("the value is a 0-dimensional tensor and the gradients are shaped like the features, all in the "
                 "features' dtype", "every case"),
            UNCHANGED,
        ),
    ),
    Exercise(
        name="tv_loss",
        points=2,
        visible=[
            Case(args=(_t([[[[1.0, 2.0, 4.0], [1.0, 0.0, 4.0]]]]),)),
            Case(args=(_normal((1, 3, 5, 6), 410),)),
        ],
        hidden=[
            Case(args=(_normal((1, 3, 1, 1), 420),)),
            Case(args=(_normal((2, 3, 1, 7), 430),)),
            Case(args=(torch.full((1, 3, 4, 4), 0.7, dtype=torch.float64),)),
            Case(args=(_normal((2, 2, 6, 3), 440, scale=100.0),)),
            Case(args=(_normal((3, 4), 450),), raises="ValueError"),
        ],
        numpy=False,
        **_FLOAT,
        fields=("value", "gradient"),
        forbids=("for", "while"),
        hint="Slice the image against itself shifted by one pixel: x[..., 1:, :] - x[..., :-1, :] (down) and "
             "x[..., :, 1:] - x[..., :, :-1] (right); sum both squares. No loops.",
        spec_rules=(
            Rule("value is the sum of squared differences between vertical and horizontal neighbours, over every "
                 "channel and image", on_cases((1, 2), (2, 4), "visible 1: 4 down, 1 + 4 + 1 + 16 right: 26 by hand")),
            Rule("gradient is d value / d image", on_cases((1, 2), (2, 4))),
            Rule("a 1 x 1 image, or a constant one, gives 0", on_cases((), (1, 3))),
            Rule("an image one pixel high has only horizontal neighbours", on_cases((), (2,))),
            Rule("raises ValueError unless the image is 4-dimensional", on_cases((), (5,))),
            forbids_rule("Python loops (for, while, comprehensions)"),
            UNCHANGED,
        ),
    ),
    Exercise(
        name="extract_features",
        points=2,
        visible=[
            Case(args=("tiny", 0, _image(510), ["features.relu1", "features.relu2"])),
            Case(args=("tiny", 0, _image(510), ["features.relu2", "features.conv1"])),
            Case(args=("tiny", 0, _image(510), ["features.relu1", "features.relu7"]), raises="AttributeError"),
        ],
        hidden=[
            Case(args=("tiny", 51, _image(520, (9, 12)), ["features.pool1"]), kwargs={"train": True}),
            Case(args=("tiny", 52, _image(530, (8, 8)), ["features.relu2", "features.relu2", "features.relu1"])),
            Case(args=("tiny", 53, _image(540, (12, 12)), [])),
            Case(args=("tiny", 54, _image(550, (10, 10)), ["fc", "gap"])),
            Case(args=("tiny", 55, _image(560), ["features.relu1", "features.conv9"]), raises="AttributeError"),
        ],
        numpy=False,
        **_FLOAT,
        fields=EXTRACT_FIELDS,
        forbids=("course_utils.models.forward_to", "course_utils.models.capture", "course_utils.models.hooks"),
        hint="Register a forward hook on model.get_submodule(name) for every name, keep each output, run the model "
             "once, and remove every hook in a finally block; return the outputs in the order of the names.",
        spec_rules=(
            Rule("returns a list with the output of each named layer, in the order asked, repeats included",
                 on_cases((1, 2), (2,))),
            Rule("the features stay on the autograd graph: a loss on them backpropagates into the image",
                 "every case: the probe's gradient of sum f^2"),
            Rule("any layer whose output is one tensor, the logits included", on_cases((), (1, 4))),
            Rule("an empty list of names gives an empty list", on_cases((), (3,))),
            Rule("raises AttributeError for a layer the model does not have (as model.get_submodule)",
                 on_cases((3,), (5,))),
            Rule("leaves no hook, sets no .grad, keeps train/eval mode, parameters and their requires_grad",
                 "every case: the probe's side effects, hidden 1: a model in train mode"),
            forbids_rule("course_utils.models.forward_to, capture or anything in course_utils.models.hooks"),
        ),
    ),
    Exercise(
        name="softmax_features",
        points=1,
        visible=[
            Case(args=(_t([[[[0.0, float(np.log(3.0))]], [[0.0, 0.0]]]]), 1.0)),
            Case(args=(_normal((1, 4, 3, 3), 610, scale=3.0), 2.0)),
        ],
        hidden=[
            Case(args=(_normal((2, 5, 2, 3), 620, scale=5.0), 0.5)),
            Case(args=(_normal((1, 3, 2, 2), 630, scale=1.0, shift=1000.0), 1.0)),
            Case(args=(_normal((1, 1, 3, 3), 640), 4.0)),
            Case(args=(_normal((1, 3, 2, 2), 650), 0.0), raises="ValueError"),
        ],
        numpy=False,
        **_FLOAT,
        copies=True,
        hint="C * softmax(features / temperature) over the channel dimension (dim=1), at every position; "
             "torch.softmax subtracts the maximum for you, so large values stay finite.",
        spec_rules=(
            Rule("at each position, C times the softmax over the channels of features / temperature",
                 on_cases((1, 2), (1, 3), "visible 1: (0, ln 3) -> (1, 1) and (1.5, 0.5) by hand")),
            Rule("the values at each position are positive and their mean over the channels is 1",
                 on_cases((1, 2), (1,))),
            Rule("one channel gives 1 everywhere", on_cases((), (3,))),
            Rule("large activations stay finite (no overflow)", on_cases((), (2,))),
            Rule("raises ValueError when temperature <= 0", on_cases((), (4,))),
            Rule("returns a new tensor in the features' dtype", "every case"),
            UNCHANGED,
        ),
    ),
    Exercise(
        name="instance_norm",
        points=2,
        visible=[
            Case(args=(_t([[[[1.0, 3.0]], [[2.0, 6.0]]]]),), kwargs={"eps": 0.0}),
            Case(args=(_normal((2, 3, 4, 5), 710, scale=2.0, shift=1.0),)),
        ],
        hidden=[
            Case(args=(_constant_channel((2, 3, 3, 3), 720),)),
            Case(args=(_normal((1, 4, 1, 1), 730),)),
            Case(args=(_normal((3, 2, 6, 2), 740, scale=100.0, shift=-500.0),), kwargs={"eps": 1e-3}),
            Case(args=(_normal((4, 5, 2, 3), 750),), kwargs={"eps": 0.0}),
            Case(args=(_normal((2, 3, 6), 760),), raises="ValueError"),
        ],
        numpy=False,
        **_FLOAT,
        copies=True,
        forbids=("torch.nn.functional.instance_norm", "torch.instance_norm", "torch.nn.InstanceNorm2d",
                 "torch.nn.functional.batch_norm", "torch.batch_norm", "torch.nn.functional.group_norm",
                 "torch.nn.functional.layer_norm", "torch.nn.GroupNorm", "torch.nn.LayerNorm"),
        hint="Mean and biased variance over the last two dimensions only (dim=(2, 3), keepdim=True, "
             "unbiased=False), then (x - mean) / sqrt(var + eps); each image and channel on its own.",
        spec_rules=(
            Rule("each image and each channel is normalised on its own, over its H x W positions",
                 on_cases((1, 2), (1, 3, 4), "visible 1: [1, 3] and [2, 6] -> [-1, 1] by hand")),
            Rule("(x - mean) / sqrt(var + eps) with the biased variance (divided by H W)", on_cases((1, 2), (3, 4))),
            Rule("a constant channel, or a single position, gives zeros", on_cases((), (1, 2))),
            Rule("raises ValueError unless x is 4-dimensional", on_cases((), (5,))),
            Rule("returns a new tensor in x's dtype", "every case"),
            forbids_rule("torch's instance, batch, group or layer normalisation"),
            UNCHANGED,
        ),
    ),
    Exercise(
        name="style_transfer",
        builds_on=("extract_features", "gram_matrix", "content_loss", "style_loss", "tv_loss", "softmax_features"),
        points=3,
        visible=[
            Case(args=("tiny", 0, _image(810), _image(811), CONTENT_LAYER, STYLE_LAYERS),
                 kwargs={**_STYLE, "steps": 4, "lr": 0.05, **TINY_BOUNDS}),
        ],
        hidden=[
            Case(args=("tiny", 81, _image(820, (9, 11)), _image(821, (12, 8)), CONTENT_LAYER, STYLE_LAYERS),
                 kwargs={**_STYLE, "steps": 3, "lr": 0.1, "train": True, **TINY_BOUNDS}),
            Case(args=("tiny", 82, _image(830), _image(831), "features.relu1", []),
                 kwargs={"content_weight": 1.0, "style_weights": [], "tv_weight": 0.0, "steps": 5, "lr": 0.05,
                         "init": _image(832)}),
            Case(args=("tiny", 83, _image(840), _image(841), None, STYLE_LAYERS),
                 kwargs={"content_weight": 0.0, "style_weights": [5.0, 5.0], "tv_weight": 0.01, "steps": 4,
                         "lr": 0.05, "init": _image(842), **TINY_BOUNDS}),
            Case(args=("tiny", 84, _image(850), _image(851), CONTENT_LAYER, STYLE_LAYERS),
                 kwargs={**_STYLE, "steps": 3, "lr": 0.05, "temperature": 0.5}),
            Case(args=("tiny", 85, _image(860, (12, 12)), _image(861), "features.conv2", ["features.conv1"]),
                 kwargs={"content_weight": 2.0, "style_weights": [0.0], "tv_weight": 0.1, "steps": 2, "lr": 0.5,
                         **TINY_BOUNDS}),
        ],
        numpy=False,
        **_LOOP,
        fields=("image", "losses", "inside [low, high]", *LEFT_BEHIND),
        hint="x starts as a copy of init (the content image when init is None) and is optimised with "
             "torch.optim.Adam([x], lr); each step: losses at the layers, their gradients backpropagated with "
             "torch.autograd.grad (never .backward(), which fills the model's .grad), plus tv_weight times the TV "
             "gradient, set as x.grad, opt.step(), then clamp x to [low, high] in place.",
        spec_rules=(
            Rule("the start is a copy of init, or of the content image when init is None",
                 on_cases((1,), (2, 3), "a given init")),
            Rule("the optimiser is torch.optim.Adam([x], lr) with its defaults, one step per iteration",
                 "every case"),
            Rule("the gradient of each step is that of content_weight * content + style + tv_weight * tv at the "
                 "current image", on_cases((1,), (1, 4, 5))),
            Rule("losses is Tensor[steps, 3]: the three weighted terms at each step, before its update",
                 "every case"),
            Rule("content_layer None: texture synthesis, style only", on_cases((), (3,))),
            Rule("no style layers: feature inversion, content only", on_cases((), (2,))),
            Rule("with a temperature, every feature passes through softmax_features first", on_cases((), (4,))),
            Rule("after every step each channel is clamped to [low[c], high[c]] when bounds are given",
                 on_cases((1,), (1, 3, 5), "and the probe's inside [low, high]")),
            Rule("returns the final image, detached, in the content's dtype and shape", "every case"),
            Rule("leaves the model and the images as they were",
                 "every case: side effects, hidden 1: train mode"),
            UNCHANGED,
        ),
    ),
]


BUGS = [
    Bug(
        exercise="style_transfer",
        find="                x.clamp_(low.reshape(1, -1, 1, 1), high.reshape(1, -1, 1, 1))\n",
        replace="                pass\n",
        why="never clamps, so the image leaves the range of real pixels",
    ),
    Bug(
        exercise="gram_matrix",
        find="return gram / (height * width)",
        replace="return gram / (channels * height * width)",
        why="divides by C H W, another normalisation than the one the docstring states (the mean over the H W "
            "positions), so every style weight means something else",
    ),
    Bug(
        exercise="style_loss",
        find="scale = weight / (4 * channels ** 2)",
        replace="scale = weight / (4 * channels)",
        why="divides by 4 C instead of 4 C^2, so layers with many channels weigh more than the notes' E_l says",
    ),
    Bug(
        exercise="tv_loss",
        find="return (down ** 2).sum() + (right ** 2).sum(), gradient",
        replace="return down.abs().sum() + right.abs().sum(), gradient",
        why="sums absolute differences (the L1 total variation) while the gradient is that of the squares",
    ),
    Bug(
        exercise="extract_features",
        find="modules = [model.get_submodule(name) for name in layers]",
        replace="named = dict(model.named_modules())\n    modules = [named[name] for name in layers]",
        why="looks layers up in a dict, so an unknown layer raises KeyError instead of the AttributeError the "
            "docstring promises",
    ),
]
