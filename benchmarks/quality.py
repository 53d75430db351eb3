#!/usr/bin/env python
"""Quality of every bundled model on the MNIST test set, beside the references.

- reconstruction: squared error per image (28x28), BCE per pixel, PSNR, the fraction of variance
  unexplained, linear-probe accuracy of the code, PCA at the same code size, and for `topk` its L0,
  dead latents and activation densities (all re-measured here with `autoencoders.evaluate`), and the
  published numbers: Hinton & Salakhutdinov 2006 (3.00 for a 30-d code) and Keras' autoencoder
  tutorial (per-pixel BCE 0.09 simple, 0.08 deep, 0.10 sparse);
- denoising: PSNR of the noisy input and of its reconstruction by `denoising`, by `deep` and by a
  classical 3x3 median filter, for each corruption and level;
- samples: 1,000 samples per model (codes drawn from its fitted mixture; the VAE's also from its
  prior) judged by a small MNIST classifier trained here on the training split: the share it
  recognises with confidence > 0.9 and how evenly the ten digits appear.

`python benchmarks/quality.py [--weights demo/weights] [--data ../shared/data/mnist]` prints the
tables and writes benchmarks/results/quality.json.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from scipy.ndimage import median_filter  # noqa: E402

from autoencoders import VARIANTS, AutoEncoder  # noqa: E402
from autoencoders.config import CORRUPTIONS  # noqa: E402
from autoencoders.data import load_images  # noqa: E402
from autoencoders.evaluate import DENOISING_LEVELS, denoising_key, evaluate, noisy_batches  # noqa: E402
from autoencoders.latents import SAMPLE_SOURCES  # noqa: E402
from autoencoders.metrics import psnr  # noqa: E402
from benchmarks.digit_classifier import predict, sample_quality, train_classifier  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "quality.json"
HINTON_2006 = {"deep": 3.00}  # squared error per image, 30-d code, MNIST test set
KERAS_BCE = {"simple": 0.09, "deep": 0.08, "sparse": 0.10, "conv": 0.094}  # per-pixel BCE, Keras' tutorial
NUM_SAMPLES = 1000
SPARSE_CODE_METRICS = ("l0", "dead_latents", "density_median", "density_max")  # what the topk bottleneck reports


def reconstruction_rows(models: dict[str, AutoEncoder], evaluations: dict[str, dict[str, float]]) -> list[dict[str, float]]:
    rows = []
    for name, model in models.items():
        metrics = evaluations[name]
        rows.append(
            {
                "model": name,
                "latent_dim": model.config.latent_dim,
                **{
                    key: metrics[key]
                    for key in ("squared_error", "bce", "psnr", "linear_probe_accuracy", "pca_squared_error", "pca_bce", "pca_psnr")
                },
                "fvu": metrics["fvu"],
                "kl": metrics.get("kl"),
                **{key: metrics.get(key) for key in SPARSE_CODE_METRICS},
                "negative_elbo": metrics.get("negative_elbo"),
                "negative_iwae": metrics.get("negative_iwae"),
                "error_over_pca": metrics["squared_error"] / metrics["pca_squared_error"],
                "hinton_2006_squared_error": HINTON_2006.get(name),
                "keras_bce": KERAS_BCE.get(name),
            }
        )
        print(
            f"{name:10s} squared error {metrics['squared_error']:6.3f} (PCA-{model.config.latent_dim} "
            f"{metrics['pca_squared_error']:.2f})  BCE {metrics['bce']:.4f}  PSNR {metrics['psnr']:.2f}  "
            f"probe {metrics['linear_probe_accuracy']:.4f}  FVU {metrics['fvu']:.4f}"
            + (f"  L0 {metrics['l0']:.1f}  dead {metrics['dead_latents']:.1f}%" if "l0" in metrics else ""),
            flush=True,
        )
    return rows


def denoising_rows(evaluations: dict[str, dict[str, float]], test_images: torch.Tensor) -> list[dict[str, float]]:
    """The denoising PSNRs `evaluate` measured for `denoising` and `deep`, beside a 3x3 median filter
    applied to the same noisy images."""
    rows = []
    for kind in CORRUPTIONS:
        for level in DENOISING_LEVELS:
            median = torch.cat([
                psnr(clean, torch.from_numpy(median_filter(noisy.numpy(), size=(1, 1, 3, 3))))
                for clean, noisy in noisy_batches(test_images, kind, level)
            ])  # fmt: skip
            row = {
                "corruption": kind,
                "level": level,
                "noisy": evaluations["deep"][denoising_key("noisy", kind, level)],
                "median_filter": median.mean().item(),
            }
            for name in ("denoising", "deep"):
                row[name] = evaluations[name][denoising_key("denoised", kind, level)]
            rows.append(row)
            print(
                f"{kind:16s} {level:4.2f}  noisy {row['noisy']:5.2f}  denoising {row['denoising']:5.2f}  "
                f"deep {row['deep']:5.2f}  median {row['median_filter']:5.2f} dB",
                flush=True,
            )
    return rows


def sample_rows(models: dict[str, AutoEncoder], train, test) -> tuple[float, list[dict[str, float]]]:
    classifier = train_classifier(train.images, train.labels)
    _, predicted = predict(classifier, test[0])
    accuracy = (predicted == test[1]).double().mean().item()
    rows = []
    for name, model in models.items():
        for source in SAMPLE_SOURCES if model.has_prior else ("mixture",):  # only a VAE has a prior
            with torch.no_grad():
                samples = model.eval().sample(NUM_SAMPLES, torch.Generator().manual_seed(0), source=source)
            rows.append({"model": name, "source": source, **sample_quality(classifier, samples)})
            print(
                f"{name:10s} {source:8s} samples recognised {rows[-1]['confident_fraction']:.1%}, "
                f"class evenness {rows[-1]['class_evenness']:.3f}",
                flush=True,
            )
    return accuracy, rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--weights", type=Path, default=ROOT / "demo" / "weights")
    parser.add_argument("--data", default=str(ROOT.parent / "shared/data/mnist"))
    parser.add_argument(
        "--likelihood_samples", type=int, default=5000, help="k of the VAE's importance-weighted bound (Burda et al.: 5000)"
    )
    args = parser.parse_args()
    torch.manual_seed(0)
    np.random.seed(0)
    models = {name: AutoEncoder.from_pretrained(args.weights / name) for name in VARIANTS}
    train, test = load_images(args.data, "train"), load_images(args.data, "test")
    evaluations = {
        name: evaluate(model, train.images, train.labels, test.images, test.labels, likelihood_samples=args.likelihood_samples)
        for name, model in models.items()
    }
    reconstruction = reconstruction_rows(models, evaluations)
    denoising = denoising_rows(evaluations, test[0])
    classifier_accuracy, samples = sample_rows(models, train, test)
    results = {
        "reconstruction": reconstruction,
        "denoising": denoising,
        "samples": samples,
        "classifier_test_accuracy": classifier_accuracy,
        "num_samples": NUM_SAMPLES,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(f"classifier test accuracy {classifier_accuracy:.4f}; wrote {RESULTS}")


if __name__ == "__main__":
    main()
