"""Assignment 07's reference outputs (made from the instructor's solution) against independent oracles.

Gram matrices by a loop over positions that adds outer products; the content, style and TV losses as plain
scalar formulas (the style loss in the notes' own form, with summed Gram matrices and 1 / (4 N^2 M^2)),
differentiated with torch.func.grad and, for TV, a loop over pixels; the softmax transformation and instance
normalisation written out in numpy; the extractor's features from the probe network re-run stage by stage with
functional ops (reference_files.probe_stages); and the optimisation loop re-run from those oracles with Adam
written out by hand (Kingma and Ba's update with bias correction). The worked examples of the notebook are
checked by hand: the Gram matrix [[10, 2], [2, 4]] and [[5, 1], [1, 2]], the content loss 4.5, the style loss
1/16, the TV 26, the softmax (1, 1) and (1.5, 0.5), the instance norm [-1, 1].
"""

import functools

import numpy as np
import torch

from autograder.assignments.a07_style_transfer import GRAM_EXAMPLE
from reference_files import (NOTHING_LEFT, close, probe_stages, reference_cases, check_references_cover_the_spec,
                             returning_cases, run_stages)

A = "07_style_transfer"
_cases = functools.partial(reference_cases, A)          # (name, which=("visible", "hidden")) -> cases
_returning = functools.partial(returning_cases, A)      # the same, without the cases that must raise


def test_references_are_float64_and_cover_every_graded_case():
    check_references_cover_the_spec(A)


# -- the losses -------------------------------------------------------------------------------------------


def _gram_by_loops(features, normalize=True):
    """Sum (or mean) over positions of the outer product of each position's feature vector with itself."""
    n, c, h, w = features.shape
    out = torch.zeros(n, c, c, dtype=torch.float64)
    for b in range(n):
        for y in range(h):
            for x in range(w):
                v = features[b, :, y, x]
                out[b] += torch.outer(v, v)
    return out / (h * w) if normalize else out


def test_gram_matrix_adds_outer_products_and_matches_the_worked_example():
    for c in _returning("gram_matrix"):
        close(c["expected"], _gram_by_loops(*c["args"], **c["kwargs"]), atol=1e-9)
    mean, total = (c["expected"][0].tolist() for c in _cases("gram_matrix", ["visible"])[:2])
    assert _cases("gram_matrix", ["visible"])[0]["args"][0].tolist() == GRAM_EXAMPLE
    assert total == [[10.0, 2.0], [2.0, 4.0]] and mean == [[5.0, 1.0], [1.0, 2.0]]


def test_content_loss_is_half_the_sum_of_squares_and_its_gradient():
    for c in _returning("content_loss"):
        features, target = c["args"]
        value, gradient = c["expected"]
        loss = lambda f: 0.5 * ((f - target) ** 2).sum()  # noqa: E731
        close(value, loss(features))
        close(gradient, torch.func.grad(loss)(features))
    assert _cases("content_loss", ["visible"])[0]["expected"][0].item() == 4.5
    same = _cases("content_loss", ["hidden"])[0]["expected"]
    assert same[0].item() == 0.0 and not same[1].any()


def _notes_style_loss(features, grams, weights):
    """sum_l w_l E_l with the notes' E_l = sum (G - G_hat)^2 / (4 N^2 M^2) on summed Gram matrices."""
    total = 0.0
    for f, g, w in zip(features, grams, weights):
        n, c, h, wd = f.shape
        m = h * wd
        summed = torch.einsum("nchw,ndhw->ncd", f, f)
        total = total + w * ((summed - m * g) ** 2).sum() / (4 * c ** 2 * m ** 2)
    return total


def test_style_loss_is_the_notes_loss_on_summed_grams_with_its_gradient():
    for c in _returning("style_loss"):
        features, grams, weights = c["args"]
        value, gradients = c["expected"]
        close(value, _notes_style_loss(features, grams, weights), atol=1e-9)
        want = torch.func.grad(lambda fs: _notes_style_loss(fs, grams, weights))(features)
        assert len(gradients) == len(want)
        for got, expected in zip(gradients, want):
            close(got, expected, atol=1e-9)
    assert _cases("style_loss", ["visible"])[0]["expected"][0].item() == 1 / 16
    matching = _cases("style_loss", ["hidden"])[2]["expected"]
    assert matching[0].item() == 0.0 and not matching[1][0].any()


def _tv_by_loops(x):
    n, c, h, w = x.shape
    total = 0.0
    for b in range(n):
        for k in range(c):
            for i in range(h):
                for j in range(w):
                    if i + 1 < h:
                        total += (x[b, k, i + 1, j] - x[b, k, i, j]) ** 2
                    if j + 1 < w:
                        total += (x[b, k, i, j + 1] - x[b, k, i, j]) ** 2
    return total


def test_tv_loss_matches_loops_and_central_differences():
    for c in _returning("tv_loss"):
        (image,) = c["args"]
        value, gradient = c["expected"]
        close(value, _tv_by_loops(image), atol=1e-7)
        if image.numel() <= 120:
            step = 1e-5
            numeric = torch.zeros_like(image)
            for index in np.ndindex(*image.shape):
                plus, minus = image.clone(), image.clone()
                plus[index] += step
                minus[index] -= step
                numeric[index] = (_tv_by_loops(plus) - _tv_by_loops(minus)) / (2 * step)
            torch.testing.assert_close(gradient, numeric, rtol=1e-6, atol=1e-6)
    assert _cases("tv_loss", ["visible"])[0]["expected"][0].item() == 26.0
    assert all(_cases("tv_loss", ["hidden"])[k]["expected"][0].item() == 0.0 for k in (0, 2))


# -- features, softmax, instance norm -----------------------------------------------------------------------


def _stage_features(stages, image, layers):
    return [run_stages(stages, image, stop=layer) for layer in layers]


def test_extract_features_match_the_stages_and_their_gradient():
    for c in _returning("extract_features"):
        kind, seed, image, layers = c["args"]
        features, gradient, *left = c["expected"]
        stages = probe_stages(kind, seed)
        want = _stage_features(stages, image, layers)
        assert len(features) == len(want)
        for layer, got, expected in zip(layers, features, want):
            if layer == "gap":  # AdaptiveAvgPool2d keeps two unit dimensions that the stage's mean drops
                got = got.flatten(1)
            close(got, expected, atol=1e-12)
        total = lambda x: sum((f ** 2).sum() for f in _stage_features(stages, x, layers))  # noqa: E731
        close(gradient, torch.func.grad(total)(image) if layers else torch.zeros_like(image), atol=1e-9)
        assert left == NOTHING_LEFT[:4]


def test_softmax_features_written_out_in_numpy():
    for c in _returning("softmax_features"):
        features, temperature = c["args"]
        z = features.numpy() / temperature
        e = np.exp(z - z.max(axis=1, keepdims=True))
        close(c["expected"], features.shape[1] * e / e.sum(axis=1, keepdims=True), atol=1e-12)
        assert torch.isfinite(c["expected"]).all()
        close(c["expected"].mean(dim=1), torch.ones(features.shape[0], *features.shape[2:]))
    worked = _cases("softmax_features", ["visible"])[0]["expected"]  # channels first: (1, 1.5) and (1, 0.5)
    close(worked.flatten(), [1.0, 1.5, 1.0, 0.5], atol=1e-15)


def test_instance_norm_by_loops_over_images_and_channels():
    for c in _returning("instance_norm"):
        (x,) = c["args"]
        eps = c["kwargs"].get("eps", 1e-5)
        want = np.zeros(x.shape)
        for b in range(x.shape[0]):
            for k in range(x.shape[1]):
                values = x[b, k].numpy()
                want[b, k] = (values - values.mean()) / np.sqrt(((values - values.mean()) ** 2).mean() + eps)
        close(c["expected"], want, atol=1e-9)
    assert _cases("instance_norm", ["visible"])[0]["expected"].flatten().tolist() == [-1.0, 1.0, -1.0, 1.0]


# -- the loop -----------------------------------------------------------------------------------------------


def _adam_loop(kind, seed, content, style, content_layer, style_layers, content_weight, style_weights,
               tv_weight, steps, lr, low=None, high=None, init=None, temperature=None):
    """The optimisation loop from the oracles: a scalar total differentiated by torch.func.grad, Adam by hand."""
    stages = probe_stages(kind, seed)
    layers = ([content_layer] if content_layer else []) + list(style_layers)

    def features(x):
        found = [run_stages(stages, x, stop=layer) for layer in layers]
        if temperature is not None:
            found = [f.shape[1] * torch.softmax(f / temperature, dim=1) for f in found]
        return found

    first = 1 if content_layer else 0
    target = features(content)[0] if content_layer else None
    grams = [torch.einsum("nchw,ndhw->ncd", f, f) / (f.shape[2] * f.shape[3]) for f in features(style)[first:]]

    def terms(x):
        found = features(x)
        c = content_weight * 0.5 * ((found[0] - target) ** 2).sum() if content_layer else torch.zeros(())
        s = _notes_style_loss(found[first:], grams, style_weights) if style_layers else torch.zeros(())
        tv = tv_weight * (((x[..., 1:, :] - x[..., :-1, :]) ** 2).sum() + ((x[..., :, 1:] - x[..., :, :-1]) ** 2).sum())
        return torch.stack([torch.as_tensor(c, dtype=x.dtype), torch.as_tensor(s, dtype=x.dtype), tv])

    x = (content if init is None else init).clone()
    m, v = torch.zeros_like(x), torch.zeros_like(x)
    history = []
    for t in range(1, steps + 1):
        history.append(terms(x))
        g = torch.func.grad(lambda y: terms(y).sum())(x)
        m = 0.9 * m + 0.1 * g
        v = 0.999 * v + 0.001 * g * g
        x = x - lr * (m / (1 - 0.9 ** t)) / ((v / (1 - 0.999 ** t)).sqrt() + 1e-8)
        if low is not None:
            x = torch.maximum(torch.minimum(x, high.reshape(1, -1, 1, 1)), low.reshape(1, -1, 1, 1))
    return x, torch.stack(history)


def test_style_transfer_is_adam_on_the_oracle_losses():
    for c in _cases("style_transfer"):
        kind, seed, content, style, content_layer, style_layers = c["args"]
        settings = {k: v for k, v in c["kwargs"].items() if k != "train"}
        image, losses, inside, *left = c["expected"]
        want_image, want_losses = _adam_loop(kind, seed, content, style, content_layer, style_layers, **settings)
        torch.testing.assert_close(losses, want_losses, rtol=1e-7, atol=1e-10)
        torch.testing.assert_close(image, want_image, rtol=1e-7, atol=1e-10)
        assert inside is True and left == NOTHING_LEFT
        assert losses.shape == (settings["steps"], 3)


def test_the_loop_cases_switch_terms_off_and_the_losses_fall():
    cases = _cases("style_transfer")
    inversion, texture = cases[2]["expected"][1], cases[3]["expected"][1]
    assert not inversion[:, 1].any() and inversion[:, 0].any()        # no style term
    assert not texture[:, 0].any() and texture[:, 1].any()            # no content term
    for c in cases:
        losses = c["expected"][1]
        assert losses[-1].sum() < losses[0].sum() or not losses[0, :2].any(), c["kwargs"]
