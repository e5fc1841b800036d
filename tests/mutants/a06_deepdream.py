"""Mutants and alternative answers of assignment 06 (beyond the ``partial`` sample's bugs).

Four exercises build on others (layer_gradient on guide_objective, dream_step on jitter and layer_gradient,
deepdream on octave_pyramid and dream_step, diverse_dreams on gram_diversity); their checks replay the
reference's answers to those calls, so a mutant in any exercise costs that exercise alone.
"""

from autograder.assignments import Bug

from . import Alternative

MUTANTS = [
    # ties: the last maximum wins (the worked example has a tie)
    Bug("guide_objective", "best = scores.argmax(dim=1)",
        "best = scores.shape[1] - 1 - scores.flip(1).argmax(dim=1)",
        "gives a tie to the last guide position"),
    # boundary: negative best scores clipped at 0 (only the hidden all-negative case sees it)
    Bug("guide_objective", "value = scores.gather(1, best[:, None]).sum()",
        "value = scores.gather(1, best[:, None]).clamp(min=0).sum()",
        "does not let a best score be negative"),
    # side effect: .backward() fills every parameter's .grad (the values are right)
    Bug("layer_gradient", "(grad,) = torch.autograd.grad(activation, x, grad_outputs=at_layer)",
        "activation.backward(at_layer)\n    grad = x.grad",
        "backpropagates with .backward(), which leaves .grad on the model's parameters"),
    # normalisation: a mean instead of a sum, consistently in the value and the gradient
    Bug("layer_gradient", "        value = 0.5 * (activation ** 2).sum()\n        at_layer = activation.detach()",
        "        value = 0.5 * (activation ** 2).mean()\n        at_layer = activation.detach() / activation.numel()",
        "maximises the mean of the squares instead of their sum"),
    # side effect: switches the model to eval mode (only the hidden train-mode case sees it)
    Bug("layer_gradient", "    x = image.detach().clone().requires_grad_(True)",
        "    model.eval()\n    x = image.detach().clone().requires_grad_(True)",
        "puts the model in eval mode and leaves it there"),
    # another order: dy moves the columns and dx the rows
    Bug("jitter", "return torch.roll(image, shifts=(dy, dx), dims=(-2, -1))",
        "return torch.roll(image, shifts=(dy, dx), dims=(-1, -2))",
        "shifts rows by dx and columns by dy"),
    # promised copy: hands back the image itself for the offset (0, 0)
    Bug("jitter", "    dy, dx = offset\n", "    dy, dx = offset\n    if dy == 0 and dx == 0:\n        return image\n",
        "returns the input itself when there is nothing to shift"),
    # boundary: no guard against a zero gradient (NaN on a dead layer)
    Bug("dream_step", "if normalize and scale > 0:", "if normalize:",
        "divides by mean |g| even when the gradient is all zero"),
    # clipping to one range for all channels
    Bug("dream_step", "moved = moved.clamp(low.reshape(1, -1, 1, 1), high.reshape(1, -1, 1, 1))",
        "moved = moved.clamp(low.min().item(), high.max().item())",
        "clips every channel to the widest range instead of its own"),
    # rounding: int() floors 8.9 to 8 (only a hidden case has such a size)
    Bug("octave_pyramid", "size = (round(height / octave_scale ** k), round(width / octave_scale ** k))",
        "size = (int(height / octave_scale ** k), int(width / octave_scale ** k))",
        "truncates the octave sizes instead of rounding them"),
    Bug("octave_pyramid", 'octaves.append(F.interpolate(image, size=size, mode="bilinear", align_corners=False))',
        'octaves.append(F.interpolate(image, size=size, mode="bilinear", align_corners=True))',
        "resamples with align_corners=True"),
    # off by one: randint's upper end is exclusive, so +max_jitter is never drawn and the sequence differs
    Bug("deepdream", "torch.randint(-max_jitter, max_jitter + 1, (2,), generator=generator).tolist()",
        "torch.randint(-max_jitter, max_jitter, (2,), generator=generator).tolist()",
        "draws offsets from -max_jitter .. max_jitter - 1"),
    Bug("deepdream", 'detail = F.interpolate(detail, size=octave.shape[-2:], mode="bilinear", align_corners=False)',
        'detail = F.interpolate(detail, size=octave.shape[-2:], mode="nearest")',
        "carries the detail up with nearest-neighbour resizing"),
    # boundary: no guard for an all-zero Gram matrix (NaN)
    Bug("gram_diversity", "cosines = torch.where(products > 0, grams @ grams.T / safe, torch.zeros_like(products))",
        "cosines = grams @ grams.T / products",
        "divides by the norms even when an image's features are all zero"),
    # type slip: the value as a Python float
    Bug("gram_diversity", "return value.detach(), gradient", "return value.item(), gradient",
        "returns the value as a Python float instead of a tensor"),
    # pairs: the mean over all B x B pairs, each image with itself included
    Bug("gram_diversity", "value = cosines[rows, cols].mean()", "value = cosines.mean()",
        "averages over all pairs, each image with itself included, so the value never reaches 0"),
    # sign: the diversity term pulls the images together
    Bug("diverse_dreams", "at_layer = -weight * similarity_grad", "at_layer = weight * similarity_grad",
        "adds the diversity gradient instead of subtracting it"),
]

ALTERNATIVES = [
    Alternative("guide_objective", '''def guide_objective(activation, guide):
    """torch.max over the guide positions (first index on ties), einsum for the dot products."""
    c = activation.shape[1]
    a = activation.detach().reshape(c, -1)
    g = guide.detach().reshape(c, -1)
    best_scores, best = torch.max(torch.einsum("ci,cj->ij", a, g), dim=1)
    return best_scores.sum(), g.index_select(1, best).reshape(activation.shape)''',
        "torch.max and einsum"),
    Alternative("layer_gradient", '''def layer_gradient(model, image, layer, guide=None):
    """The whole model runs (capture keeps the layer's output); autograd of 1/2 sum a^2 itself."""
    from course_utils.models import capture
    x = image.detach().clone().requires_grad_(True)
    with capture(model, layer) as cap:
        model(x)
    a = cap.activation
    if guide is None:
        value = 0.5 * (a ** 2).sum()
        (grad,) = torch.autograd.grad(value, x)
        return value.detach(), grad
    value, at_layer = guide_objective(a.detach(), guide)
    (grad,) = torch.autograd.grad((a * at_layer).sum(), x)
    return value, grad''', "a full forward pass with capture, and autograd of the objective"),
    Alternative("jitter", '''def jitter(image, offset, undo=False):
    """Slicing and concatenation instead of torch.roll."""
    h, w = image.shape[-2:]
    dy, dx = offset
    if undo:
        dy, dx = -dy, -dx
    dy, dx = dy % h, dx % w
    rows = torch.cat([image[..., h - dy:, :], image[..., :h - dy, :]], dim=-2)
    return torch.cat([rows[..., w - dx:], rows[..., :w - dx]], dim=-1)''', "slices and torch.cat"),
    Alternative("dream_step", '''def dream_step(model, image, layer, step_size, offset=(0, 0), low=None, high=None, guide=None,
               normalize=True):
    """Clamps channel by channel; the un-jitter is a roll by the negated offset."""
    dy, dx = offset
    x = jitter(image, (dy, dx))
    value, g = layer_gradient(model, x, layer, guide)
    mean = g.abs().mean()
    step = step_size * g / mean if normalize and mean != 0 else step_size * g
    out = jitter(x + step, (dy, dx), undo=True)
    if low is not None:
        out = torch.stack([out[:, c].clamp(low[c].item(), high[c].item()) for c in range(out.shape[1])], dim=1)
    return out, value''', "per-channel clamps"),
    Alternative("octave_pyramid", '''def octave_pyramid(image, n_octaves, octave_scale):
    """Largest first, then reversed; the checks come first."""
    if n_octaves < 1 or octave_scale <= 1:
        raise ValueError("need n_octaves >= 1 and octave_scale > 1")
    h, w = image.shape[-2:]
    sizes = [(round(h / octave_scale ** k), round(w / octave_scale ** k)) for k in range(n_octaves)]
    if min(sizes[-1]) < 1:
        raise ValueError(f"the smallest octave would be {sizes[-1]}")
    return [F.interpolate(image, size=s, mode="bilinear", align_corners=False) for s in sizes][::-1]''',
        "a list comprehension, reversed"),
    Alternative("deepdream", '''def deepdream(model, image, layer, step_size, n_octaves=4, octave_scale=1.4, steps=10, max_jitter=32,
              low=None, high=None, guide=None, normalize=True, seed=0):
    """Carries the dream up and subtracts the previous octave's upsampled base: the same detail."""
    generator = torch.Generator().manual_seed(seed)
    values, dream, previous = [], None, None
    for octave in octave_pyramid(image, n_octaves, octave_scale):
        if dream is None:
            dream = octave + torch.zeros_like(octave)
        else:
            detail = F.interpolate(dream - previous, size=octave.shape[-2:], mode="bilinear", align_corners=False)
            dream = octave + detail
        for _ in range(steps):
            offset = (0, 0)
            if max_jitter:
                offset = tuple(int(v) for v in torch.randint(-max_jitter, max_jitter + 1, (2,), generator=generator))
            dream, value = dream_step(model, dream, layer, step_size, offset, low=low, high=high, guide=guide,
                                      normalize=normalize)
            values.append(value)
        previous = octave
    return dream, torch.stack(values).view(n_octaves, steps)''', "the detail computed at the next octave"),
    Alternative("gram_diversity", '''def gram_diversity(features):
    """Loops over pairs with F.cosine_similarity, skipping zero Gram matrices."""
    b = features.shape[0]
    if b < 2:
        raise ValueError("need two images")
    f = features.detach().clone().requires_grad_(True)
    flat = f.flatten(2)
    grams = torch.bmm(flat, flat.transpose(1, 2)).flatten(1) / flat.shape[-1]
    total = torch.zeros((), dtype=features.dtype)
    for i in range(b):
        for j in range(i + 1, b):
            if grams[i].norm() > 0 and grams[j].norm() > 0:
                total = total + F.cosine_similarity(grams[i], grams[j], dim=0, eps=0.0)
    value = total / (b * (b - 1) / 2)
    (gradient,) = torch.autograd.grad(value, f, allow_unused=True)
    return value.detach(), torch.zeros_like(features) if gradient is None else gradient''',
        "pairs in loops with F.cosine_similarity"),
    Alternative("diverse_dreams", '''def diverse_dreams(model, image, layer, channel, n_images, steps, step_size, weight, low=None, high=None,
                   seed=0):
    """Backpropagates a surrogate sum(a * layer_gradient), whose gradient is the same vector-Jacobian product."""
    noise = torch.randn((n_images,) + tuple(image.shape[1:]), generator=torch.Generator().manual_seed(seed),
                        dtype=image.dtype)
    x = image.detach().expand(n_images, -1, -1, -1) + 0.1 * noise.to(image.device)
    values = []
    for _ in range(steps):
        x = x.detach().requires_grad_(True)
        a = forward_to(model, layer, x)
        d, d_grad = gram_diversity(a.detach())
        channel_grad = torch.zeros_like(a)
        channel_grad[:, channel] = 1.0 / (a.shape[2] * a.shape[3])
        (g,) = torch.autograd.grad((a * (channel_grad - weight * d_grad)).sum(), x)
        values.append(a.detach()[:, channel].mean(dim=(1, 2)).sum() - weight * d)
        x = x.detach() + step_size * g / g.abs().mean()
        if low is not None:
            x = torch.maximum(torch.minimum(x, high.view(1, -1, 1, 1)), low.view(1, -1, 1, 1))
    return x.detach(), torch.stack(values)''', "a surrogate loss instead of grad_outputs"),
]
