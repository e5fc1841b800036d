"""Input normalisation of the course's models, and its inverse for showing images.

A model sees ``(image - mean) / std`` per channel; a picture is made from a model input by undoing
that and clipping to [0, 1]. Both directions work on images in [0, 1], the range of
:func:`course_utils.load_photo` and of the shapes data set.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

#: Per-channel (R, G, B) mean and standard deviation of the ImageNet training images, as used by every
#: torchvision ImageNet model.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

#: Per-channel mean and standard deviation of the textured shapes scenes (measured on 2000 scenes of
#: ``ShapesDataset(task="classification")``, rounded); the course's shapes classifier expects them.
SHAPES_MEAN = (0.24, 0.24, 0.24)
SHAPES_STD = (0.16, 0.16, 0.16)


def _channel_stats(values: Sequence[float], like: torch.Tensor) -> torch.Tensor:
    return torch.as_tensor(values, dtype=like.dtype, device=like.device).reshape(-1, 1, 1)


def preprocess(image: torch.Tensor, mean: Sequence[float] = IMAGENET_MEAN, std: Sequence[float] = IMAGENET_STD,
               size: int | tuple[int, int] | None = None) -> torch.Tensor:
    """Turn an image into a model input batch of one: resize (optional), then normalise.

    Args:
        image (Tensor[3, H, W]): float image with values in [0, 1].
        mean, std: per-channel statistics, e.g. :data:`IMAGENET_MEAN` / :data:`IMAGENET_STD` or
            :data:`SHAPES_MEAN` / :data:`SHAPES_STD`.
        size: resize to ``size x size`` (an int) or ``(height, width)`` first (bilinear, antialiased);
            ``None`` keeps the size. The aspect ratio is not kept and nothing is cropped.

    Returns:
        Tensor[1, 3, H', W']: ``(image - mean) / std``, same dtype and device as ``image``, a new tensor
        that does not require grad.
    """
    if image.ndim != 3 or image.shape[0] != len(mean):
        raise ValueError(f"expected an image Tensor[{len(mean)}, H, W], got shape {tuple(image.shape)}")
    x = image.detach()[None]
    if not x.is_floating_point():
        raise TypeError(f"expected a float image in [0, 1], got dtype {image.dtype}")
    if size is not None:
        hw = (size, size) if isinstance(size, int) else tuple(size)
        if hw != tuple(x.shape[-2:]):
            x = F.interpolate(x, size=hw, mode="bilinear", antialias=True, align_corners=False).clamp(0, 1)
    return (x - _channel_stats(mean, x)) / _channel_stats(std, x)


def deprocess(x: torch.Tensor, mean: Sequence[float] = IMAGENET_MEAN,
              std: Sequence[float] = IMAGENET_STD) -> torch.Tensor:
    """Undo :func:`preprocess`: a model input back to a displayable image.

    Args:
        x (Tensor[1, 3, H, W] or Tensor[3, H, W]): a normalised model input (it may require grad,
            e.g. an image being optimised).
        mean, std: the statistics ``x`` was normalised with.

    Returns:
        Tensor[3, H, W]: ``x * std + mean`` clipped to [0, 1], detached, on the CPU.
    """
    if x.ndim == 4:
        if x.shape[0] != 1:
            raise ValueError(f"expected a batch of one image, got shape {tuple(x.shape)}")
        x = x[0]
    if x.ndim != 3 or x.shape[0] != len(mean):
        raise ValueError(f"expected Tensor[1, {len(mean)}, H, W] or Tensor[{len(mean)}, H, W], got {tuple(x.shape)}")
    x = x.detach()
    return (x * _channel_stats(std, x) + _channel_stats(mean, x)).clamp(0, 1).cpu()


def input_range(mean: Sequence[float], std: Sequence[float], dtype: torch.dtype = torch.float32,
                device: torch.device | str | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """The smallest and largest value of each channel of a normalised model input.

    An image in [0, 1] becomes ``(image - mean) / std``, so channel ``c`` of a model input made from a
    real image lies in ``[(0 - mean[c]) / std[c], (1 - mean[c]) / std[c]]``. Clipping an optimised input
    to these bounds keeps it an image that :func:`deprocess` shows without clipping.

    Args:
        mean, std: per-channel statistics (as for :func:`preprocess`).
        dtype, device: of the returned tensors.

    Returns:
        ``(low, high)``: two Tensor[C], ``-mean / std`` and ``(1 - mean) / std``.
    """
    m = torch.as_tensor(mean, dtype=torch.float64)
    s = torch.as_tensor(std, dtype=torch.float64)
    return (-m / s).to(dtype=dtype, device=device), ((1 - m) / s).to(dtype=dtype, device=device)
