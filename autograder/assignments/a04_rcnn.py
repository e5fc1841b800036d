"""Graded cases and sample bugs of assignment 04: R-CNN, from boxes to the four losses.

Every exercise takes and returns torch tensors (float64 boxes and features, int64 indices, bool flags).
The hand-worked examples of the notebook are visible cases: the IoU of two 2x2 squares (1/7), the box
(2, 3, 12, 23) encoded against the anchor (0, 0, 10, 10), the 8x8 ramp pooled over one RoI, the NMS row
with an IoU of exactly 0.5, and the ranked list T F F T T T with five ground truths (AP 0.6). Hidden
cases cover the edges: empty box sets, zero-area boxes, ties in scores and in IoU, a single class, an
image without ground truth, RoIs that leave the feature map, thresholds met with equality, unknown box
formats that must raise, and float32 inputs whose dtype the result must keep.

No hidden case of an exercise that others build on equals a call that those others make on their own
cases (``cvcourse references`` refuses such replays): convert_boxes' empty cases are float32 (encode_boxes
and decode_boxes call it on empty float64 boxes), smooth_l1_loss's empty case is 3-D (fast_rcnn_loss
calls it on (0, 4) tensors).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from . import Bug, Case, Exercise, Rule

_EXACT = {"rtol": 0.0, "atol": 0.0}
_FLOAT = {"rtol": 1e-7, "atol": 1e-9}

#: Three boxes in (x1, y1, x2, y2): a wide one, a tall one and one of zero width.
HAND_BOXES = [[0.0, 0.0, 4.0, 2.0], [10.0, 20.0, 30.0, 60.0], [5.0, 5.0, 5.0, 9.0]]

#: The 8x8 ramp 0..63 that the RoI-pooling picture uses, as a (1, 1, 8, 8) batch.
RAMP = torch.arange(64, dtype=torch.float64).reshape(1, 1, 8, 8)


def _t(values, dtype=torch.float64) -> torch.Tensor:
    return torch.tensor(values, dtype=dtype)


def _empty_boxes() -> torch.Tensor:
    return torch.zeros(0, 4, dtype=torch.float64)


def _boxes(n: int, seed: int, size: float = 64.0, min_side: float = 1.0) -> torch.Tensor:
    """``n`` random boxes (x1, y1, x2, y2) with corners in [0, size) and sides in [min_side, 0.4 size)."""
    rng = np.random.default_rng(seed)
    corner = rng.uniform(0.0, 0.75 * size, (n, 2))
    side = rng.uniform(min_side, 0.4 * size, (n, 2))
    return torch.from_numpy(np.concatenate([corner, corner + side], axis=1))


def _perturb(boxes: torch.Tensor, seed: int, amount: float = 0.15) -> torch.Tensor:
    """Each box with every side moved by up to ``amount`` of the box's size (corners kept in order)."""
    size = torch.cat([boxes[:, 2:] - boxes[:, :2]] * 2, dim=1)
    moved = boxes + size * torch.from_numpy(np.random.default_rng(seed).uniform(-amount, amount, boxes.shape))
    return torch.cat([torch.minimum(moved[:, :2], moved[:, 2:]), torch.maximum(moved[:, :2], moved[:, 2:])], 1)


def _jitter(boxes: torch.Tensor, n: int, seed: int, amount: float = 0.15) -> torch.Tensor:
    """``n`` boxes near randomly chosen ``boxes`` (see :func:`_perturb`)."""
    base = boxes[torch.from_numpy(np.random.default_rng(seed).integers(0, len(boxes), n))]
    return _perturb(base, seed + 1, amount)


def _encode(seed: int, n: int, amount: float = 0.15, **kwargs) -> Case:
    """``n`` anchors and, row by row, a box near each of them."""
    anchors = _boxes(n, seed, min_side=4.0)
    return Case(args=(_perturb(anchors, seed + 1, amount), anchors), kwargs=kwargs)


def _uniform(shape: tuple, seed: int, low: float = 0.0, high: float = 1.0) -> torch.Tensor:
    return torch.from_numpy(np.random.default_rng(seed).uniform(low, high, shape))


def _normal(shape: tuple, seed: int, scale: float = 1.0) -> torch.Tensor:
    return torch.from_numpy(np.random.default_rng(seed).standard_normal(shape) * scale)


def _iou(boxes1: torch.Tensor, boxes2: torch.Tensor) -> torch.Tensor:
    """IoU matrix of two box sets, only to build *inputs* of the labelling cases."""
    from torchvision.ops import box_iou

    return box_iou(boxes1, boxes2)


def _grid_anchors(cells: int, stride: float, side: float) -> torch.Tensor:
    """Square anchors of one size centred on a cells x cells grid (inputs of the labelling cases)."""
    centres = (torch.arange(cells, dtype=torch.float64) + 0.5) * stride
    cy, cx = torch.meshgrid(centres, centres, indexing="ij")
    c = torch.stack([cx.reshape(-1), cy.reshape(-1)], dim=1)
    return torch.cat([c - side / 2, c + side / 2], dim=1)


def _labels(counts: tuple[int, int, int], seed: int) -> torch.Tensor:
    """A shuffled int64 label vector with the given numbers of (positive, negative, ignored) anchors."""
    pos, neg, ign = counts
    labels = np.array([1] * pos + [0] * neg + [-1] * ign, dtype=np.int64)
    return torch.from_numpy(np.random.default_rng(seed).permutation(labels))


def _split(n: int, n_pos: int, n_neg: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Disjoint random index sets of sizes n_pos and n_neg out of range(n), as int64 tensors."""
    perm = np.random.default_rng(seed).permutation(n)
    return torch.from_numpy(perm[:n_pos].copy()), torch.from_numpy(perm[n_pos:n_pos + n_neg].copy())


def _rpn(seed: int, n: int, n_pos: int, n_neg: int, logit_scale: float = 2.0, **kwargs) -> Case:
    pos, neg = _split(n, n_pos, n_neg, seed + 3)
    return Case(args=(_normal((n,), seed, logit_scale), _normal((n, 4), seed + 1, 0.5),
                      _normal((n, 4), seed + 2, 0.5), pos, neg), kwargs=kwargs)


def _rois(n: int, seed: int, batch: int, size: float, spill: float = 0.0) -> torch.Tensor:
    """``n`` RoIs (batch index, x1, y1, x2, y2) in image coordinates of a size x size image; ``spill``
    lets them reach that far (as a fraction of ``size``) beyond the image on every side."""
    rng = np.random.default_rng(seed)
    index = rng.integers(0, batch, (n, 1)).astype(np.float64)
    low, high = -spill * size, (1 + spill) * size
    a, b = rng.uniform(low, high, (n, 2)), rng.uniform(low, high, (n, 2))
    return torch.from_numpy(np.concatenate([index, np.minimum(a, b), np.maximum(a, b)], axis=1))


def _roi_case(seed: int, shape: tuple, n: int, image: float, output_size, spatial_scale: float,
              spill: float = 0.0, **kwargs) -> Case:
    features = _normal(shape, seed)
    return Case(args=(features, _rois(n, seed + 1, shape[0], image, spill), output_size),
                kwargs=dict(spatial_scale=spatial_scale, **kwargs))


def _head(seed: int, rois: int, classes: int, labels=None, beta=None, logit_scale: float = 1.0) -> Case:
    """Fast R-CNN head outputs for ``rois`` RoIs and ``classes`` classes (background included)."""
    rng = np.random.default_rng(seed)
    if labels is None:
        labels = rng.integers(0, classes, rois)
    labels = torch.as_tensor(np.asarray(labels, dtype=np.int64))
    kwargs = {} if beta is None else {"beta": beta}
    return Case(args=(_normal((rois, classes), seed + 1, logit_scale), _normal((rois, 4 * classes), seed + 2, 0.5),
                      labels, _normal((rois, 4), seed + 3, 0.5)), kwargs=kwargs)


def _losses(seed: int) -> dict[str, torch.Tensor]:
    values = np.random.default_rng(seed).uniform(0.05, 2.0, 4)
    names = ("rpn_objectness", "rpn_box", "roi_classifier", "roi_box")
    return {name: torch.tensor(v, dtype=torch.float64) for name, v in zip(names, values)}


def _scores(n: int, seed: int) -> torch.Tensor:
    """``n`` distinct scores in (0, 1), in random order."""
    return torch.from_numpy(np.random.default_rng(seed).permutation(np.linspace(0.05, 0.95, n)))


#: NMS on a row of boxes: 1 overlaps 0 with IoU 0.6 and goes; 3 overlaps 2 with IoU exactly 0.5 and stays.
NMS_BOXES = [[0.0, 0.0, 4.0, 2.0], [1.0, 0.0, 5.0, 2.0], [10.0, 0.0, 13.0, 1.0], [11.0, 0.0, 14.0, 1.0],
             [20.0, 20.0, 30.0, 30.0]]
NMS_SCORES = [0.9, 0.8, 0.7, 0.6, 0.95]

#: Two ground truths and four detections: a hit, a duplicate of it, a second hit, a false alarm.
MATCH_GT = [[0.0, 0.0, 10.0, 10.0], [20.0, 20.0, 30.0, 30.0]]
MATCH_BOXES = [[1.0, 1.0, 11.0, 11.0], [0.0, 0.0, 10.0, 10.0], [20.0, 20.0, 30.0, 30.0], [40.0, 40.0, 50.0, 50.0]]
MATCH_SCORES = [0.9, 0.8, 0.7, 0.95]

#: The ranked list T F F T T T against five ground truths: precision 1, 1/2, 1/3, 1/2, 3/5, 2/3 and
#: all-point interpolated AP = (1 + 2/3 + 2/3 + 2/3) / 5 = 0.6.
AP_SCORES = [0.9, 0.8, 0.7, 0.6, 0.5, 0.4]
AP_HITS = [True, False, False, True, True, True]

#: A 5 x 2 IoU matrix for anchor labelling with thresholds 0.7 / 0.3: anchor 0 is positive by its
#: IoU, anchor 2 only because it is ground truth 1's best anchor, anchor 1 is ignored, 3 and 4 are negative.
LABEL_IOU = [[0.8, 0.1], [0.5, 0.2], [0.1, 0.35], [0.2, 0.1], [0.0, 0.0]]


def _nms_cluster(n: int, seed: int, centres: int = 4) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` boxes jittered around a few random boxes (so that many overlap), with distinct scores."""
    return _jitter(_boxes(centres, seed, min_side=8.0), n, seed + 1, 0.25), _scores(n, seed + 2)


def _classes(n: int, k: int, seed: int) -> torch.Tensor:
    return torch.from_numpy(np.random.default_rng(seed).integers(0, k, n).astype(np.int64))


def _detections(seed: int, n_gt: int, n_det: int, amount: float = 0.2, **kwargs) -> Case:
    gt = _boxes(n_gt, seed, min_side=6.0)
    boxes = torch.cat([_jitter(gt, n_det - 2, seed + 1, amount), _boxes(2, seed + 2)])
    return Case(args=(boxes, _scores(n_det, seed + 3), gt), kwargs=kwargs)


def _ranked(n: int, seed: int, hit_rate: float, num_gt: int) -> Case:
    rng = np.random.default_rng(seed)
    return Case(args=(_scores(n, seed + 1), torch.from_numpy(rng.uniform(size=n) < hit_rate), num_gt))


EXERCISES = [
    Exercise(
        name="convert_boxes",
        points=1,
        visible=[
            Case(args=(_t(HAND_BOXES), "xyxy", "cxcywh")),
            Case(args=(_boxes(6, 110), "xyxy", "cxcywh")),
            Case(args=(_boxes(5, 120), "cxcywh", "xyxy")),
        ],
        hidden=[
            Case(args=(_empty_boxes().float(), "xyxy", "cxcywh")),          # empty, and the dtype kept
            Case(args=(_empty_boxes().float(), "cxcywh", "xyxy")),
            Case(args=(_t([[3.0, 4.0, 0.0, 0.0], [1.5, -2.0, 0.0, 6.0]]), "cxcywh", "xyxy")),
            Case(args=(_boxes(4, 130), "xyxy", "xyxy")),
            Case(args=(_boxes(20, 140, size=640.0) - 100.0, "cxcywh", "xyxy")),
            Case(args=(_boxes(9, 150, size=8.0), "xyxy", "cxcywh")),
            Case(args=(_boxes(2, 160), "xyxy", "xywh"), raises="ValueError"),  # a format torchvision knows
            Case(args=(_boxes(2, 170), "xywh", "xywh"), raises="ValueError"),  # equal, yet unknown
        ],
        numpy=False,
        **_FLOAT,
        hint="The centre is the mean of the two corners and the size their difference; back again, the "
             "corners are centre -/+ half the size. Work on the last axis so that an empty (0, 4) input "
             "gives a (0, 4) output.",
        forbids=('torchvision.ops.box_convert',),
        copies=True,
        spec_rules=(
            Rule("xyxy to cxcywh: the centre is the mean of the corners, the size their difference",
                 "visible 1, visible 2, hidden 6: hand boxes (one of zero width), random boxes, tiny boxes"),
            Rule("cxcywh to xyxy: the corners are the centre -/+ half the size",
                 "visible 3, hidden 3, hidden 5: random boxes, zero sizes, negative coordinates"),
            Rule("N may be 0: a (0, 4) input gives a (0, 4) output, in both directions",
                 "hidden 1, hidden 2"),
            Rule("the result has the dtype of the input", "every case: float64 in, float64 out; "
                 "hidden 1, hidden 2: float32 in, float32 out"),
            Rule("a new tensor: equal formats return a copy, never the input itself",
                 "every case: no output may share memory with the input (copies=True); hidden 4: xyxy to xyxy"),
            Rule("raises ValueError if a format is not in BOX_FORMATS",
                 "hidden 7: unknown out_fmt; hidden 8: both unknown and equal (so no early copy)"),
            Rule("the input is not changed", "every case"),
        ),
    ),
    Exercise(
        name="box_iou",
        points=2,
        visible=[
            Case(args=(_t([[0.0, 0.0, 2.0, 2.0]]),
                       _t([[1.0, 1.0, 3.0, 3.0], [0.0, 0.0, 2.0, 2.0], [2.0, 0.0, 4.0, 2.0], [0.0, 0.0, 4.0, 4.0]]))),
            Case(args=(_boxes(5, 210), _boxes(4, 211))),
            Case(args=(_jitter(_boxes(2, 220, min_side=10.0), 3, 221), _jitter(_boxes(2, 220, min_side=10.0), 6, 222))),
        ],
        hidden=[
            Case(args=(_empty_boxes(), _boxes(3, 230))),
            Case(args=(_boxes(3, 231), _empty_boxes())),
            Case(args=(_t([[1.0, 1.0, 1.0, 5.0], [2.0, 2.0, 2.0, 2.0]]),
                       _t([[0.0, 0.0, 4.0, 4.0], [2.0, 2.0, 2.0, 2.0]]))),
            Case(args=(_t([[0.0, 0.0, 10.0, 10.0], [2.0, 2.0, 4.0, 4.0]]),
                       _t([[2.0, 2.0, 4.0, 4.0], [0.0, 0.0, 10.0, 10.0], [10.0, 10.0, 12.0, 12.0]]))),
            Case(args=(_boxes(12, 240), _boxes(9, 241))),
            Case(args=(_boxes(4, 250), _boxes(4, 250))),
        ],
        numpy=False,
        **_FLOAT,
        hint="Broadcast boxes1[:, None] against boxes2[None]: the intersection runs from the larger top-left "
             "to the smaller bottom-right corner, with sides clamped at 0; no +1 anywhere, and IoU 0 where "
             "the union is 0.",
        forbids=('torchvision.ops.box_iou',),
        spec_rules=(
            Rule("iou[i, j] = intersection / union of boxes1[i] and boxes2[j], an (N, M) matrix",
                 "visible 1, visible 2, visible 3, hidden 5: N != M, overlapping and disjoint pairs"),
            Rule("areas are (x2 - x1) * (y2 - y1), no +1",
                 "visible 1: two 2x2 squares overlapping in one cell give 1/7; a box touching another gives 0"),
            Rule("IoU 0 where the union has area 0 (no NaN)", "hidden 3: zero-area boxes, one with itself"),
            Rule("an empty input gives an empty (N, 0) or (0, M) result", "hidden 1, hidden 2"),
            Rule("a box inside another: IoU is the ratio of the areas, in both argument orders",
                 "visible 1, hidden 4"),
            Rule("float64 in, float64 out; the inputs are not changed", "every case"),
        ),
    ),
    Exercise(
        name="make_anchors",
        points=2,
        visible=[
            Case(args=((2, 3), 16, [32.0], [0.5, 1.0, 2.0])),
            Case(args=((3, 3), 8, [16.0, 24.0], [1.0, 2.0])),
        ],
        hidden=[
            Case(args=((1, 1), 16, [64.0], [1.0])),
            Case(args=((4, 2), 4, [8.0, 12.0, 20.0], [0.25, 1.0, 4.0])),
            Case(args=((5, 7), 10, [15.0], [0.5, 2.0])),
            Case(args=((2, 2), 12.5, [40.0, 80.0], [1.5])),
            Case(args=((0, 3), 16, [32.0], [1.0])),
        ],
        numpy=False,
        **_FLOAT,
        hint="Cell (i, j) is centred at ((j + 0.5) * stride, (i + 0.5) * stride); an anchor of scale s and "
             "ratio r = h / w has h = s * sqrt(r) and w = s / sqrt(r); rows run over cells (row-major), "
             "then scales, then ratios.",
        spec_rules=(
            Rule("cell (i, j) is centred at ((j + 0.5) * stride, (i + 0.5) * stride)",
                 "visible 1, visible 2, hidden 1, hidden 3: H' != W' puts i on y and j on x; "
                 "hidden 4: a fractional stride"),
            Rule("height sigma * sqrt(r), width sigma / sqrt(r) with r = height / width",
                 "visible 1: ratios 0.5 and 2; hidden 2: ratios 0.25 and 4"),
            Rule("row ((i * W' + j) * S + a) * R + b: cells row-major, then scales, then ratios",
                 "visible 2, hidden 2: several scales and ratios on non-square maps"),
            Rule("an empty feature map gives a (0, 4) tensor", "hidden 5: (0, 3) cells"),
            Rule("float64 anchors (x1, y1, x2, y2)", "every case: integer strides and float scales"),
        ),
    ),
    Exercise(
        name="encode_boxes",
        builds_on=("convert_boxes",),
        points=1,
        visible=[
            Case(args=(_t([[2.0, 3.0, 12.0, 23.0]]), _t([[0.0, 0.0, 10.0, 10.0]]))),
            _encode(410, 6),
            _encode(420, 5, weights=(10.0, 10.0, 5.0, 5.0)),
        ],
        hidden=[
            Case(args=(_empty_boxes(), _empty_boxes())),
            _encode(430, 4, amount=0.0),
            _encode(440, 8, weights=(1.0, 2.0, 3.0, 4.0)),
            Case(args=(_boxes(6, 450, size=800.0, min_side=20.0), _boxes(6, 451, size=800.0, min_side=20.0))),
            _encode(460, 10, amount=0.4, weights=(10.0, 10.0, 5.0, 5.0)),
        ],
        numpy=False,
        **_FLOAT,
        hint="t_x = w_x (x_box - x_anchor) / w_anchor with centres, t_w = w_w log(w_box / w_anchor); y and h "
             "likewise. Convert both box sets to centre/size first.",
        forbids=('torchvision.models.detection._utils',),
        spec_rules=(
            Rule("tx = wx (bx - ax) / aw, ty = wy (by - ay) / ah, tw = ww log(bw / aw), th = wh log(bh / ah), "
                 "with centre/size forms", "visible 1: the worked example (0.2, 0.8, 0, log 2); visible 2, "
                 "hidden 4: random and large boxes"),
            Rule("row k of boxes against row k of anchors", "visible 2, hidden 4, hidden 5"),
            Rule("weights (wx, wy, ww, wh) multiply their own coordinate",
                 "visible 3, hidden 5: (10, 10, 5, 5); hidden 3: four different weights"),
            Rule("a box equal to its anchor encodes to 0", "hidden 2"),
            Rule("N may be 0", "hidden 1"),
            Rule("float64 in, float64 out; the inputs are not changed", "every case"),
        ),
    ),
    Exercise(
        name="decode_boxes",
        builds_on=("convert_boxes",),
        points=1,
        visible=[
            Case(args=(_t([[0.2, 0.8, 0.0, math.log(2.0)]]), _t([[0.0, 0.0, 10.0, 10.0]]))),
            Case(args=(_normal((6, 4), 510, 0.5), _boxes(6, 511, min_side=4.0)),
                 kwargs={"weights": (10.0, 10.0, 5.0, 5.0)}),
        ],
        hidden=[
            Case(args=(_t([[0.0, 0.0, 8.0, 10.0], [0.1, -0.1, 4.0, -5.0]]), _t([[0.0, 0.0, 16.0, 16.0]] * 2))),
            Case(args=(_t([[0.5, 0.5, 2.0, 0.5], [0.0, 0.0, -2.0, 3.0]]), _boxes(2, 520, min_side=4.0)),
                 kwargs={"clip": 1.0}),
            Case(args=(torch.zeros(5, 4, dtype=torch.float64), _boxes(5, 530))),
            Case(args=(torch.zeros(0, 4, dtype=torch.float64), _empty_boxes())),
            Case(args=(_normal((7, 4), 540), _boxes(7, 541, min_side=4.0)),
                 kwargs={"weights": (1.0, 2.0, 3.0, 4.0)}),
            # the clip after the weights: 25 / 5 and 22 / 5 are clipped, 15 / 5 is not (15 itself would be)
            Case(args=(_t([[0.5, -1.0, 25.0, 15.0], [0.0, 0.0, -30.0, 22.0]]), _boxes(2, 550, min_side=4.0)),
                 kwargs={"weights": (10.0, 10.0, 5.0, 5.0)}),
            # float32 deltas, float64 anchors: float32 boxes (every value exact in float32)
            Case(args=(_t([[0.25, -0.5, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0], [-0.125, 0.5, 0.0, 0.0]], torch.float32),
                       _t([[0.0, 0.0, 8.0, 8.0], [2.0, 4.0, 6.0, 12.0], [10.0, 10.0, 18.0, 26.0]]))),
        ],
        numpy=False,
        **_FLOAT,
        hint="Divide each delta by its weight, clamp the log-size deltas at `clip` from above only, then the "
             "centre is anchor centre + d_x * anchor width and the width anchor width * exp(d_w).",
        forbids=('torchvision.models.detection._utils',),
        spec_rules=(
            Rule("centre ax + (tx / wx) aw, ay + (ty / wy) ah; size aw exp(tw / ww), ah exp(th / wh)",
                 "visible 1: the worked example back to (2, 3, 12, 23); visible 2, hidden 5"),
            Rule("tw / ww and th / wh are clipped at clip from above (default log(1000 / 16))",
                 "hidden 1: 8 and 10 clipped at the default; hidden 2: clip=1.0"),
            Rule("no lower bound on the size deltas", "hidden 1, hidden 2, hidden 6: negative tw and th pass"),
            Rule("the clip applies after dividing by the weights",
                 "hidden 6: th = 15 with wh = 5 is 3, under the clip (clipping 15 first would give 4.1 / 5)"),
            Rule("zero deltas give the anchors back", "hidden 3"),
            Rule("N may be 0", "hidden 4"),
            Rule("the result has the dtype of deltas",
                 "every case: float64; hidden 7: float32 deltas with float64 anchors give float32 boxes"),
            Rule("the inputs are not changed", "every case"),
        ),
    ),
    Exercise(
        name="label_anchors",
        points=2,
        visible=[
            Case(args=(_t(LABEL_IOU),)),
            Case(args=(_iou(_grid_anchors(4, 8.0, 12.0), _t([[3.0, 2.0, 17.0, 15.0], [14.0, 17.0, 30.0, 31.0]])),)),
        ],
        hidden=[
            Case(args=(_t([[0.2, 0.25], [0.1, 0.05], [0.0, 0.6]]),)),
            Case(args=(_t([[0.4, 0.0], [0.4, 0.1], [0.1, 0.2], [0.1, 0.2]]),)),
            Case(args=(torch.zeros(6, 0, dtype=torch.float64),)),
            Case(args=(torch.zeros(0, 3, dtype=torch.float64),)),
            Case(args=(_t([[0.8, 0.0], [0.1, 0.0]]),)),
            Case(args=(_t([[0.7], [0.3], [0.29999], [0.5]]),)),
            Case(args=(_iou(_grid_anchors(6, 6.0, 10.0), _boxes(3, 640, size=36.0, min_side=6.0)),),
                 kwargs={"high": 0.5, "low": 0.5}),
            Case(args=(_t([[0.1]]),), kwargs={"high": 0.6, "low": 0.2}),
            # anchors exactly at high and at low that are no column's best: labels 1, 1, -1, 0
            Case(args=(_t([[0.9, 0.8], [0.6, 0.1], [0.25, 0.2], [0.1, 0.2]]),), kwargs={"high": 0.6, "low": 0.25}),
            # ties within rows: matched 0 and 1 (anchor 1 is forced by column 2 but matched to column 1)
            Case(args=(_t([[0.75, 0.75, 0.1], [0.2, 0.5, 0.5], [0.0, 0.0, 0.0]]),)),
        ],
        numpy=False,
        **_EXACT,
        hint="Start from each anchor's best IoU (1 if >= high, -1 if in [low, high), 0 below low), then make "
             "positive every anchor whose IoU with some ground truth equals that ground truth's best IoU "
             "(if > 0), matched to the anchor's own argmax; matched is -1 for non-positives.",
        fields=("labels", "matched"),
        spec_rules=(
            Rule("best IoU >= high is positive", "visible 1; hidden 9: best IoU equal to high=0.6, "
                 "no ground truth's best (a strict > makes it ignored)"),
            Rule("best IoU in [low, high) is ignored (-1), below low negative (0)",
                 "visible 1, hidden 6: IoU equal to low=0.3 is ignored, 0.29999 negative; hidden 9: equal to "
                 "low=0.25; hidden 7: high == low leaves nothing ignored; hidden 8: non-default thresholds"),
            Rule("every anchor that reaches the largest IoU of some column is positive, ties included",
                 "visible 1: anchor 2 only by its column; hidden 1; hidden 2: two anchors tie for a column"),
            Rule("a column whose largest IoU is 0 forces nothing", "hidden 5"),
            Rule("matched: the ground truth with the highest IoU in the anchor's own row, lowest index on ties",
                 "hidden 1: a forced positive is matched to its own best, not the column that forced it; "
                 "hidden 10: ties within a row go to the lower index"),
            Rule("matched is -1 for every anchor that is not positive", "visible 1, visible 2, hidden 2"),
            Rule("M == 0: every anchor negative; N may be 0", "hidden 3, hidden 4"),
            Rule("labels and matched are int64; the input is not changed", "every case"),
        ),
    ),
    Exercise(
        name="sample_anchors",
        points=1,
        visible=[
            Case(args=(_labels((5, 25, 10), 710), 16, 0.5, 0)),
            Case(args=(_labels((60, 120, 20), 720), 64, 0.25, 1)),
        ],
        hidden=[
            Case(args=(_labels((0, 30, 5), 730), 8, 0.5, 2)),
            Case(args=(_labels((20, 3, 4), 740), 16, 0.5, 3)),
            Case(args=(_labels((10, 10, 0), 750), 256, 0.5, 4)),
            Case(args=(_labels((0, 0, 12), 760), 8, 0.5, 5)),
            Case(args=(_labels((30, 40, 0), 770), 20, 1.0, 6)),
            Case(args=(torch.zeros(0, dtype=torch.int64), 8, 0.5, 7)),
            Case(args=(_labels((20, 30, 5), 780), 15, 0.5, 8)),                 # 7.5 positives: int() gives 7
        ],
        numpy=False,
        **_EXACT,
        hint="At most int(num_samples * positive_fraction) positives, as many as exist; fill the rest with "
             "negatives, as many as exist; draw both with torch.randperm and a torch.Generator seeded with "
             "`seed`, and return indices into `labels`.",
        fields=("number of positives", "number of negatives", "positives have label 1",
                "negatives have label 0", "no index repeats", "same seed, same draw", "int64 indices"),
        spec_rules=(
            Rule("min(#positives, int(num_samples * positive_fraction)) positives",
                 "visible 1, visible 2, hidden 2: more positives than allowed; hidden 5: fraction 1; "
                 "hidden 7: 15 * 0.5 = 7.5 rounds down to 7"),
            Rule("min(#negatives, num_samples - len(pos_idx)) negatives",
                 "visible 1, hidden 1: no positives; hidden 3: fewer anchors than num_samples; hidden 7"),
            Rule("indices into labels: positives have label 1, negatives label 0, ignored never drawn",
                 "every case; hidden 4: only ignored anchors"),
            Rule("no index repeats", "every case"),
            Rule("the same seed gives the same result", "every case: the probe draws twice"),
            Rule("int64 indices", "every case"),
            Rule("N may be 0", "hidden 6"),
            Rule("labels are not changed", "every case"),
        ),
    ),
    Exercise(
        name="smooth_l1_loss",
        points=1,
        visible=[
            Case(args=(torch.linspace(-3, 3, 13, dtype=torch.float64), torch.zeros(13, dtype=torch.float64))),
            Case(args=(_normal((4, 5), 810), _normal((4, 5), 811)), kwargs={"beta": 0.5}),
        ],
        hidden=[
            Case(args=(_normal((10, 4), 820, 0.3), _normal((10, 4), 821, 0.3)), kwargs={"beta": 1.0 / 9}),
            Case(args=(_normal((3, 4), 830), _normal((3, 4), 831)), kwargs={"beta": 0.0}),
            Case(args=(torch.linspace(-6, 6, 25, dtype=torch.float64), torch.zeros(25, dtype=torch.float64)),
                 kwargs={"beta": 2.5}),
            Case(args=(_t([1.5, -1.5, 2.0, 0.0]), _t([0.0, 0.0, 0.5, 1.5])), kwargs={"beta": 1.5}),
            Case(args=(torch.zeros(2, 0, 3, dtype=torch.float64), torch.zeros(2, 0, 3, dtype=torch.float64))),
        ],
        numpy=False,
        **_FLOAT,
        hint="With d = |input - target|: 0.5 d^2 / beta where d < beta, d - 0.5 beta elsewhere, no reduction; "
             "beta = 0 is the plain L1 loss |d| (do not divide by zero).",
        forbids=('torch.nn.functional.smooth_l1_loss', 'torch.nn.functional.huber_loss', 'torch.nn.SmoothL1Loss', 'torch.nn.HuberLoss'),
        spec_rules=(
            Rule("0.5 d^2 / beta where d < beta, d - 0.5 beta elsewhere, d = |input - target|",
                 "visible 1: d from 0 to 3 with beta 1 (both branches); visible 2, hidden 1, hidden 3, "
                 "hidden 4: other betas, d on both sides of beta"),
            Rule("beta == 0 gives d itself, without dividing by zero (no NaN)", "hidden 2"),
            Rule("no reduction: the result has the shape of the input, any shape",
                 "every case: 1-D and 2-D; hidden 5: an empty 3-D input"),
            Rule("float64 in, float64 out; the inputs are not changed", "every case"),
        ),
    ),
    Exercise(
        name="rpn_loss",
        builds_on=("smooth_l1_loss",),
        points=1,
        visible=[
            Case(args=(_normal((20,), 910, 2.0), _normal((20, 4), 911, 0.5), _normal((20, 4), 912, 0.5),
                       _t([2, 5, 11], torch.int64), _t([0, 1, 3, 7, 8, 13, 19], torch.int64))),
            _rpn(920, 50, 8, 24, beta=1.0),
        ],
        hidden=[
            _rpn(930, 30, 0, 10),
            _rpn(940, 12, 0, 0),
            _rpn(950, 25, 6, 0),
            _rpn(960, 100, 16, 48, logit_scale=4.0, beta=1.0 / 9),
            _rpn(970, 40, 1, 31, beta=0.5),
        ],
        numpy=False,
        **_FLOAT,
        hint="Objectness: mean binary cross-entropy with logits over pos_idx (target 1) and neg_idx (target "
             "0); box: smooth L1 summed over the positives' four deltas, divided by the number of *sampled* "
             "anchors (positives + negatives); both 0 when nothing is sampled.",
        fields=("loss_objectness", "loss_box"),
        spec_rules=(
            Rule("objectness: mean binary cross-entropy with logits over the P + Q sampled anchors",
                 "visible 1, visible 2, hidden 4: large logits"),
            Rule("box: smooth L1 summed over the positives' 4 deltas, divided by P + Q",
                 "visible 1, visible 2, hidden 4, hidden 5"),
            Rule("beta reaches the smooth L1 loss; its default is 1/9 (not smooth_l1_loss's 1)",
                 "visible 1, hidden 3: default; visible 2, hidden 4, hidden 5: other betas"),
            Rule("only negatives: box loss 0; only positives: objectness over them alone",
                 "hidden 1, hidden 3"),
            Rule("both 0 if P + Q == 0", "hidden 2"),
            Rule("0-dim float64 results; the inputs are not changed", "every case"),
        ),
    ),
    Exercise(
        name="roi_pool",
        points=2,
        visible=[
            Case(args=(RAMP, _t([[0.0, 1.0, 2.0, 5.0, 6.0]]), 2)),
            _roi_case(1010, (2, 3, 12, 16), 5, 32.0, (3, 3), 0.5),
        ],
        hidden=[
            _roi_case(1020, (1, 2, 10, 10), 6, 10.0, (2, 2), 1.0, spill=0.4),
            Case(args=(_normal((1, 2, 6, 6), 1030), _t([[0.0, 8.0, 8.0, 12.0, 12.0], [0.0, 2.2, 3.1, 2.2, 3.1]]), 2),
                 kwargs={"spatial_scale": 1.0}),
            _roi_case(1040, (1, 2, 8, 8), 4, 32.0, (2, 4), 0.25),
            Case(args=(_normal((1, 3, 4, 4), 1050), torch.zeros(0, 5, dtype=torch.float64), 2)),
            Case(args=(_normal((2, 1, 8, 8), 1060), _t([[1.0, 2.0, 2.0, 3.0, 3.0], [0.0, 0.0, 0.0, 7.0, 1.0]]), 4)),
            _roi_case(1070, (3, 4, 16, 12), 8, 48.0, 3, 0.25),
            # every scaled coordinate a half (-0.5, 1.5, 2.5, 3.5; 0.5, -1.5, 4.5, 2.5), float32 kept
            Case(args=(_normal((1, 2, 6, 6), 1080).float(),
                       _t([[0.0, -1.0, 3.0, 5.0, 7.0], [0.0, 1.0, -3.0, 9.0, 5.0]], torch.float32), 2),
                 kwargs={"spatial_scale": 0.5}),
        ],
        numpy=False,
        **_FLOAT,
        hint="Round each scaled coordinate (halves away from zero), take roi_w = max(x2 - x1 + 1, 1) and the "
             "float bin_w = roi_w / pw; bin j covers columns floor(j * bin_w) + x1 to ceil((j + 1) * bin_w) + x1 "
             "(exclusive), clipped to [0, W] (rows likewise); an empty bin gives 0.",
        forbids=('torchvision.ops.roi_pool', 'torchvision.ops.RoIPool'),
        spec_rules=(
            Rule("scaled coordinates rounded half away from zero",
                 "hidden 7: -0.5, 0.5, 1.5, -1.5, 2.5, 3.5 and 4.5 after scaling by 0.5"),
            Rule("roi_w = max(x2 - x1 + 1, 1), roi_h likewise", "visible 1; hidden 2: a zero-size RoI"),
            Rule("bin (i, j) spans floor(j bin_w) + x1 to ceil((j + 1) bin_w) + x1 with float bin sizes",
                 "visible 1: the ramp; visible 2, hidden 3, hidden 6: bins of fractional size"),
            Rule("bounds clipped to [0, H] and [0, W]; an empty bin gives 0",
                 "hidden 1: RoIs that leave the map; hidden 2: a RoI entirely outside"),
            Rule("an int output_size means square, a pair means (ph, pw)",
                 "visible 1, hidden 5, hidden 6: int; visible 2: a pair; hidden 3: a non-square pair"),
            Rule("RoI k reads image int(rois[k, 0])", "visible 2, hidden 5, hidden 6: batches of 2 and 3"),
            Rule("spatial_scale multiplies the coordinates", "visible 2, hidden 3, hidden 6, hidden 7"),
            Rule("K may be 0", "hidden 4"),
            Rule("the result has the dtype of features", "every case: float64; hidden 7: float32"),
            Rule("the inputs are not changed", "every case"),
        ),
    ),
    Exercise(
        name="roi_align",
        points=2,
        visible=[
            _roi_case(1110, (2, 3, 12, 16), 5, 32.0, (3, 3), 0.5, sampling_ratio=2, aligned=False),
            _roi_case(1120, (1, 2, 8, 8), 4, 32.0, 2, 0.25, sampling_ratio=2, aligned=True),
        ],
        hidden=[
            _roi_case(1130, (2, 2, 10, 10), 6, 10.0, (2, 2), 1.0, sampling_ratio=1, aligned=False),
            _roi_case(1140, (1, 3, 8, 12), 5, 24.0, (2, 4), 0.5, sampling_ratio=3, aligned=True),
            _roi_case(1150, (1, 2, 10, 10), 6, 10.0, (3, 3), 1.0, spill=0.5, sampling_ratio=2, aligned=False),
            Case(args=(_normal((1, 2, 6, 6), 1160), _t([[0.0, 2.2, 3.1, 2.2, 3.1], [0.0, 4.0, 1.0, 4.5, 1.2]]), 2),
                 kwargs={"sampling_ratio": 2, "aligned": False}),
            Case(args=(_normal((1, 2, 6, 6), 1170), _t([[0.0, 2.2, 3.1, 2.2, 3.1], [0.0, 4.0, 1.0, 4.5, 1.2]]), 2),
                 kwargs={"sampling_ratio": 2, "aligned": True}),
            Case(args=(_normal((1, 3, 4, 4), 1180), torch.zeros(0, 5, dtype=torch.float64), 2),
                 kwargs={"sampling_ratio": 2}),
            _roi_case(1190, (1, 1, 10, 10), 3, 10.0, 7, 1.0, sampling_ratio=2, aligned=True),
            # float32 kept; integer features and dyadic sample weights make every order of sums exact
            Case(args=(torch.arange(72, dtype=torch.float32).reshape(1, 2, 6, 6) % 11,
                       _t([[0.0, 0.0, 0.0, 4.0, 4.0], [0.0, 1.0, 2.0, 5.0, 4.0]], torch.float32), 2),
                 kwargs={"sampling_ratio": 2, "aligned": False}),
        ],
        numpy=False,
        **_FLOAT,
        hint="Sample bin (i, j) at y = y_s + i*bin_h + (iy + 0.5)*bin_h/sampling_ratio (x likewise), after "
             "scaling and subtracting 0.5 if aligned (else roi sizes at least 1); a sample with y < -1, y > H, "
             "x < -1 or x > W is 0 but still counts in the average; otherwise raise negatives to 0, read row "
             "H - 1 only when floor(y) >= H - 1, interpolate, and divide the sum by sampling_ratio**2.",
        forbids=('torchvision.ops.roi_align', 'torchvision.ops.RoIAlign'),
        spec_rules=(
            Rule("g x g samples per bin at y_s + i bin_h + (iy + 0.5) bin_h / g, averaged over g * g",
                 "visible 1, visible 2; hidden 1: g = 1; hidden 2: g = 3"),
            Rule("aligned subtracts 0.5 after scaling; otherwise w and h are raised to at least 1",
                 "visible 2, hidden 2, hidden 5, hidden 7: aligned; hidden 4: tiny RoIs not aligned, "
                 "hidden 5: the same RoIs aligned"),
            Rule("a sample with y < -1, y > H, x < -1 or x > W is 0 and still counts in the average",
                 "hidden 3: RoIs that spill out of the map"),
            Rule("y raised to 0; the last row (column) is read alone when floor(y) >= H - 1",
                 "hidden 3, hidden 7: samples near and past the border"),
            Rule("int output_size means square", "visible 2, hidden 5, hidden 7: int; visible 1, hidden 2: pairs"),
            Rule("spatial_scale multiplies the coordinates, RoI k reads image int(rois[k, 0])",
                 "visible 1, visible 2, hidden 1, hidden 2"),
            Rule("K may be 0", "hidden 6"),
            Rule("the result has the dtype of features",
                 "every case: float64; hidden 8: float32 (samples exact in float32)"),
            Rule("the inputs are not changed", "every case"),
        ),
    ),
    Exercise(
        name="fast_rcnn_loss",
        builds_on=("smooth_l1_loss",),
        points=1,
        visible=[
            _head(1210, 8, 4, labels=[0, 2, 1, 0, 3, 0, 0, 1]),
            _head(1220, 16, 7, beta=1.0 / 9),
        ],
        hidden=[
            _head(1230, 6, 4, labels=[0] * 6),
            _head(1240, 10, 2, labels=[1, 0, 1, 1, 0, 0, 1, 0, 0, 0]),
            _head(1250, 0, 3, labels=[]),
            _head(1260, 5, 5, labels=[1, 2, 3, 4, 1], beta=0.5),
            _head(1270, 32, 7, logit_scale=5.0),
        ],
        numpy=False,
        **_FLOAT,
        hint="Classification: mean cross-entropy over all RoIs; box: for RoIs with label > 0 only, the four "
             "deltas of their true class (columns 4*label to 4*label + 3), smooth L1 summed and divided by the "
             "number of RoIs; both 0 without RoIs.",
        fields=("loss_classifier", "loss_box"),
        spec_rules=(
            Rule("classification: mean cross-entropy over the R RoIs", "visible 1, visible 2, hidden 5: large logits"),
            Rule("box: the true class's deltas (columns 4c to 4c + 3) against the targets, smooth L1 summed "
                 "over foreground RoIs (label > 0) and divided by R",
                 "visible 1, visible 2, hidden 2: two classes; hidden 4: no background"),
            Rule("only background: box loss 0", "hidden 1"),
            Rule("beta reaches the smooth L1 loss (default 1)", "visible 1, hidden 2: default; visible 2, "
                 "hidden 4: other betas"),
            Rule("both 0 if R == 0", "hidden 3"),
            Rule("0-dim float64 results; the inputs are not changed", "every case"),
        ),
    ),
    Exercise(
        name="multi_task_loss",
        points=1,
        visible=[
            Case(args=(_losses(1310),)),
            Case(args=(_losses(1320), {"rpn_objectness": 1.0, "rpn_box": 10.0, "roi_classifier": 1.0,
                                       "roi_box": 2.0})),
        ],
        hidden=[
            Case(args=(_losses(1330), {"rpn_box": 0.5})),
            Case(args=(_losses(1340), {"rpn_objectness": 0.0, "rpn_box": 0.0, "roi_classifier": 0.0,
                                       "roi_box": 0.0})),
            Case(args=(_losses(1350), {"roi_classifier": 2.0, "roi_box": 3.0})),
            Case(args=(_losses(1360), {})),
            # keys outside FOUR_LOSSES, in losses and in weights, are ignored
            Case(args=({**_losses(1370), "loss_mask": _t(0.75), "total": _t(4.0)}, {"roi_box": 2.0, "loss_mask": 3.0})),
        ],
        numpy=False,
        **_FLOAT,
        hint="Sum weight * loss over the four names in FOUR_LOSSES; a name missing from `weights` (or "
             "weights=None) has weight 1.",
        spec_rules=(
            Rule("the sum over FOUR_LOSSES of weight * loss", "visible 2, hidden 2: all weights 0"),
            Rule("a name missing from weights, or weights=None, has weight 1",
                 "visible 1: None; hidden 1, hidden 3: some names; hidden 4: an empty dict"),
            Rule("keys of losses (and of weights) outside FOUR_LOSSES are ignored",
                 "hidden 5: 'loss_mask' and 'total' in losses, 'loss_mask' in weights"),
            Rule("a 0-dim float64 tensor; the inputs are not changed", "every case"),
        ),
    ),
    Exercise(
        name="nms",
        builds_on=("box_iou",),
        points=2,
        visible=[
            Case(args=(_t(NMS_BOXES), _t(NMS_SCORES), 0.5)),
            Case(args=(*_nms_cluster(25, 1410), 0.5)),
        ],
        hidden=[
            Case(args=(_empty_boxes(), torch.zeros(0, dtype=torch.float64), 0.5)),
            Case(args=(_boxes(1, 1420), _t([0.3]), 0.5)),
            Case(args=(_t([[0.0, 0.0, 2.0, 2.0], [1.0, 0.0, 3.0, 2.0], [2.0, 0.0, 4.0, 2.0]]), _t([0.5, 0.9, 0.7]),
                       1.0 / 3)),
            Case(args=(_t([[0.0, 0.0, 4.0, 4.0], [0.0, 0.0, 4.0, 4.0], [10.0, 0.0, 14.0, 4.0],
                           [10.0, 0.0, 14.0, 4.0], [1.0, 1.0, 5.0, 5.0]]), _t([0.5, 0.5, 0.5, 0.7, 0.5]), 0.5)),
            Case(args=(*_nms_cluster(20, 1440), 0.0)),
            Case(args=(_t([[0.0, 0.0, 4.0, 4.0], [0.0, 0.0, 4.0, 4.0], [0.0, 0.0, 3.0, 4.0]]), _t([0.2, 0.6, 0.4]),
                       1.0)),
            Case(args=(_t([[2.0, 2.0, 2.0, 2.0], [2.0, 2.0, 2.0, 2.0], [0.0, 0.0, 4.0, 4.0]]), _t([0.9, 0.8, 0.7]),
                       0.5)),
            Case(args=(*_nms_cluster(60, 1460, centres=6), 0.7)),
        ],
        numpy=False,
        **_EXACT,
        hint="Visit boxes in descending score (ties: lower index first, a stable sort); keep a box unless a "
             "kept box overlaps it with IoU strictly greater than the threshold; return int64 indices in the "
             "order they were kept.",
        forbids=('torchvision.ops.nms', 'torchvision.ops.batched_nms'),
        spec_rules=(
            Rule("boxes are visited by decreasing score, not in input order",
                 "visible 1: the best box comes last; visible 2, hidden 5, hidden 8: shuffled scores"),
            Rule("a box is suppressed if its IoU with a kept box is > iou_threshold (strictly)",
                 "visible 1: IoU exactly 0.5 kept; hidden 3: IoU exactly 1/3 kept; hidden 6: threshold 1 "
                 "keeps identical boxes; hidden 5: threshold 0 keeps only disjoint boxes"),
            Rule("the kept indices come sorted by decreasing score", "visible 1, visible 2, hidden 8"),
            Rule("equal scores: the lower index comes first (and is kept)",
                 "hidden 4: duplicates with equal scores; hidden 6"),
            Rule("boxes of zero area suppress nothing (IoU 0)", "hidden 7"),
            Rule("N may be 0; one box is kept", "hidden 1, hidden 2"),
            Rule("int64 indices; the inputs are not changed", "every case"),
        ),
    ),
    Exercise(
        name="batched_nms",
        builds_on=("nms",),
        points=1,
        visible=[
            Case(args=(_t([[0.0, 0.0, 10.0, 10.0], [1.0, 1.0, 11.0, 11.0], [0.0, 0.0, 10.0, 10.0]]),
                       _t([0.9, 0.8, 0.7]), _t([0, 1, 0], torch.int64), 0.5)),
            Case(args=(*_nms_cluster(30, 1510), _classes(30, 3, 1511), 0.5)),
        ],
        hidden=[
            Case(args=(*_nms_cluster(20, 1520), torch.zeros(20, dtype=torch.int64), 0.5)),
            Case(args=(*_nms_cluster(12, 1530), torch.arange(12), 0.5)),
            Case(args=(_empty_boxes(), torch.zeros(0, dtype=torch.float64), torch.zeros(0, dtype=torch.int64), 0.5)),
            Case(args=(_t([[0.0, 0.0, 4.0, 4.0], [0.0, 0.0, 4.0, 4.0], [20.0, 0.0, 24.0, 4.0], [20.0, 1.0, 24.0, 5.0]]),
                       _t([0.6, 0.6, 0.6, 0.8]), _t([2, 0, 1, 1], torch.int64), 0.5)),
            Case(args=(*_nms_cluster(80, 1550, centres=8), _classes(80, 5, 1551), 0.3)),
        ],
        numpy=False,
        **_EXACT,
        hint="Run nms within each class separately, gather the kept indices of all classes, and sort them by "
             "descending score (ties: lower index first).",
        forbids=('torchvision.ops.nms', 'torchvision.ops.batched_nms'),
        spec_rules=(
            Rule("boxes of different classes never suppress each other",
                 "visible 1: identical boxes of two classes; visible 2, hidden 2: every box its own class; "
                 "hidden 5"),
            Rule("within a class, nms with iou_threshold", "visible 2, hidden 1: a single class; hidden 5"),
            Rule("the kept indices of all classes sorted by decreasing score",
                 "visible 2, hidden 4, hidden 5: classes interleaved"),
            Rule("equal scores: the lower index first", "hidden 4: three boxes of score 0.6 in three classes"),
            Rule("N may be 0", "hidden 3"),
            Rule("int64 indices; the inputs are not changed", "every case"),
        ),
    ),
    Exercise(
        name="match_detections",
        builds_on=("box_iou",),
        points=1,
        visible=[
            Case(args=(_t(MATCH_BOXES), _t(MATCH_SCORES), _t(MATCH_GT))),
            _detections(1610, 4, 10),
        ],
        hidden=[
            Case(args=(_boxes(4, 1620), _scores(4, 1621), _empty_boxes())),
            Case(args=(_empty_boxes(), torch.zeros(0, dtype=torch.float64), _boxes(3, 1630))),
            Case(args=(_t([[1.0, 0.0, 11.0, 10.0], [1.0, 0.0, 11.0, 10.0], [1.0, 0.0, 11.0, 10.0]]),
                       _t([0.9, 0.8, 0.7]), _t([[0.0, 0.0, 10.0, 10.0], [2.0, 0.0, 12.0, 10.0]]))),
            Case(args=(_t([[0.0, 0.0, 3.0, 1.0], [5.0, 5.0, 8.0, 6.0]]), _t([0.4, 0.6]),
                       _t([[1.0, 0.0, 4.0, 1.0], [5.0, 5.0, 8.0, 6.0]]))),
            Case(args=(_t([[0.0, 0.0, 10.0, 10.0], [0.5, 0.5, 10.5, 10.5], [0.0, 0.0, 10.0, 10.0]]),
                       _t([0.5, 0.5, 0.5]), _t([[0.0, 0.0, 10.0, 10.0]]))),
            _detections(1650, 6, 14, amount=0.3, iou_threshold=0.75),
            # detection 0 has IoU 2/3 with both truths and takes truth 0; detection 1 then misses (0.43 < 0.5)
            Case(args=(_t([[2.0, 0.0, 12.0, 10.0], [0.0, 0.0, 10.0, 10.0]]), _t([0.9, 0.8]),
                       _t([[0.0, 0.0, 10.0, 10.0], [4.0, 0.0, 14.0, 10.0]]))),
        ],
        numpy=False,
        **_EXACT,
        hint="Visit detections by descending score (stable sort); each takes the not-yet-matched ground "
             "truth with the highest IoU if that IoU is >= the threshold; the flags stay in input order.",
        spec_rules=(
            Rule("detections are visited by decreasing score", "visible 1: the highest score is a false alarm; "
                 "visible 2, hidden 6"),
            Rule("equal scores: stable sort, the lower index first", "hidden 5: three equal scores"),
            Rule("each takes the not-yet-matched ground truth with the highest IoU",
                 "visible 1: a duplicate is False; hidden 3: the second detection takes the other truth"),
            Rule("ties in IoU between ground truths go to the lowest index",
                 "hidden 7: the first detection ties two truths; taking the second would free the first "
                 "for the next detection"),
            Rule("True if that IoU is >= iou_threshold", "hidden 4: IoU exactly 0.5 is a hit; hidden 6: threshold "
                 "0.75"),
            Rule("the flags are in the order of the input", "visible 1, visible 2"),
            Rule("D or G may be 0: all False", "hidden 1, hidden 2"),
            Rule("bool flags; the inputs are not changed", "every case"),
        ),
    ),
    Exercise(
        name="average_precision",
        points=2,
        visible=[
            Case(args=(_t(AP_SCORES), _t(AP_HITS, torch.bool), 5)),
            Case(args=(_t([0.3, 0.9, 0.5, 0.7, 0.8]), _t([True, False, True, True, False], torch.bool), 4)),
        ],
        hidden=[
            Case(args=(torch.zeros(0, dtype=torch.float64), torch.zeros(0, dtype=torch.bool), 3)),
            Case(args=(_scores(5, 1720), torch.zeros(5, dtype=torch.bool), 2)),
            Case(args=(_scores(4, 1730), torch.ones(4, dtype=torch.bool), 4)),
            Case(args=(_t([0.5, 0.5, 0.5, 0.9]), _t([False, True, True, False], torch.bool), 3)),
            _ranked(30, 1750, 0.5, 20),
            Case(args=(_t([0.8]), _t([True], torch.bool), 2)),
        ],
        numpy=False,
        **_FLOAT,
        hint="Rank by descending score (stable), precision = TP so far / rank and recall = TP so far / num_gt; "
             "replace each precision by the largest precision at the same or a later rank, then sum it times "
             "the increase of recall at each rank.",
        forbids=('sklearn.metrics',),
        fields=("ap", "precision", "recall"),
        spec_rules=(
            Rule("precision and recall after each rank of the detections sorted by decreasing score",
                 "visible 1, visible 2: unsorted scores; hidden 5"),
            Rule("stable sort: equal scores keep their input order", "hidden 4"),
            Rule("ap = sum over ranks of (recall[k] - recall[k-1]) * max(precision[k:]), recall[-1] = 0",
                 "visible 1: the worked example 0.6; visible 2; hidden 3: all hits; hidden 6: one hit of two"),
            Rule("no detections: ap = 0 and empty curves", "hidden 1"),
            Rule("only false positives: ap = 0", "hidden 2"),
            Rule("float64 curves of shape [D] and a 0-dim float64 ap; the inputs are not changed", "every case"),
        ),
    ),
]

BUGS = [
    Bug(
        exercise="make_anchors",
        find="root = ratios.sqrt()",
        replace="root = 1 / ratios.sqrt()",
        why="reads the aspect ratio as width / height instead of height / width, so every tall anchor "
            "comes out wide and the reverse",
    ),
    Bug(
        exercise="rpn_loss",
        find="/ sampled.numel()",
        replace="/ max(pos_idx.numel(), 1)",
        why="normalises the box loss by the number of positive anchors instead of all sampled anchors, "
            "which weights the box term several times more than the reference implementation does",
    ),
    Bug(
        exercise="nms",
        find="boxes[order]) > iou_threshold",
        replace="boxes[order]) >= iou_threshold",
        why="suppresses a box whose IoU with a kept box equals the threshold, where torchvision keeps it",
    ),
    Bug(
        exercise="average_precision",
        find="(steps * envelope).sum()",
        replace="(steps * precision).sum()",
        why="integrates the raw, zig-zagging precision instead of its monotone envelope, so a detector is "
            "punished for a false positive that a later hit has already outweighed",
    ),
]
