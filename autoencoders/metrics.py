"""Evaluation measures, on the region that holds the images (the padding the data loader added,
2 pixels around MNIST's 28x28 in our 32x32, is left out: an image that arrived unpadded is scored whole).

- squared error per image, summed over the pixels (and channels) in [0, 1]: Hinton & Salakhutdinov
  (2006) report 3.00 for their deep autoencoder and 13.87 for PCA with 30 components on MNIST;
- binary cross-entropy per pixel (what Keras' autoencoder tutorial reports);
- PSNR in dB (peak 1.0), per image;
- PCA at the same code size, fitted on the training images;
- linear-probe accuracy: a logistic regression on the codes.

`padding` is [top, bottom, left, right], as `autoencoders.data.ImageSplit.padding` and the model
config record it.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from .data import as_float

NO_PADDING = (0, 0, 0, 0)


def unpad(images: Tensor, padding: Sequence[int] = NO_PADDING) -> Tensor:
    """The region of [..., H, W] images inside `padding`."""
    top, bottom, left, right = padding
    height, width = images.shape[-2:]
    return images[..., top : height - bottom, left : width - right]


def squared_error_per_image(images: Tensor, reconstructions: Tensor, padding: Sequence[int] = NO_PADDING) -> Tensor:
    """Sum of squared pixel errors over the region, one value per image."""
    diff = unpad(as_float(images), padding).float() - unpad(as_float(reconstructions), padding).float()
    return diff.square().flatten(1).sum(dim=1)


def variance_per_image(images: Tensor, padding: Sequence[int] = NO_PADDING) -> float:
    """The images' total variance per image inside the region: mean over images of ||x - mean image||^2,
    the squared error of predicting every image by the mean one (the denominator of the FVU)."""
    pixels = unpad(as_float(images), padding).double().flatten(1)
    return float((pixels - pixels.mean(dim=0)).square().sum(dim=1).mean())


def bce_per_pixel(images: Tensor, reconstructions: Tensor, padding: Sequence[int] = NO_PADDING, eps: float = 1e-7) -> Tensor:
    """Binary cross-entropy averaged over the pixels of the region, one value per image."""
    target = unpad(as_float(images), padding).float()
    pred = unpad(as_float(reconstructions), padding).float().clamp(eps, 1 - eps)
    bce = -(target * pred.log() + (1 - target) * (1 - pred).log())
    return bce.flatten(1).mean(dim=1)


def psnr(images: Tensor, reconstructions: Tensor, padding: Sequence[int] = NO_PADDING) -> Tensor:
    """Peak signal-to-noise ratio in dB (peak 1), one value per image."""
    values = unpad(images, padding)[0].numel()
    mse = squared_error_per_image(images, reconstructions, padding) / values
    return 10 * torch.log10(1.0 / mse.clamp_min(1e-10))


def image_errors(images: Tensor, reconstructions: Tensor, padding: Sequence[int] = NO_PADDING) -> dict[str, Tensor]:
    """Squared error, BCE per pixel and PSNR, one value per image each (what a multi-process
    evaluation gathers before averaging)."""
    return {
        "squared_error": squared_error_per_image(images, reconstructions, padding),
        "bce": bce_per_pixel(images, reconstructions, padding),
        "psnr": psnr(images, reconstructions, padding),
    }


def summarize(images: Tensor, reconstructions: Tensor, padding: Sequence[int] = NO_PADDING) -> dict[str, float]:
    """Mean squared error per image, BCE per pixel and PSNR over a set of images."""
    return {name: values.mean().item() for name, values in image_errors(images, reconstructions, padding).items()}


class PCA:
    """Principal component analysis on flattened images: the linear baseline at a code size."""

    def __init__(self, train_images: Tensor, components: int) -> None:
        data = as_float(train_images).flatten(1).double()
        self.shape = train_images.shape[1:]
        self.mean = data.mean(dim=0)
        centred = data - self.mean
        if centred.shape[1] <= centred.shape[0]:  # the covariance's eigenvectors
            _, vectors = torch.linalg.eigh(centred.T @ centred)
            self.axes = vectors[:, -components:].flip(1)
        else:  # more pixels than images (3x64x64): the same axes from the smaller Gram matrix
            values, vectors = torch.linalg.eigh(centred @ centred.T)
            top = vectors[:, -components:].flip(1)
            self.axes = centred.T @ top / values[-components:].flip(0).clamp_min(1e-12).sqrt()

    def encode(self, images: Tensor) -> Tensor:
        return (as_float(images).flatten(1).double() - self.mean) @ self.axes

    def decode(self, codes: Tensor) -> Tensor:
        return (codes @ self.axes.T + self.mean).float().reshape(-1, *self.shape)

    def reconstruct(self, images: Tensor) -> Tensor:
        return self.decode(self.encode(images))


def pca_baseline(train_images: Tensor, test_images: Tensor, components: int, padding: Sequence[int] = NO_PADDING) -> dict[str, float]:
    """PCA fitted on the training images, scored on the test images (unclipped, as in the paper)."""
    return summarize(test_images, PCA(train_images, components).reconstruct(test_images), padding)


def linear_probe_accuracy(train_codes: Tensor, train_labels: Tensor, test_codes: Tensor, test_labels: Tensor, max_iter: int = 500) -> float:
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
