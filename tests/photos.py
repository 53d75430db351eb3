"""Photos of handwritten digits, made from real MNIST digits, to test what the Space does with uploads.

Each photo puts one 28x28 test digit, enlarged to 35-75% of the photo's shorter side, turned by up
to 12 degrees and drawn as a solid stroke with the lens's blur, onto tinted paper (dark ink) or a board (light chalk) with fibre texture, lighting
that falls off across the photo, a few specks of dust, sometimes a shadow along one edge, sensor
noise and JPEG compression. Everything is drawn from one seeded generator, so a seed gives the same
photos on every machine.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
from PIL import Image
from scipy import ndimage

SEED = 0
PAPERS = [(236, 226, 200), (244, 242, 236), (222, 228, 236), (240, 222, 214), (210, 214, 200)]  # beige, white, bluish, pink, grey
INKS = [(28, 28, 34), (30, 42, 120), (70, 70, 78), (90, 30, 30)]  # black, blue ballpoint, pencil, red-brown
BOARDS = [(38, 58, 48), (30, 34, 40), (24, 36, 70), (60, 60, 62)]  # green, black, navy, slate
CHALKS = [(236, 236, 226), (250, 240, 170), (210, 226, 240)]  # white, yellow, blue


@dataclass(frozen=True)
class Photo:
    """A JPEG photo of the test digit `index` (its class is `label`), and `scan`: the same strokes,
    placed and turned alike, as a perfect scan would see them (uint8, black on white, no noise)."""

    jpeg: bytes
    scan: np.ndarray
    index: int
    label: int
    dark_on_light: bool

    def image(self) -> np.ndarray:
        """The decoded photo, uint8 RGB [H, W, 3]."""
        return np.asarray(Image.open(io.BytesIO(self.jpeg)).convert("RGB"))


def smooth_noise(rng: np.random.Generator, height: int, width: int, scale: float) -> np.ndarray:
    """Noise in about [-1, 1] that varies over `scale` pixels."""
    small = rng.uniform(-1, 1, (max(2, round(height / scale)), max(2, round(width / scale)))).astype(np.float32)
    return np.asarray(Image.fromarray(small, "F").resize((width, height), Image.Resampling.BICUBIC))


def lighting(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """Light falling off across the photo from a bright side, and towards the corners: 0.55-1."""
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    ys, xs = ys / height - 0.5, xs / width - 0.5
    angle = rng.uniform(0, 2 * np.pi)
    gradient = (xs * np.cos(angle) + ys * np.sin(angle) + 0.71) / 1.42  # 0 on the bright side, 1 on the far one
    vignette = xs**2 + ys**2
    light = 1 - rng.uniform(0.1, 0.3) * gradient - rng.uniform(0.0, 0.5) * vignette
    return np.clip(light, 0.55, 1.0)


def photograph(digit: np.ndarray, rng: np.random.Generator, dark_on_light: bool) -> tuple[Image.Image, np.ndarray]:
    """A 28x28 white-on-black uint8 digit as an RGB photo (see the module doc), and as a perfect scan."""
    height = int(rng.integers(120, 481))
    width = int(height * rng.uniform(0.75, 1.5))
    side = int(min(height, width) * rng.uniform(0.35, 0.75))  # the digit's 28x28 field, in photo pixels
    field = Image.fromarray(digit).resize((side, side), Image.Resampling.BICUBIC)
    field = field.rotate(rng.uniform(-12, 12), resample=Image.Resampling.BICUBIC)
    # A pen's stroke is solid with a sharp edge (MNIST's soft edges come from shrinking such strokes):
    # threshold the enlarged digit, then blur it a little as a lens does.
    stroke = np.clip((np.asarray(field, np.float32) / 255 - 0.4) / 0.2, 0, 1)
    stroke = ndimage.gaussian_filter(stroke, rng.uniform(0.5, 1.2))
    alpha = np.zeros((height, width), np.float32)
    top, left = int(rng.integers(0, height - side + 1)), int(rng.integers(0, width - side + 1))
    alpha[top : top + side, left : left + side] = stroke
    scan = np.round(255 * (1 - alpha)).astype(np.uint8)

    for _ in range(int(rng.integers(0, 6))):  # dust: specks of ink two to four pixels across
        y, x, r = int(rng.integers(2, height - 2)), int(rng.integers(2, width - 2)), int(rng.integers(1, 3))
        speck = alpha[y - r : y + r, x - r : x + r]
        np.maximum(speck, rng.uniform(0.5, 1), out=speck)

    background, ink = (PAPERS, INKS) if dark_on_light else (BOARDS, CHALKS)
    base = np.array(background[rng.integers(len(background))], np.float32) * rng.uniform(0.92, 1.04)
    colour = np.array(ink[rng.integers(len(ink))], np.float32)
    texture = 1 + 0.05 * smooth_noise(rng, height, width, 12) + 0.03 * smooth_noise(rng, height, width, 2)
    image = (base * texture[..., None]) * (1 - alpha[..., None]) + colour * alpha[..., None]
    image *= lighting(rng, height, width)[..., None]

    if rng.random() < 0.3:  # the edge of a shadow or of the table along one side
        side_up = np.rot90(image, int(rng.integers(4)))  # a view: that side is now the top
        side_up[: int(min(height, width) * rng.uniform(0.03, 0.08))] *= rng.uniform(0.2, 0.5)

    image += rng.normal(0, rng.uniform(2, 8), image.shape)  # sensor noise
    return Image.fromarray(np.clip(image, 0, 255).round().astype(np.uint8), "RGB"), scan


def make_photos(digits: np.ndarray, labels: np.ndarray, count: int, seed: int = SEED) -> list[Photo]:
    """`count` JPEG photos of `digits` (uint8 [N, 28, 28], white on black) taken in turn, half of them
    dark ink on light paper and half light chalk on a dark board, at JPEG quality 50-90."""
    rng = np.random.default_rng(seed)
    photos = []
    for i in range(count):
        index = i % len(digits)
        dark_on_light = i % 2 == 0
        buffer = io.BytesIO()
        photo, scan = photograph(digits[index], rng, dark_on_light)
        photo.save(buffer, "JPEG", quality=int(rng.integers(50, 91)))
        photos.append(Photo(buffer.getvalue(), scan, index, int(labels[index]), dark_on_light))
    return photos


if __name__ == "__main__":  # write a few photos to look at: python tests/photos.py <mnist-idx-folder> <out-folder>
    import sys
    from pathlib import Path

    from autoencoders.data import load_images

    images, labels = load_images(sys.argv[1], "test")
    out = Path(sys.argv[2])
    out.mkdir(parents=True, exist_ok=True)
    for n, photo in enumerate(make_photos(images[:, 0, 2:30, 2:30].numpy(), labels.numpy(), 12)):
        (out / f"photo{n}-{photo.label}.jpg").write_bytes(photo.jpeg)
