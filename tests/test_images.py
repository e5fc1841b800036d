"""Range mapping (the seeds' two pitfalls), image grids and the bundled photos."""

import matplotlib
import numpy as np
import pytest
import torch

from course_utils import (draw_boxes, load_photo, overlay_heatmap, save_figure, show_image, show_images, start_notebook,
                          tone_map)
from course_utils.images import draw_numbers

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
    stain = load_photo("immunohistochemistry", 40)  # the painting-like style image of 07, bundled (no download)
    assert stain.shape == (3, 40, 40) and 0 <= stain.min() and stain.max() <= 1
    assert (stain[2] - stain[0]).max() > 0.1 and (stain[0] - stain[2]).max() > 0.1  # blue and brown strokes


def test_show_images_saves_a_figure(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_FIGURE_DIR", str(tmp_path))
    fig = show_images(torch.rand(5, 3, 8, 8), titles=list("abcde"), ncols=3, save="grid.png")
    assert (tmp_path / "grid.png").stat().st_size > 0
    assert len(fig.axes) == 6
    assert save_figure(fig, "again").name == "again.png"


def _figure():
    import matplotlib.pyplot as plt

    return plt.subplots()


def test_show_image_draws_the_pixels_untouched_and_without_ticks():
    fig, ax = _figure()
    image = torch.rand(3, 5, 7)
    show_image(ax, image, "seven wide")
    [shown] = ax.get_images()
    np.testing.assert_array_equal(shown.get_array(), image.permute(1, 2, 0).numpy())
    assert ax.get_xticks().size == 0 and ax.get_title() == "seven wide"


def test_draw_boxes_puts_edges_on_pixel_borders_with_readable_labels():
    fig, ax = _figure()
    draw_boxes(ax, torch.tensor([[2.0, 3.0, 6.0, 5.0]]), color="yellow", labels=["cat 0.9"])
    [box] = ax.patches
    assert (box.get_x(), box.get_y(), box.get_width(), box.get_height()) == (1.5, 2.5, 4.0, 2.0)
    [label] = ax.texts
    assert label.get_text() == "cat 0.9" and label.get_color() == "black"  # dark text on a light tag
    draw_boxes(ax, [[0, 0, 1, 1]], color="navy", labels=["x"])
    assert ax.texts[-1].get_color() == "white"


def test_overlay_heatmap_upsamples_to_the_image_and_keeps_the_sign_centred():
    fig, ax = _figure()
    heat = torch.tensor([[-2.0, 1.0], [0.0, 0.5]])
    shown = overlay_heatmap(ax, torch.zeros(3, 8, 8), heat, signed=True, colorbar=True)
    assert shown.get_array().shape == (8, 8)
    assert shown.get_clim() == (-2.0, 2.0)  # zero sits in the middle of the diverging map
    assert len(fig.axes) == 2  # the colour bar
    plain = overlay_heatmap(ax, torch.zeros(3, 8, 8), heat)
    low, high = plain.get_clim()
    assert low < 0 < high and low >= -2 and high <= 1


def test_draw_numbers_writes_every_value_without_negative_zero():
    fig, ax = _figure()
    draw_numbers(ax, np.array([[-0.0, 1.5], [2.0, -3.0]]), boxes=[(0, 0, 1, 2)])
    assert [t.get_text() for t in ax.texts] == ["0", "1.5", "2", "-3"]
    [outline] = ax.patches
    assert (outline.get_x(), outline.get_y(), outline.get_width(), outline.get_height()) == (-0.5, -0.5, 2, 1)


def test_start_notebook_seeds_sets_one_thread_and_honours_the_variable(monkeypatch):
    from course_utils import session

    saved = torch.get_num_threads()
    try:
        monkeypatch.delenv(session.THREADS_ENV, raising=False)
        assert start_notebook(3).type in ("cpu", "cuda", "mps")
        first = torch.rand(2)
        assert torch.get_num_threads() == 1
        monkeypatch.setenv(session.THREADS_ENV, "2")
        start_notebook(3)
        assert torch.equal(torch.rand(2), first) and torch.get_num_threads() == 2
        monkeypatch.setenv(session.THREADS_ENV, "many")
        with pytest.raises(ValueError, match="CVCOURSE_THREADS"):
            start_notebook(3)
    finally:
        torch.set_num_threads(saved)
