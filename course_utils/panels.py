"""Interactive figures: controls above a picture that is redrawn whenever one of them moves.

The first picture is stored as the panel's own state (a PNG), not captured from the cell's output while it
runs. nbclient, which runs the notebooks for grading and for the tests, answers output captured by an
``Output`` widget with comm messages on the kernel's shell channel; these raced its wait for the cell to
finish and stalled a run until its timeout. A picture set as state sends no such message.
"""

from __future__ import annotations

import io
from collections.abc import Callable

import ipywidgets as widgets
import matplotlib.pyplot as plt
from IPython.display import Image
from matplotlib.figure import Figure


def figure_png(fig: Figure) -> bytes:
    """The figure as PNG bytes (cropped to its contents); the figure is closed."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", bbox_inches="tight")
    plt.close(fig)
    return buffer.getvalue()


def figure_panel(draw: Callable[..., Figure | None], **controls: widgets.ValueWidget) -> widgets.VBox:
    """The ``controls`` in a row above the figure that ``draw(**values)`` returns for their values.

    Args:
        draw: called with one keyword per control (its current value); returns a new figure, or None to
            keep the picture shown (while linked controls are still being updated, say).
        controls: the widgets, by the name of ``draw``'s keyword they feed.

    Returns:
        The panel; display it. Moving a control redraws the picture; whatever ``draw`` prints meanwhile
        (a progress bar for a slow picture) appears inside the panel.
    """
    picture = widgets.Output()

    def redraw() -> None:
        fig = draw(**{name: control.value for name, control in controls.items()})
        if fig is not None:
            png = figure_png(fig)
            picture.outputs = ()
            picture.append_display_data(Image(png))

    def on_change(_change) -> None:
        with picture:
            redraw()

    redraw()
    for control in controls.values():
        control.observe(on_change, "value")
    return widgets.VBox([widgets.HBox(list(controls.values())), picture])
