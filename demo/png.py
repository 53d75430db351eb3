"""PNG files of the Space's output pictures, written for speed: every row unfiltered, zlib at level 1.

Pillow picks a filter for each row by trying all five, which was three quarters of its encoding time:
the latent map (360x360 RGB) took 3.6 ms with Pillow and takes 0.8 ms here, in a file of the same size
(30 kB); a digit (32x32) comes out smaller than Pillow's (330 vs 362 bytes). The Space encodes a
picture on every model call, so this is its hot loop (docs/space.md, "Throughput under load").
"""

from __future__ import annotations

import struct
import zlib

import numpy as np

SIGNATURE = b"\x89PNG\r\n\x1a\n"
COLOUR_TYPES = {1: 0, 2: 4, 3: 2, 4: 6}  # channels -> PNG colour type: grey, grey+alpha, RGB, RGBA
LEVEL = 1  # zlib's fastest: higher levels took 2-3x as long for files 5-20% smaller


def chunk(kind: bytes, data: bytes) -> bytes:
    """One PNG chunk: length, type, data, CRC of type and data."""
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_bytes(image: np.ndarray) -> bytes:
    """A uint8 picture [H, W] (grey) or [H, W, C] (C = 2, 3, 4: grey+alpha, RGB, RGBA) as a PNG file."""
    if image.dtype != np.uint8 or image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] not in COLOUR_TYPES):
        raise ValueError(f"expected a uint8 picture [H, W] or [H, W, 1-4], got {image.dtype} {list(image.shape)}")
    height, width = image.shape[:2]
    channels = 1 if image.ndim == 2 else image.shape[2]
    rows = np.zeros((height, 1 + width * channels), np.uint8)  # each row starts with its filter: 0, none
    rows[:, 1:] = image.reshape(height, width * channels)
    header = struct.pack(">IIBBBBB", width, height, 8, COLOUR_TYPES[channels], 0, 0, 0)
    return SIGNATURE + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows.tobytes(), LEVEL)) + chunk(b"IEND", b"")
