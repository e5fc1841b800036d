"""Range mapping (the seeds' two pitfalls), image grids and the bundled photos."""

import matplotlib
import numpy as np
import pytest
import torch

from course_utils import load_photo, save_figure, show_images, tone_map

matplotlib.use("Agg")


def test_minmax_stretches_a_tiny_range_to_full_scale():
    eps = 1e-6
    x = np.array([-eps, 0.0, eps])
    np.testing.assert_allclose(tone_map(x, "minmax"), [0.0, 0.5, 1.0])
    # the pitfall: clipping shows the same tiny range as one flat grey
    np.testing.assert_allclose(tone_map(x, "clip"), [0.0, 0.0, eps])


def test_clip_saturates_values_far_outside_the_range():
    x = np.array([-100.0, 0.25, 100.0])
    np.testing.assert_allclose(tone_map(x, "clip"), [0.0, 0.25, 1.0])
    np.testing.assert_allclose(tone_map(x, "minmax"), [0.0, 100.25 / 200, 1.0])


def test_symmetric_keeps_zero_mid_grey_and_constant_input_is_safe():
    np.testing.assert_allclose(tone_map(np.array([-2.0, 0.0, 1.0]), "symmetric"), [0.0, 0.5, 0.75])
    assert np.all(tone_map(np.ones(3), "minmax") == 0)
    with pytest.raises(ValueError):
        tone_map(np.ones(3), "log")


def test_load_photo_shapes_range_and_matches_skimage():
    from skimage import data

    t = load_photo("chelsea")
    ref = data.chelsea()
    assert t.shape == (3, *ref.shape[:2]) and t.dtype == torch.float32
    np.testing.assert_allclose(t.permute(1, 2, 0).numpy() * 255, ref, atol=1e-3)
    small = load_photo("camera", (32, 48), gray=True)
    assert small.shape == (1, 32, 48) and 0 <= small.min() and small.max() <= 1
    with pytest.raises(ValueError, match="unknown photo"):
        load_photo("lena")


def test_show_images_saves_a_figure(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_FIGURE_DIR", str(tmp_path))
    fig = show_images(torch.rand(5, 3, 8, 8), titles=list("abcde"), ncols=3, save="grid.png")
    assert (tmp_path / "grid.png").stat().st_size > 0
    assert len(fig.axes) == 6
    assert save_figure(fig, "again").name == "again.png"
