"""A 2-D map of a model's codes: test digits projected on the two principal axes of their codes,
drawn as their own numerals coloured by class; any point of the map is a code that decodes."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont
from torch import Tensor

PIXELS = 360
EXTENT = 3.0  # the map spans -EXTENT..EXTENT standard deviations on both axes
PALETTE = [  # matplotlib's tab10
    (31, 119, 180),
    (255, 127, 14),
    (44, 160, 44),
    (214, 39, 40),
    (148, 103, 189),
    (140, 86, 75),
    (227, 119, 194),
    (127, 127, 127),
    (188, 189, 34),
    (23, 190, 207),
]


@dataclass
class LatentMap:
    """Principal axes of a set of codes, the digits' coordinates on them (in SDs), and the drawing."""

    mean: Tensor
    axes: Tensor  # [2, D], unit vectors
    scale: Tensor  # [2], standard deviation of the codes along each axis
    points: np.ndarray  # [N, 2]
    labels: np.ndarray  # [N]
    _base: np.ndarray | None = field(default=None, repr=False)

    @classmethod
    def fit(cls, codes: Tensor, labels: np.ndarray) -> LatentMap:
        codes = codes.double()
        mean = codes.mean(dim=0)
        _, singular, vectors = torch.linalg.svd(codes - mean, full_matrices=False)
        axes, scale = vectors[:2], (singular[:2] / (len(codes) - 1) ** 0.5).clamp_min(1e-8)
        points = ((codes - mean) @ axes.T / scale).numpy()
        return cls(mean.float(), axes.float(), scale.float(), points, np.asarray(labels))

    def nearest_label(self, x: float, y: float) -> int:
        """The label of the digit drawn nearest the point (x, y)."""
        return int(self.labels[np.argmin(np.square(self.points - np.array([x, y])).sum(axis=1))])

    def code(self, x: float, y: float) -> Tensor:
        """The code [1, D] at map coordinates (x, y), in standard deviations along the two axes."""
        return (self.mean + (torch.tensor([x, y]) * self.scale) @ self.axes).unsqueeze(0)

    @staticmethod
    def to_pixel(x: float, y: float) -> tuple[float, float]:
        half = PIXELS / 2
        return half + x / EXTENT * half, half - y / EXTENT * half

    @staticmethod
    def from_pixel(px: float, py: float) -> tuple[float, float]:
        """Map coordinates of a pixel of the drawing, clipped to the map."""
        half = PIXELS / 2
        x, y = (px - half) / half * EXTENT, (half - py) / half * EXTENT
        return float(np.clip(x, -EXTENT, EXTENT)), float(np.clip(y, -EXTENT, EXTENT))

    def render(self, marker: tuple[float, float] | None = None) -> np.ndarray:
        """RGB uint8 [PIXELS, PIXELS, 3]: the digits as coloured numerals, a ring at `marker`."""
        if self._base is None:
            self._base = self._draw_points()
        if marker is None:
            return self._base
        image = Image.fromarray(self._base)
        draw = ImageDraw.Draw(image)
        px, py = self.to_pixel(*marker)
        draw.ellipse((px - 8, py - 8, px + 8, py + 8), outline=(0, 0, 0), width=3)
        draw.line((px - 13, py, px + 13, py), fill=(0, 0, 0), width=1)
        draw.line((px, py - 13, px, py + 13), fill=(0, 0, 0), width=1)
        return np.asarray(image)

    def _draw_points(self) -> np.ndarray:
        image = Image.new("RGB", (PIXELS, PIXELS), (255, 255, 255))
        draw = ImageDraw.Draw(image)
        for sd in range(-3, 4):
            px, py = self.to_pixel(sd, sd)
            shade = (200, 200, 200) if sd == 0 else (236, 236, 236)
            draw.line((px, 0, px, PIXELS), fill=shade)
            draw.line((0, py, PIXELS, py), fill=shade)
        font = ImageFont.load_default(size=12)
        for (x, y), label in zip(self.points, self.labels):
            draw.text(self.to_pixel(x, y), str(int(label)), fill=PALETTE[int(label) % 10], font=font, anchor="mm")
        return np.asarray(image)
