"""Assignment 03's reference outputs (made from the instructor's solution) against independent oracles:
functional re-implementations of the U-Net modules (F.conv2d, F.batch_norm, F.max_pool2d,
F.conv_transpose2d) with the probe's seeded parameter fill, F.cross_entropy with ignore_index (its value
and its gradient), a confusion matrix counted with torch.bincount, IoU and Dice written with plain Python
counts, and the notebook's hand-worked examples."""

import math
from fractions import Fraction

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from reference_files import close as _close
from reference_files import reference_cases

A = "03_unet"


def _cases(name, which=("visible", "hidden")):
    return reference_cases(A, name, which)


# -- the modules, as functions of a dict of named parameters -------------------------------------------


def _double_shapes(prefix, c_in, c_out):
    return {f"{prefix}conv1.weight": (c_out, c_in, 3, 3), f"{prefix}bn1.weight": (c_out,),
            f"{prefix}bn1.bias": (c_out,), f"{prefix}conv2.weight": (c_out, c_out, 3, 3),
            f"{prefix}bn2.weight": (c_out,), f"{prefix}bn2.bias": (c_out,)}


def _up_shapes(prefix, c_in, c_out, use_skip=True):
    return {f"{prefix}up.weight": (c_in, c_in // 2, 2, 2), f"{prefix}up.bias": (c_in // 2,),
            **_double_shapes(f"{prefix}conv.", c_in if use_skip else c_in // 2, c_out)}


def _unet_shapes(c_in, k, base, depth, skip):
    shapes = {**_double_shapes("inc.", c_in, base), "head.weight": (k, base, 1, 1), "head.bias": (k,)}
    for i in range(depth):
        shapes |= _double_shapes(f"downs.{i}.conv.", base << i, base << (i + 1))
    for j in range(depth):
        level = depth - j
        shapes |= _up_shapes(f"ups.{j}.", base << level, base << (level - 1), skip)
    return shapes


def _fill(shapes):
    """The probe's fill: standard normals from one generator seeded 0, in sorted-name order, each
    tensor divided by the square root of the size of one slice along its first axis."""
    gen = torch.Generator().manual_seed(0)
    params = {}
    for name in sorted(shapes):
        fan = math.prod(shapes[name][1:])
        params[name] = torch.randn(shapes[name], generator=gen, dtype=torch.float64) / math.sqrt(fan)
    return params


def _bn_eval(x, weight, bias):
    """Batch norm in eval mode with the running statistics of a fresh layer (mean 0, variance 1)."""
    c = x.shape[1]
    return F.batch_norm(x, torch.zeros(c, dtype=x.dtype), torch.ones(c, dtype=x.dtype), weight, bias,
                        training=False, eps=1e-5)


def _double(x, p, prefix=""):
    for i in (1, 2):
        x = F.conv2d(x, p[f"{prefix}conv{i}.weight"], padding=1)
        x = F.relu(_bn_eval(x, p[f"{prefix}bn{i}.weight"], p[f"{prefix}bn{i}.bias"]))
    return x


def _down(x, p, prefix=""):
    return _double(F.max_pool2d(x, kernel_size=2, stride=2), p, f"{prefix}conv.")


def _up(x, skip, p, prefix="", use_skip=True):
    small = F.conv_transpose2d(x, p[f"{prefix}up.weight"], p[f"{prefix}up.bias"], stride=2)
    canvas = small.new_zeros(*small.shape[:2], *skip.shape[2:])  # place it on a zero canvas
    top = (skip.shape[2] - small.shape[2]) // 2
    left = (skip.shape[3] - small.shape[3]) // 2
    canvas[:, :, top:top + small.shape[2], left:left + small.shape[3]] = small
    joined = torch.cat([skip, canvas], dim=1) if use_skip else canvas
    return _double(joined, p, f"{prefix}conv.")


def _unet(x, p, depth, skip):
    levels = [_double(x, p, "inc.")]
    for i in range(depth):
        levels.append(_down(levels[-1], p, f"downs.{i}."))
    y = levels[depth]
    for j in range(depth):
        y = _up(y, levels[depth - 1 - j], p, f"ups.{j}.", skip)
    return F.conv2d(y, p["head.weight"], p["head.bias"])


def _check_module(expected, shapes, forward):
    params = _fill(shapes)
    y, n_params, unchanged = expected
    _close(y, forward(params))
    assert n_params == sum(math.prod(s) for s in shapes.values())
    assert unchanged is True


def test_double_conv_matches_functional_reference():
    for c in _cases("double_conv"):
        c_in, c_out, x = c["args"]
        _check_module(c["expected"], _double_shapes("", c_in, c_out), lambda p: _double(x, p))


def test_down_matches_functional_reference():
    for c in _cases("down"):
        c_in, c_out, x = c["args"]
        assert c["expected"][0].shape[2:] == (x.shape[2] // 2, x.shape[3] // 2)
        _check_module(c["expected"], _double_shapes("conv.", c_in, c_out), lambda p: _down(x, p))


def test_up_matches_functional_reference():
    odd = 0
    for c in _cases("up"):
        c_in, c_out, x, skip = c["args"]
        use_skip = c["kwargs"].get("use_skip", True)
        odd += skip.shape[2] % 2 + skip.shape[3] % 2
        assert c["expected"][0].shape == (x.shape[0], c_out, *skip.shape[2:])
        _check_module(c["expected"], _up_shapes("", c_in, c_out, use_skip),
                      lambda p: _up(x, skip, p, use_skip=use_skip))
    assert odd > 0, "the Up cases must include odd sizes"


def test_unet_matches_functional_reference():
    for c in _cases("unet"):
        c_in, k, x = c["args"]
        base, depth = c["kwargs"].get("base", 8), c["kwargs"].get("depth", 3)
        skip = c["kwargs"].get("skip", True)
        assert c["expected"][0].shape == (x.shape[0], k, *x.shape[2:])
        _check_module(c["expected"], _unet_shapes(c_in, k, base, depth, skip),
                      lambda p: _unet(x, p, depth, skip))
    sizes = [s for c in _cases("unet") for s in c["args"][2].shape[2:]]
    assert any(s % 2 for s in sizes) and any(not c["kwargs"].get("skip", True) for c in _cases("unet"))
    assert any(not c["kwargs"] for c in _cases("unet")), "a case must use UNet's own defaults"
    assert any(c["args"][2].shape[2] == 2 ** c["kwargs"].get("depth", 3) for c in _cases("unet")), \
        "a case must have the smallest height the depth allows"


# -- the loss ------------------------------------------------------------------------------------------


def test_pixel_cross_entropy_matches_torch():
    """The loss and its gradient with respect to the logits, against F.cross_entropy and autograd."""
    all_void = 0
    for c in _cases("pixel_cross_entropy"):
        logits, target = c["args"]
        loss, gradient = c["expected"]
        ignore = c["kwargs"].get("ignore_index", 255)
        if (target == ignore).all():
            all_void += 1
            assert float(loss) == 0.0 and torch.equal(gradient, torch.zeros_like(logits))
            continue
        z = logits.clone().requires_grad_(True)
        want = F.cross_entropy(z, target, ignore_index=ignore)
        (want_gradient,) = torch.autograd.grad(want, z)
        _close(loss, want, atol=1e-9)
        _close(gradient, want_gradient, atol=1e-12)
    assert all_void, "an all-void case must be graded"


def test_pixel_cross_entropy_worked_example():
    worked = _cases("pixel_cross_entropy")[0]
    assert worked["args"][1].tolist() == [[[1, 255, 0]]]
    _close(worked["expected"][0], 0.5 * math.log(10 / 3), atol=1e-12)
    # d loss / d z = (softmax - one hot) / 2 at the two valid pixels, 0 at the void one
    by_hand = torch.tensor([[[[1 / 8, 0, -1 / 5]], [[-1 / 4, 0, 1 / 10]], [[1 / 8, 0, 1 / 10]]]],
                           dtype=torch.float64)
    _close(worked["expected"][1], by_hand, atol=1e-12)


def test_cross_entropy_cases_overflow_a_naive_softmax():
    big = [c for c in _cases("pixel_cross_entropy") if c["args"][0].abs().max() > 710]
    assert len(big) >= 2
    for c in big:
        assert all(torch.isfinite(torch.as_tensor(part)).all() for part in c["expected"])


# -- the metrics ---------------------------------------------------------------------------------------


def _bincount_confusion(pred, target, k, ignore):
    keep = target != ignore
    return torch.bincount(target[keep] * k + pred[keep], minlength=k * k).reshape(k, k)


def test_confusion_matrix_matches_bincount():
    for c in _cases("confusion_matrix"):
        pred, target, k = c["args"]
        expected = c["expected"]
        assert expected.dtype == torch.int64
        ignore = c["kwargs"].get("ignore_index", 255)
        assert torch.equal(expected, _bincount_confusion(pred, target, k, ignore))


def test_confusion_matrix_worked_example():
    worked = _cases("confusion_matrix")[0]["expected"]
    assert worked.tolist() == [[2, 1, 0, 0], [0, 2, 0, 0], [1, 0, 1, 0], [0, 0, 0, 0]]
    assert any(int(c["expected"].sum()) == 0 for c in _cases("confusion_matrix")), "an all-void case"


def _iou_by_hand(conf):
    """IoU per class with exact fractions: |P and T| / |P or T|, 1 when both are empty."""
    rows = conf.tolist()
    k = len(rows)
    out = []
    for c in range(k):
        truth = sum(rows[c])
        predicted = sum(rows[r][c] for r in range(k))
        both = rows[c][c]
        either = truth + predicted - both
        out.append(Fraction(1) if either == 0 else Fraction(both, either))
    return out


def test_iou_per_class_matches_fractions():
    for c in _cases("iou_per_class"):
        (conf,) = c["args"]
        _close(c["expected"], [float(f) for f in _iou_by_hand(conf)], atol=1e-12)
    _close(_cases("iou_per_class")[0]["expected"], [1 / 2, 2 / 3, 1 / 2, 1.0], atol=1e-12)


def test_mean_iou_averages_the_classes_that_occur():
    for c in _cases("mean_iou"):
        (conf,) = c["args"]
        occurring = [i for i in range(conf.shape[0]) if conf[i].any() or conf[:, i].any()]
        ious = _iou_by_hand(conf)
        expected = 1.0 if not occurring else float(sum(ious[i] for i in occurring) / len(occurring))
        _close(c["expected"], expected, atol=1e-12)
    assert abs(float(_cases("mean_iou")[0]["expected"]) - 5 / 9) < 1e-12
    assert any(float(c["expected"]) == 1.0 and int(c["args"][0].sum()) == 0 for c in _cases("mean_iou"))


def test_dice_matches_set_counts_and_iou():
    for c in _cases("dice_per_class"):
        pred, target, k = c["args"]
        ignore = c["kwargs"].get("ignore_index", 255)
        p, t = pred.numpy(), target.numpy()
        keep = t != ignore
        expected = []
        for cls in range(k):
            in_p, in_t = (p == cls) & keep, (t == cls) & keep
            size = int(in_p.sum() + in_t.sum())
            expected.append(1.0 if size == 0 else 2 * int((in_p & in_t).sum()) / size)
        _close(c["expected"], expected, atol=1e-12)
        iou = torch.tensor([float(f) for f in _iou_by_hand(_bincount_confusion(pred, target, k, ignore))],
                           dtype=torch.float64)
        _close(c["expected"], 2 * iou / (1 + iou), atol=1e-12)
    _close(_cases("dice_per_class")[0]["expected"], [2 / 3, 4 / 5, 2 / 3, 1.0], atol=1e-12)


@pytest.mark.parametrize("name", ["iou_per_class", "dice_per_class"])
def test_metric_cases_cover_absent_classes(name):
    """Some graded case has a class in neither truth nor prediction (scored 1.0)."""
    assert any((np.asarray(c["expected"]) == 1.0).any() for c in _cases(name))
