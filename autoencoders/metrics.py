"""Evaluation measures, on the 28x28 crop where the digits live (the padding is always 0).

- squared error per image, summed over 784 pixels in [0, 1]: Hinton & Salakhutdinov (2006)
  report 3.00 for their deep autoencoder and 13.87 for PCA with 30 components;
- binary cross-entropy per pixel (what Keras' autoencoder tutorial reports);
- PSNR in dB (peak 1.0), per image;
- PCA at the same code size, fitted on the training images;
- linear-probe accuracy: a logistic regression on the codes.
"""

from __future__ import annotations

import torch
from torch import Tensor

from .model import evaluating

CROP = 28


def as_float(images: Tensor) -> Tensor:
    """uint8 pixels -> float in [0, 1]; float images pass through."""
    return images.float().div(255) if images.dtype == torch.uint8 else images.float()


def center_crop(images: Tensor, size: int = CROP) -> Tensor:
    height, width = images.shape[-2:]
    top, left = (height - size) // 2, (width - size) // 2
    return images[..., top : top + size, left : left + size]


def squared_error_per_image(images: Tensor, reconstructions: Tensor, crop: int = CROP) -> Tensor:
    """Sum of squared pixel errors over the crop, one value per image."""
    diff = center_crop(as_float(images), crop) - center_crop(as_float(reconstructions), crop)
    return diff.square().flatten(1).sum(dim=1)


def bce_per_pixel(images: Tensor, reconstructions: Tensor, crop: int = CROP, eps: float = 1e-7) -> Tensor:
    """Binary cross-entropy averaged over the pixels of the crop, one value per image."""
    target = center_crop(as_float(images), crop)
    pred = center_crop(as_float(reconstructions), crop).clamp(eps, 1 - eps)
    bce = -(target * pred.log() + (1 - target) * (1 - pred).log())
    return bce.flatten(1).mean(dim=1)


def psnr(images: Tensor, reconstructions: Tensor, crop: int = CROP) -> Tensor:
    """Peak signal-to-noise ratio in dB (peak 1), one value per image."""
    mse = squared_error_per_image(images, reconstructions, crop) / crop**2
    return 10 * torch.log10(1.0 / mse.clamp_min(1e-10))


def image_errors(images: Tensor, reconstructions: Tensor) -> dict[str, Tensor]:
    """Squared error, BCE per pixel and PSNR, one value per image each (what a multi-process
    evaluation gathers before averaging)."""
    return {
        "squared_error": squared_error_per_image(images, reconstructions),
        "bce": bce_per_pixel(images, reconstructions),
        "psnr": psnr(images, reconstructions),
    }


def summarize(images: Tensor, reconstructions: Tensor) -> dict[str, float]:
    """Mean squared error per image, BCE per pixel and PSNR over a set of images."""
    return {name: values.mean().item() for name, values in image_errors(images, reconstructions).items()}


class PCA:
    """Principal component analysis on flattened images: the linear baseline at a code size."""

    def __init__(self, train_images: Tensor, components: int) -> None:
        data = as_float(train_images).flatten(1).double()
        self.shape = train_images.shape[1:]
        self.mean = data.mean(dim=0)
        centred = data - self.mean
        _, vectors = torch.linalg.eigh(centred.T @ centred)
        self.axes = vectors[:, -components:].flip(1)

    def encode(self, images: Tensor) -> Tensor:
        return (as_float(images).flatten(1).double() - self.mean) @ self.axes

    def decode(self, codes: Tensor) -> Tensor:
        return (codes @ self.axes.T + self.mean).float().reshape(-1, *self.shape)

    def reconstruct(self, images: Tensor) -> Tensor:
        return self.decode(self.encode(images))


def pca_baseline(train_images: Tensor, test_images: Tensor, components: int) -> dict[str, float]:
    """PCA fitted on the training images, scored on the test images (unclipped, as in the paper)."""
    return summarize(test_images, PCA(train_images, components).reconstruct(test_images))


def linear_probe_accuracy(
    train_codes: Tensor, train_labels: Tensor, test_codes: Tensor, test_labels: Tensor, max_iter: int = 500
) -> float:
    """Test accuracy of a multinomial logistic regression trained on standardised codes.

    BLAS runs on one thread: the matrices are small (N x code size), and threads that spin while
    another process holds a core made the fit 20x slower here.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from threadpoolctl import threadpool_limits

    probe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=max_iter))
    with threadpool_limits(limits=1, user_api="blas"):
        probe.fit(train_codes.double().cpu().numpy(), train_labels.cpu().numpy())
        return float(probe.score(test_codes.double().cpu().numpy(), test_labels.cpu().numpy()))


def reconstruct_in_batches(model: torch.nn.Module, images: Tensor, batch_size: int = 2048) -> tuple[Tensor, Tensor]:
    """(reconstructions, codes) of `images` by an AutoEncoder, on the model's device, in eval mode."""
    device = next(model.parameters()).device
    outputs, codes = [], []
    with evaluating(model):
        for start in range(0, len(images), batch_size):
            code = model.encode(images[start : start + batch_size].to(device))
            outputs.append(model.decode(code).cpu())
            codes.append(code.cpu())
    return torch.cat(outputs), torch.cat(codes)
