"""Command-line options of training/train.py: flags over the preset's config file over defaults.

A config file (`training/configs/<variant>.yaml`) holds the hyperparameters that decide the result
and `model:` settings over the preset (`variant: custom` builds the model from `model:` alone: its
parts by registered name and their arguments), with `imports:` naming the modules or .py files that
register parts of one's own; run options (folders, checkpoints, trackers, the Hub) are
flags only, and a token is refused in a config file so that it never lands in one.
"""

from __future__ import annotations

import argparse
import os
import shlex
from pathlib import Path
from typing import Any, NoReturn

import yaml

from autoencoders import VARIANTS
from autoencoders.augment import WARP_KEYS
from autoencoders.checks import check_choice
from autoencoders.data import DEFAULT_DATASET
from training.loop import LR_SCHEDULERS

CONFIG_DIR = Path(__file__).resolve().parent / "configs"
# What a config file may set (flags of the same name override it): type, default, help.
HYPERPARAMETERS: dict[str, tuple[type, Any, str]] = {
    "epochs": (int, 10, "passes over the training split"),
    "batch_size": (int, 256, "images per process per micro-step"),
    "learning_rate": (float, 1e-3, "peak learning rate of AdamW"),
    "lr_scheduler": (str, "cosine", f"learning-rate schedule: {', '.join(LR_SCHEDULERS)}"),
    "lr_warmup_steps": (int, 100, "optimizer steps of linear warmup"),
    "weight_decay": (float, 0.0, "AdamW weight decay (0: Adam)"),
    "seed": (int, 0, "seed of the initialisation, the data order and the noise"),
    "gradient_accumulation_steps": (int, 1, "micro-steps per optimizer step"),
    "augment_until": (float, 1.0, "fraction of the epochs whose batches `augment:` warps; the last ones train on clean images"),
    "ema": (float, 0.0, "decay of an exponential moving average of the weights, validated and saved instead of the last ones (0: none)"),
    "ema_every": (int, 1, "optimizer steps between updates of that average"),
}
TRACKER_PACKAGES = {"tensorboard": "tensorboard", "trackio": "trackio"}
MIXED_PRECISION = ("no", "fp16", "bf16")
CUSTOM = "custom"  # the variant of a model built from a config's `model:` alone


def fail(message: str) -> NoReturn:
    """Stop with a message for the user (exit status 1), not a traceback."""
    raise SystemExit(f"train.py: error: {message}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], allow_abbrev=False)
    parser.add_argument("--variant", help=f"the preset to train: {', '.join(VARIANTS)}, or custom with --config (default: the config's)")
    parser.add_argument("--config", type=Path, help="YAML/JSON config (default: training/configs/<variant>.yaml)")
    parser.add_argument("--dataset", default=DEFAULT_DATASET, help="IDX folder, parquet, image folder or Hub dataset id")
    parser.add_argument("--output_dir", type=Path, help="the Hub model folder to write (default: out/<variant>)")
    parser.add_argument("--overwrite_output_dir", action="store_true", help="replace the model an existing --output_dir holds")
    parser.add_argument("--checkpoint_dir", type=Path, help="training checkpoints (default: <output_dir>-checkpoints)")
    parser.add_argument("--logging_dir", type=Path, help="tracker logs (default: <checkpoint_dir>/logs)")
    for name, (kind, default, text) in HYPERPARAMETERS.items():
        choices = LR_SCHEDULERS if name == "lr_scheduler" else None
        parser.add_argument(f"--{name}", type=kind, choices=choices, help=f"{text} (default: the config's, else {default})")
    parser.add_argument("--latent_dim", type=int, help="code size, overriding the preset's")
    parser.add_argument(
        "--binarize", action="store_true", help="dynamic binarisation: each pixel of every batch drawn from Bernoulli(intensity)"
    )
    parser.add_argument("--mixed_precision", choices=MIXED_PRECISION, help="default: the config's, else accelerate's config")
    parser.add_argument("--checkpointing_steps", type=int, default=500, help="save the training state every N optimizer steps")
    parser.add_argument("--checkpoints_total_limit", type=int, default=2, help="keep the newest N checkpoints")
    parser.add_argument("--resume_from_checkpoint", help="'latest' or a checkpoint folder")
    parser.add_argument("--report_to", choices=[*TRACKER_PACKAGES, "none"], default="tensorboard")
    parser.add_argument("--log_every", type=int, default=50, help="optimizer steps between loss/speed updates")
    parser.add_argument("--max_train_samples", type=int, help="train on the first N training images only")
    parser.add_argument("--max_eval_samples", type=int, help="validate and test on the first N images only")
    parser.add_argument("--push_to_hub", action="store_true", help="upload the output folder in one commit")
    parser.add_argument("--hub_model_id", help="repo to push to (default: autoencoders-mnist-<variant> in your namespace)")
    parser.add_argument("--hub_token", help="Hub token (default: HF_TOKEN or the `hf auth login` token)")
    parser.add_argument("--hub_private_repo", action="store_true", help="create the repo private")
    return parser


def read_config(path: Path) -> dict[str, Any]:
    """A config file's values, checked: known keys, right types; never a token."""
    try:
        values = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as err:
        fail(f"cannot read config {path}: {err}")
    if not isinstance(values, dict):
        fail(f"{path}: a config must be a mapping of hyperparameters")
    if "hub_token" in values:
        fail(f"{path}: tokens do not belong in config files; set HF_TOKEN or pass --hub_token")
    allowed = {"variant": str, "model": dict, "augment": dict, "imports": list, "binarize": bool, "mixed_precision": str} | {
        name: spec[0] for name, spec in HYPERPARAMETERS.items()
    }
    unknown = sorted(set(values) - set(allowed))
    if unknown:
        fail(f"{path}: unknown config keys {unknown}; valid keys: {', '.join(sorted(allowed))}")
    for name, value in values.items():
        kind = allowed[name]
        valid = isinstance(value, (int, float) if kind is float else kind) and (kind is bool or not isinstance(value, bool))
        if not valid:
            fail(f"{path}: {name} must be {kind.__name__}, got {value!r}")
    if values.get("mixed_precision", "no") not in MIXED_PRECISION:
        fail(f"{path}: mixed_precision is one of {', '.join(MIXED_PRECISION)}, got {values['mixed_precision']!r}")
    augment = values.get("augment", {})
    if set(augment) - set(WARP_KEYS) or not all(isinstance(v, (int, float)) and v >= 0 for v in augment.values()):
        fail(f"{path}: augment takes non-negative numbers for {', '.join(WARP_KEYS)} (random_warp), got {augment}")
    imports = values.get("imports", [])
    if not all(isinstance(entry, str) and entry for entry in imports):
        fail(f"{path}: imports takes module names or .py files that register parts, got {imports}")
    values["imports"] = [str((path.parent / entry).resolve()) if entry.endswith(".py") else entry for entry in imports]
    return values


def parse_args(argv: list[str]) -> argparse.Namespace:
    """Flags over the config file over the defaults; the resolved paths and model overrides."""
    args = build_parser().parse_args(argv)
    if args.config is None:
        if args.variant is None:
            fail(f"pass --variant ({', '.join(VARIANTS)}) or --config")
        if args.variant == CUSTOM:
            fail("--variant custom builds the model that a config's `model:` names: pass --config too")
        try:
            check_choice("variant", args.variant, VARIANTS)
        except ValueError as err:
            fail(str(err))
    values = read_config(args.config or CONFIG_DIR / f"{args.variant}.yaml")
    args.variant = args.variant or values.get("variant")
    if args.variant is None:
        fail(f"{args.config} names no variant: add `variant: <name>` or pass --variant")
    for name, (_, default, _) in HYPERPARAMETERS.items():
        if getattr(args, name) is None:
            setattr(args, name, values.get(name, default))
    args.model_overrides = dict(values.get("model", {}))
    args.augment = dict(values.get("augment", {}))
    args.binarize = args.binarize or bool(values.get("binarize", False))
    args.mixed_precision = args.mixed_precision or values.get("mixed_precision")
    args.imports = list(values.get("imports", []))
    if args.latent_dim is not None:
        args.model_overrides["latent_dim"] = args.latent_dim
    positive = ["epochs", "batch_size", "gradient_accumulation_steps", "ema_every", "checkpointing_steps", "log_every"]
    positive += [name for name in ("checkpoints_total_limit", "max_train_samples", "max_eval_samples") if getattr(args, name) is not None]
    for name in positive:
        if getattr(args, name) < 1:
            fail(f"--{name} must be at least 1, got {getattr(args, name)}")
    if args.learning_rate <= 0 or args.lr_warmup_steps < 0 or args.weight_decay < 0:
        fail("--learning_rate must be positive, --lr_warmup_steps and --weight_decay not negative")
    if not 0 <= args.augment_until <= 1:
        fail(f"--augment_until is a fraction of the epochs, between 0 and 1, got {args.augment_until}")
    if not 0 <= args.ema < 1:
        fail(f"--ema is the decay of the weight average, at least 0 (none) and below 1, got {args.ema}")
    args.output_dir = (args.output_dir or Path("out") / args.variant).resolve()
    args.checkpoint_dir = (args.checkpoint_dir or args.output_dir.with_name(f"{args.output_dir.name}-checkpoints")).resolve()
    args.logging_dir = (args.logging_dir or args.checkpoint_dir / "logs").resolve()
    args.hub_model_id = args.hub_model_id or f"autoencoders-mnist-{args.variant}"
    return args


def public_hyperparameters(args: argparse.Namespace) -> dict[str, Any]:
    """What a card, a tracker and a checkpoint may record about the run: never the token."""
    # not recorded when unused: cards stay as they were
    unused = ({"ema", "ema_every"} if not args.ema else set()) | ({"augment_until"} if not args.augment else set())
    hyperparameters = {"variant": args.variant, "dataset": args.dataset} | {
        name: getattr(args, name) for name in HYPERPARAMETERS if name not in unused
    }
    return hyperparameters | ({"augment": args.augment} if args.augment else {}) | ({"binarize": True} if args.binarize else {})


def launched_by_accelerate() -> bool:
    """Whether `accelerate launch` started this process (it sets its dynamo settings for every run)."""
    return "ACCELERATE_DYNAMO_MODE" in os.environ


def reproduce_command(argv: list[str], world_size: int, device_type: str, token: str | None) -> str:
    """The command that trains the same model, with the launcher it was run with: without the token,
    the resume (a resumed run ends where an uninterrupted one does) or the overwrite flag."""
    kept, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg in ("--hub_token", "--resume_from_checkpoint"):
            skip = True
        elif arg != "--overwrite_output_dir" and not arg.startswith(("--hub_token=", "--resume_from_checkpoint=")):
            kept.append(arg)
    launcher = "accelerate launch" if launched_by_accelerate() else "python"
    if world_size > 1:
        launcher = f"accelerate launch --multi_gpu --num_processes {world_size}"
        if device_type == "cpu":
            launcher = f"ACCELERATE_USE_CPU=1 {launcher}"
    return scrub(f"{launcher} training/train.py {shlex.join(kept)}", token)


def scrub(text: str, token: str | None) -> str:
    return text.replace(token, "***") if token else text
