"""course_utils: the small reference library the course notebooks import.

It holds what several notebooks share (devices, checks, references, pictures); it holds no
exercise answers.
"""

from .checks import Comparison, assert_close, compare
from .device import deterministic, get_device, seed_everything
from .grading import Checker
from .images import PHOTOS, load_photo, save_figure, show_images, tone_map

__all__ = [
    "Checker", "Comparison", "PHOTOS", "assert_close", "compare", "deterministic", "get_device",
    "load_photo", "save_figure", "seed_everything", "show_images", "tone_map",
]
