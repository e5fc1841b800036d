"""Mutants and alternative answers of assignment 07 (beyond the ``partial`` sample's bugs).

style_loss builds on gram_matrix, and style_transfer on everything before it; their checks replay the
reference's answers to those calls, so a mutant in a loss costs that loss alone. Calls that pass a tensor
requiring grad are never replayed (the caller backpropagates through the answer): style_transfer runs the
student's own extract_features and softmax_features on the image it optimises. The mutants of those two are
therefore chosen on paths the loop does not take (errors, empty lists, extreme values); the loop's own side
effects are checked by its mutants (.backward() filling the model's .grad).
"""

from autograder.assignments import Bug

from . import Alternative

MUTANTS = [
    # normalisation: the "unbiased" count of positions
    Bug("gram_matrix", "return gram / (height * width)", "return gram / (height * width - 1)",
        "divides by H W - 1 positions"),
    # transpose slip: a position x position matrix instead of channel x channel
    Bug("gram_matrix", "gram = flat @ flat.transpose(1, 2)", "gram = flat.transpose(1, 2) @ flat",
        "multiplies in the wrong order and gets an (H W) x (H W) matrix"),
    # a mean instead of the notes' sum, consistently in the value and the gradient
    Bug("content_loss", "return 0.5 * (difference ** 2).sum(), difference",
        "return 0.5 * (difference ** 2).mean(), difference / difference.numel()",
        "takes half the mean of the squares instead of half their sum"),
    # sign: the gradient points from the features to the target
    Bug("content_loss", "return 0.5 * (difference ** 2).sum(), difference",
        "return 0.5 * (difference ** 2).sum(), -difference", "returns target - features as the gradient"),
    # a factor lost in the gradient (the value is right)
    Bug("style_loss", "gradients.append((4 * scale / (height * width) * (difference @ flat)).reshape(layer.shape))",
        "gradients.append((scale / (height * width) * (difference @ flat)).reshape(layer.shape))",
        "forgets the factor 4 of the chain rule in the gradient"),
    # boundary: circular differences also compare the last row with the first
    Bug("tv_loss", "down = x[..., 1:, :] - x[..., :-1, :]", "down = torch.roll(x, -1, dims=-2) - x",
        "wraps around, comparing the last row with the first"),
    # a comprehension: right values, but the exercise forbids loops
    Bug("tv_loss", "right = x[..., :, 1:] - x[..., :, :-1]",
        "right = torch.stack([x[..., :, j + 1] - x[..., :, j] for j in range(x.shape[-1] - 1)], dim=-1)",
        "builds the horizontal differences column by column in a comprehension"),
    # errors: an unknown layer is silently skipped
    Bug("extract_features", "modules = [model.get_submodule(name) for name in layers]",
        "modules = [dict(model.named_modules())[name] for name in layers if name in dict(model.named_modules())]",
        "skips a layer the model does not have instead of raising AttributeError"),
    # boundary: nothing instead of an empty list
    Bug("extract_features", "    if not modules:\n        return []", "    if not modules:\n        return None",
        "returns None for an empty list of names"),
    # overflow: the softmax written out without subtracting the maximum
    Bug("softmax_features", "return features.shape[1] * torch.softmax(features / temperature, dim=1)",
        "e = torch.exp(features / temperature)\n    return features.shape[1] * e / e.sum(dim=1, keepdim=True)",
        "exponentiates without subtracting the maximum, which overflows for large activations"),
    # boundary: a temperature of 0 is let through
    Bug("softmax_features", "if temperature <= 0:", "if temperature < 0:", "accepts a temperature of 0"),
    # statistics: the unbiased variance
    Bug("instance_norm", "var = x.var(dim=(2, 3), keepdim=True, unbiased=False)",
        "var = x.var(dim=(2, 3), keepdim=True, unbiased=True)", "divides the variance by H W - 1"),
    # batch normalisation instead: statistics over the batch too
    Bug("instance_norm",
        "mean = x.mean(dim=(2, 3), keepdim=True)\n    var = x.var(dim=(2, 3), keepdim=True, unbiased=False)",
        "mean = x.mean(dim=(0, 2, 3), keepdim=True)\n    var = x.var(dim=(0, 2, 3), keepdim=True, unbiased=False)",
        "normalises over the batch as well, which is batch normalisation"),
    # eps outside the square root
    Bug("instance_norm", "return (x - mean) / torch.sqrt(var + eps)", "return (x - mean) / (torch.sqrt(var) + eps)",
        "adds eps to the standard deviation instead of the variance"),
    # side effect: .backward() fills every parameter's .grad (the image is right)
    Bug("style_transfer", "(grad,) = torch.autograd.grad(found, x, grad_outputs=at_layers)",
        "torch.autograd.backward(found, at_layers)\n        grad = x.grad",
        "backpropagates with .backward(), which leaves .grad on the model's parameters"),
    # another optimiser
    Bug("style_transfer", "optimizer = torch.optim.Adam([x], lr=lr)", "optimizer = torch.optim.SGD([x], lr=lr)",
        "takes plain gradient steps instead of Adam's"),
    # a term dropped from the gradient (its value is still reported)
    Bug("style_transfer", "x.grad = grad + tv_weight * tv_grad", "x.grad = grad",
        "reports the TV term but leaves its gradient out"),
    # the start: init ignored
    Bug("style_transfer", "x = (content if init is None else init).detach().clone().requires_grad_(True)",
        "x = content.detach().clone().requires_grad_(True)", "always starts from the content image"),
]

ALTERNATIVES = [
    Alternative("gram_matrix", '''def gram_matrix(features, normalize=True):
    """einsum over the positions."""
    if features.ndim != 4:
        raise ValueError("need [N, C, H, W]")
    gram = torch.einsum("nchw,ndhw->ncd", features, features)
    return gram / (features.shape[2] * features.shape[3]) if normalize else gram''', "einsum"),
    Alternative("content_loss", '''def content_loss(features, target):
    """The gradient by autograd on a detached copy."""
    if features.shape != target.shape:
        raise ValueError("shapes differ")
    f = features.detach().clone().requires_grad_(True)
    value = F.mse_loss(f, target, reduction="sum") / 2
    (gradient,) = torch.autograd.grad(value, f)
    return value.detach(), gradient''', "F.mse_loss(reduction='sum') and autograd"),
    Alternative("style_loss", '''def style_loss(features, style_grams, weights):
    """Autograd through gram_matrix on copies that require grad (such calls are not replayed)."""
    if len(features) != len(style_grams) or len(features) != len(weights) or len(features) == 0:
        raise ValueError("one Gram matrix and one weight per layer, at least one layer")
    copies = [f.detach().clone().requires_grad_(True) for f in features]
    value = sum(w * ((gram_matrix(f) - g) ** 2).sum() / (4 * f.shape[1] ** 2)
                for f, g, w in zip(copies, style_grams, weights))
    gradients = torch.autograd.grad(value, copies, allow_unused=True)
    gradients = [torch.zeros_like(f) if g is None else g for f, g in zip(copies, gradients)]
    return value.detach(), gradients''', "autograd through the student's gram_matrix"),
    Alternative("tv_loss", '''def tv_loss(image):
    """torch.diff, and the gradient by autograd."""
    if image.ndim != 4:
        raise ValueError("need [N, C, H, W]")
    x = image.detach().clone().requires_grad_(True)
    value = torch.diff(x, dim=-2).pow(2).sum() + torch.diff(x, dim=-1).pow(2).sum()
    (gradient,) = torch.autograd.grad(value, x)
    return value.detach(), gradient''', "torch.diff and autograd"),
    Alternative("extract_features", '''def extract_features(model, image, layers):
    """The whole forward pass, outputs kept by name; hooks removed in a finally block."""
    found = {}
    handles = []
    try:
        for name in dict.fromkeys(layers):
            module = model.get_submodule(name)
            handles.append(module.register_forward_hook(
                lambda m, i, o, name=name: found.setdefault(name, o)))
        if layers:
            model(image)
    finally:
        while handles:
            handles.pop().remove()
    return [found[name] for name in layers]''', "no early stop, a dict by name"),
    Alternative("softmax_features", '''def softmax_features(features, temperature):
    """The maximum subtracted by hand."""
    if not temperature > 0:
        raise ValueError("temperature must be positive")
    z = features / temperature
    e = torch.exp(z - z.amax(dim=1, keepdim=True))
    return features.shape[1] * e / e.sum(dim=1, keepdim=True)''', "exp with the maximum subtracted"),
    Alternative("instance_norm", '''def instance_norm(x, eps=1e-5):
    """Mean and variance written out over the flattened positions."""
    if x.ndim != 4:
        raise ValueError("need [N, C, H, W]")
    flat = x.flatten(2)
    mean = flat.mean(dim=-1, keepdim=True)
    var = ((flat - mean) ** 2).mean(dim=-1, keepdim=True)
    return ((flat - mean) / (var + eps).sqrt()).reshape(x.shape)''', "flattened positions"),
    Alternative("style_transfer", '''def style_transfer(model, content, style, content_layer, style_layers, content_weight,
                   style_weights, tv_weight, steps, lr, low=None, high=None, init=None, temperature=None):
    """A surrogate sum(f * g) whose gradient is the same vector-Jacobian product; Adam through zero_grad/step."""
    layers = list(style_layers) if content_layer is None else [content_layer, *style_layers]
    k = 0 if content_layer is None else 1

    def features(image):
        out = extract_features(model, image, layers)
        if temperature is not None:
            out = [softmax_features(f, temperature) for f in out]
        return out

    with torch.no_grad():
        target = None if content_layer is None else features(content)[0]
        grams = [gram_matrix(f) for f in features(style)[k:]]
    x = torch.nn.Parameter((content if init is None else init).detach().clone())
    optimizer = torch.optim.Adam([x], lr=lr)
    rows = []
    for _ in range(steps):
        optimizer.zero_grad()
        out = features(x)
        grads, row = [], []
        if content_layer is not None:
            c, g = content_loss(out[0].detach(), target)
            row.append(content_weight * c)
            grads.append(content_weight * g)
        else:
            row.append(torch.zeros((), dtype=x.dtype))
        if len(style_layers):
            s, gs = style_loss([f.detach() for f in out[k:]], grams, style_weights)
            row.append(s)
            grads.extend(gs)
        else:
            row.append(torch.zeros((), dtype=x.dtype))
        t, tg = tv_loss(x.detach())
        row.append(tv_weight * t)
        surrogate = sum((f * g).sum() for f, g in zip(out, grads))
        (g,) = torch.autograd.grad(surrogate, x)
        x.grad = g + tv_weight * tg
        optimizer.step()
        if low is not None:
            with torch.no_grad():
                x.copy_(torch.maximum(torch.minimum(x, high.view(1, -1, 1, 1)), low.view(1, -1, 1, 1)))
        rows.append(torch.stack(row))
    return x.detach().clone(), torch.stack(rows)''', "a surrogate loss, nn.Parameter, clamping by copy_"),
]
