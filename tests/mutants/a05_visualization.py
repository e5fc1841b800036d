"""Mutants and alternative answers of assignment 05 (beyond the ``partial`` sample's bugs).

``modified_backprop`` builds on ``relu_backward`` and ``visualize`` on ``ascent_step``, ``gaussian_blur``
and ``clip_small``: their calls get the reference's answers (course_utils.replay), so the mutants of those
four cost only their own exercise. ``ascent_step`` calls ``objective`` without a replay (the objective's
value must carry the autograd graph back to the image, which a replayed tensor cannot), so no mutant of
``objective`` that ``ascent_step``'s cases would see is kept here: it costs ``ascent_step`` too (one that
leaves a hook does).

The side-effect mutants (a hook left on the model, ``.grad`` on its parameters, the model left in train
mode, hooks kept after an error, forward passes with autograd on) are caught by the probe fields of the
test cells (the notebook's locked cell ``side_effects``).
"""

from autograder.assignments import Bug

from . import Alternative

MUTANTS = [
    # side effect: .backward() fills the .grad of every parameter (the values are right)
    Bug("saliency_map", "    (grad,) = torch.autograd.grad(score, x)\n",
        "    score.backward()\n    grad = x.grad\n",
        "calls .backward(), which leaves a .grad on every parameter of the model"),
    # side effect: a hook left registered on the model (the values are right)
    Bug("grad_cam", "    with capture(model, layer) as cap:\n"
                    "        score = model(image.detach()[None])[0, label]\n"
                    "        (grad,) = torch.autograd.grad(score, cap.activation)\n"
                    "    alpha = grad[0].mean(dim=(1, 2))\n"
                    "    return torch.relu(torch.einsum(\"k,khw->hw\", alpha, cap.activation[0].detach()))",
        "    kept = {}\n"
        "    model.get_submodule(layer).register_forward_hook(lambda module, args, out: kept.update(a=out))\n"
        "    score = model(image.detach()[None])[0, label]\n"
        "    (grad,) = torch.autograd.grad(score, kept[\"a\"])\n"
        "    alpha = grad[0].mean(dim=(1, 2))\n"
        "    return torch.relu(torch.einsum(\"k,khw->hw\", alpha, kept[\"a\"][0].detach()))",
        "registers its own forward hook and never removes it"),
    # side effect: the model left in train mode (the values are right: the probe networks have no dropout)
    Bug("modified_backprop", "        x = image.detach().clone().requires_grad_(True)\n",
        "        model.train()  # 'gradients need training mode'\n"
        "        x = image.detach().clone().requires_grad_(True)\n",
        "switches the model to train mode to take gradients and leaves it there"),
    # side effect after an error: hooks are removed only when nothing fails
    Bug("modified_backprop", "    finally:\n        for handle in handles:\n            handle.remove()\n",
        "    except KeyError:\n        raise\n    for handle in handles:\n        handle.remove()\n",
        "removes its hooks after the backward pass, not in a finally: a failing forward pass leaves them"),
    # side effect: forward passes with autograd on (the map is right once detached)
    Bug("occlusion_map", "    with torch.no_grad():\n        reference = class_score(image[None])[0]\n",
        "    if True:  # no torch.no_grad\n        reference = class_score(image[None])[0].detach()\n",
        "forgets torch.no_grad, so every forward pass builds an autograd graph"),
    # boundary: the number of positions rounded up, so a square hangs over the edge when stride does not divide
    Bug("occlusion_map", "rows, cols = (height - patch) // stride + 1, (width - patch) // stride + 1",
        "rows, cols = -(-(height - patch) // stride) + 1, -(-(width - patch) // stride) + 1",
        "rounds the number of positions up instead of down"),
    # ignores batch_size: every occluded image in one batch (only the hidden cases with more positions see it)
    Bug("occlusion_map", "    drops = []\n", "    batch_size = len(corners)  # all at once\n    drops = []\n",
        "sends every occluded image through the model at once, whatever batch_size says"),
    # side effect on the input: it is made to require grad instead of a copy
    Bug("saliency_map", "    x = image.detach().clone().requires_grad_(True)\n",
        "    x = image.requires_grad_(True)\n",
        "differentiates with respect to the input itself, which is left requiring grad"),
    # boundary: an input of exactly 0 counts as active (in an exercise that another builds on)
    Bug("relu_backward", "        return grad_output.clamp(min=0) * (x > 0)",
        "        return grad_output.clamp(min=0) * (x >= 0)",
        "lets the gradient through where the forward input is exactly 0 (guided)"),
    # a required error: an unknown rule falls back to backprop (in an exercise that another builds on)
    Bug("relu_backward", "    raise ValueError(f\"rule must be 'backprop', 'deconvnet' or 'guided', not {rule!r}\")",
        "    return grad_output * (x > 0)  # anything else: plain backprop",
        "treats an unknown rule as backprop instead of raising ValueError"),
    # a required error: every mode other than 'minmax' is taken as 'symmetric'
    Bug("tone_map_filters", 'if mode == "symmetric":', "else:",
        "takes any mode other than 'minmax' as 'symmetric' instead of raising ValueError"),
    # dtype slip: the result in float64 whatever the filters' dtype (right values)
    Bug("tone_map_filters", "    dims = tuple(range(1, weights.ndim)) if per_filter else tuple(range(weights.ndim))\n",
        "    weights = weights.double()\n"
        "    dims = tuple(range(1, weights.ndim)) if per_filter else tuple(range(weights.ndim))\n",
        "computes in float64 whatever the filters' dtype"),
    # dtype slip: the positions as floats
    Bug("top_k_activations", "return values[:, :k], images, position // w, position % w",
        "return values[:, :k], images, (position / w).floor(), position % w",
        "divides with / and floors, so the rows come back as floats"),
    # ties between images: the higher index first
    Bug("top_k_activations", "values, order = torch.sort(best.T, dim=1, descending=True, stable=True)",
        "values, order = torch.sort(best.T.flip(1), dim=1, descending=True, stable=True)\n"
        "    order = n - 1 - order",
        "sorts the images from the last one, so ties put the higher image index first"),
    # closed instead of half-open box
    Bug("receptive_box", "return max(y0, 0), max(x0, 0), min(y1 + 1, height), min(x1 + 1, width)",
        "return max(y0, 0), max(x0, 0), min(y1, height), min(x1, width)",
        "returns the last row and column inside the box, not one past them"),
    Bug("pca_2d", "ratio = eigenvalues[[-1, -2]] / eigenvalues.sum()",
        "ratio = eigenvalues[[-1, -2]] / eigenvalues[[-1, -2]].sum()",
        "divides by the two components' variance instead of the total"),
    Bug("nearest_neighbours", "distances = torch.cdist(queries, database)",
        "distances = torch.cdist(queries, database) ** 2",
        "returns squared distances"),
    Bug("class_activation_map", 'return torch.einsum("k,khw->hw", fc_weight[label], features)',
        'return torch.relu(torch.einsum("k,khw->hw", fc_weight[label], features))',
        "rectifies the CAM like Grad-CAM"),
    # row and column swapped for a unit target (ascent_step's unit targets lie on the diagonal, so only
    # objective's own cases see it; a mutant that ascent_step would see costs it too, see above)
    Bug("objective", "return unit_map[position[0], position[1]] if position else unit_map.mean()",
        "return unit_map[position[1], position[0]] if position else unit_map.mean()",
        "reads a unit target as (layer, channel, col, row)"),
    # boundary: a zero gradient divided by its zero mean (in an exercise that another builds on)
    Bug("ascent_step", "    step = grad / scale if scale > 0 else grad\n", "    step = grad / scale\n",
        "divides by the mean |gradient| even when it is 0, which gives NaN"),
    # changed its input: the step is taken in place on the image (in an exercise that another builds on)
    Bug("ascent_step", "    return (x + lr * step).detach(), grad",
        "    return image.add_(lr * step), grad",
        "adds the step to the image in place"),
    # wrong padding (in an exercise that another builds on)
    Bug("gaussian_blur", 'padded = F.pad(image, (radius, radius, radius, radius), mode="reflect")',
        'padded = F.pad(image, (radius, radius, radius, radius), mode="replicate")',
        "pads by repeating the border pixel instead of reflecting"),
    # a copy promised: the image itself when nothing is clipped (in an exercise that another builds on)
    Bug("clip_small", "    norms = image.norm(dim=1, keepdim=True)\n",
        "    if pixel_percentile == 0 and contribution_percentile == 0:\n"
        "        return image\n"
        "    norms = image.norm(dim=1, keepdim=True)\n",
        "returns the input itself when both percentiles are 0"),
    # changed its input: zeroes the small pixels in place (in an exercise that another builds on)
    Bug("clip_small", "    return image * keep", "    return image.mul_(keep)",
        "zeroes the small pixels of the input in place"),
    # dtype slip: the image handed back in float32
    Bug("visualize", "    return image", "    return image.float()",
        "returns the image in float32, not in the model's dtype"),
]

ALTERNATIVES = [
    Alternative("occlusion_map", '''def occlusion_map(model, image, label, patch, stride, baseline=0.0, score="prob", batch_size=64):
    """One occluded image at a time under inference_mode; per-channel fill broadcast by hand."""
    if score not in ("prob", "logit"):
        raise ValueError(score)
    C, H, W = image.shape
    fill = torch.as_tensor(baseline, dtype=image.dtype, device=image.device).expand(C).reshape(C, 1, 1)

    def class_score(x):
        out = model(x[None])[0]
        return out[label] if score == "logit" else torch.softmax(out, dim=0)[label]

    with torch.inference_mode():
        reference = class_score(image)
        rows = []
        for y in range(0, H - patch + 1, stride):
            row = []
            for x in range(0, W - patch + 1, stride):
                occluded = image.clone()
                occluded[:, y:y + patch, x:x + patch] = fill
                row.append(reference - class_score(occluded))
            rows.append(torch.stack(row))
    return torch.stack(rows).clone()''', "one image per forward pass, inference_mode, corners from range()"),
    Alternative("saliency_map", '''def saliency_map(model, image, label):
    """torch.func.grad of the class score (no .grad anywhere)."""
    score = lambda x: model(x[None])[0, label]
    return torch.func.grad(score)(image.detach().clone()).abs().max(dim=0).values.detach()''',
        "torch.func.grad (whose result hangs on the parameters' graph until detached)"),
    Alternative("modified_backprop", '''import contextlib


def modified_backprop(model, image, label, rule="guided"):
    """Forward hooks remember each ReLU's output (positive exactly where its input is); an ExitStack
    removes every hook."""
    seen = {}

    def remember(module, args, output):
        seen[module] = output.detach()

    def replace(module, grad_input, grad_output):
        return (relu_backward(seen[module], grad_output[0], rule),)

    with contextlib.ExitStack() as stack:
        for module in model.modules():
            if isinstance(module, nn.ReLU):
                stack.callback(module.register_forward_hook(remember).remove)
                stack.callback(module.register_full_backward_hook(replace).remove)
        x = image.clone().detach().requires_grad_()
        (grad,) = torch.autograd.grad(model(x.unsqueeze(0))[0, label], [x])
    return grad.detach()''', "the ReLU's output instead of its input, hooks removed by an ExitStack"),
    Alternative("grad_cam", '''def grad_cam(model, layer, image, label):
    """A forward hook of its own (removed in finally) and the weighted sum by broadcasting."""
    kept = {}
    handle = model.get_submodule(layer).register_forward_hook(lambda m, i, o: kept.update(a=o))
    try:
        score = model(image.detach().unsqueeze(0))[0, label]
        (grad,) = torch.autograd.grad(score, kept["a"])
    finally:
        handle.remove()
    a = kept["a"][0].detach()
    h, w = a.shape[-2:]
    alpha = grad[0].sum(dim=(1, 2)) / (h * w)
    return (alpha[:, None, None] * a).sum(dim=0).clamp(min=0)''', "own hook, sum / (h w), broadcasting"),
    Alternative("relu_backward", '''def relu_backward(x, grad_output, rule):
    """torch.where instead of products with masks."""
    zero = torch.zeros_like(grad_output)
    if rule == "backprop":
        return torch.where(x > 0, grad_output, zero)
    if rule == "deconvnet":
        return torch.where(grad_output > 0, grad_output, zero)
    if rule == "guided":
        return torch.where((x > 0) & (grad_output > 0), grad_output, zero)
    raise ValueError(rule)''', "torch.where"),
    Alternative("top_k_activations", '''def top_k_activations(activations, k):
    """Loops over channels; the image order from a stable argsort of the negated maxima."""
    n, c, h, w = activations.shape
    flat = activations.reshape(n, c, -1)
    best, where = flat.max(dim=2)
    first = (flat == best[..., None]).int().argmax(dim=2)  # the first maximum in row-major order
    values, images, rows, cols = [], [], [], []
    for ch in range(c):
        order = torch.argsort(-best[:, ch], stable=True)[:k]
        values.append(best[order, ch])
        images.append(order)
        rows.append(first[order, ch] // w)
        cols.append(first[order, ch] % w)
    return torch.stack(values), torch.stack(images), torch.stack(rows), torch.stack(cols)''',
        "loops over channels, argsort of the negated maxima, first maximum by comparison"),
    Alternative("nearest_neighbours", '''def nearest_neighbours(queries, database, k):
    """Distances from the broadcast difference; a stable argsort."""
    distances = ((queries[:, None, :] - database[None, :, :]) ** 2).sum(dim=-1).sqrt()
    order = torch.argsort(distances, dim=1, stable=True)[:, :k]
    return order, distances.gather(1, order)''', "broadcast differences, stable argsort"),
    Alternative("receptive_box", '''def receptive_box(position, layers, input_size):
    """Forward recursion: the jump (product of strides) and the start of the first unit's field."""
    jump, start, size = 1, 0, 1
    for kernel, stride, padding in layers:
        start -= padding * jump
        size += (kernel - 1) * jump
        jump *= stride
    (row, col), (height, width) = position, input_size
    y0, x0 = start + row * jump, start + col * jump
    return max(y0, 0), max(x0, 0), min(y0 + size, height), min(x0 + size, width)''',
        "forward recursion of jump and start"),
    Alternative("class_activation_map", '''def class_activation_map(features, fc_weight, label):
    C, h, w = features.shape
    return (fc_weight[label] @ features.reshape(C, h * w)).reshape(h, w)''', "a matrix product"),
    Alternative("ascent_step", '''def ascent_step(model, image, target, lr, l2):
    """The penalty's gradient added by hand; torch.where for the zero-gradient case."""
    x = image.clone().detach().requires_grad_(True)
    (grad,) = torch.autograd.grad(objective(model, x, target), [x])
    grad = grad - 2 * l2 * x.detach()
    scale = grad.abs().mean()
    new = image.detach() + lr * grad / torch.where(scale > 0, scale, torch.ones_like(scale))
    return new, grad''', "the L2 gradient by hand (2 l2 x), torch.where for a zero mean"),
    Alternative("gaussian_blur", '''def gaussian_blur(image, sigma):
    """One 2-D kernel (the outer product) in a single grouped convolution."""
    radius = math.ceil(2 * sigma)
    t = torch.arange(-radius, radius + 1, dtype=image.dtype, device=image.device)
    g = torch.exp(-t ** 2 / (2 * sigma ** 2))
    g = g / g.sum()
    C = image.shape[1]
    kernel = torch.outer(g, g).expand(C, 1, -1, -1)
    return F.conv2d(F.pad(image, [radius] * 4, mode="reflect"), kernel, groups=C)''',
        "a 2-D outer-product kernel"),
    Alternative("clip_small", '''def clip_small(image, grad, pixel_percentile, contribution_percentile):
    """torch.where, sqrt of the summed squares, and np.percentile-like quantiles on flattened values."""
    norms = (image ** 2).sum(dim=1).sqrt()
    contribution = (image * grad).abs().sum(dim=1)
    small = (norms < norms.flatten().quantile(pixel_percentile / 100)) | \\
            (contribution < contribution.flatten().quantile(contribution_percentile / 100))
    return torch.where(small[:, None], torch.zeros_like(image), image)''', "torch.where on a mask of the small"),
    Alternative("visualize", '''def visualize(model, target, size, steps=100, lr=0.1, l2=1e-3, blur_every=0, blur_sigma=0.5,
              pixel_percentile=0.0, contribution_percentile=0.0, jitter=0, seed=0):
    """The same loop with a step counter from 1 and the jitter drawn one offset at a time."""
    p = next(model.parameters())
    g = torch.Generator().manual_seed(seed)
    image = 0.1 * torch.randn(1, 3, size, size, generator=g, dtype=p.dtype)
    image = image.to(p.device)
    for step in range(1, steps + 1):
        if jitter:
            offsets = torch.randint(-jitter, jitter + 1, (2,), generator=g)
            dy, dx = int(offsets[0]), int(offsets[1])
        else:
            dy = dx = 0
        moved = torch.roll(image, shifts=(dy, dx), dims=(2, 3))
        new, grad = ascent_step(model, moved, target, lr, l2)
        image = torch.roll(new, shifts=(-dy, -dx), dims=(2, 3))
        grad = torch.roll(grad, shifts=(-dy, -dx), dims=(2, 3))
        if blur_every > 0 and step % blur_every == 0:
            image = gaussian_blur(image, blur_sigma)
        if pixel_percentile > 0 or contribution_percentile > 0:
            image = clip_small(image, grad, pixel_percentile, contribution_percentile)
    return image''', "a step counter from 1, offsets drawn as a tensor"),
]
