"""Mutants and alternative answers of assignment 04 (beyond the ``partial`` sample's bugs).

Four answers build on others (``encode_boxes``/``decode_boxes`` on ``convert_boxes``, ``rpn_loss`` and
``fast_rcnn_loss`` on ``smooth_l1_loss``, ``nms`` and ``match_detections`` on ``box_iou``,
``batched_nms`` on ``nms``): their calls get the reference's answers, so a mutant in ``convert_boxes``,
``box_iou``, ``smooth_l1_loss`` or ``nms`` costs that exercise alone.
"""

from autograder.assignments import Bug

from . import Alternative

#: The body of the solution's nms, from its sort to its return.
_NMS_BODY = ('    order = torch.sort(scores, descending=True, stable=True).indices\n'
             '    overlaps = (box_iou(boxes[order], boxes[order]) > iou_threshold).tolist()\n'
             '    suppressed = [False] * len(order)\n'
             '    keep = []\n'
             '    for i in range(len(order)):\n'
             '        if suppressed[i]:\n'
             '            continue\n'
             '        keep.append(i)\n'
             '        suppressed = [s or o for s, o in zip(suppressed, overlaps[i])]\n'
             '    return order[torch.tensor(keep, dtype=torch.int64, device=order.device)]')

MUTANTS = [
    # copy promised: equal formats hand back the input itself
    Bug("convert_boxes", "        return boxes.clone()", "        return boxes",
        "returns the input itself when both formats are equal"),
    # a dependency bug: the corners are centre -/+ the whole size (decode_boxes calls this direction)
    Bug("convert_boxes", "return torch.stack([a - c / 2, b - d / 2, a + c / 2, b + d / 2], dim=-1)",
        "return torch.stack([a - c, b - d, a + c, b + d], dim=-1)",
        "forgets to halve the size when going back to corners"),
    # a raise that is skipped: equal formats are copied before the formats are checked
    Bug("convert_boxes", "    if in_fmt not in BOX_FORMATS or out_fmt not in BOX_FORMATS:\n"
                         "        raise ValueError(f\"formats must be in {BOX_FORMATS}, not {in_fmt!r} and {out_fmt!r}\")\n"
                         "    if in_fmt == out_fmt:\n        return boxes.clone()",
        "    if in_fmt == out_fmt:\n        return boxes.clone()\n"
        "    if in_fmt not in BOX_FORMATS or out_fmt not in BOX_FORMATS:\n"
        "        raise ValueError(f\"formats must be in {BOX_FORMATS}, not {in_fmt!r} and {out_fmt!r}\")",
        "copies equal formats before it checks them, so ('xywh', 'xywh') raises nothing"),
    # a dependency bug: pixel-count areas (+1), which nms and match_detections call
    Bug("box_iou", "area1 = (boxes1[:, 2] - boxes1[:, 0]) * (boxes1[:, 3] - boxes1[:, 1])",
        "area1 = (boxes1[:, 2] - boxes1[:, 0] + 1) * (boxes1[:, 3] - boxes1[:, 1] + 1)",
        "counts pixels (+1) in the areas of the first box set"),
    # boundary: 0 / 0 where the union is empty
    Bug("box_iou", "return torch.where(union > 0, inter / union, torch.zeros_like(union))", "return inter / union",
        "divides by an empty union, which gives NaN for zero-area boxes"),
    # wrong order: anchors ratio-major instead of scale-major
    Bug("make_anchors", "heights = (scales[:, None] * root[None, :]).reshape(-1)             # scale-major, ratio-minor\n"
                        "    widths = (scales[:, None] / root[None, :]).reshape(-1)",
        "heights = (scales[None, :] * root[:, None]).reshape(-1)\n"
        "    widths = (scales[None, :] / root[:, None]).reshape(-1)",
        "orders the anchors of a cell ratio-major instead of scale-major"),
    # wrong order of weights: (wx, wy, ww, wh) read as (wx, ww, wy, wh)
    Bug("encode_boxes", "wx, wy, ww, wh = weights", "wx, ww, wy, wh = weights",
        "unpacks the weights in the wrong order"),
    # boundary: the clip is applied before dividing by the weight
    Bug("decode_boxes", "dh = (deltas[:, 3] / wh).clamp(max=clip)", "dh = deltas[:, 3].clamp(max=clip) / wh",
        "clips th before dividing it by its weight"),
    # dtype slip: the result takes the anchors' dtype
    Bug("decode_boxes", 'a = convert_boxes(anchors, "xyxy", "cxcywh").to(deltas.dtype)',
        'a = convert_boxes(anchors, "xyxy", "cxcywh")', "computes in the anchors' dtype"),
    # thresholds met exactly: > high
    Bug("label_anchors", "positive = (best >= high) | is_best.any(dim=1)",
        "positive = (best > high) | is_best.any(dim=1)", "an anchor at exactly `high` is not positive"),
    # boundary: a column of zeros forces every anchor positive
    Bug("label_anchors", "is_best = (iou == best_for_gt[None, :]) & (best_for_gt[None, :] > 0)",
        "is_best = iou == best_for_gt[None, :]",
        "lets a ground truth that no anchor touches force every anchor positive"),
    # rounding: round() where the spec says int()
    Bug("sample_anchors", "n_pos = min(positive.numel(), int(num_samples * positive_fraction))",
        "n_pos = min(positive.numel(), round(num_samples * positive_fraction))",
        "rounds the number of positives instead of truncating it"),
    # a dependency bug: the linear branch off by 0.5 beta (rpn_loss and fast_rcnn_loss call it)
    Bug("smooth_l1_loss", "diff - 0.5 * beta)", "diff - beta)", "subtracts beta instead of beta / 2"),
    # changed its input: subtracts in place (values are right)
    Bug("smooth_l1_loss", "diff = (input - target).abs()", "diff = input.sub_(target).abs()",
        "subtracts the target from the input in place"),
    # default not passed on: smooth_l1_loss's own beta (1) instead of the RPN's 1/9
    Bug("rpn_loss", "smooth_l1_loss(pred_deltas[pos_idx], target_deltas[pos_idx], beta)",
        "smooth_l1_loss(pred_deltas[pos_idx], target_deltas[pos_idx])", "does not pass beta on"),
    Bug("roi_pool", "return int(math.copysign(math.floor(abs(v) + 0.5), v))", "return round(v)",
        "rounds halves to even (Python's round) instead of away from zero"),
    Bug("roi_align", "    if not aligned:\n        size = size.clamp(min=1.0)", "    size = size.clamp(min=1.0)",
        "raises RoI sizes to 1 also when aligned"),
    Bug("fast_rcnn_loss", "chosen = per_class[fg, labels[fg]]", "chosen = per_class[fg, labels[fg] - 1]",
        "reads the deltas of class c from columns 4(c - 1), as if background had none"),
    # keys to ignore: sums every loss it is given
    Bug("multi_task_loss", "for name in FOUR_LOSSES)", "for name in losses)",
        "sums every key of `losses`, not only the four"),
    # NMS without sorting: boxes visited and kept in input order
    Bug("nms", "order = torch.sort(scores, descending=True, stable=True).indices",
        "order = torch.arange(scores.numel(), device=scores.device)",
        "visits the boxes in input order instead of by decreasing score"),
    # NMS without sorting, the result sorted by score at the end: only the set kept can tell
    Bug("nms", _NMS_BODY, _NMS_BODY.replace("torch.sort(scores, descending=True, stable=True).indices",
                                            "torch.arange(scores.numel(), device=scores.device)")
        .replace("    return order[torch.tensor(keep, dtype=torch.int64, device=order.device)]",
                 "    kept = torch.tensor(keep, dtype=torch.int64, device=scores.device)\n"
                 "    return kept[torch.sort(scores[kept], descending=True, stable=True).indices]"),
        "visits the boxes in input order, then returns the survivors by decreasing score"),
    # ties: an ascending stable sort flipped puts the higher index first
    Bug("nms", "order = torch.sort(scores, descending=True, stable=True).indices",
        "order = torch.sort(scores, stable=True).indices.flip(0)",
        "sorts ascending and flips, so that equal scores visit the higher index first"),
    # wrong order of the result: kept indices in index order
    Bug("nms", "return order[torch.tensor(keep, dtype=torch.int64, device=order.device)]",
        "return order[torch.tensor(keep, dtype=torch.int64, device=order.device)].sort().values",
        "returns the kept indices in index order instead of by score"),
    Bug("batched_nms", "    order = torch.sort(scores[keep], descending=True, stable=True).indices\n    return keep[order]",
        "    return keep", "returns the kept boxes by index, not by score"),
    # threshold met exactly: > where the spec says >=
    Bug("match_detections", "if candidates[best] >= iou_threshold:", "if candidates[best] > iou_threshold:",
        "a detection at exactly the threshold is a false positive"),
    # ties in IoU: the last ground truth wins
    Bug("match_detections", "best = int(candidates.argmax())",
        "best = len(candidates) - 1 - int(candidates.flip(0).argmax())",
        "takes the last of equally good ground truths"),
    # dtype slip: float32 curves
    Bug("average_precision", "hits = is_tp[order].to(torch.float64)", "hits = is_tp[order].float()",
        "computes the curves in float32"),
]

ALTERNATIVES = [
    Alternative("convert_boxes", '''def convert_boxes(boxes, in_fmt, out_fmt):
    """Halves of the last axis with cat; equal formats copied after the check."""
    if in_fmt not in BOX_FORMATS or out_fmt not in BOX_FORMATS:
        raise ValueError(in_fmt, out_fmt)
    first, second = boxes[..., :2], boxes[..., 2:]
    if in_fmt == out_fmt:
        return boxes.clone()
    if in_fmt == "xyxy":
        return torch.cat([(first + second) * 0.5, second - first], dim=-1)
    return torch.cat([first - second * 0.5, first + second * 0.5], dim=-1)''', "cat of halves, * 0.5"),
    Alternative("box_iou", '''def box_iou(boxes1, boxes2):
    """A loop over the pairs, in Python floats."""
    out = torch.zeros(len(boxes1), len(boxes2), dtype=boxes1.dtype, device=boxes1.device)
    for i, (a1, b1, c1, d1) in enumerate(boxes1.tolist()):
        for j, (a2, b2, c2, d2) in enumerate(boxes2.tolist()):
            inter = max(0.0, min(c1, c2) - max(a1, a2)) * max(0.0, min(d1, d2) - max(b1, b2))
            union = (c1 - a1) * (d1 - b1) + (c2 - a2) * (d2 - b2) - inter
            out[i, j] = inter / union if union > 0 else 0.0
    return out''', "a double loop over pairs (the spec prefers broadcasting, the result is the same)"),
    Alternative("make_anchors", '''def make_anchors(feature_size, stride, scales, ratios):
    """Base boxes around (0, 0), then every cell's centre added by broadcasting."""
    size = torch.tensor(scales, dtype=torch.float64)[:, None]
    root = torch.tensor(ratios, dtype=torch.float64).sqrt()[None, :]
    half_w, half_h = (size / root / 2).reshape(-1), (size * root / 2).reshape(-1)
    base = torch.stack([-half_w, -half_h, half_w, half_h], dim=1)
    rows = torch.arange(feature_size[0], dtype=torch.float64)
    cols = torch.arange(feature_size[1], dtype=torch.float64)
    centres = (torch.cartesian_prod(rows, cols).flip(1) + 0.5) * stride
    return (centres.repeat(1, 2)[:, None, :] + base[None]).reshape(-1, 4)''', "base boxes plus shifted centres"),
    Alternative("decode_boxes", '''def decode_boxes(deltas, anchors, weights=(1.0, 1.0, 1.0, 1.0), clip=math.log(1000.0 / 16)):
    """Without convert_boxes: widths and centres by hand, all four deltas divided at once."""
    anchors = anchors.to(deltas.dtype)
    w = anchors[:, 2] - anchors[:, 0]
    h = anchors[:, 3] - anchors[:, 1]
    cx, cy = anchors[:, 0] + 0.5 * w, anchors[:, 1] + 0.5 * h
    d = deltas / torch.tensor(weights, dtype=deltas.dtype, device=deltas.device)
    pw, ph = w * torch.exp(d[:, 2].clamp(max=clip)), h * torch.exp(d[:, 3].clamp(max=clip))
    px, py = cx + d[:, 0] * w, cy + d[:, 1] * h
    return torch.stack([px - 0.5 * pw, py - 0.5 * ph, px + 0.5 * pw, py + 0.5 * ph], dim=1)''',
        "centres as corner + half width, no convert_boxes"),
    Alternative("smooth_l1_loss", '''def smooth_l1_loss(input, target, beta=1.0):
    """The clamp form: q = min(d, beta), loss = 0.5 q^2 / beta + (d - q)."""
    d = (input - target).abs()
    if beta == 0:
        return d
    q = d.clamp(max=beta)
    return 0.5 * q * q / beta + (d - q)''', "clamp formulation"),
    Alternative("rpn_loss", '''def rpn_loss(objectness, pred_deltas, target_deltas, pos_idx, neg_idx, beta=1.0 / 9):
    """Cross-entropy from log-sigmoids, written out."""
    n = pos_idx.numel() + neg_idx.numel()
    if n == 0:
        return objectness.new_zeros(()), objectness.new_zeros(())
    logits_pos, logits_neg = objectness[pos_idx], objectness[neg_idx]
    bce = -(F.logsigmoid(logits_pos).sum() + F.logsigmoid(-logits_neg).sum()) / n
    box = smooth_l1_loss(pred_deltas[pos_idx], target_deltas[pos_idx], beta).sum() / n
    return bce, box''', "log-sigmoid sums instead of binary_cross_entropy_with_logits"),
    Alternative("label_anchors", '''def label_anchors(iou, high=0.7, low=0.3):
    """A loop over anchors."""
    n, m = iou.shape
    labels = torch.zeros(n, dtype=torch.int64, device=iou.device)
    matched = torch.full((n,), -1, dtype=torch.int64, device=iou.device)
    if n == 0 or m == 0:
        return labels, matched
    column_best = iou.max(dim=0).values
    for a in range(n):
        row = iou[a]
        best, where = float(row.max()), int(row.argmax())
        forced = bool(((row == column_best) & (column_best > 0)).any())
        if best >= high or forced:
            labels[a], matched[a] = 1, where
        elif best >= low:
            labels[a] = -1
    return labels, matched''', "a loop over anchors"),
    Alternative("multi_task_loss", '''def multi_task_loss(losses, weights=None):
    """A stack of the four weighted terms."""
    weights = weights or {}
    return torch.stack([losses[k] * weights.get(k, 1.0) for k in FOUR_LOSSES]).sum()''', "stack then sum"),
    Alternative("nms", '''def nms(boxes, scores, iou_threshold):
    """Shrinking candidate list: keep the best, drop what overlaps it, repeat."""
    order = torch.argsort(scores, descending=True, stable=True)
    keep = []
    while order.numel() > 0:
        best = order[0]
        keep.append(int(best))
        rest = order[1:]
        overlap = box_iou(boxes[best][None], boxes[rest])[0]
        order = rest[overlap <= iou_threshold]
    return torch.tensor(keep, dtype=torch.int64, device=boxes.device)''', "the shrinking-list form"),
    Alternative("batched_nms", '''def batched_nms(boxes, scores, classes, iou_threshold):
    """One nms call per class over a loop of Python ints, then a stable sort of all kept indices."""
    keep = []
    for c in sorted(set(classes.tolist())):
        idx = torch.nonzero(classes == c).flatten()
        keep += idx[nms(boxes[idx], scores[idx], iou_threshold)].tolist()
    keep = sorted(keep, key=lambda i: (-float(scores[i]), i))
    return torch.tensor(keep, dtype=torch.int64, device=boxes.device)''', "Python lists and sorted()"),
    Alternative("match_detections", '''def match_detections(boxes, scores, gt_boxes, iou_threshold=0.5):
    """Python lists: free ground truths are removed as they are taken."""
    hits = [False] * len(boxes)
    if len(boxes) == 0 or len(gt_boxes) == 0:
        return torch.tensor(hits, dtype=torch.bool, device=boxes.device)
    iou = box_iou(boxes, gt_boxes).tolist()
    free = list(range(len(gt_boxes)))
    for d in sorted(range(len(boxes)), key=lambda i: -float(scores[i])):
        if not free:
            break
        g = max(free, key=lambda k: (iou[d][k], -k))
        if iou[d][g] >= iou_threshold:
            hits[d] = True
            free.remove(g)
    return torch.tensor(hits, dtype=torch.bool, device=boxes.device)''', "Python lists and max with a tie key"),
    Alternative("average_precision", '''def average_precision(scores, is_tp, num_gt):
    """VOC style: sentinels, a backward envelope loop, a sum where recall moves."""
    order = sorted(range(len(scores)), key=lambda i: -float(scores[i]))
    tp, precision, recall = 0, [], []
    for k, i in enumerate(order, 1):
        tp += bool(is_tp[i])
        precision.append(tp / k)
        recall.append(tp / num_gt)
    env = precision + [0.0]
    for k in range(len(env) - 2, -1, -1):
        env[k] = max(env[k], env[k + 1])
    ap = sum((r - r0) * p for r, r0, p in zip(recall, [0.0] + recall[:-1], env))
    as_t = lambda v: torch.tensor(v, dtype=torch.float64, device=scores.device)
    return as_t(ap), as_t(precision), as_t(recall)''', "VOC's loops"),
]
