"""Turn what people draw or upload into what the models saw in training: an MNIST-style digit.

MNIST digits are white ink on black, cropped to the ink, scaled to fit a 20x20 box keeping the
aspect ratio, placed in a 28x28 field with their centre of mass at pixel (14, 14), and padded to
32x32 for our models. A sketch from the browser is black strokes on a transparent layer over a
white (light mode) or dark grey (dark mode) background, so its ink is the layers' alpha.

An uploaded photo or scan, or a gallery digit, is opaque, and its ink is found the way a document
scanner finds it (`ink_from_photo`): which way the ink goes (dark on light or light on dark) from
the strongest departures from a coarse median of the picture; the paper's own brightness, lit
unevenly, from a morphological closing (opening for light ink) wider than any stroke; the ink as the
contrast to that paper, relative to the paper's brightness; Otsu's threshold on that contrast; and
of the pieces of ink above it, those of the digit: not specks, not shadows along the picture's edge.
The ink keeps its soft edges, so a clean MNIST digit comes through unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from PIL import Image
from scipy import ndimage

BOX = 20
FIELD = 28
SIZE = 32
CENTRE = 14.0  # where MNIST puts the centre of mass (measured on the test set: 13.99, 14.01)
INK_THRESHOLD = 0.1  # pixels fainter than this are paper, not ink, when cropping
MIN_INK = 0.15  # an image whose strongest ink is fainter than this is empty (JPEG noise, paper texture)
MIN_SIDE = 8
MAX_PIXELS = 4096 * 4096  # larger uploads are refused by PIL before they are decoded (see ui.build_demo)
COARSE = 64  # the paper's brightness is estimated on the picture shrunk to this many pixels a side at most
STROKE_WINDOW = 1 / 3  # paper estimates look at windows this part of the picture's shorter side, wider than strokes
TAIL = 0.02  # polarity: compare the mean of the darkest and of the brightest 2% of departures from the paper
SPECK = 0.1  # pieces of ink smaller than this part of the largest piece are specks
EDGE = 0.05  # ink within this part of the digit's size of the thresholded strokes is their soft edge


class InputError(ValueError):
    """Input that cannot be turned into a digit; the message is meant for the person who sent it."""


class EmptyCanvas(InputError):
    """No ink at all: a blank canvas, a cleared sketch, a uniform image."""


def full_scale(array: np.ndarray) -> int:
    """The value of full ink in an integer picture: 255 when its values fit 8 bits, whatever their
    type, else its type's maximum (a 16-bit scan)."""
    return 255 if array.dtype.itemsize == 1 or array.max(initial=0) <= 255 else int(np.iinfo(array.dtype).max)


def to_float(pixels: np.ndarray, scale: int | None = None) -> np.ndarray:
    """Any numeric image array -> float32 in [0, 1]; NaN and inf become 0 and 1. Integers are read out
    of `scale`, by default their own `full_scale` (pass the whole picture's to read one channel)."""
    array = np.asarray(pixels)
    if array.dtype == bool:
        return array.astype(np.float32)
    if not (np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating)):
        raise InputError(f"an image must hold numbers, got {array.dtype} values")
    if np.issubdtype(array.dtype, np.integer):
        return np.clip(array.astype(np.float32) / (scale or full_scale(array)), 0, 1)
    return np.clip(np.nan_to_num(array.astype(np.float32), nan=0.0, posinf=1.0, neginf=0.0), 0, 1)


def ink_from_image(pixels: np.ndarray) -> np.ndarray:
    """Ink in [0, 1] of one image [H, W] or [H, W, C] with C in 1..4 (grey, grey+alpha, RGB, RGBA)."""
    image = np.asarray(pixels)
    if image.ndim == 2:
        image = image[:, :, None]
    if image.ndim != 3 or image.shape[2] not in (1, 2, 3, 4):
        raise InputError(f"expected a greyscale, RGB or RGBA image, got an array of shape {list(np.shape(pixels))}")
    height, width = image.shape[:2]
    if min(height, width) < MIN_SIDE:
        raise InputError(f"this image is only {width}x{height} pixels: draw or upload a digit at least {MIN_SIDE}x{MIN_SIDE}")
    # The channels are read one part at a time: a stroke layer's ink is its alpha, and then its colour
    # is never converted (a quarter of the work on every stroke); all of them out of the whole picture's scale.
    scale = full_scale(image) if np.issubdtype(image.dtype, np.integer) else None
    if image.shape[2] in (2, 4):
        alpha = to_float(image[:, :, -1], scale)
        if alpha.min() < 0.99:
            return alpha  # strokes on a transparent layer: the alpha is the ink
        image = image[:, :, :-1]
    return ink_from_photo(to_float(image, scale).mean(axis=2))


def coarse(grey: np.ndarray) -> tuple[np.ndarray, int]:
    """`grey` shrunk (by averaging) to at most `COARSE` pixels a side, and an odd window
    `STROKE_WINDOW` of its shorter side."""
    height, width = grey.shape
    factor = max(1, int(np.ceil(max(height, width) / COARSE)))
    small = grey[: height // factor * factor, : width // factor * factor]
    small = small.reshape(height // factor, factor, width // factor, factor).mean(axis=(1, 3))
    window = max(3, round(min(small.shape) * STROKE_WINDOW)) | 1
    return small, window


def enlarge(small: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """A coarse estimate back at full size, interpolated smoothly."""
    if small.shape == shape:
        return small
    return np.asarray(Image.fromarray(small.astype(np.float32), "F").resize(shape[::-1], Image.Resampling.BILINEAR))


def dark_ink(grey: np.ndarray, small: np.ndarray, window: int) -> bool:
    """Whether the ink is darker than the paper: the darkest departures from a coarse median of the
    picture are stronger than the brightest ones (the median is paper wherever strokes are thin)."""
    paper = enlarge(ndimage.median_filter(small, size=window, mode="nearest"), grey.shape)
    departure = np.sort((grey - paper).ravel())
    tail = max(1, round(len(departure) * TAIL))
    return -departure[:tail].mean() > departure[-tail:].mean()


def otsu(values: np.ndarray, bins: int = 256) -> float:
    """Otsu's threshold: the level that best splits `values` into two classes."""
    counts, edges = np.histogram(values, bins=bins, range=(0.0, float(values.max()) or 1.0))
    centres = (edges[:-1] + edges[1:]) / 2
    weight = np.cumsum(counts)
    mass = np.cumsum(counts * centres)
    below, above = weight[:-1], weight[-1] - weight[:-1]
    valid = (below > 0) & (above > 0)
    mean_below = np.divide(mass[:-1], below, out=np.zeros(bins - 1), where=valid)
    mean_above = np.divide(mass[-1] - mass[:-1], above, out=np.zeros(bins - 1), where=valid)
    spread = np.where(valid, below * above * (mean_above - mean_below) ** 2, -1.0)
    return float(edges[1 + int(spread.argmax())])


def digit_pieces(mask: np.ndarray) -> np.ndarray:
    """The pieces of `mask` that make the digit: all but specks and pieces touching the picture's
    edge (shadows, the table), unless nothing else is left."""
    labels, count = ndimage.label(mask, structure=np.ones((3, 3)))
    if count == 0:
        return mask
    sizes = np.bincount(labels.ravel(), minlength=count + 1)
    sizes[0] = 0
    edge = np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))
    inner = sizes.copy()
    inner[edge] = 0
    candidates = inner if inner.max() > 0 else sizes
    keep = candidates >= SPECK * candidates.max()
    keep[0] = False
    return keep[labels]


def ink_from_photo(grey: np.ndarray) -> np.ndarray:
    """Ink in [0, 1] of an opaque greyscale picture [H, W] in [0, 1]: a photo or scan of a digit,
    dark on light or light on dark, lit unevenly, on textured paper (see the module doc)."""
    if np.ptp(grey) < MIN_INK**2:
        # Too even to hold ink (a blank page; the sketchpad's own paper under every stroke): the paper
        # estimates below stay within the picture's range, so no contrast could reach MIN_INK.
        return np.zeros_like(grey)
    small, window = coarse(grey)
    dark = dark_ink(grey, small, window)
    if dark:  # a closing removes the dark strokes and leaves the paper; an opening the light ones
        paper = ndimage.grey_closing(small, size=window, mode="nearest")
    else:
        paper = ndimage.grey_opening(small, size=window, mode="nearest")
    paper = enlarge(ndimage.uniform_filter(paper, size=window, mode="nearest"), grey.shape)
    contrast = np.clip(paper - grey if dark else grey - paper, 0, None)
    if dark:  # relative to the paper's brightness, so that the shade of the light does not matter
        contrast = contrast / np.maximum(paper, MIN_INK)
    if contrast.max() < MIN_INK:
        return np.zeros_like(grey)  # no ink: a blank page, JPEG noise, paper texture
    mask = digit_pieces(contrast > otsu(contrast))
    strokes = contrast[mask]
    level = float(np.percentile(strokes, 90)) if strokes.size else 0.0
    if level < MIN_INK:
        return np.zeros_like(grey)
    rows, cols = np.nonzero(mask)
    extent = max(rows.max() - rows.min(), cols.max() - cols.min()) + 1
    near = ndimage.maximum_filter(mask, size=2 * max(1, round(extent * EDGE)) + 1)  # keep the strokes' soft edges
    return np.clip(contrast / level, 0, 1) * near


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
    inked = ink > INK_THRESHOLD
    rows, cols = np.flatnonzero(inked.any(axis=1)), np.flatnonzero(inked.any(axis=0))  # 6x faster than np.nonzero
    crop = ink[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1] if len(rows) else ink[:0, :0]
    if crop.size == 0 or crop.max() < MIN_INK:  # all ink above MIN_INK (> INK_THRESHOLD) lies in the crop
        raise EmptyCanvas("no ink found: draw a digit (the canvas looks empty)")
    scale = BOX / max(crop.shape)
    width, height = max(1, round(crop.shape[1] * scale)), max(1, round(crop.shape[0] * scale))
    resized = Image.fromarray(np.ascontiguousarray(crop, dtype=np.float32), "F").resize((width, height), Image.Resampling.LANCZOS)
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
