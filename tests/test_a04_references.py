"""Assignment 04's reference outputs (made from the instructor's solution) against independent oracles:
torchvision.ops (box_convert, box_iou, roi_pool, roi_align, nms, batched_nms), torchvision's detection
utilities (BoxCoder, Matcher), F.smooth_l1_loss, F.binary_cross_entropy_with_logits, F.cross_entropy,
slow pure-Python definitions, and the hand-worked examples of the notebook."""

import math

import pytest
import torch
import torch.nn.functional as F
from torchvision import ops
from torchvision.models.detection._utils import BoxCoder, Matcher

from autograder.course import hidden_reference_file, visible_reference_file
from course_utils import store
from reference_files import close as _close
from reference_files import reference_cases

A = "04_rcnn"


def _cases(name, which=("visible", "hidden")):
    return reference_cases(A, name, which)


def _iou(a, b):
    """IoU of two boxes given as Python sequences (0 when the union is empty)."""
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - w * h
    return w * h / union if union > 0 else 0.0


def _by_score(scores):
    """Indices by decreasing score, lower index first on ties (Python's sort is stable)."""
    return sorted(range(len(scores)), key=lambda i: -scores[i])


def test_references_are_float64_and_record_their_origin():
    for path in (visible_reference_file(A), hidden_reference_file(A)):
        meta = store.load(path)["meta"]
        assert meta["assignment"] == A and meta["dtype"] == "float64"


# -- boxes -------------------------------------------------------------------------------------------------


def test_convert_boxes_matches_box_convert():
    for c in _cases("convert_boxes"):
        boxes, in_fmt, out_fmt = c["args"]
        if c["expected"] == {"<raises>": "ValueError"}:
            assert not {in_fmt, out_fmt} <= {"xyxy", "cxcywh"}
            continue
        assert c["expected"].dtype == boxes.dtype
        _close(c["expected"], ops.box_convert(boxes, in_fmt, out_fmt))
    first = _cases("convert_boxes", ["visible"])[0]
    assert first["expected"].tolist() == [[2, 1, 4, 2], [20, 40, 20, 40], [5, 7, 0, 4]]
    hidden = _cases("convert_boxes", ["hidden"])
    assert [c["expected"].dtype for c in hidden[:2]] == [torch.float32] * 2       # empty, dtype kept
    # an unknown format raises, also when both formats are the same unknown one
    assert [c["args"][1:] for c in hidden if isinstance(c["expected"], dict)] == [["xyxy", "xywh"], ["xywh", "xywh"]]


def test_box_iou_matches_torchvision_and_the_worked_example():
    for c in _cases("box_iou"):
        a, b = c["args"]
        assert c["expected"].shape == (len(a), len(b))
        _close(c["expected"], ops.box_iou(a, b).nan_to_num(0.0))  # torchvision: 0/0 = NaN, ours 0
    worked = _cases("box_iou", ["visible"])[0]["expected"][0]
    _close(worked, [1 / 7, 1.0, 0.0, 0.25])


def test_box_iou_edge_cases_are_present():
    hidden = _cases("box_iou", ["hidden"])
    shapes = [tuple(c["expected"].shape) for c in hidden]
    assert (0, 3) in shapes and (3, 0) in shapes
    degenerate = [c for c in hidden if ((c["args"][0][:, 2:] - c["args"][0][:, :2]).prod(1) == 0).any()]
    assert degenerate and not degenerate[0]["expected"].isnan().any()


# -- anchors -----------------------------------------------------------------------------------------------


def _anchors_by_loops(feature_size, stride, scales, ratios):
    rows = []
    for i in range(feature_size[0]):
        for j in range(feature_size[1]):
            cx, cy = (j + 0.5) * stride, (i + 0.5) * stride
            for s in scales:
                for r in ratios:
                    h, w = s * math.sqrt(r), s / math.sqrt(r)
                    rows.append([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2])
    return torch.tensor(rows, dtype=torch.float64).reshape(-1, 4)


def test_make_anchors_matches_a_loop_over_cells_scales_and_ratios():
    for c in _cases("make_anchors"):
        assert c["expected"].dtype == torch.float64
        _close(c["expected"], _anchors_by_loops(*c["args"]))


def test_make_anchors_matches_torchvision_anchor_generator_up_to_order_and_offset():
    """torchvision centres anchors on cell corners, orders ratio-major and rounds the base anchors: with
    integer half-sizes, a half-stride shift and a reordering give the same boxes."""
    from torchvision.models.detection.anchor_utils import AnchorGenerator
    from torchvision.models.detection.image_list import ImageList

    scales, ratios, stride, cells = (8.0, 16.0), (0.25, 1.0, 4.0), 8, (3, 4)
    generator = AnchorGenerator(sizes=(scales,), aspect_ratios=(ratios,))
    images = ImageList(torch.zeros(1, 3, cells[0] * stride, cells[1] * stride), [(cells[0] * stride, cells[1] * stride)])
    theirs = generator(images, [torch.zeros(1, 1, *cells)])[0].double() + stride / 2
    theirs = theirs.reshape(-1, len(ratios), len(scales), 4).transpose(1, 2).reshape(-1, 4)
    _close(_anchors_by_loops(cells, stride, scales, ratios), theirs)


# -- box coding ---------------------------------------------------------------------------------------------


def test_encode_boxes_matches_box_coder():
    for c in _cases("encode_boxes"):
        boxes, anchors = c["args"]
        weights = c["kwargs"].get("weights", (1.0, 1.0, 1.0, 1.0))
        _close(c["expected"], BoxCoder(weights).encode_single(boxes, anchors))
    _close(_cases("encode_boxes", ["visible"])[0]["expected"], [[0.2, 0.8, 0.0, math.log(2.0)]])


def test_decode_boxes_matches_box_coder_with_its_clamp():
    clamped = 0
    for c in _cases("decode_boxes"):
        deltas, anchors = c["args"]
        weights = c["kwargs"].get("weights", (1.0, 1.0, 1.0, 1.0))
        clip = c["kwargs"].get("clip", math.log(1000.0 / 16))
        _close(c["expected"], BoxCoder(weights, bbox_xform_clip=clip).decode_single(deltas, anchors))
        scale = torch.tensor(weights[2:], dtype=torch.float64)
        clamped += int((deltas[:, 2:] / scale > clip).sum()) if len(deltas) else 0
    assert clamped >= 2, "some hidden cases must exercise the clamp"
    _close(_cases("decode_boxes", ["visible"])[0]["expected"], [[2.0, 3.0, 12.0, 23.0]])
    hidden = _cases("decode_boxes", ["hidden"])
    deltas = hidden[5]["args"][0]                 # th = 15 with wh = 5 is under the clip; 15 itself is not
    assert deltas[0, 3] / 5 < math.log(1000.0 / 16) < deltas[0, 3]
    assert hidden[6]["args"][0].dtype == torch.float32 and hidden[6]["args"][1].dtype == torch.float64
    assert hidden[6]["expected"].dtype == torch.float32              # the dtype of deltas, not of anchors


def test_decode_undoes_encode_on_the_encoding_cases():
    for c in _cases("encode_boxes"):
        boxes, anchors = c["args"]
        weights = c["kwargs"].get("weights", (1.0, 1.0, 1.0, 1.0))
        _close(BoxCoder(weights).decode_single(c["expected"], anchors), boxes, atol=1e-9)


# -- anchor labels and sampling -----------------------------------------------------------------------------


def _labels_by_matcher(iou, high, low):
    """torchvision's Matcher on the ground truths that some anchor overlaps (our rule ignores the others)."""
    n, m = iou.shape
    labels, matched = torch.zeros(n, dtype=torch.int64), torch.full((n,), -1, dtype=torch.int64)
    if n == 0 or m == 0:
        return labels, matched
    reachable = torch.nonzero(iou.max(dim=0).values > 0).flatten()
    if len(reachable) == 0:
        best = iou.max(dim=1).values
        labels[(best >= low) & (best < high)] = -1
        labels[best >= high] = 1
        matched[best >= high] = iou.argmax(dim=1)[best >= high]
        return labels, matched
    quality = iou[:, reachable].T.contiguous()
    found = Matcher(high, low, allow_low_quality_matches=True)(quality)
    labels = torch.where(found >= 0, 1, torch.where(found == Matcher.BELOW_LOW_THRESHOLD, 0, -1))
    matched = torch.where(found >= 0, reachable[found.clamp(min=0)], -1)
    # an anchor whose best overlap is with an unreachable column has IoU 0 there: it cannot be positive
    return labels, matched


def test_label_anchors_matches_torchvision_matcher():
    for c in _cases("label_anchors"):
        (iou,) = c["args"]
        high, low = c["kwargs"].get("high", 0.7), c["kwargs"].get("low", 0.3)
        labels, matched = c["expected"]
        want_labels, want_matched = _labels_by_matcher(iou, high, low)
        assert labels.dtype == matched.dtype == torch.int64
        assert torch.equal(labels, want_labels) and torch.equal(matched, want_matched), c


def test_label_anchors_hand_cases():
    visible, hidden = _cases("label_anchors", ["visible"]), _cases("label_anchors", ["hidden"])
    assert visible[0]["expected"][0].tolist() == [1, -1, 1, 0, 0]
    assert visible[0]["expected"][1].tolist() == [0, -1, 1, -1, -1]
    # a forced positive is matched to its own best ground truth, not to the one it was best for
    assert hidden[0]["expected"][0].tolist() == [1, 0, 1] and hidden[0]["expected"][1].tolist() == [1, -1, 1]
    # ties: both anchors that reach ground truth 1's best IoU become positive
    assert hidden[1]["expected"][0].tolist() == [1, 1, 1, 1]
    # a ground truth that no anchor touches forces nothing
    assert hidden[4]["expected"][0].tolist() == [1, 0]
    # thresholds met with equality: >= high is positive, >= low is ignored
    assert hidden[5]["expected"][0].tolist() == [1, -1, 0, -1]
    # the same with non-default thresholds, the anchor at `high` being no ground truth's best
    assert hidden[8]["expected"][0].tolist() == [1, 1, -1, 0] and hidden[8]["expected"][1].tolist() == [0, 0, -1, -1]
    # ties within a row go to the lower ground-truth index, also for a forced positive
    assert hidden[9]["expected"][0].tolist() == [1, 1, 0] and hidden[9]["expected"][1].tolist() == [0, 1, -1]


def test_sample_anchors_invariants():
    for c in _cases("sample_anchors"):
        labels, num_samples, fraction, _seed = c["args"]
        n_pos = min(int((labels == 1).sum()), int(num_samples * fraction))
        n_neg = min(int((labels == 0).sum()), num_samples - n_pos)
        assert tuple(c["expected"]) == (n_pos, n_neg, True, True, True, True, True)
    assert any(c["args"][1] * c["args"][2] % 1 == 0.5 for c in _cases("sample_anchors", ["hidden"]))


# -- losses -------------------------------------------------------------------------------------------------


def test_smooth_l1_matches_torch():
    for c in _cases("smooth_l1_loss"):
        x, y = c["args"]
        beta = c["kwargs"].get("beta", 1.0)
        _close(c["expected"], F.smooth_l1_loss(x, y, reduction="none", beta=beta))


def test_rpn_loss_matches_torch_losses():
    for c in _cases("rpn_loss"):
        objectness, pred, target, pos, neg = c["args"]
        beta = c["kwargs"].get("beta", 1.0 / 9)
        sampled = torch.cat([pos, neg])
        if len(sampled) == 0:
            want = (0.0, 0.0)
        else:
            labels = torch.cat([torch.ones(len(pos)), torch.zeros(len(neg))]).double()
            want = (F.binary_cross_entropy_with_logits(objectness[sampled], labels),
                    F.smooth_l1_loss(pred[pos], target[pos], beta=beta, reduction="sum") / len(sampled))
        _close(c["expected"][0], want[0])
        _close(c["expected"][1], want[1])


def test_fast_rcnn_loss_matches_torch_losses():
    for c in _cases("fast_rcnn_loss"):
        logits, deltas, labels, target = c["args"]
        beta = c["kwargs"].get("beta", 1.0)
        if len(labels) == 0:
            want = (0.0, 0.0)
        else:
            rows = [r for r in range(len(labels)) if labels[r] > 0]
            chosen = torch.stack([deltas[r, 4 * labels[r]:4 * labels[r] + 4] for r in rows]) if rows else \
                torch.zeros(0, 4, dtype=torch.float64)
            want = (F.cross_entropy(logits, labels),
                    F.smooth_l1_loss(chosen, target[rows], beta=beta, reduction="sum") / len(labels))
        _close(c["expected"][0], want[0])
        _close(c["expected"][1], want[1])


def test_multi_task_loss_is_the_weighted_sum():
    for c in _cases("multi_task_loss"):
        losses = c["args"][0]
        weights = c["args"][1] if len(c["args"]) > 1 else {}
        names = ("rpn_objectness", "rpn_box", "roi_classifier", "roi_box")
        _close(c["expected"], math.fsum(weights.get(n, 1.0) * float(losses[n]) for n in names))
    assert any(set(c["args"][0]) - {"rpn_objectness", "rpn_box", "roi_classifier", "roi_box"}
               for c in _cases("multi_task_loss", ["hidden"]))


# -- RoI pooling ---------------------------------------------------------------------------------------------


def test_roi_pool_matches_torchvision():
    for c in _cases("roi_pool"):
        features, rois, size = c["args"]
        _close(c["expected"], ops.roi_pool(features, rois, size, c["kwargs"].get("spatial_scale", 1.0)))
    ramp = _cases("roi_pool", ["visible"])[0]
    assert ramp["expected"][0, 0].tolist() == [[35.0, 37.0], [51.0, 53.0]]
    halves = _cases("roi_pool", ["hidden"])[6]    # every scaled coordinate is a half: rounded away from zero
    assert (halves["args"][1][:, 1:] * halves["kwargs"]["spatial_scale"] % 1 == 0.5).all()
    assert halves["expected"].dtype == torch.float32


def test_roi_align_matches_torchvision():
    for c in _cases("roi_align"):
        features, rois, size = c["args"]
        kw = c["kwargs"]
        _close(c["expected"], ops.roi_align(features, rois, size, kw.get("spatial_scale", 1.0),
                                            kw.get("sampling_ratio", 2), kw.get("aligned", False)))
        assert c["expected"].dtype == features.dtype


def test_roi_cases_leave_the_feature_map_and_include_no_rois():
    for name in ("roi_pool", "roi_align"):
        hidden = _cases(name, ["hidden"])
        assert any(len(c["args"][1]) == 0 for c in hidden)
        outside = 0
        for c in hidden:
            features, rois, _ = c["args"]
            scaled = rois[:, 1:] * c["kwargs"].get("spatial_scale", 1.0)
            outside += int((scaled < 0).any() or (scaled[:, [0, 2]] > features.shape[3]).any())
        assert outside > 0


# -- NMS -----------------------------------------------------------------------------------------------------


def _nms_by_loops(boxes, scores, threshold):
    boxes, scores = boxes.tolist(), scores.tolist()
    kept = []
    for i in _by_score(scores):
        if all(_iou(boxes[i], boxes[k]) <= threshold for k in kept):
            kept.append(i)
    return kept


def test_nms_matches_torchvision_and_the_greedy_definition():
    for c in _cases("nms"):
        boxes, scores, threshold = c["args"]
        assert c["expected"].dtype == torch.int64
        assert c["expected"].tolist() == _nms_by_loops(boxes, scores, threshold)
        assert torch.equal(c["expected"], ops.nms(boxes, scores, threshold))


def test_nms_keeps_a_box_at_exactly_the_threshold():
    boxes, scores, threshold = _cases("nms", ["visible"])[0]["args"]
    assert _iou(boxes[2].tolist(), boxes[3].tolist()) == threshold == 0.5
    assert _cases("nms", ["visible"])[0]["expected"].tolist() == [4, 0, 2, 3]
    tie = _cases("nms", ["hidden"])[2]
    assert _iou(tie["args"][0][0].tolist(), tie["args"][0][1].tolist()) == tie["args"][2]


def test_batched_nms_matches_torchvision_and_a_per_class_loop():
    for c in _cases("batched_nms"):
        boxes, scores, classes, threshold = c["args"]
        kept = []
        for k in sorted(set(classes.tolist())):
            idx = [i for i in range(len(classes)) if classes[i] == k]
            kept += [idx[j] for j in _nms_by_loops(boxes[idx], scores[idx], threshold)]
        assert c["expected"].tolist() == [i for i in _by_score(scores.tolist()) if i in kept]
        assert torch.equal(c["expected"], ops.batched_nms(boxes, scores, classes, threshold))


def test_batched_nms_cases_never_meet_the_threshold_exactly():
    """So that nms's strict '>' is graded by the nms cases only (a '>=' bug there must not leak here)."""
    for c in _cases("batched_nms"):
        boxes, _, classes, threshold = c["args"]
        for i in range(len(boxes)):
            for j in range(i):
                if classes[i] == classes[j]:
                    assert _iou(boxes[i].tolist(), boxes[j].tolist()) != threshold


# -- evaluation ----------------------------------------------------------------------------------------------


def _match_by_loops(boxes, scores, gt_boxes, threshold):
    boxes, gt = boxes.tolist(), gt_boxes.tolist()
    taken, hits = set(), [False] * len(boxes)
    for d in _by_score(scores.tolist()):
        free = [(_iou(boxes[d], gt[g]), -g) for g in range(len(gt)) if g not in taken]
        if free:
            value, neg_g = max(free)
            if value >= threshold:
                hits[d] = True
                taken.add(-neg_g)
    return hits


def test_match_detections_matches_a_greedy_loop():
    for c in _cases("match_detections"):
        boxes, scores, gt = c["args"]
        threshold = c["kwargs"].get("iou_threshold", 0.5)
        assert c["expected"].dtype == torch.bool
        assert c["expected"].tolist() == _match_by_loops(boxes, scores, gt, threshold)
    assert _cases("match_detections", ["visible"])[0]["expected"].tolist() == [True, False, True, False]
    hidden = _cases("match_detections", ["hidden"])
    assert hidden[2]["expected"].tolist() == [True, True, False]      # second detection takes the other truth
    assert hidden[3]["expected"].tolist() == [True, True]             # IoU exactly 0.5 is a hit
    assert hidden[6]["expected"].tolist() == [True, False]            # an IoU tie goes to the lower truth


def _voc_ap(scores, hits, num_gt):
    """AP as PASCAL VOC's devkit (2010 and later) computes it: sentinels, envelope, sum where recall moves."""
    order = _by_score(scores)
    tp = fp = 0
    recall, precision = [0.0], [0.0]
    for i in order:
        tp, fp = tp + hits[i], fp + (not hits[i])
        recall.append(tp / num_gt)
        precision.append(tp / (tp + fp))
    recall.append(1.0)
    precision.append(0.0)
    for k in range(len(precision) - 2, -1, -1):
        precision[k] = max(precision[k], precision[k + 1])
    return sum((recall[k + 1] - recall[k]) * precision[k + 1] for k in range(len(recall) - 1)
               if recall[k + 1] != recall[k])


def test_average_precision_matches_the_voc_formulation():
    for c in _cases("average_precision"):
        scores, hits, num_gt = c["args"]
        ap, precision, recall = c["expected"]
        order = _by_score(scores.tolist())
        found = [sum(hits[i].item() for i in order[:k + 1]) for k in range(len(order))]
        _close(precision, [f / (k + 1) for k, f in enumerate(found)])
        _close(recall, [f / num_gt for f in found])
        _close(ap, _voc_ap(scores.tolist(), hits.tolist(), num_gt))


@pytest.mark.parametrize("which, index, value", [
    ("visible", 0, 0.6),            # T F F T T T, 5 ground truths (the notebook's worked example)
    ("visible", 1, 0.45),           # ranked F F T T T, 4 ground truths: envelope 0.6 over recall 0.75
    ("hidden", 0, 0.0),             # no detections
    ("hidden", 1, 0.0),             # only false positives
    ("hidden", 2, 1.0),             # four hits for four ground truths
    ("hidden", 3, 1 / 3),           # ties: F (0.9), then F T T at 0.5 in input order
    ("hidden", 5, 0.5),             # one hit, two ground truths
])
def test_average_precision_hand_worked(which, index, value):
    _close(_cases("average_precision", [which])[index]["expected"][0], value)
