"""course_utils additions for assignment 06: forward_to and input_range.

Oracles: a hand-weighted network whose activations are worked out on paper, a layer that fails if it is
ever reached (forward_to must stop before it), capture() on the same network, torchvision's Normalize for
the input range.
"""

from collections import OrderedDict

import pytest
import torch
from torch import nn
from torchvision.transforms import v2

from course_utils.models import IMAGENET_MEAN, IMAGENET_STD, capture, deprocess, forward_to, input_range, \
    load_imagenet_model
from course_utils.models.tiny import hook_count, paper_cam_net, tiny_cnn


class Tripwire(nn.Module):
    """A layer that must never run."""

    def forward(self, x):
        raise AssertionError("forward_to ran a layer after the one asked for")


def paper_with_tripwire() -> nn.Sequential:
    """The paper network of course_utils.models.tiny (conv copies x and -x, ReLU), then a tripwire."""
    paper = paper_cam_net()
    return nn.Sequential(OrderedDict(conv=paper.conv, relu=paper.relu, trip=Tripwire()))


X = torch.tensor([[[[1.0, -2.0], [3.0, 0.0]]]], dtype=torch.float64)


def test_forward_to_returns_the_layer_output_and_stops_there():
    net = paper_with_tripwire()
    a = forward_to(net, "relu", X)
    # on paper: relu(x) = [[1, 0], [3, 0]], relu(-x) = [[0, 2], [0, 0]]
    assert a.tolist() == [[[[1.0, 0.0], [3.0, 0.0]], [[0.0, 2.0], [0.0, 0.0]]]]
    assert hook_count(net) == 0
    both = forward_to(net, ["relu", "conv"], X)
    assert list(both) == ["relu", "conv"] and torch.equal(both["conv"], torch.cat([X, -X], dim=1))


def test_forward_to_agrees_with_capture_and_keeps_the_graph():
    net = tiny_cnn(3)
    x = torch.linspace(-1, 1, 3 * 8 * 8, dtype=torch.float64).reshape(1, 3, 8, 8).requires_grad_(True)
    with torch.no_grad(), capture(net, "features.relu2") as cap:
        net(x)
    a = forward_to(net, "features.relu2", x)
    assert torch.equal(a.detach(), cap.activation)
    (grad,) = torch.autograd.grad(0.5 * (a ** 2).sum(), x)
    assert grad.abs().sum() > 0 and all(p.grad is None for p in net.parameters())


def test_forward_to_cleans_up_and_says_what_went_wrong():
    net = paper_with_tripwire()
    with pytest.raises(AttributeError):
        forward_to(net, "nope", X)
    with pytest.raises(AssertionError, match="forward_to ran a layer"):
        forward_to(net, ["relu", "trip"], X)  # the tripwire itself is asked for, so it runs and fails
    assert hook_count(net) == 0

    class Branches(nn.Module):
        def __init__(self):
            super().__init__()
            self.used, self.unused = nn.Identity(), nn.Identity()

        def forward(self, x):
            return self.used(x)

    with pytest.raises(RuntimeError, match="did not run"):
        forward_to(Branches(), "unused", X)

    class Pair(nn.Module):
        def forward(self, x):
            return x, x

    with pytest.raises(TypeError, match="not a tensor"):
        forward_to(nn.Sequential(OrderedDict(pair=Pair())), "pair", X)


def test_input_range_is_normalize_of_black_and_white():
    low, high = input_range(IMAGENET_MEAN, IMAGENET_STD, dtype=torch.float64)
    normalize = v2.Normalize(IMAGENET_MEAN, IMAGENET_STD)
    torch.testing.assert_close(low, normalize(torch.zeros(3, 1, 1, dtype=torch.float64)).flatten())
    torch.testing.assert_close(high, normalize(torch.ones(3, 1, 1, dtype=torch.float64)).flatten())
    corners = torch.stack([low, high], dim=1)[:, :, None].expand(3, 2, 2).float()  # black and white columns
    torch.testing.assert_close(deprocess(corners, IMAGENET_MEAN, IMAGENET_STD),
                               torch.tensor([[0.0, 1.0], [0.0, 1.0]]).T.expand(3, 2, 2), atol=1e-6, rtol=0)
    assert low.dtype == torch.float64 and input_range((0.5,), (0.25,))[0].tolist() == [-2.0]


def test_model_info_input_range():
    _, info = load_imagenet_model("shapes_cnn", device="cpu")
    low, high = info.input_range()
    torch.testing.assert_close(low, torch.tensor([-0.24 / 0.16] * 3))
    torch.testing.assert_close(high, torch.tensor([0.76 / 0.16] * 3))
