"""Graded cases and sample bugs of assignment 03: U-Net segmentation.

The modules (``DoubleConv``, ``Down``, ``Up``, ``UNet``) are graded through probes in their test cells:
the probe builds the module, fills its parameters with fixed seeded values and returns the float64
output, the parameter count and whether the forward pass left its inputs unchanged, so every case here
is ``(constructor arguments..., inputs...)``; constructor options a case leaves out take the module's
own defaults. Hidden module cases use odd sizes, unequal heights and widths, other depths, the
``skip=False`` ablation and the smallest size a depth allows. The loss is graded through a probe too:
its value and its gradient with respect to the logits. The metric cases include the notebook's
hand-worked 2x4 example (one void pixel, one class absent from both prediction and truth), images that
are entirely void, classes that only the prediction or only the truth contains, and logits large enough
to overflow a naive softmax.

Bugs in the modules that others build on (``DoubleConv``, ``Down``, ``Up``) cost only their own
exercise as long as they are in ``forward``: a wrong layer in ``__init__`` (a bias, a kernel size)
changes the parameters of every module that holds one, so the parameter count and the replay keys of
those modules change too, and that cannot be isolated.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from . import Bug, Case, Exercise, Rule, randn

#: The notebook's worked example: a 2x4 image with classes 0..3, one void pixel (255), class 3 absent.
TINY_TARGET = torch.tensor([[[0, 0, 1, 1],
                             [0, 2, 2, 255]]])
TINY_PRED = torch.tensor([[[0, 1, 1, 1],
                           [0, 2, 0, 2]]])
#: Its confusion matrix (rows: true class, columns: predicted class).
TINY_CONF = torch.tensor([[2, 1, 0, 0],
                          [0, 2, 0, 0],
                          [1, 0, 1, 0],
                          [0, 0, 0, 0]])

#: The notebook's cross-entropy example: three pixels, three classes, the middle pixel void.
#: Softmax (1/4, 1/2, 1/4) at the first pixel (target 1) and (3/5, 1/5, 1/5) at the last (target 0).
TINY_LOGITS = torch.tensor([[[[0.0, 5.0, math.log(3.0)]],
                             [[math.log(2.0), -1.0, 0.0]],
                             [[0.0, 2.0, 0.0]]]], dtype=torch.float64)
TINY_LOGITS_TARGET = torch.tensor([[[1, 255, 0]]])

_EXACT = {"rtol": 0.0, "atol": 0.0}
_FLOAT = {"rtol": 1e-7, "atol": 1e-9}


def _x(*shape: int, seed: int, scale: float = 1.0) -> torch.Tensor:
    """A float64 tensor of standard normal values (times ``scale``) from its own seed."""
    return torch.from_numpy(randn(*shape, seed=seed) * scale)


def _labels(shape: tuple, num_classes: int, seed: int, void: float = 0.0, ignore_index: int = 255,
            absent: tuple = ()) -> torch.Tensor:
    """Random int64 labels in ``range(num_classes)`` minus ``absent``, a fraction ``void`` set to
    ``ignore_index``."""
    rng = np.random.default_rng(seed)
    allowed = [c for c in range(num_classes) if c not in absent]
    labels = rng.choice(allowed, size=shape)
    if void:
        labels = np.where(rng.random(shape) < void, ignore_index, labels)
    return torch.from_numpy(labels.astype(np.int64))


def _prediction(target: torch.Tensor, num_classes: int, seed: int, right: float = 0.6,
                absent: tuple = ()) -> torch.Tensor:
    """A prediction that agrees with ``target`` on about a fraction ``right`` of its labelled pixels
    and is a random allowed class elsewhere (void pixels of ``target`` get a random class too)."""
    rng = np.random.default_rng(seed)
    guess = _labels(tuple(target.shape), num_classes, seed + 1, absent=absent)
    keep = torch.from_numpy(rng.random(tuple(target.shape)) < right) & (target >= 0) & (target < num_classes)
    return torch.where(keep, target, guess)


def _segmentation(shape: tuple, num_classes: int, seed: int, void: float = 0.0, ignore_index: int = 255,
                  absent: tuple = (), pred_absent: tuple | None = None) -> tuple:
    """``(pred, target)`` of one image batch; ``pred_absent`` defaults to ``absent``."""
    target = _labels(shape, num_classes, seed, void, ignore_index, absent)
    if pred_absent is None:
        return _prediction(target, num_classes, seed + 10, absent=absent), target
    pred = _prediction(target, num_classes, seed + 10, absent=pred_absent)
    stand_in = min(c for c in range(num_classes) if c not in pred_absent)
    for c in pred_absent:  # the prediction never contains these classes, even where it copies the truth
        pred[pred == c] = stand_in
    return pred, target


def _conf(num_classes: int, seed: int, absent: tuple = (), only_predicted: tuple = (),
          high: int = 30, only_true: tuple = ()) -> torch.Tensor:
    """A random (K, K) int64 confusion matrix with a heavy diagonal. Classes in ``absent`` have an empty
    row and column (in neither truth nor prediction); classes in ``only_predicted`` have an empty row,
    classes in ``only_true`` an empty column."""
    rng = np.random.default_rng(seed)
    conf = rng.integers(0, high, size=(num_classes, num_classes)) + np.diag(rng.integers(high, 4 * high,
                                                                                         size=num_classes))
    for c in absent:
        conf[c, :] = 0
        conf[:, c] = 0
    for c in only_predicted:
        conf[c, :] = 0
    for c in only_true:
        conf[:, c] = 0
    return torch.from_numpy(conf.astype(np.int64))


def _ce(shape: tuple, seed: int, void: float = 0.0, scale: float = 1.0, shift: float = 0.0,
        ignore_index: int | None = None) -> Case:
    """A cross-entropy case: logits (N, K, H, W) and a target (N, H, W) with a fraction of void pixels."""
    n, k, h, w = shape
    logits = _x(*shape, seed=seed, scale=scale) + shift
    kwargs = {} if ignore_index is None else {"ignore_index": ignore_index}
    target = _labels((n, h, w), k, seed + 1, void, 255 if ignore_index is None else ignore_index)
    return Case(args=(logits, target), kwargs=kwargs)


def _module(*args, seed: int, shape: tuple, **kwargs) -> Case:
    """A module case: constructor arguments, then one float64 input of ``shape``."""
    return Case(args=(*args, _x(*shape, seed=seed)), kwargs=kwargs)


def _up(in_channels: int, out_channels: int, x_hw: tuple, skip_hw: tuple, seed: int, batch: int = 1,
        **kwargs) -> Case:
    """An ``Up`` case: x (N, in, h, w) and a skip (N, in // 2, H, W) from two seeds."""
    x = _x(batch, in_channels, *x_hw, seed=seed)
    skip = _x(batch, in_channels // 2, *skip_hw, seed=seed + 1)
    return Case(args=(in_channels, out_channels, x, skip), kwargs=kwargs)


EXERCISES = [
    Exercise(
        name="double_conv",
        points=1,
        visible=[
            _module(3, 4, seed=110, shape=(2, 3, 6, 6)),
            _module(2, 5, seed=120, shape=(1, 2, 5, 7)),
        ],
        hidden=[
            _module(1, 1, seed=130, shape=(1, 1, 3, 3)),
            _module(4, 8, seed=140, shape=(2, 4, 7, 5)),
            _module(6, 3, seed=150, shape=(1, 6, 4, 9)),
            _module(3, 3, seed=160, shape=(3, 3, 1, 1)),
        ],
        numpy=False,
        fields=("output", "parameters", "inputs unchanged"),
        spec_rules=(
            Rule("forward(x) = relu(bn2(conv2(relu(bn1(conv1(x)))))): conv, batch norm, ReLU, twice, in "
                 "that order", "every case: the output, with seeded parameters in eval mode"),
            Rule("the attributes are named conv1, bn1, conv2, bn2 (the probe fills the parameters in the "
                 "order of their names)", "every case: the output"),
            Rule("conv1 is Conv2d(in_channels, out_channels, 3, padding=1, bias=False)",
                 "every case: the parameter count, and the output's shape and values"),
            Rule("conv2 is Conv2d(out_channels, out_channels, 3, padding=1, bias=False)",
                 "every case: the parameter count, and the output's shape and values"),
            Rule("bn1 and bn2 are BatchNorm2d(out_channels)", "every case: the parameter count and the output"),
            Rule("forward maps Tensor[N, in_channels, H, W] to Tensor[N, out_channels, H, W]",
                 "every case: the output's shape; visible 1, hidden 2, hidden 4: N > 1; visible 2, hidden 2, "
                 "hidden 3: H != W; hidden 4: a 1x1 image; hidden 1, hidden 4: in_channels == out_channels"),
            Rule("forward changes none of its inputs in place",
                 "every case: the grader's input check (the probe hands the case's own tensor to the module "
                 "on the CPU) and the probe's 'inputs unchanged' (on any device)"),
        ),
        **_FLOAT,
        hint="Use the attribute names conv1, bn1, conv2, bn2; both convs are 3x3 with padding 1 and "
             "bias=False, and the order is conv -> batch norm -> ReLU, twice.",
    ),
    Exercise(
        name="down",
        builds_on=("DoubleConv",),
        points=1,
        visible=[
            _module(3, 6, seed=210, shape=(2, 3, 8, 8)),
            _module(4, 8, seed=220, shape=(1, 4, 7, 9)),
        ],
        hidden=[
            _module(2, 4, seed=230, shape=(1, 2, 5, 5)),
            _module(5, 3, seed=240, shape=(2, 5, 10, 6)),
            _module(1, 2, seed=250, shape=(1, 1, 3, 2)),
            _module(4, 4, seed=260, shape=(2, 4, 9, 11)),
        ],
        numpy=False,
        fields=("output", "parameters", "inputs unchanged"),
        spec_rules=(
            Rule("max-pool first, with pool = nn.MaxPool2d(2): a 2x2 window with stride 2",
                 "every case: the output"),
            Rule("then conv = DoubleConv(in_channels, out_channels)",
                 "every case: the parameter count and the output"),
            Rule("Tensor[N, in_channels, H, W] -> Tensor[N, out_channels, H // 2, W // 2]: odd sizes round down",
                 "every case: the output's shape; visible 2, hidden 1, hidden 3, hidden 4: odd H or W"),
            Rule("for H, W >= 2", "hidden 3: W = 2 exactly"),
            Rule("forward changes none of its inputs in place",
                 "every case: the grader's input check (the probe hands the case's own tensor to the module "
                 "on the CPU) and the probe's 'inputs unchanged' (on any device)"),
        ),
        **_FLOAT,
        hint="Max-pool with a 2x2 window and stride 2 first (odd sizes round down), then apply a "
             "DoubleConv(in_channels, out_channels) stored as self.conv.",
    ),
    Exercise(
        name="up",
        builds_on=("DoubleConv",),
        points=2,
        visible=[
            _up(8, 4, (3, 3), (6, 6), seed=310),
            _up(8, 4, (3, 4), (7, 9), seed=320, batch=2),
            _up(6, 3, (2, 2), (5, 4), seed=330, use_skip=False),
        ],
        hidden=[
            _up(4, 2, (5, 5), (11, 10), seed=340),
            _up(2, 3, (1, 1), (3, 2), seed=350, batch=2),
            _up(10, 5, (2, 3), (6, 7), seed=360),
            _up(4, 4, (3, 2), (8, 7), seed=370),
            _up(8, 4, (4, 3), (9, 6), seed=380, use_skip=False),
            _up(6, 2, (3, 3), (7, 7), seed=390, batch=2, use_skip=True),
        ],
        numpy=False,
        fields=("output", "parameters", "inputs unchanged"),
        spec_rules=(
            Rule("up is ConvTranspose2d(in_channels, in_channels // 2, 2, stride=2) with bias",
                 "every case: the parameter count and the output"),
            Rule("conv is DoubleConv(in_channels, out_channels) when use_skip, else "
                 "DoubleConv(in_channels // 2, out_channels)",
                 "every case: the parameter count and the output; visible 3, hidden 5: use_skip=False"),
            Rule("use_skip defaults to True", "visible 1, visible 2, hidden 1, hidden 2, hidden 3, hidden 4: "
                 "Up built without use_skip; hidden 6: use_skip=True given"),
            Rule("zero-pad the upsampled map to (H, W) with (H - 2h) // 2 rows on top and the rest at the bottom",
                 "visible 2, visible 3, hidden 1, hidden 2, hidden 5, hidden 6: one row to pad, at the bottom; "
                 "hidden 3, hidden 4: two rows, one on each side; visible 1: nothing to pad"),
            Rule("and (W - 2w) // 2 columns on the left and the rest on the right",
                 "visible 2, hidden 3, hidden 6: one column, on the right; hidden 4: three columns, one on "
                 "the left and two on the right"),
            Rule("concatenate [skip, upsampled] on the channel axis",
                 "visible 1, visible 2, hidden 1, hidden 2, hidden 3, hidden 4, hidden 6: the output"),
            Rule("use_skip=False uses the skip only for its size (the ablation)",
                 "visible 3, hidden 5: the output"),
            Rule("forward(x, skip) returns Tensor[N, out_channels, H, W]",
                 "every case: the output's shape; visible 2, hidden 2, hidden 6: N = 2"),
            Rule("neither x nor skip is changed in place",
                 "every case: the grader's input check (the probe hands the case's own tensors to the "
                 "module on the CPU) and the probe's 'inputs unchanged' (on any device)"),
        ),
        **_FLOAT,
        hint="Upsample with self.up, zero-pad the result to the skip's height and width (diff // 2 rows "
             "on top, the rest at the bottom; the same for columns), concatenate [skip, upsampled] on "
             "the channel axis, then apply self.conv.",
    ),
    Exercise(
        name="unet",
        builds_on=("DoubleConv", "Down", "Up"),
        points=3,
        visible=[
            _module(3, 7, seed=410, shape=(1, 3, 16, 16), base=4, depth=2),
            _module(3, 7, seed=420, shape=(2, 3, 13, 11), base=4, depth=2),
            _module(3, 5, seed=430, shape=(1, 3, 12, 12), base=4, depth=2, skip=False),
        ],
        hidden=[
            _module(1, 3, seed=440, shape=(1, 1, 9, 14), base=2, depth=3),
            _module(3, 7, seed=450, shape=(1, 3, 17, 15), base=4, depth=3),
            _module(2, 2, seed=460, shape=(2, 2, 8, 8), base=4, depth=1),
            _module(3, 4, seed=470, shape=(1, 3, 21, 10), base=2, depth=2, skip=False),
            _module(3, 7, seed=480, shape=(1, 3, 19, 16), base=4, depth=3, skip=False),
            _module(3, 6, seed=490, shape=(1, 3, 11, 11), base=3, depth=2),
            _module(1, 2, seed=495, shape=(1, 1, 8, 11)),  # the defaults; H = 2**depth exactly
        ],
        numpy=False,
        fields=("output", "parameters", "inputs unchanged"),
        spec_rules=(
            Rule("inc is DoubleConv(in_channels, base)", "every case: the parameter count and the output"),
            Rule("downs is an nn.ModuleList of Down(base * 2**i, base * 2**(i + 1)) for i = 0, ..., depth - 1",
                 "every case: the parameter count and the output; hidden 3: depth 1; hidden 1, hidden 2, "
                 "hidden 5, hidden 7: depth 3"),
            Rule("ups is an nn.ModuleList of Up(base * 2**(i + 1), base * 2**i, use_skip=skip) for "
                 "i = depth - 1, ..., 0 (the deepest first)",
                 "every case: the parameter count and the output (the probe fills parameters in the order "
                 "of their names, ups.0 first)"),
            Rule("head is Conv2d(base, num_classes, 1) with bias", "every case: the parameter count and the output"),
            Rule("the decoder meets the skips in reverse order (last in, first out)",
                 "visible 1, visible 2, hidden 1, hidden 2, hidden 3, hidden 6, hidden 7: the output"),
            Rule("skip=False builds every Up with use_skip=False", "visible 3, hidden 4, hidden 5: the output"),
            Rule("the defaults are base=8, depth=3, skip=True", "hidden 7: UNet(1, 2) on a 1x1x8x11 image"),
            Rule("Tensor[N, in_channels, H, W] -> Tensor[N, num_classes, H, W] for any H, W >= 2**depth, odd "
                 "sizes included", "every case: the output's shape; visible 2, hidden 1, hidden 2, hidden 4, "
                 "hidden 5, hidden 6, hidden 7: odd sizes; hidden 7: H = 2**depth exactly"),
            Rule("forward changes none of its inputs in place",
                 "every case: the grader's input check (the probe hands the case's own tensor to the module "
                 "on the CPU) and the probe's 'inputs unchanged' (on any device)"),
        ),
        **_FLOAT,
        hint="Keep the names inc, downs, ups and head; level i has base * 2**i channels, the decoder "
             "visits the skips in reverse order, and skip=False builds every Up with use_skip=False.",
    ),
    Exercise(
        name="pixel_cross_entropy",
        points=2,
        visible=[
            Case(args=(TINY_LOGITS, TINY_LOGITS_TARGET)),
            _ce((2, 4, 5, 6), seed=510, void=0.2),
            _ce((1, 3, 4, 4), seed=520, void=0.25, scale=1000.0),
        ],
        hidden=[
            _ce((3, 7, 8, 9), seed=530, void=0.1),
            _ce((1, 2, 3, 3), seed=540, void=1.0),
            _ce((2, 5, 6, 7), seed=550),
            _ce((2, 4, 5, 5), seed=560, void=0.3, scale=500.0, shift=1000.0),
            _ce((1, 6, 7, 4), seed=570, void=0.4, ignore_index=-1),
            _ce((2, 3, 2, 5), seed=580, void=0.5, shift=-800.0, scale=50.0),
        ],
        numpy=False,
        fields=("loss", "gradient"),
        spec_rules=(
            Rule("the loss is the sum over the valid pixels of logsumexp_k(logits) - logits[target]",
                 "every case: the loss; visible 1: the notebook's worked example"),
            Rule("divided by the number of valid pixels, not of all pixels",
                 "visible 1, visible 2, visible 3, hidden 1, hidden 4, hidden 5, hidden 6: void pixels present"),
            Rule("0 when every pixel is void", "hidden 2: every pixel void"),
            Rule("ignore_index is the void label, 255 by default",
                 "hidden 5: ignore_index=-1; every other case: the default"),
            Rule("returns a 0-dim tensor of the dtype of logits", "every case: shape and dtype (float64 logits)"),
            Rule("differentiable with respect to logits, also when every pixel is void (gradient 0)",
                 "every case: the probe's gradient of the loss against the reference's; hidden 2: all void"),
            Rule("subtract the per-pixel maximum before exp, so logits of +-1000 work",
                 "visible 3, hidden 4, hidden 6: logits beyond +-700 (exp overflows float64)"),
            Rule("do not call F.cross_entropy, F.nll_loss, log_softmax or torch.logsumexp",
                 "every case: the grader withholds the points when the answer cell names one (forbids; a "
                 "tensor method such as logits.logsumexp(1) is not seen)"),
        ),
        rtol=1e-7,
        atol=1e-9,
        hint="Average -log softmax at the target class over the pixels whose target is not ignore_index "
             "(divide by their number, not by all pixels); subtract the per-pixel maximum before exp.",
        forbids=('torch.nn.functional.cross_entropy', 'torch.nn.functional.nll_loss', 'torch.nn.CrossEntropyLoss',
                 'torch.nn.NLLLoss', 'torch.nn.functional.log_softmax', 'torch.log_softmax',
                 'torch.special.log_softmax', 'torch.nn.LogSoftmax', 'torch.logsumexp', 'torch.special.logsumexp'),
    ),
    Exercise(
        name="confusion_matrix",
        points=2,
        visible=[
            Case(args=(TINY_PRED, TINY_TARGET, 4)),
            Case(args=(*_segmentation((2, 6, 7), 4, seed=610, void=0.15), 4)),
        ],
        hidden=[
            Case(args=(*_segmentation((3, 8, 8), 7, seed=620, void=0.1, absent=(3, 5)), 7)),
            Case(args=(*_segmentation((1, 4, 5), 3, seed=630, void=1.0), 3)),
            Case(args=(*_segmentation((1, 5, 5), 2, seed=640), 2)),
            Case(args=(*_segmentation((4, 9), 5, seed=650, void=0.2, ignore_index=-1), 5),
                 kwargs={"ignore_index": -1}),
            Case(args=(*_segmentation((2, 7, 6), 6, seed=660, void=0.3, pred_absent=(0, 1)), 6)),
        ],
        numpy=False,
        spec_rules=(
            Rule("conf[t, p] counts the pixels of true class t predicted as p: rows true, columns predicted",
                 "every case: the counts; visible 1: the notebook's worked example"),
            Rule("void pixels (target == ignore_index) are not counted, whatever their prediction",
                 "visible 1, visible 2, hidden 1, hidden 2, hidden 4, hidden 5: void pixels present; "
                 "hidden 2: every pixel void (an all-zero matrix)"),
            Rule("ignore_index is the void label, 255 by default", "hidden 4: ignore_index=-1"),
            Rule("returns Tensor[K, K] int64", "every case: shape and dtype"),
            Rule("pred and target are label maps of any shape", "hidden 4: 2-D maps; every other case: 3-D"),
            Rule("pred and target are left unchanged", "every case: the grader's input check"),
        ),
        **_EXACT,
        hint="Row = true class, column = predicted class; drop the pixels whose target is ignore_index "
             "before counting, and return int64 counts.",
        forbids=('sklearn.metrics',),
    ),
    Exercise(
        name="iou_per_class",
        points=1,
        visible=[
            Case(args=(TINY_CONF,)),
            Case(args=(_conf(5, seed=710, absent=(2,)),)),
        ],
        hidden=[
            Case(args=(_conf(7, seed=720, absent=(1, 4), only_predicted=(6,)),)),
            Case(args=(torch.zeros(3, 3, dtype=torch.int64),)),
            Case(args=(torch.diag(torch.tensor([5, 0, 7, 1])),)),
            Case(args=(_conf(2, seed=730, high=1000),)),
            Case(args=(_conf(6, seed=740, only_predicted=(0, 3)),)),
        ],
        numpy=False,
        spec_rules=(
            Rule("TP / (TP + FP + FN) per class, TP = conf[c, c], FN the rest of row c, FP the rest of column c",
                 "every case: the values; visible 1: the notebook's worked example; hidden 1, hidden 5: classes "
                 "only predicted (IoU 0)"),
            Rule("1.0 for a class with TP + FP + FN == 0",
                 "visible 1, visible 2, hidden 1, hidden 2, hidden 3: classes that occur nowhere"),
            Rule("returns Tensor[K] float64", "every case: shape and dtype"),
            Rule("conf is left unchanged", "every case: the grader's input check"),
        ),
        **_FLOAT,
        hint="IoU = TP / (TP + FP + FN) with TP on the diagonal, FN the rest of the row and FP the rest of "
             "the column; a class with TP + FP + FN = 0 gets 1.0. Return float64.",
    ),
    Exercise(
        name="mean_iou",
        builds_on=("iou_per_class",),
        points=1,
        visible=[
            Case(args=(TINY_CONF,)),
            Case(args=(_conf(5, seed=810, absent=(0, 3)),)),
        ],
        hidden=[
            Case(args=(_conf(7, seed=820, absent=(1, 2, 5), only_predicted=(6,)),)),
            Case(args=(torch.zeros(4, 4, dtype=torch.int64),)),
            Case(args=(_conf(3, seed=830),)),
            Case(args=(torch.diag(torch.tensor([0, 9, 0, 4, 0])),)),
            Case(args=(_conf(6, seed=840, absent=(4,), only_predicted=(0,)),)),
            Case(args=(_conf(5, seed=850, absent=(3,), only_true=(1,)),)),  # a class never predicted
        ],
        numpy=False,
        spec_rules=(
            Rule("the mean of iou_per_class over the classes whose row or column of conf is not all zero",
                 "every case; visible 1: the notebook's worked example; visible 2, hidden 1, hidden 4, "
                 "hidden 5, hidden 6: classes left out; hidden 1, hidden 5: classes only predicted count; "
                 "hidden 6: a class only in the truth counts"),
            Rule("1.0 if no class occurs", "hidden 2: an all-zero matrix"),
            Rule("returns a Python float", "every case: the kind of number"),
            Rule("conf is left unchanged", "every case: the grader's input check"),
        ),
        **_FLOAT,
        hint="Average the per-class IoU over the classes that occur in the truth or in the prediction "
             "(non-empty row or column), not over all K; with no such class return 1.0.",
    ),
    Exercise(
        name="dice_per_class",
        points=2,
        visible=[
            Case(args=(TINY_PRED, TINY_TARGET, 4)),
            Case(args=(*_segmentation((2, 6, 6), 5, seed=910, void=0.2, absent=(3,)), 5)),
        ],
        hidden=[
            Case(args=(*_segmentation((3, 7, 8), 7, seed=920, void=0.1, absent=(2, 6)), 7)),
            Case(args=(*_segmentation((1, 5, 4), 3, seed=930, void=1.0), 3)),
            Case(args=(*_segmentation((2, 6, 5), 4, seed=940, pred_absent=(1,)), 4)),
            Case(args=(*_segmentation((5, 8), 6, seed=950, void=0.25, ignore_index=-1, absent=(0,)), 6),
                 kwargs={"ignore_index": -1}),
            Case(args=(*_segmentation((1, 9, 9), 2, seed=960), 2)),
            # a class that only the prediction contains
            Case(args=(*_segmentation((2, 6, 5), 5, seed=970, absent=(4,), pred_absent=()), 5)),
        ],
        numpy=False,
        spec_rules=(
            Rule("2 |P_c & T_c| / (|P_c| + |T_c|) per class",
                 "every case; visible 1: the notebook's worked example; hidden 3: a class only in the truth "
                 "(0); hidden 6: a class only in the prediction (0)"),
            Rule("void pixels count for neither P nor T",
                 "visible 1 (its void pixel is predicted as 2), visible 2, hidden 1, hidden 2, hidden 4"),
            Rule("1.0 for a class with |P_c| + |T_c| == 0",
                 "visible 1, visible 2, hidden 1, hidden 4: classes that occur nowhere; hidden 2: every pixel "
                 "void"),
            Rule("ignore_index is the void label, 255 by default", "hidden 4: ignore_index=-1"),
            Rule("pred and target are label maps of any shape", "hidden 4: 2-D maps; every other case: 3-D"),
            Rule("returns Tensor[K] float64", "every case: shape and dtype"),
            Rule("pred and target are left unchanged", "every case: the grader's input check"),
        ),
        **_FLOAT,
        hint="Dice = 2 |P and T| / (|P| + |T|) per class over the non-void pixels; a class absent from "
             "both prediction and truth (|P| + |T| = 0) scores 1.0. Return float64.",
    ),
]

BUGS = [
    Bug(
        exercise="pixel_cross_entropy",
        find="valid.sum().clamp(min=1)",
        replace="target.numel()",
        why="divides by the number of all pixels, so void pixels count as pixels with zero loss and the "
            "loss shrinks as the share of void pixels grows",
    ),
    Bug(
        exercise="confusion_matrix",
        find="(t, p), torch.ones_like(t)",
        replace="(p, t), torch.ones_like(t)",
        why="indexes the matrix as (predicted, true), which transposes it: rows become predictions",
    ),
    Bug(
        exercise="mean_iou",
        find="iou[present].mean()",
        replace="iou.mean()",
        why="averages over all K classes, so classes that occur nowhere add a perfect 1.0 each and "
            "inflate the score",
    ),
    Bug(
        exercise="dice_per_class",
        find="torch.ones(num_classes",
        replace="torch.zeros(num_classes",
        why="starts from zeros, so a class absent from both prediction and truth scores 0 instead of the "
            "perfect 1.0 of the convention",
    ),
]
