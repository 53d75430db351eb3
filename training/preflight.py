"""Checks that run before training, so that a run that cannot succeed fails in seconds with a
message saying what to do: the imports that register parts of one's own, the model config, the tracker package, the token, the dataset and its
image size, the output folders (separate, writable, with room) and the checkpoint to resume from."""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import importlib.util
import shutil
import sys
import tempfile
from pathlib import Path
from typing import NamedTuple

import torch
from huggingface_hub import get_token
from torch import Tensor

from autoencoders import AutoEncoder, AutoEncoderConfig
from autoencoders.data import load_images, pad_images, padding_to
from training.checkpoints import latest_checkpoint, read_progress
from training.options import CUSTOM, TRACKER_PACKAGES, fail
from training.publish import is_repo_file


class Splits(NamedTuple):
    train: Tensor
    train_labels: Tensor
    val: Tensor
    test: Tensor
    test_labels: Tensor
    padding: list[int]
    val_labels: Tensor


def import_parts(entries: list[str]) -> None:
    """Import the modules (names) and files (.py paths) that register parts of one's own."""
    for entry in entries:
        try:
            if entry.endswith(".py"):
                spec = importlib.util.spec_from_file_location(f"autoencoders_parts_{abs(hash(entry))}", entry)
                if spec is None or spec.loader is None:
                    raise ImportError(f"not a Python file: {entry}")
                module = importlib.util.module_from_spec(spec)
                sys.modules[spec.name] = module
                spec.loader.exec_module(module)
            else:
                importlib.import_module(entry)
        except Exception as err:
            fail(f"cannot import {entry!r} (named in the config's imports): {type(err).__name__}: {err}")


def build_model(args: argparse.Namespace) -> AutoEncoder:
    """The model the run trains: a preset with the config's `model:` settings, or (variant custom)
    the parts `model:` names; its imports first, so that parts of one's own are registered."""
    import_parts(args.imports)
    torch.manual_seed(args.seed)
    try:
        if args.variant == CUSTOM:
            return AutoEncoder(**args.model_overrides)
        return AutoEncoder.from_variant(args.variant, **args.model_overrides)
    except (TypeError, ValueError) as err:
        fail(f"cannot build the {args.variant!r} model: {err}")


def with_padding(model: AutoEncoder, padding: list[int]) -> AutoEncoder:
    """The model, its config recording the padding the data loader added (what its metrics leave out)."""
    model.config = dataclasses.replace(model.config, padding=list(padding))
    return model


def check_output_paths(args: argparse.Namespace, model: AutoEncoder, total_steps_bound: int) -> None:
    """Output, checkpoint and log folders: separate, writable, with room for what the run writes."""
    out, checkpoints, logs = args.output_dir, args.checkpoint_dir, args.logging_dir
    for inner, outer in [(checkpoints, out), (logs, out), (out, checkpoints)]:
        if inner == outer or outer in inner.parents:
            fail(f"{inner} is inside {outer}: the output folder must hold only the model repo; choose separate folders")
    if out.exists():
        if not out.is_dir():
            fail(f"--output_dir {out} is a file; choose a folder")
        foreign = sorted(p.name for p in out.iterdir() if not (p.is_file() and is_repo_file(p.name)))
        if foreign:
            fail(
                f"--output_dir {out} holds {foreign}, which are not model-repo files; it is replaced by the "
                "trained model, so choose a new or empty folder"
            )
        if (out / "config.json").exists() and not args.overwrite_output_dir:
            fail(
                f"--output_dir {out} already holds a trained model; pass --overwrite_output_dir to replace it "
                "(it is replaced only once the new one is complete), or choose another folder"
            )
    folders = [out.parent, checkpoints] + ([logs] if args.report_to != "none" else [])
    for folder in folders:
        try:
            folder.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=folder, prefix=".write-test-"):
                pass
        except OSError as err:
            fail(f"cannot write to {folder} ({err.strerror or err}); choose another --output_dir/--checkpoint_dir or fix its permissions")
    model_bytes = sum(t.numel() * t.element_size() for t in model.state_dict().values())
    kept = args.checkpoints_total_limit or max(1, total_steps_bound // args.checkpointing_steps)
    needs = {out.parent: 2 * model_bytes + 2_000_000, checkpoints: (kept + 1) * 3 * model_bytes + 1_000_000}
    for folder, need in needs.items():
        free = shutil.disk_usage(folder).free
        if free < need:
            fail(
                f"not enough free space in {folder}: {free / 1e6:.1f} MB free, about {need / 1e6:.1f} MB needed "
                "(the model folder, and the checkpoints kept by --checkpoints_total_limit); free some space or choose another folder"
            )


def check_tracker(report_to: str) -> None:
    if report_to == "none":
        return
    package = TRACKER_PACKAGES[report_to]
    try:
        importlib.import_module(package)
    except ImportError:
        fail(f"--report_to {report_to} needs the {package} package: pip install {package} (or pass --report_to none)")


def resolve_token(args: argparse.Namespace) -> str | None:
    token = args.hub_token or get_token()
    if args.push_to_hub and not token:
        fail("--push_to_hub needs a Hub token: set HF_TOKEN, pass --hub_token or run `hf auth login`")
    return token


def load_splits(args: argparse.Namespace, config: AutoEncoderConfig, classes: int = 0, conditional: bool = False) -> Splits:
    """train / val / test as uint8 tensors padded to the model's input, checked against its shape;
    a model that knows `classes` labels (a `conditional` one, or one whose prior is class-conditional)
    needs every image's label, in 0..classes - 1."""
    try:
        train, train_labels, _ = load_images(args.dataset, "train", size=None)
        val, val_labels, _ = load_images(args.dataset, "val", size=None)
        test, test_labels, _ = load_images(args.dataset, "test", size=None)
    except (FileNotFoundError, ValueError) as err:
        fail(
            f"cannot load the dataset {args.dataset!r}: {err}. Pass --dataset a folder of MNIST IDX files, "
            "parquet files or an image folder, or a Hub dataset id"
        )
    channels, height, width = train.shape[1:]
    size = config.input_shape[1]
    if channels != config.channels or max(height, width) > size or config.input_shape[1] != config.input_shape[2]:
        shape = "x".join(map(str, config.input_shape))
        fail(
            f"the dataset's images are {channels}x{height}x{width} but the {config.variant} model takes "
            f"{shape} (smaller images are padded): set channels and image_size under `model:` in the config, "
            "or use a dataset of that size"
        )
    train_count, eval_count = args.max_train_samples, args.max_eval_samples
    splits = Splits(
        pad_images(train[:train_count], size),
        train_labels[:train_count],
        pad_images(val[:eval_count], size),
        pad_images(test[:eval_count], size),
        test_labels[:eval_count],
        padding_to(train.shape, size),
        val_labels[:eval_count],
    )
    every = torch.cat([splits.train_labels, splits.val_labels, splits.test_labels])
    if classes and len(every) and not 0 <= int(every.min()) <= int(every.max()) < classes:
        why = (
            "is conditional (it takes each image's label)"
            if conditional
            else f"fits a class-conditional prior (prior_classes {classes}; `model: {{prior_classes: 0}}` fits one without labels)"
        )
        found = "images without labels" if int(every.min()) < 0 else f"labels up to {int(every.max())}"
        fail(
            f"the {config.variant} model {why}, but {args.dataset!r} has {found}: use a dataset labelled 0..{classes - 1} "
            "(MNIST's IDX folder or a dataset with a `label` column)"
        )
    return splits


def resume_point(args: argparse.Namespace) -> Path | None:
    """The checkpoint to resume from, checked before training starts."""
    if args.resume_from_checkpoint is None:
        if latest_checkpoint(args.checkpoint_dir):
            print(
                f"warning: {args.checkpoint_dir} holds checkpoints of an earlier run; this run starts from scratch "
                "and saves beside them (pass --resume_from_checkpoint latest to continue that run instead)",
                flush=True,
            )
        return None
    if args.resume_from_checkpoint == "latest":
        checkpoint = latest_checkpoint(args.checkpoint_dir)
        if checkpoint is None:
            print(f"no checkpoint in {args.checkpoint_dir}: starting from scratch", flush=True)
        return checkpoint
    checkpoint = Path(args.resume_from_checkpoint).resolve()
    try:
        read_progress(checkpoint)
    except (ValueError, OSError) as err:
        fail(f"--resume_from_checkpoint: {err}")
    return checkpoint
