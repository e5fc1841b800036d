"""course_utils.panels: the first picture is the panel's own state, and moving a control redraws it."""

from __future__ import annotations

import base64

import ipywidgets as widgets
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from course_utils.panels import figure_panel  # noqa: E402

PNG_MAGIC = b"\x89PNG"


def _png(panel: widgets.VBox) -> bytes:
    (output,) = panel.children[1].outputs
    return base64.b64decode(output["data"]["image/png"])


def test_the_panel_holds_a_png_for_the_controls_values_and_redraws_on_change():
    calls, figures = [], []

    def draw(size, colour):
        calls.append((size, colour))
        if size == 0:
            return None  # keep the picture
        fig, ax = plt.subplots(figsize=(size, size))
        ax.set_facecolor(colour)
        figures.append(fig)
        return fig

    size, colour = widgets.IntSlider(2, 0, 4), widgets.Dropdown(options=["red", "blue"], value="red")
    panel = figure_panel(draw, size=size, colour=colour)
    assert panel.children[0].children == (size, colour)
    first = _png(panel)
    assert first.startswith(PNG_MAGIC) and calls == [(2, "red")]
    assert not plt.fignum_exists(figures[0].number)  # the figure was closed once stored

    colour.value = "blue"
    second = _png(panel)
    assert calls[-1] == (2, "blue") and second.startswith(PNG_MAGIC) and second != first
    size.value = 0
    assert calls[-1] == (0, "blue") and _png(panel) == second
