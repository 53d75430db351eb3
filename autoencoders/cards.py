"""Model cards for trained autoencoders.

A card is YAML metadata (`library_name`, `license`, `tags`, `datasets`, `pipeline_tag`) with a
`model-index` that holds every measured metric as an `EvalResult` (the Space reads them back with
`ModelCard.load(path).data.eval_results`; `metric_type` is the key `autoencoders.evaluate.evaluate`
returns), then a body: results, the card's images, how to load the model, the hyperparameters and
the exact command that reproduces it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml
from huggingface_hub import EvalResult, ModelCard, ModelCardData

from .config import CORRUPTIONS, AutoEncoderConfig
from .evaluate import DENOISING_LEVELS, denoising_key

METRIC_NAMES = {
    "squared_error": "Squared error per image (sum over the unpadded pixels in [0, 1])",
    "bce": "Binary cross-entropy per pixel",
    "psnr": "PSNR (dB)",
    "fvu": "Fraction of variance unexplained (squared error over the test images' variance)",
    "pca_squared_error": "PCA at the same code size: squared error per image",
    "pca_bce": "PCA at the same code size: binary cross-entropy per pixel",
    "pca_psnr": "PCA at the same code size: PSNR (dB)",
    "linear_probe_accuracy": "Linear-probe accuracy (logistic regression on the codes)",
    "label_guess_accuracy": "Label-guess accuracy: the label of highest likelihood under the model itself (a Bayes classifier, k = 16)",
}
_STAGE_NAMES = {"noisy": "corrupted input", "denoised": "denoised"}


def metric_name(metric_type: str, names: dict[str, str] | None = None) -> str:
    """A readable name for a metric key, e.g. `psnr_denoised_masking_0.25`; `names` adds a part's
    own (`Bottleneck.statistic_names`, where `<u>` in a key stands for a unit's number), and any
    other key reads as itself."""
    known = {**METRIC_NAMES, **(names or {})}
    if metric_type in known:
        return known[metric_type]
    stem, _, unit = metric_type.rpartition("_")
    if unit.isdigit() and f"{stem}_<u>" in known:  # one name for a statistic of each code unit, e.g. kl_unit_3
        return known[f"{stem}_<u>"].replace("<u>", unit)
    stage = metric_type.split("_")[1] if metric_type.startswith("psnr_") else None
    if stage in _STAGE_NAMES and metric_type.count("_") >= 3:
        kind, level = metric_type.split("_", 2)[2].rsplit("_", 1)
        return f"PSNR (dB) of the {_STAGE_NAMES[stage]}, {kind.replace('_', '-')} noise at {level}"
    return metric_type.replace("_", " ")


def _eval_result(metric_type: str, value: float, dataset: str, names: dict[str, str]) -> EvalResult:
    if metric_type == "label_guess_accuracy":
        task_type, task_name = "image-classification", "The conditional model as a Bayes classifier"
    elif metric_type == "linear_probe_accuracy":
        task_type, task_name = "image-classification", "Linear probe on the codes"
    elif metric_type.startswith("psnr_"):
        task_type, task_name = "image-to-image", "Image denoising"
    else:
        task_type, task_name = "image-to-image", "Image reconstruction"
    return EvalResult(
        task_type=task_type,
        task_name=task_name,
        dataset_type=dataset,
        dataset_name="MNIST" if dataset == "ylecun/mnist" else dataset,
        dataset_split="test",
        metric_type=metric_type,
        metric_name=metric_name(metric_type, names),
        metric_value=value,
    )


def build_model_card(
    config: AutoEncoderConfig,
    metrics: dict[str, float],
    *,
    repo_id: str,
    dataset: str,
    num_test_images: int,
    hyperparameters: dict[str, Any],
    command: str,
    images: dict[str, str],
    metric_names: dict[str, str] | None = None,
) -> ModelCard:
    """The card of a trained model: `metrics` from `evaluate`, `images` maps a title to a PNG file
    beside the card, `command` is the exact command that reproduces the model, `dataset` the id of
    the data it was trained on, `metric_names` the readable names of its parts' own statistics."""
    names = metric_names or {}
    name = repo_id.split("/")[-1]
    load_id = repo_id if "/" in repo_id else f"<namespace>/{repo_id}"
    data = ModelCardData(
        model_name=name,
        library_name="autoencoders",
        license="mit",
        tags=sorted({"autoencoder", config.variant, dataset.split("/")[-1].lower(), "pytorch_model_hub_mixin"}),
        datasets=[dataset],
        pipeline_tag="image-to-image",
        eval_results=[_eval_result(key, value, dataset, names) for key, value in metrics.items()],
    )
    sections = [
        f"# {name}\n\nA `{config.variant}` autoencoder ({_describe(config)}) from "
        "[autoencoders](https://github.com/arrrrrmin/autoencoders), trained on "
        f"[{dataset}](https://huggingface.co/datasets/{dataset}).",
        _results_section(metrics, num_test_images, names),
        _denoising_section(metrics),
        "\n\n".join(f"## {title}\n\n![{title}]({filename})" for title, filename in images.items()),
        "## How to use\n\n```python\nfrom autoencoders import AutoEncoder\n\n"
        f'ae = AutoEncoder.from_pretrained("{load_id}")  # or a local folder\n'
        f"codes = ae.encode(images)            # images: [B, {', '.join(map(str, config.input_shape))}] in [0, 1] or uint8\n"
        "reconstructions = ae.decode(codes)\n"
        "new_digits = ae.sample(16)\n```",
        "## Training\n\nReproduce this model with:\n\n```bash\n"
        f"{command}\n```\n\nHyperparameters:\n\n```yaml\n"
        f"{yaml.safe_dump(hyperparameters, sort_keys=False).strip()}\n```\n\n"
        f"Model config (`config.json`):\n\n```json\n{json.dumps(config.to_dict(), indent=2, sort_keys=True)}\n```",
    ]
    body = "\n\n".join(section for section in sections if section)
    return ModelCard(f"---\n{data.to_yaml()}\n---\n\n{body}\n")


def card_results(card: str | Path) -> list[EvalResult]:
    """The eval results of a card's `model-index`; `card` is a README.md path, a model folder or a
    Hub repo id. Malformed metadata is read as far as it goes rather than refused."""
    path = Path(card)
    return ModelCard.load(path / "README.md" if path.is_dir() else card, ignore_metadata_errors=True).data.eval_results or []


def read_card_metrics(card: str | Path) -> dict[str, float]:
    """The metrics a card holds, as `metric_type` -> value (what `evaluate` returned when the card
    was built)."""
    return {result.metric_type: result.metric_value for result in card_results(card)}


def _describe(config: AutoEncoderConfig) -> str:
    return (
        f"{config.encoder.name} encoder, {config.bottleneck.name} bottleneck of {config.latent_dim}, "
        f"{config.decoder.name} decoder, {config.recon_loss} loss"
    )


def _results_section(metrics: dict[str, float], num_test_images: int, names: dict[str, str]) -> str:
    keys = [key for key in metrics if not key.startswith("psnr_")]
    rows = [f"| {metric_name(key, names)} | {metrics[key]:.4f} |" for key in keys]
    return (
        f"## Results\n\nOn the test split ({num_test_images} images); PCA is fitted on the training images.\n\n"
        "| metric | value |\n| --- | --- |\n" + "\n".join(rows)
    )


def _denoising_section(metrics: dict[str, float]) -> str:
    rows = []
    for kind in CORRUPTIONS:
        for level in DENOISING_LEVELS:
            if denoising_key("noisy", kind, level) not in metrics:
                continue
            noisy, denoised = (metrics[denoising_key(stage, kind, level)] for stage in ("noisy", "denoised"))
            rows.append(f"| {kind} | {level:g} | {noisy:.2f} | {denoised:.2f} | {denoised - noisy:+.2f} |")
    if not rows:
        return ""
    return (
        "## Denoising\n\nPSNR (dB) against the clean test image, with seeded noise.\n\n"
        "| corruption | level | corrupted input | denoised | gain |\n| --- | --- | --- | --- | --- |\n" + "\n".join(rows)
    )
