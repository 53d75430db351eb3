"""Loading and saving like any Hugging Face model, strictly and safely.

`config.json` holds the config (each part as its registered name and arguments), `model.safetensors`
the weights and the fitted latent statistics. Only safetensors are read (a pickle is never
unpickled); unknown config keys, unregistered parts, missing, unexpected or mis-shaped tensors are
`CheckpointError`s naming the file. `PyTorchModelHubMixin` gives `push_to_hub` and the Hub plumbing;
`_from_pretrained` is its loading hook, and `from_pretrained` adds only the checks that the mixin
would otherwise skip (a config.json that is not JSON, or names no parts it can build).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, TypeVar

import safetensors
import safetensors.torch
import torch
from huggingface_hub import PyTorchModelHubMixin, hf_hub_download
from huggingface_hub.errors import LocalEntryNotFoundError, RemoteEntryNotFoundError
from torch import nn

from .config import AutoEncoderConfig

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl")
T = TypeVar("T", bound="HubMixin")


class CheckpointError(ValueError):
    """A saved model that cannot be loaded safely and exactly: the message names the file."""


class HubMixin(PyTorchModelHubMixin, library_name="autoencoders", license="mit", tags=["autoencoder"]):
    """`save_pretrained` / `from_pretrained` / `push_to_hub` for `AutoEncoder`."""

    config: AutoEncoderConfig

    def _save_pretrained(self, save_directory: Path) -> None:
        safetensors.torch.save_model(self, str(save_directory / WEIGHTS_NAME))
        (save_directory / CONFIG_NAME).write_text(json.dumps(self.config.to_dict(), indent=2, sort_keys=True) + "\n")

    @classmethod
    def from_pretrained(
        cls: type[T],
        pretrained_model_name_or_path: str | Path,
        *,
        force_download: bool = False,
        token: str | bool | None = None,
        cache_dir: str | Path | None = None,
        local_files_only: bool = False,
        revision: str | None = None,
        map_location: str | torch.device = "cpu",
    ) -> T:
        """Load from a local folder or a Hub repo id: config.json + model.safetensors, strictly, in eval mode."""
        source = str(pretrained_model_name_or_path)
        if not os.path.isdir(source) and (source.startswith(("/", ".", "~")) or source.count("/") > 1):
            raise FileNotFoundError(f"{source}: no such model folder (and not a Hub repo id)")
        hub = download_options(revision, cache_dir, force_download, token, local_files_only)
        config = load_config(fetch(source, CONFIG_NAME, hub))
        return cls._from_pretrained(model_id=source, **hub, config=config, map_location=map_location)

    @classmethod
    def _from_pretrained(
        cls: type[T],
        *,
        model_id: str,
        revision: str | None,
        cache_dir: str | Path | None,
        force_download: bool,
        local_files_only: bool,
        token: str | bool | None,
        config: AutoEncoderConfig,
        map_location: str | torch.device = "cpu",
        **_: Any,
    ) -> T:
        """Build the model from `config` and load its safetensors weights, exactly."""
        hub = download_options(revision, cache_dir, force_download, token, local_files_only)
        try:
            model = cls(config)
        except (TypeError, ValueError) as err:  # a part nobody registered, or arguments it refuses
            raise CheckpointError(f"{fetch(model_id, CONFIG_NAME, hub)}: {err}") from err
        try:
            weights_path = fetch(model_id, WEIGHTS_NAME, hub)
        except LocalEntryNotFoundError as err:  # a Hub repo whose cached snapshot has no safetensors weights
            config_path = fetch(model_id, CONFIG_NAME, hub)
            raise CheckpointError(_missing_message(model_id, WEIGHTS_NAME, os.listdir(os.path.dirname(config_path)))) from err
        load_weights(model, weights_path, map_location)
        return model.eval()


def download_options(
    revision: str | None, cache_dir: str | Path | None, force_download: bool, token: str | bool | None, local_files_only: bool
) -> dict[str, Any]:
    """The arguments `hf_hub_download` takes from `from_pretrained`'s."""
    return {
        "revision": revision,
        "cache_dir": cache_dir,
        "force_download": force_download,
        "token": token,
        "local_files_only": local_files_only,
    }


def fetch(source: str, filename: str, hub: dict[str, Any]) -> str:
    """The local path of `filename` in a model folder or Hub repo (downloaded, or from the cache)."""
    if os.path.isdir(source):
        path = os.path.join(source, filename)
        if not os.path.isfile(path):
            raise CheckpointError(_missing_message(source, filename, os.listdir(source)))
        return path
    try:
        return hf_hub_download(repo_id=source, filename=filename, **hub)
    except RemoteEntryNotFoundError as err:
        raise CheckpointError(_missing_message(source, filename, [])) from err


def load_config(path: str | Path) -> AutoEncoderConfig:
    """Read and validate a config.json; every problem names the file. A flat config of
    autoencoders 0.1 is upgraded to parts (`autoencoders.config.upgrade_legacy`)."""
    try:
        return AutoEncoderConfig.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise CheckpointError(f"{path}: not valid JSON ({err})") from err
    except (TypeError, ValueError) as err:
        raise CheckpointError(f"{path}: {err}") from err


def load_weights(model: nn.Module, path: str | Path, map_location: str | torch.device = "cpu") -> None:
    """Load a safetensors file into `model`, exactly: every tensor present, none extra, same shapes."""
    try:
        state = safetensors.torch.load_file(str(path), device=str(map_location))
    except (safetensors.SafetensorError, OSError, ValueError) as err:
        raise CheckpointError(f"{path}: not a readable safetensors file ({err})") from err
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    wrong = [
        f"{k} {list(state[k].shape)} (config expects {list(v.shape)})"
        for k, v in expected.items()
        if k in state and state[k].shape != v.shape
    ]
    problems = [
        f"missing tensors {missing}" if missing else "",
        f"unexpected tensors {unexpected}" if unexpected else "",
        f"wrong shapes: {'; '.join(wrong)}" if wrong else "",
    ]
    if any(problems):
        raise CheckpointError(f"{path} does not match its config.json: {', '.join(p for p in problems if p)}")
    model.load_state_dict(state, strict=True)


def _missing_message(source: str, filename: str, present: list[str]) -> str:
    pickles = [name for name in present if name.endswith(PICKLE_SUFFIXES)]
    message = f"{source}: no {filename}"
    if filename == WEIGHTS_NAME:
        message += " (autoencoders loads safetensors weights only and never unpickles a checkpoint"
        message += f"; found the pickle file(s) {pickles} and refused them)" if pickles else ")"
    return message
