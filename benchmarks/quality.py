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
  prior; the VQ-VAE's token grids from its fitted prior, beside uniformly random grids; a
  conditional model's of each digit in turn) judged by a small MNIST classifier trained here on the
  training split: the share it recognises with confidence > 0.9 and how evenly the ten digits appear;
- steering: for a conditional model (`cvae`), 500 samples of each requested digit (from its mixture
  and its prior, at temperature 1 and 0.5) and the share the classifier recognises as that digit with
  confidence > 0.9 (target: at least 95% over the ten), beside their variety;
- likelihood: the negative ELBO and importance-weighted bound (k = 5000, nats per image) on the seeded
  binarisation of the test split, for every variational model, and for `vae` trained with `--binarize`
  (the run folder of `training/configs/vae-binarized.yaml`, scored on the first 2,000 test digits) beside
  the literature: Burda et al. 2016 (Table 1, one stochastic layer: VAE 86.76, IWAE k = 50 84.78) and
  pythae's reproduced VAE (89.78, 200 importance samples).

`python benchmarks/quality.py [--weights demo/weights] [--data ../shared/data/mnist] [--variants cvae beta_vae]`
prints the tables and writes benchmarks/results/quality.json. With `--variants`, the rows of the
models it measures replace theirs in that file and the other models' rows stay, so one retrained
model is re-measured alone (the denoising table is re-measured when `denoising` and `deep` are both
among the variants).
The binarised `vae` is not bundled: train it first (600 epochs in bf16: about 30 minutes alone
on one core with AVX512-BF16, 42 beside other work) with

    python training/train.py --config training/configs/vae-binarized.yaml --dataset ../shared/data/mnist \
        --output_dir runs/vae-binarized/model --max_eval_samples 2000

or pass `--likelihood_run` another folder; without one its row is left out and the command printed.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from scipy.ndimage import median_filter  # noqa: E402

from autoencoders import VARIANTS, AutoEncoder  # noqa: E402
from autoencoders.config import CORRUPTIONS  # noqa: E402
from autoencoders.data import load_images  # noqa: E402
from autoencoders.evaluate import DENOISING_LEVELS, denoising_key, evaluate, likelihood, noisy_batches  # noqa: E402
from autoencoders.latents import SAMPLE_SOURCES  # noqa: E402
from autoencoders.metrics import psnr  # noqa: E402
from benchmarks.digit_classifier import predict, sample_quality, train_classifier  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "quality.json"
HINTON_2006 = {"deep": 3.00}  # squared error per image, 30-d code, MNIST test set
KERAS_BCE = {"simple": 0.09, "deep": 0.08, "sparse": 0.10, "conv": 0.094}  # per-pixel BCE, Keras' tutorial
NUM_SAMPLES = 1000
SPARSE_CODE_METRICS = ("l0", "dead_latents", "density_median", "density_max")  # what the topk bottleneck reports
PER_DIGIT = 500  # samples of each requested digit, for a conditional model
STEERING_TEMPERATURES = (1.0, 0.5)  # the spread of a conditional model's draws (sample(temperature=...))
BINARIZED_RUN = ROOT / "runs" / "vae-binarized" / "model"  # where training/configs/vae-binarized.yaml's command writes
BINARIZED_IMAGES = 2000  # k = 5000 on all 10,000 test digits would take 5 times as long
BINARIZED_TARGET = 86.0  # nats per image, the target for `vae` trained with --binarize
# Published upper bounds of -log p(x) on binarised MNIST, one stochastic layer: (nats per image, k)
LIKELIHOOD_ANCHORS = {
    "Burda et al. 2016, Table 1: VAE": (86.76, 5000),
    "Burda et al. 2016, Table 1: IWAE trained with k = 50": (84.78, 5000),
    "pythae's reproduced VAE (clementchadebec/reproduced_vae)": (89.78, 200),
}


def reconstruction_rows(models: dict[str, AutoEncoder], evaluations: dict[str, dict[str, float]]) -> list[dict[str, float]]:
    rows = []
    for name, model in models.items():
        metrics = evaluations[name]
        rows.append(
            {
                "model": name,
                "latent_dim": model.config.latent_dim,
                **{key: metrics[key] for key in ("squared_error", "bce", "psnr", "pca_squared_error", "pca_bce", "pca_psnr")},
                "linear_probe_accuracy": metrics.get("linear_probe_accuracy"),  # none for a grid of tokens
                "fvu": metrics["fvu"],
                "codebook_usage": metrics.get("codebook_usage"),
                "perplexity": metrics.get("perplexity"),
                "prior_nll": metrics.get("prior_nll"),
                "kl": metrics.get("kl"),
                **{key: metrics.get(key) for key in SPARSE_CODE_METRICS},
                "negative_elbo": metrics.get("negative_elbo"),
                "negative_iwae": metrics.get("negative_iwae"),
                "active_units": metrics.get("active_units"),
                "label_guess_accuracy": metrics.get("label_guess_accuracy"),
                "error_over_pca": metrics["squared_error"] / metrics["pca_squared_error"],
                "hinton_2006_squared_error": HINTON_2006.get(name),
                "keras_bce": KERAS_BCE.get(name),
            }
        )
        extra = {key: metrics[key] for key in ("linear_probe_accuracy", "fvu", "codebook_usage", "perplexity") if key in metrics}
        print(
            f"{name:10s} squared error {metrics['squared_error']:6.3f} (PCA-{model.config.latent_dim} "
            f"{metrics['pca_squared_error']:.2f})  BCE {metrics['bce']:.4f}  PSNR {metrics['psnr']:.2f}  "
            + "  ".join(f"{key} {value:.4g}" for key, value in extra.items())
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


def sample_sources(model: AutoEncoder) -> tuple[str, ...]:
    """What a model's samples are drawn from: its fitted mixture, and its prior where it has one; a
    grid of tokens has no mixture, and a uniformly random grid is the baseline its prior must beat."""
    if model.discrete:
        return ("prior", "uniform")
    return SAMPLE_SOURCES if model.has_prior else ("mixture",)


def draw(model: AutoEncoder, source: str, generator: torch.Generator, labels: torch.Tensor | None) -> torch.Tensor:
    if source == "uniform":
        return model.decode(model.bottleneck.uniform_code(NUM_SAMPLES, generator))
    return model.sample(NUM_SAMPLES, generator, source=source, labels=labels)


def digit_rows(models: dict[str, AutoEncoder], classifier: torch.nn.Module) -> list[dict[str, float]]:
    """For each model that draws the digit asked for (a conditional model, or a class-conditional
    prior's), source and temperature (`STEERING_TEMPERATURES`; a grid of tokens: its prior at 1), and
    each digit: the share of `PER_DIGIT` samples asked to be that digit that the classifier recognises
    as it with confidence > 0.9, and their variety (`pixel_spread`: the standard deviation of each
    pixel over the samples, averaged over the pixels; a temperature below 1 trades it for sharper digits)."""
    rows = []
    for name, model in models.items():
        if not model.sample_classes:
            continue
        sources, temperatures = (("prior",), (1.0,)) if model.discrete else (SAMPLE_SOURCES, STEERING_TEMPERATURES)
        for source in sources:
            for temperature in temperatures:
                shares, spreads = [], []
                for digit in range(model.sample_classes):
                    with torch.no_grad():
                        samples = model.eval().sample(
                            PER_DIGIT, torch.Generator().manual_seed(digit), source=source, labels=digit, temperature=temperature
                        )
                    confidence, label = predict(classifier, samples)
                    shares.append(((label == digit) & (confidence > 0.9)).double().mean().item())
                    spreads.append(samples.std(dim=0).mean().item())
                    row = {"model": name, "source": source, "temperature": temperature, "digit": digit}
                    rows.append(row | {"recognised_as_asked": shares[-1], "pixel_spread": spreads[-1]})
                overall = {"recognised_as_asked": float(np.mean(shares)), "pixel_spread": float(np.mean(spreads))}
                rows.append({"model": name, "source": source, "temperature": temperature, "digit": "all"} | overall)
                print(
                    f"{name:10s} {source:8s} T={temperature:g}: recognised as the digit asked for "
                    + " ".join(f"{d}: {v:.1%}" for d, v in enumerate(shares))
                    + f"; all {overall['recognised_as_asked']:.1%} (cvae's target >= 95%), pixel spread {overall['pixel_spread']:.3f}",
                    flush=True,
                )
    return rows


def sample_rows(models: dict[str, AutoEncoder], train, test) -> tuple[float, list[dict[str, float]], list[dict[str, float]]]:
    classifier = train_classifier(train.images, train.labels)
    _, predicted = predict(classifier, test[0])
    accuracy = (predicted == test[1]).double().mean().item()
    rows = []
    for name, model in models.items():
        labels = torch.arange(NUM_SAMPLES) % model.num_classes if model.conditional else None  # every digit in turn; vq: p(y)
        for source in sample_sources(model):
            with torch.no_grad():
                samples = draw(model.eval(), source, torch.Generator().manual_seed(0), labels)
            rows.append({"model": name, "source": source, **sample_quality(classifier, samples)})
            print(
                f"{name:10s} {source:8s} samples recognised {rows[-1]['confident_fraction']:.1%}, "
                f"class evenness {rows[-1]['class_evenness']:.3f}",
                flush=True,
            )
    return accuracy, rows, digit_rows(models, classifier)


def merged(results: dict[str, object], measured: set[str]) -> dict[str, object]:
    """`results` with the rows of the models not in `measured` kept from the results file, in
    VARIANTS order (and the `--binarize` run's likelihood row when this run left it out); the
    denoising table is kept when this run did not measure it."""
    if not RESULTS.exists():
        return results
    previous = json.loads(RESULTS.read_text())
    order = {name: index for index, name in enumerate(VARIANTS)}
    for table in ("reconstruction", "samples", "digits", "likelihood"):
        fresh = {row["model"] for row in results[table]}
        kept = [
            row
            for row in previous.get(table, [])
            if row["model"] not in measured | fresh and (row["model"] in order or row.get("trained_on") == "dynamic binarisation")
        ]
        # stable: a model's rows keep their order; the --binarize run and the published anchors (no preset) go last
        results[table] = sorted(kept + results[table], key=lambda row: order.get(row["model"], len(order)))
    if not results["denoising"]:
        results["denoising"] = previous.get("denoising", [])
    return results


def likelihood_rows(
    evaluations: dict[str, dict[str, float]], test_images: torch.Tensor, run: Path, samples: int, count: int = BINARIZED_IMAGES
) -> list[dict]:
    """Negative ELBO and importance-weighted bound (`samples` draws) of every variational model (as
    `evaluate` measured them on all the test digits, trained on grey levels), of the `--binarize` run in
    `run` on the first `count` test digits (timed; left out, with the command to train it, when the
    folder is missing), and the published anchors."""
    rows = [
        {"model": name, "trained_on": "grey levels", "test_images": len(test_images), "k": samples}
        | {key: metrics[key] for key in ("negative_iwae", "negative_elbo")}
        for name, metrics in evaluations.items()
        if "negative_iwae" in metrics
    ]
    if (run / "config.json").exists():
        model = AutoEncoder.from_pretrained(run).eval()
        start = time.perf_counter()
        bounds = likelihood(model, test_images[:count], samples)
        seconds = time.perf_counter() - start
        label = f"vae --binarize ({run.relative_to(ROOT) if run.is_relative_to(ROOT) else run}), first {count:,} test digits"
        rows.append(
            {"model": label, "trained_on": "dynamic binarisation", "test_images": count, "k": samples, **bounds}
            | {"target": BINARIZED_TARGET, "seconds": seconds}
        )
    else:
        print(
            f"note: no binarised vae in {run}: its likelihood row is left out. Train it with\n  python training/train.py "
            "--config training/configs/vae-binarized.yaml --dataset ../shared/data/mnist --output_dir runs/vae-binarized/model "
            "--max_eval_samples 2000",
            flush=True,
        )
    for row in rows:
        print(
            f"{row['model']:10s} -log p(x) <= {row['negative_iwae']:.2f} nats (k = {samples}), negative ELBO "
            f"{row['negative_elbo']:.2f}, on {row['test_images']:,} binarised test digits"
            + (f" (target <= {row['target']}; {row['seconds']:.0f} s)" if "target" in row else ""),
            flush=True,
        )
    return rows + [{"model": name, "published": True, "negative_iwae": nll, "k": k} for name, (nll, k) in LIKELIHOOD_ANCHORS.items()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--weights", type=Path, default=ROOT / "demo" / "weights")
    parser.add_argument("--data", default=str(ROOT.parent / "shared/data/mnist"))
    parser.add_argument(
        "--likelihood_samples", type=int, default=5000, help="k of the VAE's importance-weighted bound (Burda et al.: 5000)"
    )
    parser.add_argument(
        "--variants", nargs="+", choices=list(VARIANTS), default=list(VARIANTS), help="the models to measure (default: all)"
    )
    parser.add_argument("--likelihood_run", type=Path, default=BINARIZED_RUN, help="the run folder of training/configs/vae-binarized.yaml")
    args = parser.parse_args()
    torch.manual_seed(0)
    np.random.seed(0)
    models = {name: AutoEncoder.from_pretrained(args.weights / name) for name in args.variants}
    train, test = load_images(args.data, "train"), load_images(args.data, "test")
    evaluations = {
        name: evaluate(model, train.images, train.labels, test.images, test.labels, likelihood_samples=args.likelihood_samples)
        for name, model in models.items()
    }
    reconstruction = reconstruction_rows(models, evaluations)
    denoising = denoising_rows(evaluations, test[0]) if {"denoising", "deep"} <= set(models) else []
    classifier_accuracy, samples, digits = sample_rows(models, train, test)
    likelihoods = likelihood_rows(evaluations, test.images, args.likelihood_run.resolve(), args.likelihood_samples)
    results = merged(
        {
            "reconstruction": reconstruction,
            "denoising": denoising,
            "samples": samples,
            "digits": digits,
            "likelihood": likelihoods,
            "classifier_test_accuracy": classifier_accuracy,
            "num_samples": NUM_SAMPLES,
        },
        set(models),
    )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(f"classifier test accuracy {classifier_accuracy:.4f}; wrote {RESULTS}")


if __name__ == "__main__":
    main()
