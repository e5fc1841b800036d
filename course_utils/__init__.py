"""course_utils: the small reference library the course notebooks import.

It holds what several notebooks share (devices, checks, references, pictures); it holds no
exercise answers.
"""

from .checks import Comparison, assert_close, compare
from .device import deterministic, get_device, seed_everything
from .grading import Checker
from .images import PHOTOS, draw_boxes, load_photo, overlay_heatmap, save_figure, show_image, show_images, tone_map
from .session import GRADING, progress, start_notebook

__all__ = [
    "GRADING", "Checker", "Comparison", "PHOTOS", "assert_close", "compare", "deterministic", "draw_boxes",
    "get_device", "load_photo", "overlay_heatmap", "progress", "save_figure", "seed_everything", "show_image",
    "show_images", "start_notebook", "tone_map",
]
