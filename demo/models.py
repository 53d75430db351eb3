"""Where the Space's models come from: the Hub first, the bundled folder when the Hub cannot serve.

Each variant is `AutoEncoder.from_pretrained(<hub id>)` with the hub id
`$AUTOENCODERS_HUB_NAMESPACE/autoencoders-mnist-<variant>` (namespace `autoencoders` by default),
or whatever `$AUTOENCODERS_MODEL_<VARIANT>` names (a Hub id or a local folder). When that fails (the
Hub is unreachable, the repo does not exist, its files are broken), the variant is loaded from
`$AUTOENCODERS_WEIGHTS_DIR/<variant>` (default: `demo/weights/<variant>`), and the reason is kept
so the UI can say where each model came from. Call `demo.offline.go_offline_if_hub_unreachable()`
before huggingface_hub is imported so that an unreachable Hub fails in milliseconds.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import torch

from autoencoders import VARIANTS, AutoEncoder
from autoencoders.cards import card_results

log = logging.getLogger(__name__)

DEFAULT_NAMESPACE = "autoencoders"
BUNDLED_WEIGHTS = Path(__file__).with_name("weights")


@dataclass(frozen=True)
class Metric:
    """One measured result from a model card's `model-index`."""

    name: str
    value: float | str
    dataset: str = ""


@dataclass
class LoadedModel:
    """A model ready for inference, with where it came from and what its card says it scores."""

    variant: str
    model: AutoEncoder
    source: str
    metrics: list[Metric] = field(default_factory=list)


def hub_id(variant: str) -> str:
    """The Hub id (or local folder) to try first for `variant`."""
    override = os.environ.get(f"AUTOENCODERS_MODEL_{variant.upper()}")
    namespace = os.environ.get("AUTOENCODERS_HUB_NAMESPACE", DEFAULT_NAMESPACE)
    return override or f"{namespace}/autoencoders-mnist-{variant}"


def bundled_folder(variant: str) -> Path:
    return Path(os.environ.get("AUTOENCODERS_WEIGHTS_DIR") or BUNDLED_WEIGHTS) / variant


def card_metrics(repo_or_folder: str | Path) -> list[Metric]:
    """The eval results of a model card (a folder's README.md or a Hub repo's); [] without a card."""
    try:
        results = card_results(repo_or_folder)
    except Exception as err:  # a missing or unreadable card only costs the metrics
        log.info("no model card for %s: %s", repo_or_folder, err)
        return []
    return [Metric(result.metric_name or result.metric_type, result.metric_value, result.dataset_name or "") for result in results]


def load_variant(variant: str) -> LoadedModel:
    """Load one variant from its Hub id, else from the bundled folder; raise if neither works."""
    repo = hub_id(variant)
    try:
        model = AutoEncoder.from_pretrained(repo)
        where = "local folder" if Path(repo).is_dir() else "Hub"
        return LoadedModel(variant, model, f"{where} `{repo}`", card_metrics(repo))
    except Exception as err:
        reason = f"{type(err).__name__}: {str(err).splitlines()[0][:160]}" if str(err) else type(err).__name__
        log.info("%s: %s unavailable (%s), using the bundled weights", variant, repo, reason)
    folder = bundled_folder(variant)
    try:
        model = AutoEncoder.from_pretrained(folder)
    except Exception as err:
        raise RuntimeError(
            f"cannot load the {variant!r} model: {repo} is unavailable ({reason}) and the bundled folder "
            f"{folder} failed too ({err}). Train it with `accelerate launch training/train.py --variant "
            f"{variant} --output_dir {folder}` or point AUTOENCODERS_WEIGHTS_DIR at a folder of weights."
        ) from err
    return LoadedModel(variant, model, f"bundled `{folder}` (Hub `{repo}` unavailable: {reason})", card_metrics(folder))


@torch.inference_mode()
def load_models(variants: list[str] | None = None) -> dict[str, LoadedModel]:
    """Every variant (default: all presets), in preset order, in eval mode."""
    return {name: load_variant(name) for name in variants or list(VARIANTS)}
