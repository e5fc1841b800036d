"""Assignment 08's reference outputs (made from the instructor's solution) against independent oracles.

The logistic regression is recomputed with Python's math on lists, and its visible cases are the lecture's
numbers, sigma(-2) = 0.1192 before and sigma(-1), sigma(0), sigma(1) = 0.2689, 0.5, 0.7311 after. The
projection is checked value by value with Python's min and max. The probe networks are re-run stage by
stage with functional ops (reference_files.probe_stages); FGSM's gradient comes from torch.func.grad of a
cross-entropy written out as logsumexp minus the label's score, and PGD, the fooling-image loop and the
adversarial training step are re-run from that oracle (the training step's update as p - lr * grad, with
the gradient from torch.func.grad over the parameters). SimBA is re-run as a plain loop over pixels that
counts its own queries. Every property field the probes report (inside the ball, inside [0, 1], the loss
rose, the same seed gave the same result, nothing left behind) is checked to hold where the spec says so.
"""

import math

import numpy as np
import pytest
import torch
from torch.func import functional_call

from autograder.assignments.a08_adversarial import (LECTURE_EPS, LECTURE_P, LECTURE_P_ADV, LECTURE_W, LECTURE_X,
                                                    PAPER_IMAGE)
from course_utils.models.tiny import probe_model
from course_utils.probes import LEFT_BEHIND
from reference_files import (check_references_cover_the_spec, close, probe_stages, reference_cases,
                             returning_cases, run_stages)

A = "08_adversarial"
#: What a clean call leaves behind, field by field (course_utils.probes.LEFT_BEHIND).
NOTHING_LEFT = [0] * (len(LEFT_BEHIND) - 1) + [False]


def _cases(name, which=("visible", "hidden")):
    return reference_cases(A, name, which)


def _returning(name, which=("visible", "hidden")):
    return returning_cases(A, name, which)


def test_references_cover_every_graded_case_and_raise_where_promised():
    check_references_cover_the_spec(A)


# -- the lecture's logistic regression ---------------------------------------------------------------------


def _sigma(z):
    return 1.0 / (1.0 + math.exp(-z))


def _logistic_by_hand(x, w, b, y, eps):
    p = _sigma(sum(a * c for a, c in zip(x, w)) + b)
    sign = lambda v: (v > 0) - (v < 0)  # noqa: E731
    x_adv = [a + eps * sign((p - y) * c) for a, c in zip(x, w)]
    return x_adv, p, _sigma(sum(a * c for a, c in zip(x_adv, w)) + b)


def test_logistic_attack_reproduces_the_lecture():
    for c, eps, shown in zip(_cases("logistic_attack", ["visible"]), LECTURE_EPS, LECTURE_P_ADV):
        x, w, b, y, case_eps = c["args"]
        assert x.tolist() == LECTURE_X and w.tolist() == LECTURE_W and b == 0.0 and y == 0 and case_eps == eps
        x_adv, p, p_adv = c["expected"]
        close(x_adv, [a + eps * np.sign(c_) for a, c_ in zip(LECTURE_X, LECTURE_W)])   # the sign of w
        assert round(p, 4) == LECTURE_P and round(p_adv, 4) == shown
        logit = round(-2 + 10 * eps)                                              # -2 + eps * |w|_1
        assert logit == {0.1: -1, 0.2: 0, 0.3: 1}[eps]
        assert abs(p - _sigma(-2)) < 1e-15 and abs(p_adv - _sigma(logit)) < 1e-12
    assert _cases("logistic_attack", ["visible"])[1]["expected"][2] == 0.5
    label_one = _cases("logistic_attack", ["visible"])[3]                       # y = 1: against sign(w)
    assert label_one["args"][3] == 1 and abs(label_one["expected"][2] - _sigma(-3)) < 1e-12


def test_logistic_attack_matches_python_math():
    for c in _returning("logistic_attack"):
        x, w, b, y, eps = c["args"]
        want_x, want_p, want_p_adv = _logistic_by_hand(x.tolist(), w.tolist(), b, y, eps)
        x_adv, p, p_adv = c["expected"]
        assert isinstance(p, float) and isinstance(p_adv, float)  # arrays are stored as tensors
        close(x_adv, want_x)
        close(p, want_p, atol=1e-13)
        close(p_adv, want_p_adv, atol=1e-13)
    hidden = _cases("logistic_attack", ["hidden"])
    assert hidden[0]["expected"][2] < hidden[0]["expected"][1]                  # y = 1: P(y = 1) falls
    zero_weight = hidden[3]
    assert zero_weight["expected"][0][[0, 2]].tolist() == zero_weight["args"][0][[0, 2]].tolist()
    assert hidden[4]["expected"][0].tolist() == LECTURE_X                       # eps = 0


# -- projection --------------------------------------------------------------------------------------------


def test_project_linf_value_by_value():
    for c in _returning("project_linf"):
        candidate, original, eps = c["args"]
        want = [min(max(min(max(v, o - eps), o + eps), 0.0), 1.0)
                for v, o in zip(candidate.flatten().tolist(), original.flatten().tolist())]
        assert c["expected"].flatten().tolist() == want
    first = _cases("project_linf", ["visible"])[0]["expected"]
    close(first, [[0.4, 1.0, 0.0, 0.35]])  # the ball, the top of the range, the bottom, inside both
    eps_zero = _cases("project_linf", ["hidden"])[0]
    assert torch.equal(eps_zero["expected"], eps_zero["args"][1])


# -- FGSM, PGD ---------------------------------------------------------------------------------------------


def _loss(stages, labels):
    """Mean cross-entropy as a function of the images: logsumexp of the scores minus the label's score."""
    def loss(x):
        scores = run_stages(stages, x)
        return (torch.logsumexp(scores, dim=1) - scores[torch.arange(len(labels)), labels]).mean()
    return loss


def _fgsm(stages, images, labels, eps, targeted=False):
    g = torch.func.grad(_loss(stages, labels))(images)
    step = -eps * torch.sign(g) if targeted else eps * torch.sign(g)
    return torch.clamp(images + step, 0.0, 1.0)


def _project(x, original, eps):
    return torch.clamp(torch.maximum(torch.minimum(x, original + eps), original - eps), 0.0, 1.0)


def _uniform_start(images, eps, seed):
    u = torch.rand(images.shape, generator=torch.Generator().manual_seed(seed), dtype=images.dtype)
    return _project(images + eps * (2 * u - 1), images, eps)


def _properties_hold(expected, images, eps, rose_expected=True):
    inside_ball, inside_range, rose = expected[1:4]
    assert inside_ball is True and inside_range is True and rose is rose_expected
    adversarial = expected[0]
    assert (adversarial - images).abs().max() <= eps + 1e-12
    assert adversarial.min() >= 0 and adversarial.max() <= 1


def test_fgsm_matches_the_functional_oracle():
    for c in _returning("fgsm"):
        kind, seed, images, labels, eps = c["args"]
        targeted = c["kwargs"].get("targeted", False)
        expected = c["expected"]
        close(expected[0], _fgsm(probe_stages(kind, seed), images, labels, eps, targeted))
        _properties_hold(expected, images, eps, rose_expected=eps > 0)
        assert list(expected[4:]) == NOTHING_LEFT


def test_fgsm_on_the_paper_network_by_hand():
    label0, label1 = (c["expected"][0] for c in _cases("fgsm", ["visible"])[:2])
    assert _cases("fgsm", ["visible"])[0]["args"][2].tolist() == PAPER_IMAGE
    close(label0, [[[[0.4, 0.0], [0.15, 0.9]]]])      # positive pixels down, the pixel at 0 stays
    close(label1, [[[[0.6, 0.0], [0.35, 1.0]]]])      # up, clamped at 1
    towards_one = _cases("fgsm", ["visible"])[3]["expected"][0]
    close(towards_one, label0)                         # targeting class 1 = moving away from label 0 here
    targeted = _cases("fgsm", ["hidden"])[5]["expected"][0]
    close(targeted, [[[[0.2, 0.0], [0.0, 0.7]]]])     # towards class 1 = lowering the loss of label 1


def _pgd(stages, images, labels, eps, step_size, steps, targeted=False, random_start=True, seed=0):
    x = _uniform_start(images, eps, seed) if random_start else images.clone()
    for _ in range(steps):
        x = _project(_fgsm(stages, x, labels, step_size, targeted), images, eps)
    return x


def test_pgd_matches_the_oracle_loop():
    for c in _returning("pgd"):
        kind, seed, images, labels, eps, step_size, steps = c["args"]
        options = {k: v for k, v in c["kwargs"].items() if k != "train"}
        expected = c["expected"]
        close(expected[0], _pgd(probe_stages(kind, seed), images, labels, eps, step_size, steps, **options), atol=1e-9)
        _properties_hold(expected, images, eps)
        assert expected[4] is True and list(expected[5:]) == NOTHING_LEFT
    with_start, without = (c["expected"][0] for c in _cases("pgd", ["visible"]))
    assert not torch.equal(with_start, without)


# -- fooling images ----------------------------------------------------------------------------------------


def _fool(stages, image, target, step_size, max_steps):
    score = lambda x: run_stages(stages, x)[0, target]  # noqa: E731
    x, steps = image.clone(), 0
    while run_stages(stages, x)[0].argmax().item() != target and steps < max_steps:
        g = torch.func.grad(score)(x)
        x = torch.clamp(x + step_size * g / torch.linalg.vector_norm(g), 0.0, 1.0)
        steps += 1
    return x, steps


def test_fooling_image_matches_the_oracle_loop():
    for c in _returning("fooling_image"):
        kind, seed, image, target, step_size, max_steps = c["args"]
        fooled_image, steps, size, fooled, predicted, inside, *left = c["expected"]
        want, want_steps = _fool(probe_stages(kind, seed), image, target, step_size, max_steps)
        close(fooled_image, want, atol=1e-9)
        assert steps == want_steps and isinstance(steps, int) and isinstance(size, float)
        close(size, (want - image).abs().max(), atol=1e-9)
        assert fooled is predicted and inside is True and left == NOTHING_LEFT
    fooled = [c["expected"][3] for c in _returning("fooling_image")]
    assert fooled == [True, True, True, True, False]          # hidden 4 runs out of steps
    assert _returning("fooling_image")[3]["expected"][1] == 0   # already the target


# -- adversarial training ----------------------------------------------------------------------------------


def test_fgsm_rs_step_matches_a_functional_update():
    for c in _cases("fgsm_rs_step"):
        kind, seed, images, labels, eps, alpha, step_seed = c["args"]
        lr = c["kwargs"].get("lr", 0.1)
        adversarial, loss, parameters, inside_ball, inside_range, hooks, modes, requires_grad = c["expected"]
        stages = probe_stages(kind, seed)
        want = _project(_fgsm(stages, _uniform_start(images, eps, step_seed), labels, alpha), images, eps)
        close(adversarial, want, atol=1e-12)
        close(loss, _loss(stages, labels)(want), atol=1e-12)
        model = probe_model(kind, seed)
        params = {k: v.detach() for k, v in model.named_parameters()}

        def loss_of(p):
            scores = functional_call(model, p, (want,))
            return (torch.logsumexp(scores, 1) - scores[torch.arange(len(labels)), labels]).mean()
        grads = torch.func.grad(loss_of)(params)
        close(parameters, torch.cat([(params[k] - lr * grads[k]).flatten() for k in params]), atol=1e-12)
        assert inside_ball is True and inside_range is True and (hooks, modes, requires_grad) == (0, 0, False)
    clean = _cases("fgsm_rs_step", ["hidden"])[2]
    assert torch.equal(clean["expected"][0], clean["args"][2])                # eps = 0: the clean batch


# -- SimBA -------------------------------------------------------------------------------------------------


def _simba(stages, image, label, eps, max_queries, seed):
    asked = [0]

    def query(x):
        asked[0] += 1
        return torch.softmax(run_stages(stages, x), dim=1)[0].tolist()

    x = image.clone()
    p = query(x)
    order = torch.randperm(x.numel(), generator=torch.Generator().manual_seed(seed)).tolist()
    for index in order:
        if max(range(len(p)), key=p.__getitem__) != label or asked[0] >= max_queries:
            break
        for change in (-eps, eps):
            if asked[0] >= max_queries:
                break
            candidate = x.clone().flatten()
            candidate[index] = min(max(candidate[index].item() + change, 0.0), 1.0)
            candidate = candidate.reshape(x.shape)
            q = query(candidate)
            if q[label] < p[label]:
                x, p = candidate, q
                break
    return x, asked[0], max(range(len(p)), key=p.__getitem__) != label


def test_simba_matches_a_plain_loop():
    for c in _returning("simba"):
        kind, seed, image, label, eps, max_queries = c["args"]
        adversarial, queries, success, counted, inside_ball, inside_range, fell, *left = c["expected"]
        want, want_queries, want_success = _simba(probe_stages(kind, seed), image, label, eps, max_queries,
                                                  c["kwargs"].get("seed", 0))
        assert torch.equal(adversarial, want)
        assert queries == want_queries == counted and success is want_success
        assert queries <= max_queries and inside_ball is True and inside_range is True and fell is True
        assert left == NOTHING_LEFT
    outcomes = [(c["expected"][1], c["expected"][2]) for c in _returning("simba")]
    assert outcomes[0][1] is True and outcomes[2] == (9, False) and outcomes[3] == (1, True)


@pytest.mark.parametrize("name", ["fgsm", "pgd", "fooling_image", "simba"])
def test_model_cases_start_correctly_classified_where_the_spec_says(name):
    """The untargeted cases built with the tiny network's predictions start right, so the attacks have work."""
    c = _cases(name, ["visible"])[2 if name == "fgsm" else -1]
    kind, seed, images, labels = c["args"][:4]
    with torch.no_grad():
        predicted = probe_model(kind, seed)(images).argmax(1)
    if name == "fooling_image":
        assert predicted[0].item() != labels
    elif name == "simba":
        assert predicted[0].item() == labels
    else:
        assert torch.equal(predicted, labels)
