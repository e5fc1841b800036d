"""Graded cases and sample bugs of assignment 08: adversarial examples and adversarial training.

Attacks work in **pixel space**: an image is a float tensor with values in [0, 1], the model takes such
images (its normalisation is its first layer), and the budget ``eps`` is in pixel units
(``8 / 255`` is eight grey levels). Every attack keeps its result inside [0, 1] and, where it has a
budget, inside the L-infinity ball ``|x_adv - x| <= eps`` around the clean image.

The first exercise is the lecture's worked example, a logistic regression fooled by hand (numpy, float64):
``x = (1, -2, -2, 3, -1, 2, -2, -3)``, ``w = (2, -1, -1, -1, 2, -1, -1, 1)``, ``b = 0`` gives
``sigma(-2) = 0.1192``; moving every feature by ``eps`` along the sign of the gradient (the sign of ``w`` for
the label 0) adds ``eps * |w|_1 = 10 eps`` to the logit, so ``eps = 0.1, 0.2, 0.3`` give ``sigma(-1) = 0.2689``,
``sigma(0) = 0.5`` and ``sigma(1) = 0.7311``: those are its three visible cases.

Exercises that take a model are graded through probes in their test cells, as in 05 and 06: a case names a
probe network (``"tiny"``: the seeded random CNN of :func:`course_utils.models.tiny.tiny_cnn`, whose input we
treat as an image in [0, 1]; ``"paper"``: the hand-weighted grey-image network of
:func:`course_utils.models.tiny.paper_cam_net`), the probe builds it (in train mode when the case says
``train=True``), calls the student's function through :func:`course_utils.probes.side_effects` and returns,
as named fields, the properties of the issue (the result lies in the eps-ball and in [0, 1], the loss rises
or the target's probability rises, the same seed gives the same result) and what the call left behind on
the model and the image (:data:`~course_utils.probes.LEFT_BEHIND`). The black-box attack gets no model at
all: its probe hands it a function that answers probabilities, counts the images it was asked about and
refuses inputs that require grad.

Worked example of FGSM on the paper network (visible): its class scores are ``s_0 = m_0 + 2 m_1`` and
``s_1 = -m_0 + m_1`` with ``m_0`` the mean of ``relu(x)`` and ``m_1`` the mean of ``relu(-x)``; on an image in
[0, 1] only ``m_0`` moves, so the loss of label 0 falls as positive pixels fall and the loss of label 1 falls
as they rise. FGSM therefore moves every positive pixel by ``eps`` (down for label 0, up for label 1,
clamped at 1) and leaves a pixel at exactly 0 where it is (the ReLU passes no gradient there: sign 0).
"""

from __future__ import annotations

import numpy as np
import torch

from course_utils.models.tiny import probe_model
from course_utils.probes import LEFT_BEHIND

from . import Bug, Case, Exercise, Rule, UNCHANGED, on_cases, tensor64

_EXACT = {"rtol": 0.0, "atol": 0.0}
_FLOAT = {"rtol": 1e-9, "atol": 1e-12}
#: Loops of steps: a sign can flip on a gradient component near 0, so the loops are kept short and away from
#: ties; the tolerance only absorbs rounding.
_LOOP = {"rtol": 1e-7, "atol": 1e-10}

#: The lecture's logistic regression: features x, weights w (b = 0), and the three budgets it tries.
LECTURE_X = [1.0, -2.0, -2.0, 3.0, -1.0, 2.0, -2.0, -3.0]
LECTURE_W = [2.0, -1.0, -1.0, -1.0, 2.0, -1.0, -1.0, 1.0]
LECTURE_EPS = (0.1, 0.2, 0.3)
#: The probabilities the lecture prints: sigma(-2) before, sigma(-1), sigma(0), sigma(1) after.
LECTURE_P = 0.1192
LECTURE_P_ADV = (0.2689, 0.5, 0.7311)

#: A grey 2x2 image in [0, 1] for the paper network (one channel), with a pixel at exactly 0.
PAPER_IMAGE = [[[[0.5, 0.0], [0.25, 1.0]]]]


def _a(values) -> np.ndarray:
    return np.array(values, dtype=np.float64)


def _labels(values) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.int64)


def _images(seed: int, n: int = 1, size: tuple = (8, 8), channels: int = 3, low: float = 0.0,
            high: float = 1.0) -> torch.Tensor:
    """A batch [n, C, H, W] of images with values uniform in [low, high] (inside [0, 1])."""
    return torch.from_numpy(np.random.default_rng(seed).uniform(low, high, (n, channels, *size)))


def _predicted(model_seed: int, images: torch.Tensor) -> torch.Tensor:
    """The tiny probe network's predictions: labels under which the images start correctly classified."""
    with torch.no_grad():
        return probe_model("tiny", model_seed)(images).argmax(dim=1)


def _predicted_one(model_seed: int, image: torch.Tensor) -> int:
    return int(_predicted(model_seed, image)[0])


def _runner_up(model_seed: int, image: torch.Tensor) -> int:
    """The class the tiny network finds second most likely for a batch of one image."""
    with torch.no_grad():
        return int(probe_model("tiny", model_seed)(image)[0].argsort(descending=True)[1])


def _with_saturated(seed: int) -> torch.Tensor:
    """A batch [2, 3, 8, 8] whose pixels include exact 0s and 1s (an attack must stay inside [0, 1])."""
    x = _images(seed, 2)
    x[:, :, :2] = 0.0
    x[:, :, -2:] = 1.0
    return x


_FG_X = _images(310, 4)
_FG_X2 = _images(320, 3, (9, 7))
_PGD_X = _images(410, 4)
_PGD_X2 = _images(420, 3, (10, 6))
_FOOL_X = _images(510)
_FOOL_X2 = _images(520, size=(9, 9))
_RS_X = _images(610, 6)
_SIMBA_X = _images(710, size=(6, 6))
_SIMBA_X2 = _images(720, size=(5, 7))

EXERCISES = [
    Exercise(
        name="logistic_attack",
        points=2,
        visible=[*(Case(args=(_a(LECTURE_X), _a(LECTURE_W), 0.0, 0, eps)) for eps in LECTURE_EPS),
                 Case(args=(_a(LECTURE_X), _a(LECTURE_W), 0.0, 1, 0.1))],
        hidden=[
            Case(args=(_a(LECTURE_X), _a(LECTURE_W), 0.0, 1, 0.2)),
            Case(args=(np.random.default_rng(130).standard_normal(20), np.random.default_rng(131).standard_normal(20),
                       0.7, 1, 0.05)),
            Case(args=(np.random.default_rng(140).standard_normal(50), np.random.default_rng(141).standard_normal(50),
                       -1.5, 0, 0.01)),
            Case(args=(_a([1.0, 2.0, -1.0, 0.5]), _a([0.0, 3.0, 0.0, -2.0]), 0.25, 0, 0.5)),
            Case(args=(_a(LECTURE_X), _a(LECTURE_W), 0.0, 0, 0.0)),
            Case(args=(_a(LECTURE_X), _a(LECTURE_W), 0.0, 2, 0.1), raises="ValueError"),
            Case(args=(_a(LECTURE_X), _a(LECTURE_W), 0.0, 0, -0.1), raises="ValueError"),
        ],
        **_FLOAT,
        fields=("x_adv", "p", "p_adv"),
        hint="p = sigma(w . x + b); the gradient of the cross-entropy of label y with respect to x is (p - y) w, so "
             "x_adv = x + eps * sign((p - y) w); p_adv = sigma(w . x_adv + b); both probabilities as Python floats.",
        spec_rules=(
            Rule("p = sigma(w . x + b) is the probability of class 1, a Python float",
                 on_cases(visible=(1, 2, 3), hidden=(2, 3), what="the lecture's 0.1192")),
            Rule("x_adv = x + eps * sign of the loss gradient (p - y) w: along sign(w) for y = 0, against it for y = 1",
                 on_cases(visible=(1, 2, 3, 4), hidden=(1, 2, 3), what="the lecture's three budgets; visible 4: y = 1")),
            Rule("p_adv is the probability of class 1 at x_adv", on_cases(visible=(1, 2, 3), hidden=(1, 2, 3),
                                                                       what="0.2689, 0.5, 0.7311")),
            Rule("a feature with weight 0 does not move (sign 0)", on_cases(hidden=(4,))),
            Rule("eps = 0 leaves x as it is", on_cases(hidden=(5,))),
            Rule("raises ValueError for a label other than 0 or 1", on_cases(hidden=(6,))),
            Rule("raises ValueError for eps < 0", on_cases(hidden=(7,))),
            Rule("x_adv is a new float64 numpy array", "every case: dtype and kind of arrays"),
            UNCHANGED,
        ),
    ),
    Exercise(
        name="project_linf",
        points=1,
        visible=[
            Case(args=(tensor64([[0.5, 1.1, -0.2, 0.35]]), tensor64([[0.3, 0.95, 0.05, 0.3]]), 0.1)),
            Case(args=(_images(210, 2) + 0.3 * torch.from_numpy(np.random.default_rng(211).standard_normal((2, 3, 8, 8))),
                       _images(210, 2), 8 / 255)),
        ],
        hidden=[
            Case(args=(_images(220, 1) * 3 - 1, _images(221, 1), 0.0)),
            Case(args=(_images(230, 3, (5, 8)) * 1.4 - 0.2, _with_saturated(231)[:1, :, :5].repeat(3, 1, 1, 1), 0.05)),
            Case(args=(_images(240, 2), _images(240, 2), 0.3)),
            Case(args=(_images(250, 1) * 10 - 5, _images(251, 1), 2.0)),
            Case(args=(_images(260, 1), _images(261, 1), -0.01), raises="ValueError"),
        ],
        numpy=False,
        **_EXACT,
        copies=True,
        hint="Clamp each value to [original - eps, original + eps] (torch.clamp takes tensors as bounds), then to "
             "[0, 1]; the two boxes overlap because the original lies in [0, 1].",
        spec_rules=(
            Rule("each value is clamped to [original - eps, original + eps]", on_cases(visible=(1, 2), hidden=(2, 4))),
            Rule("and to the image range [0, 1]", on_cases(visible=(1,), hidden=(1, 2, 4),
                                                           what="candidates far outside, originals at 0 and 1")),
            Rule("eps = 0 gives the original", on_cases(hidden=(1,))),
            Rule("a candidate already inside both comes back as it is, in a new tensor", on_cases(hidden=(3,))),
            Rule("raises ValueError for eps < 0", on_cases(hidden=(5,))),
            Rule("returns a new tensor of the candidate's dtype", "every case: copies, dtype"),
            UNCHANGED,
        ),
    ),
    Exercise(
        name="fgsm",
        points=2,
        visible=[
            Case(args=("paper", 0, tensor64(PAPER_IMAGE), _labels([0]), 0.1)),
            Case(args=("paper", 0, tensor64(PAPER_IMAGE), _labels([1]), 0.1)),
            Case(args=("tiny", 3, _FG_X, _predicted(3, _FG_X), 8 / 255)),
            Case(args=("paper", 0, tensor64(PAPER_IMAGE), _labels([1]), 0.1), kwargs={"targeted": True}),
        ],
        hidden=[
            Case(args=("tiny", 31, _FG_X2, _predicted(31, _FG_X2), 0.03)),
            Case(args=("tiny", 32, _images(330, 2), _labels([2, 0]), 0.05), kwargs={"targeted": True}),
            Case(args=("tiny", 33, _with_saturated(340), _labels([1, 2]), 0.1)),
            Case(args=("tiny", 34, _images(350, 3), _labels([0, 1, 2]), 0.02), kwargs={"train": True}),
            Case(args=("tiny", 35, _images(360, 2), _labels([0, 1]), 0.0)),
            Case(args=("paper", 0, tensor64(PAPER_IMAGE), _labels([1]), 0.3), kwargs={"targeted": True}),
            Case(args=("tiny", 36, _images(370, 1), _labels([0]), -0.1), raises="ValueError"),
        ],
        numpy=False,
        **_FLOAT,
        fields=("adversarial images", "inside the eps-ball", "inside [0, 1]", "attack objective rose", *LEFT_BEHIND),
        hint="Differentiate F.cross_entropy(model(x), labels) with respect to a detached copy x of the images "
             "(torch.autograd.grad); add eps * sign(grad) (subtract it when targeted: labels are then the targets), "
             "then clamp to [0, 1].",
        spec_rules=(
            Rule("untargeted: x + eps * sign(grad of the cross-entropy of labels), clamped to [0, 1]",
                 on_cases(visible=(1, 2, 3), hidden=(1, 3), what="the paper network's worked example")),
            Rule("targeted: x - eps * sign(grad of the cross-entropy of the targets), clamped",
                 on_cases(visible=(4,), hidden=(2, 6), what="visible 4: towards class 1 moves the paper image down")),
            Rule("a pixel whose gradient is 0 does not move", on_cases(visible=(1, 2), what="the pixel at 0")),
            Rule("the result stays inside [0, 1] and within eps of the images",
                 "every case: the probe's fields, hidden 3: pixels at 0 and 1"),
            Rule("the loss rises (untargeted) or the targets' probability rises (targeted)",
                 "every case but eps = 0 (hidden 5): the probe's field"),
            Rule("raises ValueError for eps < 0", on_cases(hidden=(7,))),
            Rule("leaves no hook and no .grad, keeps train/eval mode and parameters; the images come back unchanged, "
                 "not requiring grad", "every case: the probe's side effects, hidden 4: a model in train mode"),
            Rule("returns a new detached tensor of the images' dtype", "every case"),
        ),
    ),
    Exercise(
        name="pgd",
        builds_on=("fgsm", "project_linf"),
        points=3,
        visible=[
            Case(args=("tiny", 4, _PGD_X, _predicted(4, _PGD_X), 8 / 255, 2 / 255, 5)),
            Case(args=("tiny", 4, _PGD_X, _predicted(4, _PGD_X), 8 / 255, 2 / 255, 5),
                 kwargs={"random_start": False}),
        ],
        hidden=[
            Case(args=("tiny", 41, _PGD_X2, _predicted(41, _PGD_X2), 0.05, 0.01, 8), kwargs={"seed": 5}),
            Case(args=("tiny", 42, _images(430, 2), _labels([1, 0]), 0.1, 0.03, 6), kwargs={"targeted": True}),
            Case(args=("tiny", 43, _with_saturated(440), _labels([0, 2]), 0.2, 0.05, 4), kwargs={"train": True}),
            Case(args=("tiny", 44, _images(450, 2), _labels([2, 1]), 0.03, 0.1, 3), kwargs={"seed": 11}),
            Case(args=("tiny", 45, _images(460, 3), _labels([0, 1, 2]), 0.05, 0.02, 0)),
            Case(args=("tiny", 46, _images(470, 1), _labels([0]), 0.05, 0.01, -1), raises="ValueError"),
        ],
        numpy=False,
        **_LOOP,
        fields=("adversarial images", "inside the eps-ball", "inside [0, 1]", "attack objective rose",
                "same under the same seed", *LEFT_BEHIND),
        hint="Start at project_linf(x + eps * (2 * torch.rand(x.shape, generator=torch.Generator().manual_seed(seed), "
             "dtype=x.dtype) - 1), x, eps) (or at x without random_start); then `steps` times: an fgsm step of "
             "step_size from the current point, projected with project_linf onto the eps-ball around the ORIGINAL x.",
        spec_rules=(
            Rule("the random start is eps * (2 * torch.rand(..., generator seeded with seed) - 1), projected",
                 on_cases(visible=(1,), hidden=(1, 4), what="seeds 0, 5 and 11")),
            Rule("random_start=False starts at the images themselves", on_cases(visible=(2,))),
            Rule("each step is an fgsm step of step_size (targeted passed on), projected onto the eps-ball around "
                 "the original images and onto [0, 1]", on_cases(visible=(1, 2), hidden=(1, 2, 3, 4),
                                                                  what="hidden 4: a step larger than eps")),
            Rule("steps = 0 gives the (projected) random start", on_cases(hidden=(5,))),
            Rule("the result stays within eps of the images and inside [0, 1]", "every case: the probe's fields"),
            Rule("the loss (untargeted) or the targets' probability (targeted) rises",
                 "every case but steps = 0 (hidden 5): the probe's field"),
            Rule("the same seed gives the same result", "every case: the probe calls it twice"),
            Rule("raises ValueError for eps < 0 or steps < 0", on_cases(hidden=(6,))),
            Rule("leaves the model and the images as they were",
                 "every case: the probe's side effects, hidden 3: a model in train mode"),
        ),
    ),
    Exercise(
        name="fooling_image",
        points=2,
        visible=[
            Case(args=("tiny", 5, _FOOL_X, _runner_up(5, _FOOL_X), 0.2, 40)),
        ],
        hidden=[
            Case(args=("tiny", 51, _FOOL_X2, 1, 0.3, 60)),
            Case(args=("tiny", 58, _images(590), 0, 0.3, 30), kwargs={"train": True}),
            Case(args=("tiny", 53, _images(540), _predicted_one(53, _images(540)), 0.3, 10)),
            Case(args=("tiny", 54, _images(550), (_predicted_one(54, _images(550)) + 2) % 3, 0.01, 3)),
            Case(args=("tiny", 55, _images(560), 3, 0.1, 10), raises="ValueError"),
            Case(args=("tiny", 56, _images(570, 2), 0, 0.1, 10), raises="ValueError"),
        ],
        numpy=False,
        **_LOOP,
        fields=("fooled image", "steps", "L-inf size", "fooled", "predicted as target", "inside [0, 1]",
                *LEFT_BEHIND),
        hint="Loop: forward the current image; stop if the top class is the target (or max_steps steps were taken); "
             "else differentiate the target's score (the logit) with respect to the image and take "
             "x = clamp(x + step_size * g / ||g||_2, 0, 1). Report the steps taken and max |x - image|.",
        spec_rules=(
            Rule("each step ascends the target's score (logit) by step_size * g / ||g||_2, clamped to [0, 1]",
                 on_cases(visible=(1,), hidden=(1, 2))),
            Rule("it stops as soon as the model predicts the target, checked before every step",
                 on_cases(visible=(1,), hidden=(1, 2, 3), what="hidden 3: already the target, 0 steps")),
            Rule("it stops after max_steps steps and then reports fooled False", on_cases(hidden=(4,))),
            Rule("returns (image, steps as int, L-inf size max|x - image| as float, fooled as bool)", "every case"),
            Rule("raises ValueError for a target that is not a class of the model", on_cases(hidden=(5,))),
            Rule("raises ValueError for a batch of more than one image", on_cases(hidden=(6,))),
            Rule("leaves the model and the image as they were",
                 "every case: the probe's side effects, hidden 2: a model in train mode"),
        ),
    ),
    Exercise(
        name="fgsm_rs_step",
        builds_on=("fgsm", "project_linf"),
        points=2,
        visible=[
            Case(args=("tiny", 6, _RS_X, _predicted(6, _RS_X), 8 / 255, 10 / 255, 0)),
        ],
        hidden=[
            Case(args=("tiny", 61, _images(620, 4, (6, 6)), _labels([0, 1, 2, 0]), 0.05, 0.0625, 3),
                 kwargs={"train": True}),
            Case(args=("tiny", 62, _with_saturated(630), _labels([2, 2]), 0.1, 0.2, 7), kwargs={"lr": 0.5}),
            Case(args=("tiny", 63, _images(640, 3), _labels([1, 0, 1]), 0.0, 0.01, 1)),
        ],
        numpy=False,
        **_FLOAT,
        fields=("adversarial batch", "loss", "parameters after the step", "inside the eps-ball", "inside [0, 1]",
                "hooks left", "modes changed", "image requires_grad"),
        hint="delta0 = eps * (2 * torch.rand(images.shape, generator=torch.Generator().manual_seed(seed), dtype=...) - 1); "
             "start = project_linf(images + delta0, images, eps); adv = project_linf(fgsm(model, start, labels, alpha), "
             "images, eps); then zero the optimizer's gradients, backpropagate F.cross_entropy(model(adv), labels) and "
             "take one optimizer step.",
        spec_rules=(
            Rule("the start is uniform in the eps-ball from a generator seeded with seed, projected",
                 on_cases(visible=(1,), hidden=(1, 2))),
            Rule("one fgsm step of alpha from the start, projected onto the eps-ball around the images",
                 on_cases(visible=(1,), hidden=(1, 2), what="alpha larger than eps")),
            Rule("loss is the cross-entropy of the labels on the adversarial batch, before the update",
                 "every case"),
            Rule("exactly one optimizer step on that loss: the attack's gradient must not reach the parameters",
                 "every case: the parameters after the step"),
            Rule("the gradients are zeroed before the backward pass",
                 "every case: the probe leaves a stale gradient of ones on every parameter before the call"),
            Rule("eps = 0 trains on the clean batch", on_cases(hidden=(3,))),
            Rule("uses the model in the mode it is in; leaves no hook", "every case, hidden 1: train mode"),
        ),
    ),
    Exercise(
        name="simba",
        points=3,
        visible=[
            Case(args=("tiny", 7, _SIMBA_X, _predicted_one(7, _SIMBA_X), 0.2, 300)),
        ],
        hidden=[
            Case(args=("tiny", 71, _SIMBA_X2, _predicted_one(71, _SIMBA_X2), 0.25, 400), kwargs={"seed": 4}),
            Case(args=("tiny", 72, _images(730, size=(4, 4)), _predicted_one(72, _images(730, size=(4, 4))), 0.02, 9)),
            Case(args=("tiny", 73, _images(740, size=(5, 5)), (_predicted_one(73, _images(740, size=(5, 5))) + 1) % 3,
                       0.1, 50)),
            Case(args=("tiny", 74, _with_saturated(750)[:1, :, 1:7, 1:7], _predicted_one(74, _with_saturated(750)[:1, :, 1:7, 1:7]),
                       0.3, 200), kwargs={"seed": 2}),
            Case(args=("tiny", 75, _images(760), 0, 0.1, 0), raises="ValueError"),
        ],
        numpy=False,
        **_FLOAT,
        fields=("adversarial image", "queries", "success", "queries the API counted", "inside the eps-ball",
                "inside [0, 1]", "label probability did not rise", *LEFT_BEHIND),
        hint="Query the clean image once; visit the pixels in the order torch.randperm(image.numel(), generator="
             "torch.Generator().manual_seed(seed)); for each, try -eps, then +eps (clamped to [0, 1]), keep the first "
             "candidate whose label probability is lower; stop when the top class is not the label or the "
             "budget of queries is spent.",
        spec_rules=(
            Rule("the clean image costs the first query; each tried candidate costs one more",
                 "every case: queries equal the API's count"),
            Rule("pixels are visited once each, in torch.randperm order from a generator seeded with seed",
                 on_cases(visible=(1,), hidden=(1, 4), what="seeds 0, 4 and 2")),
            Rule("at each pixel -eps is tried first, then +eps, each clamped to [0, 1]; the first that lowers the "
                 "label's probability is kept", on_cases(visible=(1,), hidden=(1, 4), what="hidden 4: pixels at 0 and 1")),
            Rule("it stops when the top class is no longer the label, or when max_queries queries were made",
                 on_cases(visible=(1,), hidden=(2,), what="hidden 2: a budget of 9 queries")),
            Rule("an image the model already gets wrong costs one query and is a success", on_cases(hidden=(3,))),
            Rule("the result stays within eps of the image and inside [0, 1]; the label's probability does not rise",
                 "every case: the probe's fields"),
            Rule("it asks the API for probabilities only: no gradient, no model", "every case: the API refuses grad"),
            Rule("raises ValueError for max_queries < 1", on_cases(hidden=(5,))),
            UNCHANGED,
        ),
    ),
]


BUGS = [
    Bug(
        exercise="logistic_attack",
        find="gradient = (p - y) * w ",
        replace="gradient = w ",
        why="always moves along sign(w), which raises P(y = 1) whatever the label, so an example of class 1 is "
            "pushed deeper into its own class",
    ),
    Bug(
        exercise="project_linf",
        find="return inside_ball.clamp(0.0, 1.0)",
        replace="return inside_ball",
        why="projects onto the eps-ball but forgets the image range, so pixels near 0 or 1 leave [0, 1]",
    ),
    Bug(
        exercise="fgsm",
        find="direction = -grad.sign() if targeted else grad.sign()",
        replace="direction = grad.sign()",
        why="climbs the target's loss in a targeted attack, which pushes the image away from the target",
    ),
    Bug(
        exercise="pgd",
        find="adversarial = project_linf(fgsm(model, adversarial, labels, step_size, targeted), original, eps)",
        replace="adversarial = project_linf(fgsm(model, adversarial, labels, step_size, targeted), adversarial, eps)",
        why="projects onto the ball around the current point instead of the clean image, so the perturbation grows "
            "by a step each iteration and leaves the budget",
    ),
    Bug(
        exercise="fooling_image",
        find="x = x.clamp(0.0, 1.0)",
        replace="x = x",
        why="does not clamp, so the fooling image can leave the range of real images",
    ),
]
