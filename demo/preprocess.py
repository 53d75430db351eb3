"""Turn what people draw or upload into what the models saw in training: an MNIST-style digit.

MNIST digits are white ink on black, cropped to the ink, scaled to fit a 20x20 box keeping the
aspect ratio, placed in a 28x28 field with their centre of mass at pixel (14, 14), and padded to
32x32 for our models. A sketch from the browser is black strokes on a transparent layer over a
white (light mode) or dark grey (dark mode) background, so its ink is the layers' alpha; an
uploaded or gallery image is opaque, and its ink is how far each pixel is from the border colour,
which works for dark-on-light and light-on-dark alike.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from PIL import Image

BOX = 20
FIELD = 28
SIZE = 32
CENTRE = 14.0  # where MNIST puts the centre of mass (measured on the test set: 13.99, 14.01)
INK_THRESHOLD = 0.1  # pixels fainter than this are paper, not ink, when cropping
MIN_INK = 0.15  # an image whose strongest ink is fainter than this is empty (JPEG noise, paper texture)
MIN_SIDE = 8
MAX_PIXELS = 4096 * 4096  # larger uploads are refused by PIL before they are decoded (see ui.build_demo)


class InputError(ValueError):
    """Input that cannot be turned into a digit; the message is meant for the person who sent it."""


class EmptyCanvas(InputError):
    """No ink at all: a blank canvas, a cleared sketch, a uniform image."""


def to_float(pixels: np.ndarray) -> np.ndarray:
    """Any numeric image array -> float32 in [0, 1]; NaN and inf become 0 and 1."""
    array = np.asarray(pixels)
    if array.dtype == bool:
        return array.astype(np.float32)
    if not (np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating)):
        raise InputError(f"an image must hold numbers, got {array.dtype} values")
    if np.issubdtype(array.dtype, np.integer):
        peak = 255 if array.dtype.itemsize == 1 or array.max(initial=0) <= 255 else np.iinfo(array.dtype).max
        return np.clip(array.astype(np.float32) / peak, 0, 1)
    return np.clip(np.nan_to_num(array.astype(np.float32), nan=0.0, posinf=1.0, neginf=0.0), 0, 1)


def ink_from_image(pixels: np.ndarray) -> np.ndarray:
    """Ink in [0, 1] of one image [H, W] or [H, W, C] with C in 1..4 (grey, grey+alpha, RGB, RGBA)."""
    image = to_float(pixels)
    if image.ndim == 2:
        image = image[:, :, None]
    if image.ndim != 3 or image.shape[2] not in (1, 2, 3, 4):
        raise InputError(
            f"expected a greyscale, RGB or RGBA image, got an array of shape {list(np.shape(pixels))}"
        )
    height, width = image.shape[:2]
    if min(height, width) < MIN_SIDE:
        raise InputError(f"this image is only {width}x{height} pixels: draw or upload a digit at least {MIN_SIDE}x{MIN_SIDE}")
    colour, alpha = (image[:, :, :-1], image[:, :, -1]) if image.shape[2] in (2, 4) else (image, None)
    if alpha is not None and alpha.min() < 0.99:
        return alpha  # strokes on a transparent layer: the alpha is the ink
    grey = colour.mean(axis=2)
    border = np.concatenate([grey[0], grey[-1], grey[:, 0], grey[:, -1]])
    ink = np.abs(grey - np.median(border))
    peak = ink.max()
    return ink / peak if peak >= MIN_INK else np.zeros_like(ink)


def ink_from_sketch(sketch: Mapping[str, Any] | np.ndarray | None) -> np.ndarray:
    """Ink of a Sketchpad value `{"background", "layers", "composite"}` (or of a bare image): the
    strongest ink of the layers and the background, else of the composite."""
    if sketch is None:
        raise EmptyCanvas("the canvas is empty: draw a digit")
    if isinstance(sketch, np.ndarray):
        return ink_from_image(sketch)
    if not isinstance(sketch, Mapping):
        raise InputError(f"expected a sketch (background, layers, composite), got {type(sketch).__name__}")
    layers = sketch.get("layers") or []
    if not isinstance(layers, (list, tuple)):
        raise InputError("the sketch's layers must be a list of images")
    images = [image for image in [sketch.get("background"), *layers] if image is not None]
    if not images and sketch.get("composite") is not None:
        images = [sketch["composite"]]
    if not images:
        raise EmptyCanvas("the canvas is empty: draw a digit")
    inks = [ink_from_image(image) for image in images]
    if len({ink.shape for ink in inks}) > 1:
        raise InputError(f"the sketch's layers and background differ in size: {sorted({ink.shape for ink in inks})}")
    return np.maximum.reduce(inks)


def mnist_style(ink: np.ndarray) -> np.ndarray:
    """Ink [H, W] in [0, 1] -> a 32x32 float32 digit the way MNIST made its digits (see module doc)."""
    rows, cols = np.nonzero(ink > INK_THRESHOLD)
    if len(rows) == 0 or ink.max() < MIN_INK:
        raise EmptyCanvas("no ink found: draw a digit (the canvas looks empty)")
    crop = ink[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1]
    scale = BOX / max(crop.shape)
    width, height = max(1, round(crop.shape[1] * scale)), max(1, round(crop.shape[0] * scale))
    resized = Image.fromarray(np.ascontiguousarray(crop, dtype=np.float32), "F").resize(
        (width, height), Image.Resampling.LANCZOS
    )
    digit = np.clip(np.asarray(resized), 0, 1)
    peak = digit.max()
    if peak < MIN_INK:
        raise EmptyCanvas("the ink is too faint or too thin to make out a digit: draw bolder strokes")
    digit = digit / peak
    ys, xs = np.indices(digit.shape)
    mass = digit.sum()
    top = int(np.clip(round(CENTRE - (ys * digit).sum() / mass), 0, FIELD - height))
    left = int(np.clip(round(CENTRE - (xs * digit).sum() / mass), 0, FIELD - width))
    out = np.zeros((SIZE, SIZE), np.float32)
    margin = (SIZE - FIELD) // 2
    out[margin + top : margin + top + height, margin + left : margin + left + width] = digit
    return out


def digit_from_sketch(sketch: Mapping[str, Any] | np.ndarray | None) -> np.ndarray:
    """A Sketchpad value or an image -> the 32x32 float32 digit in [0, 1] the models expect."""
    return mnist_style(ink_from_sketch(sketch))
