"""Data the course makes itself: the seeded shapes scenes."""

from .shapes import (BACKGROUND, CLASSES, SEMANTIC_COLOURS, SEMANTIC_NAMES, TEXTURES, Scene, ShapesDataset,
                     class_legend, colourize, make_scene, make_scenes, shape_mask, show_scenes)

__all__ = ["BACKGROUND", "CLASSES", "SEMANTIC_COLOURS", "SEMANTIC_NAMES", "TEXTURES", "Scene", "ShapesDataset",
           "class_legend", "colourize", "make_scene", "make_scenes", "shape_mask", "show_scenes"]
