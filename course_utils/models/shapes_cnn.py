"""The course's own classifier of textured shapes: a small CNN that always works offline.

Architecture (for 64 x 64 inputs; ``widths = (16, 32, 64, 96, 96)``, 162,598 parameters)::

    features.conv1   Conv2d(3, 16, 3, padding=1)   -> [N, 16, 64, 64]
    features.relu1   ReLU
    features.pool1   MaxPool2d(2)                  -> [N, 16, 32, 32]
    features.conv2   Conv2d(16, 32, 3, padding=1)  -> [N, 32, 32, 32]
    features.relu2, features.pool2                 -> [N, 32, 16, 16]
    features.conv3   Conv2d(32, 64, 3, padding=1)  -> [N, 64, 16, 16]
    features.relu3, features.pool3                 -> [N, 64, 8, 8]
    features.conv4   Conv2d(64, 96, 3, padding=1)  -> [N, 96, 8, 8]
    features.relu4   ReLU
    features.conv5   Conv2d(96, 96, 3, padding=1)  -> [N, 96, 8, 8]
    features.relu5   ReLU                          -> [N, 96, 8, 8]   (CAM / Grad-CAM layer)
    gap              AdaptiveAvgPool2d(1)          -> [N, 96, 1, 1]
    fc               Linear(96, 6)                 -> [N, 6] class scores (logits)

Global average pooling followed by one linear layer makes class activation maps (CAM) exact: the
score of class ``c`` is the mean over the 8 x 8 cells of ``fc.weight[c] @ features.relu5(x)[n, :, i, j]``,
plus ``fc.bias[c]``. A unit of ``features.conv4`` sees a 38 x 38 pixel patch of the input, one of
``features.conv5`` a 54 x 54 patch, neighbouring units are 8 pixels apart
(:func:`course_utils.models.receptive_field_analytic`). The two convolutions at 8 x 8 matter: with
only one, the network learns the shapes far more slowly.

It is trained with a batch-norm layer after each convolution (:mod:`.train_shapes`); the batch norms
are folded into the convolutions before saving, so the shipped network is the plain stack above.

Input: an image in [0, 1] normalised with :data:`SHAPES_MEAN` = 0.24 and :data:`SHAPES_STD` = 0.16 per
channel (:func:`course_utils.models.preprocess`), any size (64 x 64 is the training size).
Committed weights: 99.0 % accuracy on 1000 held-out scenes (a seed not used in training), file 640 KiB;
see :mod:`.train_shapes` and ``weights/shapes_cnn.json``.
Classes: :data:`SHAPES_CLASSES` = ``("circle", "square", "triangle", "star", "cross", "ring")``.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import nn

from ..data.shapes import CLASSES
from ..device import get_device
from .preprocess import SHAPES_MEAN, SHAPES_STD

#: Class names of the shapes classifier (index = label), the data set's :data:`~course_utils.data.CLASSES`.
SHAPES_CLASSES: tuple[str, ...] = tuple(CLASSES)
#: Image size the shapes classifier was trained on.
SHAPES_SIZE = 64
#: Channel widths of the four convolutions.
SHAPES_WIDTHS = (16, 32, 64, 96, 96)
#: The layer whose output CAM and Grad-CAM use (the last convolution, after its ReLU).
SHAPES_CAM_LAYER = "features.relu5"
#: The committed weights (a state dict of the folded network) and their training record.
WEIGHTS_PATH = Path(__file__).resolve().parent / "weights" / "shapes_cnn.pt"
RECORD_PATH = WEIGHTS_PATH.with_suffix(".json")


class ShapesCNN(nn.Module):
    """3x3 convolutions with ReLU, 2x2 max pooling after the first ``pools``, global average pooling, one
    linear layer.

    Args:
        widths: output channels of ``features.conv1`` .. ``features.convK``.
        num_classes: number of class scores.
        batch_norm: put ``features.bn{i}`` after each convolution (used in training only; see
            :func:`fold_batch_norm`).
        pools: the first ``pools`` convolutions are each followed by ``features.pool{i}``.

    Shape:
        input: Tensor[N, 3, H, W] normalised with :data:`SHAPES_MEAN` / :data:`SHAPES_STD`.
        output: Tensor[N, num_classes], class scores (logits).
    """

    def __init__(self, widths: Sequence[int] = SHAPES_WIDTHS, num_classes: int = len(SHAPES_CLASSES),
                 batch_norm: bool = False, pools: int = 3):
        super().__init__()
        layers: OrderedDict[str, nn.Module] = OrderedDict()
        cin = 3
        for i, width in enumerate(widths, start=1):
            layers[f"conv{i}"] = nn.Conv2d(cin, width, kernel_size=3, padding=1)
            if batch_norm:
                layers[f"bn{i}"] = nn.BatchNorm2d(width)
            layers[f"relu{i}"] = nn.ReLU()
            if i <= pools:
                layers[f"pool{i}"] = nn.MaxPool2d(2)
            cin = width
        self.widths, self.pools = tuple(widths), pools
        self.features = nn.Sequential(layers)
        self.gap = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(cin, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(self.gap(self.features(x)), 1))


def fold_batch_norm(model: ShapesCNN) -> ShapesCNN:
    """The same function as ``model`` in eval mode, with every batch norm folded into its convolution.

    ``bn(conv(x)) = conv'(x)`` with ``w' = w * g`` and ``b' = (b - running_mean) * g + beta`` where
    ``g = gamma / sqrt(running_var + eps)`` per output channel.

    Args:
        model: a :class:`ShapesCNN` built with ``batch_norm=True`` (it is not changed).

    Returns:
        A new :class:`ShapesCNN` without batch norms, in eval mode, on the CPU.
    """
    plain = ShapesCNN(model.widths, model.fc.out_features, batch_norm=False, pools=model.pools)
    with torch.no_grad():
        for i in range(1, len(model.widths) + 1):
            conv, bn = model.features.get_submodule(f"conv{i}"), model.features.get_submodule(f"bn{i}")
            g = bn.weight / torch.sqrt(bn.running_var + bn.eps)
            target = plain.features.get_submodule(f"conv{i}")
            target.weight.copy_(conv.weight * g.reshape(-1, 1, 1, 1))
            target.bias.copy_((conv.bias - bn.running_mean) * g + bn.bias)
        plain.fc.load_state_dict(model.fc.state_dict())
    return plain.eval()


def load_shapes_cnn(device: str | torch.device | None = None, path: str | Path | None = None) -> ShapesCNN:
    """The trained shapes classifier, in eval mode; needs no network.

    Args:
        device: where to put it (default: :func:`course_utils.get_device`).
        path: a weights file written by :mod:`course_utils.models.train_shapes` (default: the
            committed :data:`WEIGHTS_PATH`).

    Returns:
        A :class:`ShapesCNN` with ``requires_grad`` left on (so input gradients can flow); its
        attributes ``classes``, ``mean``, ``std`` and ``input_size`` say how to use it.
    """
    path = Path(path) if path is not None else WEIGHTS_PATH
    if not path.is_file():
        raise FileNotFoundError(f"no shapes classifier weights at {path}; train them with "
                                f"`python -m course_utils.models.train_shapes --out {path}`")
    state = torch.load(path, map_location="cpu", weights_only=True)
    widths = []
    while f"features.conv{len(widths) + 1}.weight" in state:
        widths.append(state[f"features.conv{len(widths) + 1}.weight"].shape[0])
    model = ShapesCNN(widths, num_classes=state["fc.weight"].shape[0])
    model.load_state_dict(state)
    model.classes, model.mean, model.std, model.input_size = SHAPES_CLASSES, SHAPES_MEAN, SHAPES_STD, SHAPES_SIZE
    device = get_device(str(device)) if device is not None else get_device()
    return model.to(device).eval()
