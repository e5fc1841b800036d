"""Assignment 05's reference outputs (made from the instructor's solution) against independent oracles:
course_utils.images.tone_map filter by filter, pure-Python loops (top-k activations, nearest neighbours,
occlusion, CAM, the ReLU backward rules), receptive_field_analytic on a stack of Conv2d layers and on the
committed shapes classifier (and its gradient-based receptive_field), an SVD of the centred features, the
probe networks re-run stage by stage with functional ops and differentiated with
torch.autograd.functional / torch.func and finite differences, a custom autograd Function in place of every
ReLU for the modified backward rules, torchvision's gaussian_blur, numpy percentiles, and the answers of
the paper network worked out by hand (see course_utils.models.tiny.paper_cam_net). The probes of the
exercises that take a model report, besides the result, what the call left behind (the notebook's locked
cell ``side_effects``): for the solution, nothing."""

import math

import numpy as np
import torch
from torch import nn
from torchvision.transforms.v2 import functional as TF

from autograder.assignments import exercises
from autograder.assignments.a05_visualization import SHAPES_LAYERS
from course_utils.grading import RAISES
from course_utils.images import tone_map
from course_utils.models import load_shapes_cnn, receptive_field, receptive_field_analytic
from course_utils.models.tiny import probe_model
from reference_files import check_references_cover_the_spec
from reference_files import close as _close
from reference_files import probe_stages as _stages
from reference_files import run_stages as _run
from reference_files import reference_cases

A = "05_visualization"

#: What the solution's probe reports as left behind: no hook, no .grad, no mode or parameter changed, and
#: (where an image is passed) the image does not require grad.
NOTHING_LEFT = (0, 0, 0, 0, False)


def _cases(name, which=("visible", "hidden")):
    """The cases of ``name`` that return (those that must raise are checked on their own)."""
    return [c for c in reference_cases(A, name, which) if not _raising(c)]


def _raising(case):
    return isinstance(case["expected"], dict) and set(case["expected"]) == {RAISES}


def test_cases_that_must_raise_say_what():
    raising = {ex.name: [c["expected"][RAISES] for c in reference_cases(A, ex.name) if _raising(c)]
               for ex in exercises(A)}
    assert {k: v for k, v in raising.items() if v} == {
        "tone_map_filters": ["ValueError"], "occlusion_map": ["ValueError"], "relu_backward": ["ValueError"],
        "modified_backprop": ["ForwardFailed"]}


def test_references_are_float64_and_cover_every_graded_case():
    check_references_cover_the_spec(A)


# -- filters, top activations, receptive fields, embeddings -----------------------------------------------


def test_tone_map_filters_matches_tone_map_filter_by_filter():
    for c in _cases("tone_map_filters"):
        w, mode, per_filter = c["args"]
        want = np.stack([tone_map(f, mode) for f in w]) if per_filter else tone_map(w, mode)
        _close(c["expected"], want)
    hidden = [c["expected"] for c in _cases("tone_map_filters", ["hidden"])]
    assert (hidden[0][1] == 0).all() and (hidden[0][3] == 0).all()        # constant filters, minmax
    assert (hidden[1][3] == 0.5).all() and (hidden[1][1] == 1.0).all()    # zero / constant 0.3, symmetric
    assert (hidden[2] == 0).all() and (hidden[3] == 0.5).all()            # constant tensors, whole range
    w = _cases("tone_map_filters", ["hidden"])[-1]["args"][0]             # float32 in, float32 out, exactly
    assert w.dtype == hidden[-1].dtype == torch.float32 and torch.equal(hidden[-1], (w + 1) / 2)


def _top_k_by_loops(acts, k):
    """Per channel: each image's first maximum in row-major order, images by value (lower index on ties)."""
    n, channels, _, w = acts.shape
    out = ([], [], [], [])
    for ch in range(channels):
        best = []
        for i in range(n):
            flat = acts[i, ch].flatten().tolist()
            pos = flat.index(max(flat))
            best.append((flat[pos], i, pos // w, pos % w))
        ranked = sorted(best, key=lambda t: -t[0])[:k]
        for column, values in zip(out, zip(*ranked)):
            column.append(list(values))
    return out


def test_top_k_activations_matches_a_brute_force_loop():
    for c in _cases("top_k_activations"):
        values, images, rows, cols = c["expected"]
        want = _top_k_by_loops(*c["args"])
        assert values.tolist() == want[0]
        for got, ref in zip((images, rows, cols), want[1:]):
            assert got.dtype == torch.int64 and got.tolist() == ref
    ties = _cases("top_k_activations", ["hidden"])[2]["expected"][1]
    assert ties[2].tolist() == [0, 1, 2, 3]                               # an all-zero channel


def _conv_stack_box(position, layers, input_size):
    """receptive_field_analytic on Conv2d layers of the given geometry (an Identity first for layers=[])."""
    stack = nn.Sequential(nn.Identity(), *[nn.Conv2d(1, 1, k, s, p) for k, s, p in layers])
    return receptive_field_analytic(stack, str(len(layers)), position, input_size)


def test_receptive_box_matches_the_analytic_receptive_field():
    shapes = load_shapes_cnn("cpu")
    for c in _cases("receptive_box"):
        position, layers, input_size = c["args"]
        assert all(type(v) is int for v in c["expected"])
        assert tuple(c["expected"]) == _conv_stack_box(position, layers, input_size)
        if list(layers) == SHAPES_LAYERS:
            assert tuple(c["expected"]) == receptive_field_analytic(shapes, "features.conv5", position, input_size)
            assert tuple(c["expected"]) == receptive_field(shapes, "features.conv5", input_size, position=position)
    # a conv5 unit sees 54 x 54 pixels, 8 apart; a corner unit's box is clipped; no layers: the pixel itself
    assert [tuple(c["expected"]) for c in _cases("receptive_box", ["visible"])] == [(9, 9, 63, 63), (0, 33, 31, 64)]
    assert tuple(_cases("receptive_box", ["hidden"])[0]["expected"]) == (3, 2, 4, 3)


def test_pca_2d_matches_an_svd_of_the_centred_data():
    for c in _cases("pca_2d"):
        (x,) = c["args"]
        centred = x - x.mean(dim=0)
        _, s, vh = torch.linalg.svd(centred, full_matrices=False)
        components = torch.stack([v if v[v.abs().argmax()] > 0 else -v for v in vh[:2]])
        projection, got, ratio = c["expected"]
        _close(got, components, atol=1e-8)
        _close(got @ got.T, torch.eye(2), atol=1e-10)
        _close(ratio, s[:2] ** 2 / (s ** 2).sum(), atol=1e-8)
        _close(projection, centred @ components.T, atol=1e-8)


def test_nearest_neighbours_matches_brute_force_distances():
    for c in _cases("nearest_neighbours"):
        queries, database, k = c["args"]
        indices, distances = c["expected"]
        assert indices.dtype == torch.int64 and indices.shape == (len(queries), k)
        for i, q in enumerate(queries.tolist()):
            d = [math.dist(q, r) for r in database.tolist()]
            order = sorted(range(len(d)), key=d.__getitem__)[:k]          # stable: lower index on ties
            assert indices[i].tolist() == order
            _close(distances[i], [d[j] for j in order], atol=1e-6)
    itself = _cases("nearest_neighbours", ["hidden"])[1]["expected"]
    assert itself[0][:, 0].tolist() == [2, 9] and (itself[1][:, 0] == 0).all()


def test_nearest_neighbours_cases_grade_a_tie():
    """Some query has equal distances among its k neighbours, so the lower-index-first order is graded."""
    assert any((c["expected"][1][:, 1:] == c["expected"][1][:, :-1]).any() for c in _cases("nearest_neighbours"))


# -- the probe networks, stage by stage -----------------------------------------------------------------


def _input_gradient(stages, image, label):
    """Gradient of the raw class score with respect to the image [C, H, W]."""
    return torch.autograd.functional.jacobian(lambda x: _run(stages, x[None])[0, label], image)


def test_stages_reproduce_the_probe_models():
    x = torch.linspace(-1, 1, 3 * 8 * 10, dtype=torch.float64).reshape(1, 3, 8, 10)
    for kind, seed, image in (("tiny", 0, x), ("tiny", 7, x.flip(3)), ("paper", 0, x[:, :1])):
        _close(_run(_stages(kind, seed), image), probe_model(kind, seed)(image).detach())


def _scores(stages, images, label, score):
    """The class score of each image of a batch: the raw logit or the softmax probability."""
    logits = _run(stages, images)
    return logits[:, label] if score == "logit" else logits.exp()[:, label] / logits.exp().sum(dim=1)


def test_occlusion_map_matches_occluded_images_made_one_at_a_time():
    for c in _cases("occlusion_map"):
        kind, seed, image, label, patch, stride = c["args"]
        baseline, score = c["kwargs"].get("baseline", 0.0), c["kwargs"].get("score", "prob")
        fills = baseline.tolist() if isinstance(baseline, torch.Tensor) else [baseline] * image.shape[0]
        rows, cols = (image.shape[1] - patch) // stride + 1, (image.shape[2] - patch) // stride + 1
        occluded = []
        for i in range(rows):
            for j in range(cols):
                x = image.clone()
                for ch, fill in enumerate(fills):
                    x[ch, i * stride:i * stride + patch, j * stride:j * stride + patch] = fill
                occluded.append(x)
        scores = _scores(_stages(kind, seed), torch.stack([image, *occluded]), label, score)
        result, with_autograd, within_batches, *left = c["expected"]
        _close(result, (scores[0] - scores[1:]).reshape(rows, cols))
        assert with_autograd == 0 and within_batches is True and tuple(left) == NOTHING_LEFT
    # paper net, class 0 logit m0 + 2 m1 = 2 on [[1, -2], [3, 0]]; blanking a pixel removes its share
    _close(_cases("occlusion_map", ["visible"])[2]["expected"][0], [[0.25, 1.0], [0.75, 0.0]])


def test_saliency_map_matches_the_jacobian():
    for c in _cases("saliency_map"):
        kind, seed, image, label = c["args"]
        result, attached, *left = c["expected"]
        _close(result, _input_gradient(_stages(kind, seed), image, label).abs().amax(dim=0))
        assert attached is False and tuple(left) == NOTHING_LEFT
    # score_1 = -m0 + m1: |d/dx| = 1/4 where x != 0, 0 at x = 0; score_0 = m0 + 2 m1: 1/4 for x > 0, 1/2 for x < 0
    _close(_cases("saliency_map", ["visible"])[0]["expected"][0], [[0.25, 0.25], [0.25, 0.0]])
    _close(_cases("saliency_map", ["hidden"])[0]["expected"][0], [[0.25, 0.5], [0.25, 0.0]])


# -- modified backward passes -----------------------------------------------------------------------------

_RULES = {"backprop": lambda x, g: g if x > 0 else 0.0,
          "deconvnet": lambda x, g: g if g > 0 else 0.0,
          "guided": lambda x, g: g if x > 0 and g > 0 else 0.0}


def _relu_rule(rule, x, grad):
    """The rule applied element by element in Python."""
    out = [_RULES[rule](a, b) for a, b in zip(x.flatten().tolist(), grad.flatten().tolist())]
    return torch.tensor(out, dtype=torch.float64).reshape(x.shape)


def test_relu_backward_matches_the_elementwise_rules():
    for c in _cases("relu_backward"):
        x, grad, rule = c["args"]
        assert torch.equal(c["expected"], _relu_rule(rule, x, grad))
    backprop, deconvnet, guided = (c["expected"].tolist() for c in _cases("relu_backward", ["visible"]))
    assert backprop == [[-2, 0, -1], [6, 0, 0], [0, -1, 3]]
    assert deconvnet == [[0, 3, 0], [6, 0, 1], [2, 0, 3]]
    assert guided == [[0, 0, 0], [6, 0, 0], [0, 0, 3]]


def _rule_relu(rule):
    """A ReLU whose backward pass is ``rule``: an autograd Function, no hooks."""
    class RuleReLU(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x.clamp(min=0)

        @staticmethod
        def backward(ctx, grad):
            return _relu_rule(rule, ctx.saved_tensors[0], grad)

    return RuleReLU.apply


def test_modified_backprop_matches_a_relu_with_its_own_backward():
    for c in _cases("modified_backprop"):
        kind, seed, image, label, rule = c["args"]
        result, attached, *left = c["expected"]
        _close(result, _input_gradient(_stages(kind, seed, _rule_relu(rule)), image, label))
        if rule == "backprop":
            _close(result, _input_gradient(_stages(kind, seed), image, label))
        assert attached is False and tuple(left) == NOTHING_LEFT
    # paper net, class 1: d score / d relu output = -1/4 on channel 0 (A0 = x), +1/4 on channel 1 (A1 = -x)
    visible = [c["expected"][0][0].tolist() for c in _cases("modified_backprop", ["visible"])[:3]]
    assert visible == [[[-0.25, -0.25], [-0.25, 0.0]], [[-0.25, -0.25], [-0.25, -0.25]], [[0.0, -0.25], [0.0, 0.0]]]


def test_grad_cam_matches_the_network_split_at_the_layer():
    for c in _cases("grad_cam"):
        kind, seed, layer, image, label = c["args"]
        stages = _stages(kind, seed)
        a = _run(stages, image[None], stop=layer)[0]
        g = torch.autograd.functional.jacobian(lambda t: _run(stages, t[None], start=layer)[0, label], a)
        want = sum(g[k].mean() * a[k] for k in range(len(a))).clamp(min=0)
        result, attached, *left = c["expected"]
        assert result.shape == a.shape[1:] and attached is False and tuple(left) == NOTHING_LEFT
        _close(result, want)
    # the paper net's docstring: relu(A0 / 4 + 2 A1 / 4) for class 0, relu(-A0 / 4 + A1 / 4) for class 1
    paper = [c["expected"][0] for c in _cases("grad_cam", ["visible"])[:2]]
    _close(paper[0], [[0.25, 1.0], [0.75, 0.0]])
    _close(paper[1], [[0.0, 0.5], [0.0, 0.0]])


def test_class_activation_map_matches_a_loop_and_the_paper_network():
    for c in _cases("class_activation_map"):
        features, weight, label = c["args"]
        want = torch.zeros(features.shape[1:], dtype=torch.float64)
        for k in range(len(features)):
            want += weight[label, k] * features[k]
        _close(c["expected"], want)
    # the first case is the paper net on [[1, -2], [3, 0]]: its ReLU maps and fc weights, so that the class
    # score is the mean of the CAM (no bias), and the CAM is 4 times Grad-CAM before its ReLU
    paper = _cases("class_activation_map", ["visible"])[0]
    stages, image = _stages("paper", 0), torch.tensor([[[[1.0, -2.0], [3.0, 0.0]]]], dtype=torch.float64)
    _close(paper["args"][0], _run(stages, image, stop="relu")[0])
    _close(paper["args"][1], probe_model("paper").fc.weight.detach())
    _close(paper["expected"].mean(), _run(stages, image)[0, 0])
    _close(paper["expected"], [[1.0, 4.0], [3.0, 0.0]])


# -- activation maximisation ------------------------------------------------------------------------------


def _objective(stages, x, target):
    """The objective of every image of the batch ``x``."""
    if isinstance(target, int):
        return _run(stages, x)[:, target]
    layer, channel, *position = target
    a = _run(stages, x, stop=layer)[:, channel]
    return a[:, position[0], position[1]] if position else a.mean(dim=(1, 2))


def test_objective_matches_the_stages():
    for c in _cases("objective"):
        kind, seed, image, target = c["args"]
        value, attached, *left = c["expected"]
        _close(value, _objective(_stages(kind, seed), image, target)[0])
        assert attached is True and tuple(left) == NOTHING_LEFT


def test_ascent_step_matches_torch_func_grad_and_finite_differences():
    for c in _cases("ascent_step"):
        kind, seed, image, target, lr, l2 = c["args"]
        stages = _stages(kind, seed)
        grad = torch.func.grad(lambda x: _objective(stages, x, target)[0] - l2 * (x ** 2).sum())(image)
        new, got_grad, attached, *left = c["expected"]
        _close(got_grad, grad)
        scale = grad.abs().mean()
        _close(new, image + lr * (grad / scale if scale > 0 else grad))
        assert attached is False and tuple(left) == NOTHING_LEFT
    zero = _cases("ascent_step", ["hidden"])[3]                     # an inactive unit, l2 = 0: no step at all
    assert (zero["expected"][1] == 0).all() and torch.equal(zero["expected"][0], zero["args"][2])
    for c in _cases("ascent_step", ["visible"]):                      # every pixel, central differences
        kind, seed, image, target, lr, l2 = c["args"]
        h = 1e-6
        steps = h * torch.eye(image.numel(), dtype=torch.float64).reshape(-1, *image.shape[1:])
        up, down = image + steps, image - steps
        stages = _stages(kind, seed)
        fd = (_objective(stages, up, target) - _objective(stages, down, target)
              - l2 * (up ** 2 - down ** 2).sum(dim=(1, 2, 3))) / (2 * h)
        _close(c["expected"][1], fd.reshape(image.shape), atol=1e-6)


def test_gaussian_blur_matches_torchvision():
    for c in _cases("gaussian_blur"):
        image, sigma = c["args"]
        size = 2 * math.ceil(2 * sigma) + 1
        _close(c["expected"], TF.gaussian_blur(image, [size, size], [sigma, sigma]), atol=1e-12)
    _close(_cases("gaussian_blur", ["hidden"])[3]["expected"], torch.ones(1, 2, 5, 5))


def test_clip_small_matches_numpy_percentiles():
    for c in _cases("clip_small"):
        image, grad, pixel_pct, contribution_pct = (np.asarray(a) for a in c["args"])
        norms = np.sqrt((image ** 2).sum(axis=1))
        contribution = np.abs(image * grad).sum(axis=1)
        small = (norms < np.percentile(norms, pixel_pct)) | \
                (contribution < np.percentile(contribution, contribution_pct))
        assert torch.equal(c["expected"], torch.from_numpy(np.where(small[:, None], 0.0, image)))


def test_visualize_reaches_its_margin():
    for c in _cases("visualize"):
        size = c["args"][3]
        assert c["expected"] == ((1, 3, size, size), True, True, "torch.float64", 0, 0, 0, 0)
