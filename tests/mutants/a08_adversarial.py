"""Mutants and alternative answers of assignment 08 (beyond the ``partial`` sample's bugs).

Two exercises build on others (pgd and fgsm_rs_step on fgsm and project_linf); their checks replay the
reference's answers to those calls, so a mutant in fgsm or project_linf costs that exercise alone.
"""

from autograder.assignments import Bug

from . import Alternative

MUTANTS = [
    # a required error missing: labels other than 0 and 1 pass
    Bug("logistic_attack", "if y not in (0, 1):", "if y not in (0, 1, 2):",
        "accepts the label 2 instead of raising ValueError"),
    # input changed in place
    Bug("logistic_attack", "x_adv = x + eps * np.sign(gradient)", "x += eps * np.sign(gradient)\n    x_adv = x",
        "moves the caller's features in place"),
    # the ball forgotten: only the image range is kept
    Bug("project_linf", "inside_ball = torch.clamp(candidate, original - eps, original + eps)",
        "inside_ball = candidate.clone()", "clamps to [0, 1] only, not to the eps-ball"),
    # boundary: no check of a negative budget
    Bug("project_linf", "    if eps < 0:\n        raise ValueError(f\"eps must be >= 0, not {eps}\")\n    inside_ball",
        "    inside_ball", "does not raise for eps < 0"),
    # range: no clamp to [0, 1]
    Bug("fgsm", "return (x.detach() + eps * direction).clamp(0.0, 1.0)", "return x.detach() + eps * direction",
        "lets pixels leave [0, 1]"),
    # side effect: .backward() fills the parameters' .grad
    Bug("fgsm", "(grad,) = torch.autograd.grad(loss, x)", "loss.backward()\n    grad = x.grad",
        "backpropagates with .backward(), which leaves .grad on the model's parameters"),
    # side effect: switches the model to eval mode (only the hidden train-mode case sees it)
    Bug("fgsm", "    x = images.detach().clone().requires_grad_(True)\n    loss",
        "    model.eval()\n    x = images.detach().clone().requires_grad_(True)\n    loss",
        "puts the model in eval mode and leaves it there"),
    # the random start forgotten
    Bug("pgd", "    if random_start:\n        noise", "    if False:\n        noise",
        "always starts at the clean images"),
    # the random start drawn from [0, eps] instead of [-eps, eps]
    Bug("pgd", "adversarial = project_linf(original + eps * (2 * noise.to(original.device) - 1), original, eps)",
        "adversarial = project_linf(original + eps * noise.to(original.device), original, eps)",
        "draws the random start from [0, eps] only"),
    # the global generator instead of the seeded one
    Bug("pgd", "noise = torch.rand(original.shape, generator=torch.Generator().manual_seed(seed), dtype=original.dtype)",
        "noise = torch.rand(original.shape, dtype=original.dtype)",
        "draws the start from the global generator, so the seed means nothing"),
    # another objective: the log-probability instead of the score
    Bug("fooling_image", "(grad,) = torch.autograd.grad(scores[0, target], x)",
        "(grad,) = torch.autograd.grad(F.log_softmax(scores, dim=1)[0, target], x)",
        "ascends the target's log-probability instead of its score"),
    # type slip: the size as a tensor
    Bug("fooling_image", "return x, steps, (x - image).abs().max().item(), fooled",
        "return x, steps, (x - image).abs().max(), fooled", "returns the size as a tensor, not a float"),
    # stale gradients: no zero_grad before the backward pass
    Bug("fgsm_rs_step", "    optimizer.zero_grad()\n", "",
        "does not zero the gradients, so last step's gradient is added to this one"),
    # the attack starts at the clean batch
    Bug("fgsm_rs_step", "start = project_linf(original + eps * (2 * noise.to(original.device) - 1), original, eps)",
        "start = original", "takes the FGSM step from the clean batch (no random start)"),
    # trained on the clean batch
    Bug("fgsm_rs_step", "loss = F.cross_entropy(model(adversarial), labels)",
        "loss = F.cross_entropy(model(original), labels)", "trains on the clean batch, not the adversarial one"),
    # another order: +eps tried before -eps
    Bug("simba", "for change in (-eps, eps):", "for change in (eps, -eps):",
        "tries +eps before -eps, so it follows another search path and counts other queries"),
    # the first query not counted
    Bug("simba", "    queries = 1\n", "    queries = 0\n", "does not count the query of the clean image"),
    # no clamp: candidates leave [0, 1]
    Bug("simba", "candidate.view(-1)[index] = (candidate.view(-1)[index] + change).clamp(0.0, 1.0)",
        "candidate.view(-1)[index] = candidate.view(-1)[index] + change", "lets a pixel leave [0, 1]"),
]

ALTERNATIVES = [
    Alternative("logistic_attack", '''def logistic_attack(x, w, b, y, eps):
    """Python floats and a list comprehension; sigma by math.exp."""
    import math
    if y not in (0, 1) or eps < 0:
        raise ValueError("need y in {0, 1} and eps >= 0")
    sigma = lambda z: 1 / (1 + math.exp(-z))
    p = sigma(float(np.dot(w, x)) + b)
    x_adv = np.array([xi + eps * np.sign((p - y) * wi) for xi, wi in zip(x, w)])
    return x_adv, p, sigma(float(np.dot(w, x_adv)) + b)''', "math.exp and a comprehension"),
    Alternative("project_linf", '''def project_linf(candidate, original, eps):
    """The intersection of the two boxes first, then one clamp."""
    if eps < 0:
        raise ValueError("eps < 0")
    low = torch.clamp(original - eps, min=0.0)
    high = torch.clamp(original + eps, max=1.0)
    return torch.minimum(torch.maximum(candidate, low), high)''', "one clamp to the intersected box"),
    Alternative("fgsm", '''def fgsm(model, images, labels, eps, targeted=False):
    """Summed cross-entropy (the same signs), torch.where for the direction."""
    if eps < 0:
        raise ValueError("eps < 0")
    x = images.clone().detach()
    x.requires_grad = True
    grad = torch.autograd.grad(F.cross_entropy(model(x), labels, reduction="sum"), [x])[0]
    step = torch.where(torch.tensor(targeted), -grad.sign(), grad.sign())
    return torch.clamp(images + eps * step, 0, 1).detach()''', "a summed loss"),
    Alternative("pgd", '''def pgd(model, images, labels, eps, step_size, steps, targeted=False, random_start=True, seed=0):
    """Its own gradient steps, no call of fgsm or project_linf."""
    if eps < 0 or steps < 0:
        raise ValueError("eps and steps must be >= 0")
    x0 = images.detach()
    x = x0.clone()
    if random_start:
        g = torch.Generator().manual_seed(seed)
        x = x0 + eps * (2 * torch.rand(x0.shape, generator=g, dtype=x0.dtype).to(x0.device) - 1)
        x = torch.clamp(torch.clamp(x, x0 - eps, x0 + eps), 0, 1)
    for _ in range(steps):
        x = x.detach().requires_grad_(True)
        (g,) = torch.autograd.grad(F.cross_entropy(model(x), labels), x)
        x = x.detach() + (-1 if targeted else 1) * step_size * g.sign()
        x = torch.clamp(torch.clamp(x, 0, 1), x0 - eps, x0 + eps).clamp(0, 1)
    return x''', "the loop written out"),
    Alternative("fooling_image", '''def fooling_image(model, image, target, step_size, max_steps):
    """A for loop with an early return."""
    if len(image) != 1:
        raise ValueError("one image only")
    x = image.clone().detach()
    for steps in range(max_steps + 1):
        x.requires_grad_(True)
        scores = model(x)
        if target < 0 or target >= scores.shape[1]:
            raise ValueError("no such class")
        if scores.argmax(dim=1).item() == target:
            return x.detach(), steps, float((x.detach() - image).abs().max()), True
        if steps == max_steps:
            break
        g = torch.autograd.grad(scores[:, target].sum(), x)[0]
        n = torch.linalg.vector_norm(g)
        x = torch.clamp(x.detach() + step_size * (g / n if n > 0 else g), 0, 1)
    x = x.detach()
    return x, max_steps, float((x - image).abs().max()), False''', "a for loop"),
    Alternative("fgsm_rs_step", '''def fgsm_rs_step(model, optimizer, images, labels, eps, alpha, seed):
    """Wong et al.'s delta form: the perturbation is the variable, clamped to the ball and the range."""
    u = torch.rand(images.shape, generator=torch.Generator().manual_seed(seed), dtype=images.dtype)
    delta = eps * (2 * u.to(images.device) - 1)
    delta = torch.clamp(torch.clamp(images + delta, images - eps, images + eps), 0, 1) - images
    delta.requires_grad_(True)
    g = torch.autograd.grad(F.cross_entropy(model(images + delta), labels), delta)[0]
    adv = torch.clamp(images + delta.detach() + alpha * g.sign(), 0, 1)
    adv = torch.clamp(torch.clamp(adv, images - eps, images + eps), 0, 1).detach()
    loss = F.cross_entropy(model(adv), labels)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return adv, loss.detach()''', "the perturbation as the variable, zero_grad(set_to_none=True)"),
    Alternative("simba", '''def simba(query, image, label, eps, max_queries, seed=0):
    """A flat copy of the image and a counter in a list."""
    if max_queries < 1 or image.shape[0] != 1:
        raise ValueError("bad budget or batch")
    flat = image.detach().flatten().clone()
    count = [0]

    def ask(v):
        count[0] += 1
        return query(v.reshape(image.shape))[0]

    p = ask(flat)
    for i in torch.randperm(flat.numel(), generator=torch.Generator().manual_seed(seed)):
        if p.argmax() != label or count[0] >= max_queries:
            break
        for d in (-eps, eps):
            if count[0] >= max_queries:
                break
            trial = flat.clone()
            trial[i] = min(max(trial[i].item() + d, 0.0), 1.0)
            q = ask(trial)
            if q[label] < p[label]:
                flat, p = trial, q
                break
    return flat.reshape(image.shape), count[0], bool(p.argmax() != label)''', "a flat image"),
]
