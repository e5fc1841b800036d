"""Looking inside a network: record a layer's activation and gradient, run a network only up to a layer,
and the receptive field of a unit.

Layers are named as :meth:`torch.nn.Module.get_submodule` names them, e.g. ``"features.relu5"`` of the
shapes classifier, ``"features.12"`` of SqueezeNet or ``"layer4"`` of a ResNet
(``[name for name, _ in model.named_modules()]`` lists them).

Receptive-field boxes are ``(y0, x0, y1, x1)`` in input pixels and half-open, like the shapes data
set's boxes: the unit sees rows ``y0 .. y1 - 1`` and columns ``x0 .. x1 - 1``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import torch
from torch import nn

Box = tuple[int, int, int, int]


@dataclass
class Captured:
    """What :func:`capture` recorded at one layer.

    Attributes:
        layer_name (str): the layer's name in the model.
        module (nn.Module): the layer.
        activation (Tensor[N, C, h, w] or None): the layer's output in the most recent forward pass
            of the block (any shape the layer gives; ``[N, C, h, w]`` for convolutional layers). It is
            the tensor of the autograd graph itself, neither detached nor copied: a loss built from it
            backpropagates into the input, and in-place operations that follow the layer (such as
            ``ReLU(inplace=True)``) change it; use ``activation.detach()`` for values only.
            ``None`` until a forward pass reaches the layer. A layer called more than once per forward
            pass (a shared module, such as the ReLU of a ResNet block) keeps its last call.
        gradient (Tensor or None): the gradient of the most recent backward pass (``loss.backward()``
            or ``torch.autograd.grad``) with respect to ``activation``, same shape, detached. ``None``
            until a backward pass inside the block goes through the layer, and it stays ``None`` when
            the forward pass ran without autograd (e.g. under ``torch.no_grad()``).
    """

    layer_name: str
    module: nn.Module
    activation: torch.Tensor | None = None
    gradient: torch.Tensor | None = None
    _handles: list = field(default_factory=list, repr=False)


@contextlib.contextmanager
def capture(model: nn.Module, layer_name: str) -> Iterator[Captured]:
    """Record the forward activation and the backward gradient at one named layer.

    A forward hook on the layer keeps its output, and a hook on that output tensor keeps the gradient
    that flows into it. All hooks are removed when the block ends, also when it ends with an exception;
    the model, its parameters and any ``.grad`` are otherwise untouched. Run the backward pass inside
    the block::

        with capture(model, "features.relu5") as cap:
            scores = model(x)                     # cap.activation: Tensor[N, C, h, w]
            scores[0, label].backward()           # cap.gradient: same shape
        weights = cap.gradient.mean(dim=(2, 3))   # e.g. Grad-CAM's channel weights

    Args:
        model: the network.
        layer_name: a name of ``model.get_submodule`` (``""`` is the model itself).

    Yields:
        A :class:`Captured` that fills in as the model runs.

    Raises:
        AttributeError: if the model has no such layer.
        TypeError: if the layer's output is not a single tensor.
    """
    module = model.get_submodule(layer_name)
    record = Captured(layer_name, module)

    def keep_gradient(grad: torch.Tensor) -> None:
        record.gradient = grad.detach()

    def keep_activation(_module: nn.Module, _inputs, output) -> None:
        if not isinstance(output, torch.Tensor):
            raise TypeError(f"capture: layer {layer_name!r} returned {type(output).__name__}, not a tensor")
        record.activation = output
        record.gradient = None
        if output.requires_grad:
            record._handles.append(output.register_hook(keep_gradient))

    record._handles.append(module.register_forward_hook(keep_activation))
    try:
        yield record
    finally:
        for handle in record._handles:
            handle.remove()
        record._handles.clear()


# -- running a network up to a layer ------------------------------------------------------------------


class _Stop(Exception):
    """Raised by a forward hook to end a forward pass once the layer of interest has run."""


def forward_to(model: nn.Module, layers: str | Sequence[str], x: torch.Tensor) \
        -> torch.Tensor | dict[str, torch.Tensor]:
    """The output of one layer (or of several) for the input ``x``, without running the rest of the network.

    Forward hooks keep each layer's output and end the forward pass as soon as the last of the wanted
    layers has run, so the layers after it cost nothing (the seed's ``net.forward(end=layer)``). The
    outputs are the tensors of the autograd graph: when ``x`` requires grad, a value computed from them
    backpropagates into ``x``. Every hook is removed before the function returns, also when the forward
    pass fails; the model's mode, parameters and ``.grad`` are not touched. A layer that runs more than
    once in one forward pass gives its first output.

    Args:
        model: the network.
        layers: one name for ``model.get_submodule`` (e.g. ``"blocks.3"``, ``"features.relu3"``), or a
            sequence of names.
        x (Tensor[N, C, H, W]): the input batch.

    Returns:
        For one name: that layer's output (Tensor[N, C', h, w] for a convolutional layer). For a sequence:
        a dict from each name to its output.

    Raises:
        AttributeError: if the model has no such layer.
        RuntimeError: if a wanted layer did not run in the forward pass.
        TypeError: if a wanted layer's output is not a single tensor.
    """
    names = [layers] if isinstance(layers, str) else list(layers)
    modules = {name: model.get_submodule(name) for name in names}
    outputs: dict[str, torch.Tensor] = {}

    def keep(name: str):
        def hook(_module: nn.Module, _inputs, output) -> None:
            if name in outputs:
                return
            if not isinstance(output, torch.Tensor):
                raise TypeError(f"forward_to: layer {name!r} returned {type(output).__name__}, not a tensor")
            outputs[name] = output
            if len(outputs) == len(names):
                raise _Stop
        return hook

    handles = [module.register_forward_hook(keep(name)) for name, module in modules.items()]
    try:
        model(x)
    except _Stop:
        pass
    finally:
        for handle in handles:
            handle.remove()
    missing = [name for name in names if name not in outputs]
    if missing:
        raise RuntimeError(f"forward_to: layer(s) {', '.join(map(repr, missing))} did not run in the forward pass")
    return outputs[layers] if isinstance(layers, str) else {name: outputs[name] for name in names}


# -- receptive fields ----------------------------------------------------------------------------------


def receptive_field(model: nn.Module, layer_name: str, input_size: tuple[int, int] = (64, 64),
                    position: tuple[int, int] | None = None, channel: int | None = None, in_channels: int = 3,
                    trials: int = 4, seed: int = 0) -> Box:
    """The input pixels that one unit of a layer depends on, found from the gradient (any network).

    Runs ``trials`` random inputs of ``input_size`` through ``model`` up to the layer, backpropagates a
    one-hot gradient at the unit's position (over all channels, or only ``channel``) and returns the
    bounding box of the input pixels whose gradient is not zero in any trial. ReLUs and max pooling
    block some paths for any one input; summing over channels and random inputs uncovers the whole
    field of view, which for plain conv/pool stacks is :func:`receptive_field_analytic`'s box clipped
    to the input. Layers that mix the whole map (global pooling, attention, instance norm) see
    everything.

    The model is run in eval mode (its mode is restored); parameters' ``.grad`` are not touched.

    Args:
        model: the network; its first parameter's device and dtype are used for the input.
        layer_name: the layer (a ``get_submodule`` name) whose output holds the unit.
        input_size: ``(height, width)`` of the input image.
        position: ``(row, column)`` of the unit in the layer's output map; default: its centre
            ``(h // 2, w // 2)``.
        channel: only this channel's unit (default: all channels at ``position``).
        in_channels: input channels.
        trials: number of random inputs.
        seed: seed of the random inputs.

    Returns:
        ``(y0, x0, y1, x1)``: half-open box in input pixels, inside the input.
    """
    module = model.get_submodule(layer_name)
    param = next(model.parameters(), None)
    device, dtype = (param.device, param.dtype) if param is not None else (torch.device("cpu"), torch.float32)
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn((trials, in_channels, *input_size), generator=generator).to(device, dtype).requires_grad_()
    outputs: list[torch.Tensor] = []

    def stop(_module, _inputs, output):
        outputs.append(output)
        raise _Stop

    handle = module.register_forward_hook(stop)
    was_training = model.training
    model.eval()
    try:
        with torch.enable_grad():
            try:
                model(x)
            except _Stop:
                pass
    finally:
        handle.remove()
        model.train(was_training)
    if not outputs:
        raise RuntimeError(f"layer {layer_name!r} did not run in the forward pass")
    act = outputs[0]
    if act.ndim != 4:
        raise ValueError(f"layer {layer_name!r} gives shape {tuple(act.shape)}, not a map [N, C, h, w]")
    h, w = act.shape[-2:]
    py, px = position if position is not None else (h // 2, w // 2)
    if not (0 <= py < h and 0 <= px < w):
        raise ValueError(f"position {(py, px)} is outside the layer's {h} x {w} map")
    one_hot = torch.zeros_like(act)
    one_hot[:, slice(None) if channel is None else channel, py, px] = 1
    (grad,) = torch.autograd.grad(act, x, grad_outputs=one_hot)
    rows, cols = torch.nonzero(grad.abs().sum(dim=(0, 1)), as_tuple=True)
    if len(rows) == 0:
        raise RuntimeError(f"no input pixel reaches unit {(py, px)} of {layer_name!r} in {trials} trials "
                           "(dead unit?); try more trials or another channel")
    return int(rows.min()), int(cols.min()), int(rows.max()) + 1, int(cols.max()) + 1


#: Layers that act on each pixel on its own (they leave receptive fields as they are).
POINTWISE = (nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.ELU, nn.GELU, nn.SiLU, nn.Sigmoid, nn.Tanh, nn.Hardswish,
             nn.BatchNorm2d, nn.Dropout, nn.Dropout2d, nn.Identity, nn.LocalResponseNorm)


def _pair(v) -> tuple[int, int]:
    return (v, v) if isinstance(v, int) else tuple(v)


def _geometry(module: nn.Module) -> tuple[tuple[int, int], ...] | None:
    """``(kernel, stride, padding, dilation)`` pairs of a conv or pool layer; None for a pointwise one."""
    if isinstance(module, POINTWISE):
        return None
    if isinstance(module, nn.Conv2d):
        k, d = _pair(module.kernel_size), _pair(module.dilation)
        if module.padding == "valid":
            p = (0, 0)
        elif module.padding == "same":
            p = tuple(di * (ki - 1) // 2 for ki, di in zip(k, d))
        else:
            p = _pair(module.padding)
        return k, _pair(module.stride), p, d
    if isinstance(module, (nn.MaxPool2d, nn.AvgPool2d)):
        k = _pair(module.kernel_size)
        s = _pair(module.stride) if module.stride is not None else k
        d = _pair(module.dilation) if isinstance(module, nn.MaxPool2d) else (1, 1)
        return k, s, _pair(module.padding), d
    raise ValueError(f"{type(module).__name__} is not a conv, pool or pointwise layer")


def _leaves(module: nn.Module, name: str) -> list[tuple[str, nn.Module]]:
    if not module._modules:
        return [(name, module)]
    if not isinstance(module, nn.Sequential):
        raise ValueError(f"{name or 'the model'} is a {type(module).__name__}, not a plain stack (nn.Sequential)")
    return [leaf for child, m in module.named_children() for leaf in _leaves(m, f"{name}.{child}" if name else child)]


def _chain(model: nn.Module, layer_name: str) -> list[tuple[str, nn.Module]]:
    """The leaf layers that run up to and including ``layer_name``, in order."""
    chain, module, prefix = [], model, ""
    parts = layer_name.split(".")
    for depth, part in enumerate(parts):
        names = list(module._modules)
        if part not in names:
            raise AttributeError(f"{prefix or 'the model'} has no layer {part!r}")
        if depth > 0 and not isinstance(module, nn.Sequential):
            raise ValueError(f"{prefix} is a {type(module).__name__}, not a plain stack (nn.Sequential)")
        for sibling in names[:names.index(part)]:
            chain += _leaves(module._modules[sibling], f"{prefix}.{sibling}" if prefix else sibling)
        prefix = f"{prefix}.{part}" if prefix else part
        module = module._modules[part]
    return chain + _leaves(module, prefix)


def receptive_field_analytic(model: nn.Module, layer_name: str, position: tuple[int, int],
                             input_size: tuple[int, int] | None = None) -> Box:
    """The receptive field of a unit in a plain stack of convolutions and pooling, by the layer formula.

    A unit at output index ``i`` of a layer with kernel ``k``, stride ``s``, padding ``p`` and dilation
    ``d`` sees input indices ``i * s - p .. i * s - p + d * (k - 1)``; applying this from the layer back
    to the input gives the box. Only the field of view is computed, not which pixels matter.

    The layers up to ``layer_name`` must be ``nn.Conv2d``, ``nn.MaxPool2d``, ``nn.AvgPool2d`` or
    pointwise (:data:`POINTWISE`), held in ``nn.Sequential`` containers; the model's own children are
    taken to run in the order they were registered (true of the shapes classifier and of VGG's and
    AlexNet's ``features``).

    Args:
        model: the network.
        layer_name: the layer (a ``get_submodule`` name) whose output holds the unit.
        position: ``(row, column)`` of the unit in the layer's output map.
        input_size: ``(height, width)``: clip the box to the input; default: no clipping, so the box
            may reach into the padding (negative or past the image).

    Returns:
        ``(y0, x0, y1, x1)``: half-open box in input pixels.

    Raises:
        ValueError: if a layer on the way is not a plain conv, pool or pointwise layer.
    """
    (ya, yb), (xa, xb) = (position[0], position[0]), (position[1], position[1])
    for _name, module in reversed(_chain(model, layer_name)):
        geometry = _geometry(module)
        if geometry is None:
            continue
        (ky, kx), (sy, sx), (py, px), (dy, dx) = geometry
        ya, yb = ya * sy - py, yb * sy - py + dy * (ky - 1)
        xa, xb = xa * sx - px, xb * sx - px + dx * (kx - 1)
    y0, x0, y1, x1 = ya, xa, yb + 1, xb + 1
    if input_size is not None:
        h, w = input_size
        y0, x0, y1, x1 = max(y0, 0), max(x0, 0), min(y1, h), min(x1, w)
    return y0, x0, y1, x1
