"""Tiny networks whose answers can be checked: a seeded random CNN and a hand-weighted one.

The visualization methods of assignment 05 take a model. To grade them, and to test them against
answers worked out on paper, the grader and the tests build the same small networks from a name and a
seed with :func:`probe_model`:

* ``"tiny"``: :func:`tiny_cnn`, a float64 :class:`~course_utils.models.ShapesCNN` with two 3x3
  convolutions (4 and 6 channels), one 2x2 max pooling, global average pooling and 3 classes, its
  weights drawn from a seeded generator. Same layer names as the shapes classifier
  (``features.conv1`` .. ``features.relu2``, ``gap``, ``fc``).
* ``"paper"``: :func:`paper_cam_net`, one 1x1 convolution that copies a grey image into channel 0
  and its negative into channel 1, a ReLU, global average pooling and a linear layer with weights
  ``[[1, 2], [-1, 1]]``. Every method's answer on it fits on a napkin (see the function).
"""

from __future__ import annotations

from collections import OrderedDict

import numpy as np
import torch
from torch import nn

from .shapes_cnn import ShapesCNN

#: Channel widths and class count of :func:`tiny_cnn`.
TINY_WIDTHS = (4, 6)
TINY_CLASSES = 3


def tiny_cnn(seed: int, widths: tuple[int, ...] = TINY_WIDTHS, num_classes: int = TINY_CLASSES) -> ShapesCNN:
    """A small random CNN in float64, eval mode, on the CPU.

    Layers: ``features.conv1`` (3 -> 4, 3x3, padding 1), ``features.relu1``, ``features.pool1`` (2x2
    max), ``features.conv2`` (4 -> 6), ``features.relu2``, ``gap``, ``fc`` (6 -> 3). Weights are normal
    with standard deviation ``sqrt(2 / fan_in)``, biases normal with standard deviation 0.1, all from
    ``numpy.random.default_rng(seed)`` in the order of ``named_parameters()``: the same seed gives the
    same network on every machine.

    Shape:
        input: Tensor[N, 3, H, W] float64 (H, W >= 2); output: Tensor[N, num_classes].
    """
    model = ShapesCNN(widths, num_classes, pools=1).double()
    rng = np.random.default_rng(seed)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if name.endswith("bias"):
                values = rng.standard_normal(param.shape) * 0.1
            else:
                fan_in = int(np.prod(param.shape[1:]))
                values = rng.standard_normal(param.shape) * np.sqrt(2.0 / fan_in)
            param.copy_(torch.from_numpy(values))
    return model.eval()


def paper_cam_net() -> nn.Sequential:
    """A hand-weighted network for grey images, float64, eval mode::

        conv  Conv2d(1, 2, 1), weights [1], [-1], no bias   A_0 = x, A_1 = -x
        relu  ReLU                                          relu(x), relu(-x)
        gap   AdaptiveAvgPool2d(1), flat  Flatten           the means m_0, m_1
        fc    Linear(2, 2), weights [[1, 2], [-1, 1]], no bias

    So ``score_0 = m_0 + 2 m_1`` and ``score_1 = -m_0 + m_1``. On the 2x2 image ``[[1, -2], [3, 0]]``:
    the ReLU maps are ``[[1, 0], [3, 0]]`` and ``[[0, 2], [0, 0]]``; the gradient of ``score_c`` at the
    ReLU output is ``fc.weight[c, k] / 4`` everywhere on channel ``k``, so Grad-CAM for class 0 is
    ``relu(A_0 / 4 + 2 A_1 / 4) = [[0.25, 1], [0.75, 0]]`` and CAM is 4 times that before its ReLU.
    """
    net = nn.Sequential(OrderedDict(conv=nn.Conv2d(1, 2, 1, bias=False), relu=nn.ReLU(),
                                    gap=nn.AdaptiveAvgPool2d(1), flat=nn.Flatten(), fc=nn.Linear(2, 2, bias=False)))
    net = net.double()
    with torch.no_grad():
        net.conv.weight.copy_(torch.tensor([1.0, -1.0]).reshape(2, 1, 1, 1))
        net.fc.weight.copy_(torch.tensor([[1.0, 2.0], [-1.0, 1.0]]))
    return net.eval()


def probe_model(kind: str, seed: int = 0) -> nn.Module:
    """``"tiny"`` -> :func:`tiny_cnn` ``(seed)``; ``"paper"`` -> :func:`paper_cam_net` (seed unused)."""
    if kind == "tiny":
        return tiny_cnn(seed)
    if kind == "paper":
        return paper_cam_net()
    raise ValueError(f"unknown probe model {kind!r}; use 'tiny' or 'paper'")


def hook_count(model: nn.Module) -> int:
    """How many module hooks (forward, forward-pre, backward, backward-pre) ``model`` and its submodules hold."""
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) + len(m._backward_hooks)
               + len(m._backward_pre_hooks) for m in model.modules())
