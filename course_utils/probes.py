"""What a call left behind on a model: the side-effect probe of every exercise that takes a model.

A test cell calls the student's function through :func:`side_effects`, which returns the result and a
tuple of counts named by :data:`LEFT_BEHIND`; the exercise's spec names those fields, so a failure reads
"hooks left: returned 1, expected 0" and the grader's hint says how to leave the model as it was found.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn
from torch.nn.modules import module as torch_module

from .models.tiny import hook_count

#: What :func:`side_effects` reports, in order (the last one only when an image is given).
LEFT_BEHIND = ("hooks left", "tensors with .grad", "modes changed", "parameters changed", "image requires_grad")
#: Other probe fields that are side effects (whether a result still hangs on the autograd graph).
SIDE_EFFECT_FIELDS = (*LEFT_BEHIND, "attached to autograd", "forward passes with autograd")


class SideEffectsAfterError(AssertionError):
    """The function raised, and left something behind on the model or its input (see side_effects)."""


def hooks_on(model: nn.Module) -> int:
    """Hooks on the model's modules and parameters, and global module hooks."""
    on_tensors = sum(len(getattr(p, name, None) or {}) for p in model.parameters()
                     for name in ("_backward_hooks", "_post_accumulate_grad_hooks"))
    global_hooks = sum(len(getattr(torch_module, name, None) or {}) for name in (
        "_global_forward_hooks", "_global_forward_pre_hooks", "_global_backward_hooks",
        "_global_backward_pre_hooks"))
    return hook_count(model) + on_tensors + global_hooks


def attached(*values: Any) -> bool:
    """Whether any of the values is a tensor attached to the autograd graph (requires grad)."""
    return any(getattr(v, "requires_grad", False) for v in values)


def side_effects(model: nn.Module, call: Callable[[], Any], image: torch.Tensor | None = None,
                 passes: list | None = None) -> tuple[Any, tuple]:
    """Run ``call()`` (the student's function on ``model``) and return (its result, what it left behind).

    What it left behind, a tuple named by :data:`LEFT_BEHIND`: hooks it added and did not remove (on
    modules, on parameters or global); tensors holding a ``.grad`` (the model's parameters, and
    ``image``); modules whose train/eval mode changed; parameters and buffers whose values changed, and
    parameters whose ``requires_grad`` changed (a model frozen for the call must be unfrozen after it);
    and, when an image is given, whether it now requires grad. ``passes``, a list, collects (autograd on,
    batch size) of each forward pass of the model during the call. If the call raises, its error goes on
    to the caller, unless the call also left something behind: then :class:`SideEffectsAfterError` says
    what.
    """
    hooks = hooks_on(model)
    modes = [m.training for m in model.modules()]
    state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    wanted = [p.requires_grad for p in model.parameters()]
    watcher = None if passes is None else model.register_forward_pre_hook(
        lambda module, args: passes.append((torch.is_grad_enabled(), len(args[0]))))
    result, error = None, None
    try:
        result = call()
    except Exception as exc:  # reported below, with what it left behind
        error = exc
    finally:
        if watcher is not None:
            watcher.remove()
    now = model.state_dict()
    left = (hooks_on(model) - hooks,
            sum(p.grad is not None for p in model.parameters()) + int(image is not None and image.grad is not None),
            sum(a != m.training for a, m in zip(modes, model.modules())),
            sum(k not in now or now[k].shape != v.shape or now[k].dtype != v.dtype
                or not torch.equal(now[k].detach(), v) for k, v in state.items())
            + sum(w != p.requires_grad for w, p in zip(wanted, model.parameters())))
    left += () if image is None else (image.requires_grad,)
    if error is not None:
        found = [f"{name} {value}" for name, value in zip(LEFT_BEHIND, left) if value]
        if found:
            raise SideEffectsAfterError(f"after raising {type(error).__name__}, the call left behind: "
                                        + ", ".join(found)) from error
        raise error
    return result, left
