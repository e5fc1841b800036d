"""Assignment 06's reference outputs (made from the instructor's solution) against independent oracles.

The probe networks are re-run stage by stage with functional ops (reference_files.probe_stages) and
differentiated with torch.func.grad and central finite differences; the guide objective and the Gram
diversity are computed by loops over positions and pairs in plain Python; jitter by index arithmetic;
octaves by a bilinear interpolation written in numpy from the half-pixel rule; the loops of deepdream and
diverse_dreams are re-run from those oracles. The paper network's answers are the ones worked out by hand
in the notebook (see course_utils.models.tiny.paper_cam_net): at ``relu`` the DeepDream gradient is the
image itself.
"""

import itertools
import math

import numpy as np
import torch

from autograder.assignments.a06_deepdream import GRAM_EXAMPLE, GUIDE_ACTIVATION, GUIDE_FEATURES, PAPER_IMAGE
from reference_files import (NOTHING_LEFT, close, probe_stages, reference_cases, check_references_cover_the_spec,
                             returning_cases, run_stages)

A = "06_deepdream"


def _cases(name, which=("visible", "hidden")):
    return reference_cases(A, name, which)


def _returning(name, which=("visible", "hidden")):
    """The cases of ``name`` that return (not those that must raise)."""
    return returning_cases(A, name, which)


def test_references_are_float64_and_cover_every_graded_case():
    check_references_cover_the_spec(A)


# -- the guide objective ----------------------------------------------------------------------------------


def _guide_by_loops(activation, guide):
    """Sum over dream positions of the best dot product with a guide position (first on ties), and the
    winning guide vectors, by Python loops."""
    a = activation[0].reshape(activation.shape[1], -1).T.tolist()   # positions x C
    g = guide[0].reshape(guide.shape[1], -1).T.tolist()
    value, winners = 0.0, []
    for vec in a:
        scores = [sum(x * y for x, y in zip(vec, other)) for other in g]
        best = scores.index(max(scores))                              # the first maximum
        value += scores[best]
        winners.append(g[best])
    gradient = torch.tensor(winners, dtype=torch.float64).T.reshape(activation.shape)
    return value, gradient


def test_guide_objective_matches_loops_and_the_worked_example():
    for c in _cases("guide_objective"):
        value, gradient = c["expected"]
        want_value, want_gradient = _guide_by_loops(*c["args"])
        close(value, want_value, atol=1e-9)
        assert torch.equal(gradient, want_gradient)
    value, gradient = _cases("guide_objective", ["visible"])[0]["expected"]
    assert _cases("guide_objective", ["visible"])[0]["args"][0].tolist() == GUIDE_ACTIVATION
    assert _cases("guide_objective", ["visible"])[0]["args"][1].tolist() == GUIDE_FEATURES
    assert value.item() == 4.0 and gradient.tolist() == [[[[2.0, 0.0]], [[0.0, 1.0]]]]  # the tie went to g_2
    hidden = [c["expected"] for c in _cases("guide_objective", ["hidden"])]
    zero = _cases("guide_objective", ["hidden"])[2]
    assert hidden[2][0].item() == 0.0 and (hidden[2][1] == zero["args"][1][0, :, 0, 0, None, None]).all()
    assert hidden[3][0].item() < 0                                          # the best score is negative


def test_the_guide_cases_hold_a_tie():
    activation, guide = _cases("guide_objective", ["hidden"])[0]["args"]
    flat = guide[0].reshape(guide.shape[1], -1)
    assert torch.equal(flat[:, 1], flat[:, 4])


# -- the DeepDream gradient -----------------------------------------------------------------------------


def _layer_objective(stages, layer, guide=None):
    """The value as a function of the image: 1/2 sum a^2, or the guide objective with torch's max."""
    def objective(x):
        a = run_stages(stages, x, stop=layer)
        if guide is None:
            return 0.5 * (a ** 2).sum()
        scores = a[0].reshape(a.shape[1], -1).T @ guide[0].reshape(guide.shape[1], -1)
        return scores.max(dim=1).values.sum()
    return objective


def test_layer_gradient_matches_torch_func_grad_of_the_stages():
    for c in _returning("layer_gradient"):
        kind, seed, image, layer = c["args"]
        value, grad, *left = c["expected"]
        objective = _layer_objective(probe_stages(kind, seed), layer, c["kwargs"].get("guide"))
        close(value, objective(image), atol=1e-9)
        close(grad, torch.func.grad(objective)(image), atol=1e-9)
        assert left == NOTHING_LEFT


def test_layer_gradient_matches_central_differences():
    for c in _cases("layer_gradient", ["visible"]):
        kind, seed, image, layer = c["args"]
        objective = _layer_objective(probe_stages(kind, seed), layer, c["kwargs"].get("guide"))
        h = 1e-6
        steps = h * torch.eye(image.numel(), dtype=torch.float64).reshape(-1, *image.shape[1:])
        fd = torch.stack([(objective(image + s[None]) - objective(image - s[None])) / (2 * h) for s in steps])
        close(c["expected"][1], fd.reshape(image.shape), atol=1e-5)


def test_layer_gradient_on_the_paper_network_by_hand():
    relu, conv = (c["expected"] for c in _cases("layer_gradient", ["visible"])[:2])
    x = torch.tensor(PAPER_IMAGE, dtype=torch.float64)
    assert relu[0].item() == 7.0 and torch.equal(relu[1], x)             # 1/2 sum x^2, gradient x
    assert conv[0].item() == 14.0 and torch.equal(conv[1], 2 * x)        # sum x^2, gradient 2x
    gap = _cases("layer_gradient", ["hidden"])[0]["expected"]
    assert gap[0].item() == 0.625 and gap[1].tolist() == [[[[0.25, -0.125], [0.25, 0.0]]]]
    dead = _cases("layer_gradient", ["hidden"])[6]["expected"]
    assert dead[0].item() == 0.0 and (dead[1] == 0).all()
    assert _cases("layer_gradient", ["hidden"])[5]["expected"] == {"<raises>": "AttributeError"}


# -- jitter, one step -------------------------------------------------------------------------------------


def _roll_by_indices(x, dy, dx):
    """out[..., (i + dy) % H, (j + dx) % W] = x[..., i, j], element by element."""
    out = torch.empty_like(x)
    h, w = x.shape[-2:]
    for i, j in itertools.product(range(h), range(w)):
        out[..., (i + dy) % h, (j + dx) % w] = x[..., i, j]
    return out


def test_jitter_matches_index_arithmetic_and_round_trips():
    for c in _cases("jitter"):
        image, (dy, dx) = c["args"]
        sign = -1 if c["kwargs"].get("undo") else 1
        shifted, round_trip = c["expected"]
        assert torch.equal(shifted, _roll_by_indices(image, sign * dy, sign * dx))
        assert round_trip is True
    first = _cases("jitter", ["visible"])[0]["expected"][0][0, 0]
    assert first.tolist() == [[10.0, 11.0, 8.0, 9.0], [2.0, 3.0, 0.0, 1.0], [6.0, 7.0, 4.0, 5.0]]


def _clamped(x, kwargs):
    if kwargs.get("low") is None:
        return x
    return torch.maximum(torch.minimum(x, kwargs["high"].reshape(1, -1, 1, 1)), kwargs["low"].reshape(1, -1, 1, 1))


def _oracle_step(stages, image, layer, step_size, kwargs):
    dy, dx = kwargs.get("offset", (0, 0))
    shifted = _roll_by_indices(image, dy, dx)
    objective = _layer_objective(stages, layer, kwargs.get("guide"))
    value, g = objective(shifted), torch.func.grad(objective)(shifted)
    scale = g.abs().mean()
    if kwargs.get("normalize", True) and scale > 0:
        g = g / scale
    return _clamped(_roll_by_indices(shifted + step_size * g, -dy, -dx), kwargs), value


def test_dream_step_matches_the_oracle_step():
    for c in _cases("dream_step"):
        kind, seed, image, layer, step_size = c["args"]
        new, value, *left = c["expected"]
        want, want_value = _oracle_step(probe_stages(kind, seed), image, layer, step_size, c["kwargs"])
        close(new, want, atol=1e-9)
        close(value, want_value, atol=1e-9)
        assert left == NOTHING_LEFT
    by_hand = [c["expected"][0].flatten().tolist() for c in _cases("dream_step", ["visible"])[:2]]
    close(by_hand[0], [4 / 3, -8 / 3, 4.0, 0.0])                        # x * (1 + 0.5 / 1.5)
    close(by_hand[1], [4 / 3, -1.5, 3.0, 0.0])                           # clamped to [-1.5, 3]
    dead = _cases("dream_step", ["hidden"])[0]["expected"]
    assert (dead[0] == 0).all() and dead[1].item() == 0.0                # a zero gradient moves nothing


# -- octaves ----------------------------------------------------------------------------------------------


def _bilinear(image, size):
    """Bilinear resize with half-pixel centres (align_corners=False), written out in numpy."""
    x = image.numpy()
    (h, w), (oh, ow) = x.shape[-2:], size

    def taps(n_in, n_out):
        src = np.maximum((np.arange(n_out) + 0.5) * n_in / n_out - 0.5, 0.0)
        lo = np.minimum(np.floor(src).astype(int), n_in - 1)
        return lo, np.minimum(lo + 1, n_in - 1), src - lo

    r0, r1, wr = taps(h, oh)
    c0, c1, wc = taps(w, ow)
    rows = x[..., r0, :] * (1 - wr)[:, None] + x[..., r1, :] * wr[:, None]
    return torch.from_numpy(rows[..., c0] * (1 - wc) + rows[..., c1] * wc)


def test_octave_pyramid_matches_numpy_bilinear_and_python_round():
    for c in _returning("octave_pyramid"):
        image, n, scale = c["args"]
        h, w = image.shape[-2:]
        sizes = [(round(h / scale ** k), round(w / scale ** k)) for k in range(n - 1, -1, -1)]
        assert [tuple(o.shape[-2:]) for o in c["expected"]] == sizes
        for octave, size in zip(c["expected"], sizes):
            close(octave, _bilinear(image, size), atol=1e-12)
        assert torch.equal(c["expected"][-1], image)
    half = _cases("octave_pyramid", ["hidden"])[1]["expected"][0]
    assert tuple(half.shape[-2:]) == (2, 2)                              # 10 / 4 = 2.5 rounds to 2
    assert [c["expected"] for c in _cases("octave_pyramid", ["hidden"])[4:]] == [{"<raises>": "ValueError"}] * 3


# -- the multi-scale loop ---------------------------------------------------------------------------------


def _oracle_dream(stages, image, layer, step_size, kwargs):
    n, scale, steps = kwargs.get("n_octaves", 4), kwargs.get("octave_scale", 1.4), kwargs.get("steps", 10)
    max_jitter, seed = kwargs.get("max_jitter", 32), kwargs.get("seed", 0)
    generator = torch.Generator().manual_seed(seed)
    h, w = image.shape[-2:]
    octaves = [_bilinear(image, (round(h / scale ** k), round(w / scale ** k))) for k in range(n - 1, -1, -1)]
    detail, values = torch.zeros_like(octaves[0]), []
    for octave in octaves:
        detail = _bilinear(detail, tuple(octave.shape[-2:]))
        x = octave + detail
        for _ in range(steps):
            offset = torch.randint(-max_jitter, max_jitter + 1, (2,), generator=generator).tolist() \
                if max_jitter else (0, 0)
            step_kwargs = {k: kwargs[k] for k in ("low", "high", "guide", "normalize") if k in kwargs}
            x, value = _oracle_step(stages, x, layer, step_size, {**step_kwargs, "offset": offset})
            values.append(value)
        detail = x - octave
    return x, torch.stack(values).reshape(n, steps)


def test_deepdream_matches_the_oracle_loop_and_its_properties_hold():
    for c in _cases("deepdream"):
        kind, seed, image, layer, step_size = c["args"]
        dream, values, rises, inside, *left = c["expected"]
        want, want_values = _oracle_dream(probe_stages(kind, seed), image, layer, step_size, c["kwargs"])
        close(dream, want, atol=1e-8)
        close(values, want_values, atol=1e-8)
        assert values.shape == (c["kwargs"]["n_octaves"], c["kwargs"]["steps"])
        assert rises is True and inside is True and left == NOTHING_LEFT
        assert bool((want_values[:, -1] > want_values[:, 0]).all())


def test_carrying_the_detail_matters_in_the_cases():
    """A loop that restarts every octave from the plain octave gives another image on the visible case."""
    c = _cases("deepdream", ["visible"])[0]
    kind, seed, image, layer, step_size = c["args"]
    single = dict(c["kwargs"], n_octaves=1)
    last_octave_only, _ = _oracle_dream(probe_stages(kind, seed), image, layer, step_size, single)
    assert (c["expected"][0] - last_octave_only).abs().max() > 1e-3


# -- diversity --------------------------------------------------------------------------------------------


def _gram_similarity_by_loops(features):
    """Mean over pairs b < b' of the cosine of the Gram matrices, by Python loops (0 for a zero Gram)."""
    b, c = features.shape[:2]
    flat = features.reshape(b, c, -1).tolist()
    positions = len(flat[0][0])
    grams = [[sum(f[i][p] * f[j][p] for p in range(positions)) / positions for i in range(c) for j in range(c)]
             for f in flat]
    total = 0.0
    for i, j in itertools.combinations(range(b), 2):
        norms = math.sqrt(sum(v * v for v in grams[i])) * math.sqrt(sum(v * v for v in grams[j]))
        total += sum(x * y for x, y in zip(grams[i], grams[j])) / norms if norms > 0 else 0.0
    return total / math.comb(b, 2)


def test_gram_diversity_matches_loops_and_central_differences():
    for c in _returning("gram_diversity"):
        (features,) = c["args"]
        value, gradient = c["expected"]
        close(value, _gram_similarity_by_loops(features), atol=1e-12)
        scale = features.abs().max().item()
        h = 1e-6 * scale
        alive = [b for b in range(len(features)) if features[b].abs().max() > 0]  # 0 by convention at a zero image
        indices = [i for i in itertools.product(alive, *map(range, features.shape[1:]))]
        for index in indices[::max(1, len(indices) // 60)]:                # at most about 60 entries per case
            up, down = features.clone(), features.clone()
            up[index] += h
            down[index] -= h
            fd = (_gram_similarity_by_loops(up) - _gram_similarity_by_loops(down)) / (2 * h)
            assert abs(gradient[index].item() - fd) <= 1e-6 / scale + 1e-5 * abs(fd), (index, gradient[index].item(), fd)
    example = _cases("gram_diversity", ["visible"])[0]
    assert example["args"][0].tolist() == GRAM_EXAMPLE and example["expected"][0].item() == 0.5
    identical, zero = (c["expected"] for c in _cases("gram_diversity", ["hidden"])[:2])
    close(identical[0], 1.0)
    assert identical[1].abs().max() < 1e-12                              # the cosine is at its maximum
    assert (zero[1][1] == 0).all()                                       # the zero image adds nothing


def _oracle_diverse(stages, image, layer, channel, n_images, steps, step_size, weight, kwargs):
    generator = torch.Generator().manual_seed(kwargs.get("seed", 0))
    noise = torch.randn((n_images, *image.shape[1:]), generator=generator, dtype=image.dtype)
    x = image.repeat(n_images, 1, 1, 1) + 0.1 * noise

    def objective(x):
        a = run_stages(stages, x, stop=layer)
        flat = a.flatten(2)
        grams = (flat @ flat.transpose(1, 2) / flat.shape[-1]).flatten(1)
        norms = grams.norm(dim=1)
        cosines = [grams[i] @ grams[j] / (norms[i] * norms[j]) for i, j in itertools.combinations(range(len(a)), 2)]
        return a[:, channel].mean(dim=(1, 2)).sum() - weight * torch.stack(cosines).mean()

    values = []
    for _ in range(steps):
        values.append(objective(x))
        g = torch.func.grad(objective)(x)
        x = _clamped(x + step_size * g / g.abs().mean(), kwargs)
    return x, torch.stack(values)


def test_diverse_dreams_match_the_oracle_loop_and_push_the_images_apart():
    for c in _cases("diverse_dreams"):
        kind, seed, image, layer, channel, n_images, steps, step_size, weight = c["args"]
        dreams, values, similarity, fell, rose, *left = c["expected"]
        want, want_values = _oracle_diverse(probe_stages(kind, seed), image, layer, channel, n_images, steps,
                                            step_size, weight, c["kwargs"])
        close(dreams, want, atol=1e-8)
        close(values, want_values, atol=1e-8)
        a = run_stages(probe_stages(kind, seed), dreams, stop=layer)
        close(similarity, _gram_similarity_by_loops(a), atol=1e-9)
        assert fell is True and rose is True and left == NOTHING_LEFT
