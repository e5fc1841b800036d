"""The shapes data set: reproducible, consistent labels, boxes and masks, every class and texture."""

import hashlib
import math

import numpy as np
import pytest
import torch

from course_utils.data import CLASSES, TEXTURES, ShapesDataset, colourize, make_scenes, shape_mask


@pytest.fixture(scope="module")
def scenes():
    return make_scenes(300, 48, seed=7)


def test_same_seed_same_bits_and_independent_of_n():
    a, b = make_scenes(5, 40, seed=3), make_scenes(12, 40, seed=3)
    for s, t in zip(a, b):
        assert torch.equal(s.image, t.image) and torch.equal(s.semantic, t.semantic)
        assert torch.equal(s.boxes, t.boxes) and torch.equal(s.labels, t.labels)
    assert not torch.equal(make_scenes(1, 40, seed=4)[0].image, a[0].image)


def test_fingerprint_is_stable_across_machines():
    """Golden checksum of the exact bytes of four scenes, recorded when the generator was written.
    Per-pixel work is IEEE-exact arithmetic, so any machine must reproduce it; a change to the
    generator that alters the data must update this value on purpose."""
    h = hashlib.sha256()
    for s in make_scenes(4, 32, seed=0):
        for t in (s.image, s.semantic, s.boxes):
            h.update(t.numpy().tobytes())
    assert h.hexdigest() == "4a1780d54d930d15f122952a2ea4201ac6bde94b58388cbbf3fc05b8dccc642b"


def test_types_ranges_and_counts(scenes):
    for s in scenes:
        k = len(s.labels)
        assert 1 <= k <= 3
        assert s.image.shape == (3, 48, 48) and s.image.dtype == torch.float32
        assert 0 <= s.image.min() and s.image.max() <= 1
        assert s.boxes.shape == (k, 4) and s.masks.shape == (k, 48, 48) and s.masks.dtype == torch.bool
        assert s.semantic.dtype == torch.int64 and s.textures.shape == (k,)


def test_boxes_are_the_tight_boxes_of_the_masks(scenes):
    for s in scenes:
        for (x1, y1, x2, y2), m in zip(s.boxes.tolist(), s.masks):
            ys, xs = torch.nonzero(m, as_tuple=True)
            assert (x1, y1, x2, y2) == (xs.min().item(), ys.min().item(), xs.max().item() + 1, ys.max().item() + 1)


def test_semantic_mask_agrees_with_instances(scenes):
    for s in scenes:
        expected = torch.zeros_like(s.semantic)
        assert int(s.masks.sum(0).max()) <= 1, "instance masks do not overlap"
        for label, m in zip(s.labels, s.masks):
            expected[m] = label + 1
        assert torch.equal(expected, s.semantic)


def test_every_class_and_texture_appears(scenes):
    labels = torch.cat([s.labels for s in scenes])
    textures = torch.cat([s.textures for s in scenes])
    assert set(labels.tolist()) == set(range(len(CLASSES)))
    assert set(textures.tolist()) == set(range(len(TEXTURES)))
    counts = torch.bincount(labels, minlength=len(CLASSES)).float()
    assert counts.min() > 0.6 * counts.mean(), "classes are roughly balanced"


@pytest.mark.parametrize("name, area", [("circle", math.pi), ("square", 1.56 ** 2), ("ring", math.pi * (1 - 0.36)),
                                        ("cross", 2 * 0.6 * 1.9 - 0.36),
                                        ("triangle", 3 * math.sqrt(3) / 4)])
def test_shape_areas_match_geometry(name, area):
    u = np.linspace(-1.2, 1.2, 1201)
    U, V = np.meshgrid(u, u)
    measured = shape_mask(name, U, V).mean() * 2.4 ** 2
    assert measured == pytest.approx(area, rel=0.01)


def test_star_is_a_five_pointed_star():
    u = np.linspace(-1.2, 1.2, 801)
    U, V = np.meshgrid(u, u)
    star = shape_mask("star", U, V)
    theta = np.arctan2(V, U)
    for k in range(5):  # each tip direction reaches radius ~1, the directions between tips do not
        tip = math.pi / 2 + 2 * math.pi * k / 5
        along = np.abs(np.angle(np.exp(1j * (theta - tip)))) < 0.02
        between = np.abs(np.angle(np.exp(1j * (theta - tip - math.pi / 5)))) < 0.02
        assert np.sqrt(U ** 2 + V ** 2)[star & along].max() > 0.95
        assert np.sqrt(U ** 2 + V ** 2)[star & between].max() < 0.5


def test_dataset_front_for_three_tasks():
    seg = ShapesDataset(6, 32, seed=1)
    image, semantic = seg[0]
    assert image.shape == (3, 32, 32) and semantic.shape == (32, 32)
    images, targets = seg.tensors()
    assert images.shape == (6, 3, 32, 32) and targets.shape == (6, 32, 32)
    det = ShapesDataset(6, 32, seed=1, task="detection")
    assert torch.equal(det[2][1]["boxes"], seg.scenes[2].boxes)
    cls = ShapesDataset(6, 32, seed=1, task="classification")
    assert all(len(s.labels) == 1 for s in cls.scenes) and cls.tensors()[1].shape == (6,)
    with pytest.raises(ValueError):
        ShapesDataset(1, task="depth")
    assert colourize(semantic).shape == (32, 32, 3)
