#!/usr/bin/env python
"""Train an autoencoder preset with Accelerate, evaluate it and write a Hub model folder.

    accelerate launch training/train.py --variant deep --dataset ../shared/data/mnist --output_dir out/deep
    python training/train.py --variant simple --dataset ../shared/data/mnist --epochs 1

Hyperparameters come from `training/configs/<variant>.yaml` (or `--config`); flags override them.
Everything that can be checked before training is (variant, dataset, image size, output folders,
free space, tracker package, token), so a bad run fails in seconds with a message saying what to do.
`--output_dir` ends up holding exactly a Hub model repo; checkpoints and logs go beside it.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib
import json
import math
import os
import shlex
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, NamedTuple, NoReturn

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch
import yaml
from accelerate import Accelerator
from accelerate.utils import ProjectConfiguration, set_seed
from huggingface_hub import get_token
from torch import Tensor
from torchvision.utils import make_grid, save_image
from tqdm.auto import tqdm

from autoencoders import VARIANTS, AutoEncoder, AutoEncoderConfig
from autoencoders.cards import build_model_card
from autoencoders.data import DEFAULT_DATASET, load_images, pad_images
from autoencoders.evaluate import evaluate, score_images
from autoencoders.noise import corrupt
from training.atomic import commit_dir, fresh_staging
from training.checkpoints import latest_checkpoint, load_checkpoint, read_progress, save_checkpoint
from training.loop import LR_SCHEDULERS, LossMonitor, build_scheduler, epoch_batches, steps_per_epoch, train_steps
from training.publish import is_repo_file, push_folder, retry_command

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
}
TRACKER_PACKAGES = {"tensorboard": "tensorboard", "trackio": "trackio"}
CARD_SAMPLES = 64
CARD_DIGITS = 16


class Splits(NamedTuple):
    train: Tensor
    train_labels: Tensor
    val: Tensor
    test: Tensor
    test_labels: Tensor


def fail(message: str) -> NoReturn:
    """Stop with a message for the user (exit status 1), not a traceback."""
    raise SystemExit(f"train.py: error: {message}")


# ---------------------------------------------------------------------------- arguments and config


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], allow_abbrev=False)
    parser.add_argument("--variant", help=f"the preset to train: {', '.join(VARIANTS)} (default: the config's)")
    parser.add_argument("--config", type=Path, help="YAML/JSON config (default: training/configs/<variant>.yaml)")
    parser.add_argument("--dataset", default=DEFAULT_DATASET, help="IDX folder, parquet, image folder or Hub dataset id")
    parser.add_argument("--output_dir", type=Path, help="the Hub model folder to write (default: out/<variant>)")
    parser.add_argument("--checkpoint_dir", type=Path, help="training checkpoints (default: <output_dir>-checkpoints)")
    parser.add_argument("--logging_dir", type=Path, help="tracker logs (default: <checkpoint_dir>/logs)")
    for name, (kind, default, text) in HYPERPARAMETERS.items():
        choices = LR_SCHEDULERS if name == "lr_scheduler" else None
        parser.add_argument(f"--{name}", type=kind, choices=choices, help=f"{text} (default: the config's, else {default})")
    parser.add_argument("--latent_dim", type=int, help="code size, overriding the preset's")
    parser.add_argument("--mixed_precision", choices=["no", "fp16", "bf16"], help="default: accelerate's config")
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
    allowed = {"variant": str, "model": dict} | {name: spec[0] for name, spec in HYPERPARAMETERS.items()}
    unknown = sorted(set(values) - set(allowed))
    if unknown:
        fail(f"{path}: unknown config keys {unknown}; valid keys: {', '.join(sorted(allowed))}")
    for name, value in values.items():
        kind = allowed[name]
        valid = isinstance(value, (int, float) if kind is float else kind) and not isinstance(value, bool)
        if not valid:
            fail(f"{path}: {name} must be {kind.__name__}, got {value!r}")
    return values


def parse_args(argv: list[str]) -> argparse.Namespace:
    """Flags over the config file over the defaults; the resolved paths and model overrides."""
    args = build_parser().parse_args(argv)
    if args.config is None:
        if args.variant is None:
            fail(f"pass --variant ({', '.join(VARIANTS)}) or --config")
        if args.variant not in VARIANTS:
            fail(f"unknown variant {args.variant!r}; choose one of: {', '.join(VARIANTS)}")
    values = read_config(args.config or CONFIG_DIR / f"{args.variant}.yaml")
    args.variant = args.variant or values.get("variant")
    if args.variant is None:
        fail(f"{args.config} names no variant: add `variant: <name>` or pass --variant")
    for name, (_, default, _) in HYPERPARAMETERS.items():
        if getattr(args, name) is None:
            setattr(args, name, values.get(name, default))
    args.model_overrides = dict(values.get("model", {}))
    if args.latent_dim is not None:
        args.model_overrides["latent_dim"] = args.latent_dim
    positive = ["epochs", "batch_size", "gradient_accumulation_steps", "checkpointing_steps", "log_every"]
    positive += [name for name in ("checkpoints_total_limit", "max_train_samples", "max_eval_samples") if getattr(args, name) is not None]
    for name in positive:
        if getattr(args, name) < 1:
            fail(f"--{name} must be at least 1, got {getattr(args, name)}")
    if args.learning_rate <= 0 or args.lr_warmup_steps < 0 or args.weight_decay < 0:
        fail("--learning_rate must be positive, --lr_warmup_steps and --weight_decay not negative")
    args.output_dir = (args.output_dir or Path("out") / args.variant).resolve()
    args.checkpoint_dir = (args.checkpoint_dir or args.output_dir.with_name(f"{args.output_dir.name}-checkpoints")).resolve()
    args.logging_dir = (args.logging_dir or args.checkpoint_dir / "logs").resolve()
    args.hub_model_id = args.hub_model_id or f"autoencoders-mnist-{args.variant}"
    return args


def public_hyperparameters(args: argparse.Namespace) -> dict[str, Any]:
    """What a card, a tracker and a checkpoint may record about the run: never the token."""
    return {"variant": args.variant, "dataset": args.dataset, **{name: getattr(args, name) for name in HYPERPARAMETERS}}


def reproduce_command(argv: list[str], world_size: int, device_type: str, token: str | None) -> str:
    """The command that trains the same model: without the token and without the resume (a resumed
    run ends where an uninterrupted one does)."""
    kept, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg in ("--hub_token", "--resume_from_checkpoint"):
            skip = True
        elif not arg.startswith(("--hub_token=", "--resume_from_checkpoint=")):
            kept.append(arg)
    launcher = "accelerate launch"
    if world_size > 1:
        launcher = f"accelerate launch --multi_gpu --num_processes {world_size}"
        if device_type == "cpu":
            launcher = f"ACCELERATE_USE_CPU=1 {launcher}"
    return scrub(f"{launcher} training/train.py {shlex.join(kept)}", token)


def scrub(text: str, token: str | None) -> str:
    return text.replace(token, "***") if token else text


# ---------------------------------------------------------------------------- checks before training


def build_model(args: argparse.Namespace) -> AutoEncoder:
    torch.manual_seed(args.seed)
    try:
        return AutoEncoder.from_variant(args.variant, **args.model_overrides)
    except (TypeError, ValueError) as err:
        fail(f"cannot build the {args.variant!r} model: {err}")


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
            fail(f"--output_dir {out} holds {foreign}, which are not model-repo files; it is replaced by the "
                 "trained model, so choose a new or empty folder")
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
            fail(f"not enough free space in {folder}: {free / 1e6:.1f} MB free, about {need / 1e6:.1f} MB needed "
                 "(the model folder, and the checkpoints kept by --checkpoints_total_limit); free some space or choose another folder")


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


def load_splits(args: argparse.Namespace, config: AutoEncoderConfig) -> Splits:
    """train / val / test as uint8 tensors padded to the model's input, checked against its shape."""
    try:
        train, train_labels = load_images(args.dataset, "train", size=None)
        val, _ = load_images(args.dataset, "val", size=None)
        test, test_labels = load_images(args.dataset, "test", size=None)
    except (FileNotFoundError, ValueError) as err:
        fail(f"cannot load the dataset {args.dataset!r}: {err}. Pass --dataset a folder of MNIST IDX files, "
             "parquet files or an image folder, or a Hub dataset id")
    channels, height, width = train.shape[1:]
    if channels != config.channels or max(height, width) > config.image_size:
        fail(f"the dataset's images are {channels}x{height}x{width} but the {config.variant} model takes "
             f"{config.channels}x{config.image_size}x{config.image_size} (smaller images are padded): set channels "
             "and image_size under `model:` in the config, or use a dataset of that size")
    train_count, eval_count = args.max_train_samples, args.max_eval_samples
    return Splits(
        pad_images(train[:train_count], config.image_size),
        train_labels[:train_count],
        pad_images(val[:eval_count], config.image_size),
        pad_images(test[:eval_count], config.image_size),
        test_labels[:eval_count],
    )


def resume_point(args: argparse.Namespace) -> Path | None:
    """The checkpoint to resume from, checked before training starts."""
    if args.resume_from_checkpoint is None:
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


# ---------------------------------------------------------------------------- training


def make_accelerator(args: argparse.Namespace) -> Accelerator:
    # `accelerate launch --multi_gpu` on a machine without GPUs: without cpu=True every process
    # would train alone instead of joining one gloo process group.
    distributed_cpu = int(os.environ.get("WORLD_SIZE", "1")) > 1 and not torch.cuda.is_available()
    return Accelerator(
        cpu=distributed_cpu,
        mixed_precision=args.mixed_precision,
        gradient_accumulation_steps=args.gradient_accumulation_steps,
        log_with=None if args.report_to == "none" else args.report_to,
        project_config=ProjectConfiguration(project_dir=str(args.checkpoint_dir), logging_dir=str(args.logging_dir)),
        step_scheduler_with_optimizer=False,  # stepped once per optimizer step, by us
    )


class Throughput:
    """Samples per second over the training steps only (validation and checkpoints excluded)."""

    def __init__(self, samples_per_step: int) -> None:
        self.samples_per_step, self.seconds, self.steps = samples_per_step, 0.0, 0
        self.restart()

    def restart(self) -> None:
        self.mark, self.pending = time.perf_counter(), 0

    def step(self) -> None:
        self.pending += 1

    def lap(self) -> float:
        """Samples/s since the last lap; call it right after a host sync, so the time is real."""
        elapsed = time.perf_counter() - self.mark
        self.seconds += elapsed
        self.steps += self.pending
        rate = self.pending * self.samples_per_step / max(elapsed, 1e-9)
        self.restart()
        return rate

    @property
    def overall(self) -> float:
        return self.steps * self.samples_per_step / max(self.seconds, 1e-9)


def validate(accelerator: Accelerator, model: AutoEncoder, images: Tensor) -> dict[str, float]:
    """Mean per-image metrics on `images`: each rank scores one contiguous shard (the last padded by
    repeating the final image) and `gather_for_metrics` reassembles them in order."""
    count, world = len(images), accelerator.num_processes
    chunk = math.ceil(count / world)
    start = accelerator.process_index * chunk
    index = torch.arange(start, start + chunk, device=images.device).clamp_(max=count - 1)
    scores = accelerator.gather_for_metrics(score_images(model, images[index]))
    return {name: values[:count].mean().item() for name, values in scores.items()}


def reconstruction_grid(model: AutoEncoder, images: Tensor) -> Tensor:
    """Images over their reconstructions, one column per image."""
    originals = images.float() / 255
    with torch.no_grad():
        reconstructions = model.eval().reconstruct(originals.to(model.latent_mean.device)).cpu()
    return make_grid(torch.cat([originals.cpu(), reconstructions]), nrow=len(images), pad_value=1)


def log_image(accelerator: Accelerator, name: str, grid: Tensor, step: int) -> None:
    for tracker in accelerator.trackers:
        if tracker.name == "tensorboard":
            tracker.log_images({name: grid.unsqueeze(0)}, step=step)
        elif tracker.name == "trackio":
            import trackio

            tracker.log({name: trackio.Image(grid.mul(255).byte().permute(1, 2, 0).numpy())}, step=step)


def parameter_digest(model: torch.nn.Module) -> str:
    """sha256 of the parameters, to compare weights across processes without moving them."""
    digest = hashlib.sha256()
    for name, parameter in sorted(model.named_parameters()):
        digest.update(name.encode())
        digest.update(parameter.detach().float().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def train(args: argparse.Namespace, accelerator: Accelerator, model: AutoEncoder, splits: Splits, checkpoint: Path | None) -> AutoEncoder:
    """Train `model` (resuming from `checkpoint`), validating each epoch; returns the unwrapped model."""
    world, rank, device = accelerator.num_processes, accelerator.process_index, accelerator.device
    accumulation = args.gradient_accumulation_steps
    per_epoch = steps_per_epoch(len(splits.train), args.batch_size, world, accumulation)
    if per_epoch == 0:
        fail(f"the training split has {len(splits.train)} images, fewer than one optimizer step takes "
             f"(batch_size x processes x gradient_accumulation_steps = {args.batch_size * world * accumulation}): "
             "lower --batch_size or train on more images")
    total_steps = per_epoch * args.epochs
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=args.learning_rate, weight_decay=args.weight_decay, fused=device.type in ("cpu", "cuda")
    )
    scheduler = build_scheduler(optimizer, args.lr_scheduler, args.lr_warmup_steps, total_steps)
    model, optimizer, scheduler = accelerator.prepare(model, optimizer, scheduler)
    set_seed(args.seed, device_specific=True)  # different noise on each rank; the data order has its own generator
    progress = {
        "model_config": accelerator.unwrap_model(model).config.to_dict(),
        "hyperparameters": public_hyperparameters(args),
        "world_size": world,
        "train_images": len(splits.train),
        "steps_per_epoch": per_epoch,
    }
    global_step = 0
    if checkpoint is not None:
        try:
            saved = load_checkpoint(accelerator, checkpoint)
        except ValueError as err:
            fail(str(err))
        if saved["model_config"] != progress["model_config"]:
            fail(f"{checkpoint} holds a model with a different config; resume with the same variant and overrides")
        changed = [key for key in ("hyperparameters", "world_size", "train_images") if saved[key] != progress[key]]
        if changed:
            accelerator.print(f"warning: resuming with different {changed}: the run will not match an uninterrupted one")
        global_step = saved["global_step"]
        accelerator.print(f"resumed from {checkpoint} at step {global_step}")
    if accelerator.is_main_process and args.report_to != "none":
        config = {**public_hyperparameters(args), "model": json.dumps(args.model_overrides), "world_size": world}
        accelerator.init_trackers(f"autoencoders-{args.variant}", config=config)

    images, val = splits.train.to(device), splits.val.to(device)
    throughput = Throughput(args.batch_size * world * accumulation)
    monitor = LossMonitor(device, global_step, accumulation)
    bar = tqdm(total=total_steps, initial=global_step, disable=not accelerator.is_main_process, unit="step", dynamic_ncols=True)
    start_epoch = global_step // per_epoch
    for epoch in range(start_epoch, args.epochs):
        batches = epoch_batches(len(images), args.batch_size, seed=args.seed, epoch=epoch, rank=rank, world_size=world, accumulation=accumulation)
        if epoch == start_epoch:
            batches = batches[(global_step - epoch * per_epoch) * accumulation :]
            print(f"[rank {rank}/{world}] epoch {epoch}: {batches.numel()} images in {len(batches)} micro-batches, "
                  f"first indices {batches[0, :4].tolist()}", flush=True)
        throughput.restart()
        for _ in train_steps(accelerator, model, optimizer, scheduler, images, batches.to(device), monitor):
            global_step += 1
            throughput.step()
            bar.update()
            checkpoint_due = global_step % args.checkpointing_steps == 0
            if checkpoint_due or global_step % args.log_every == 0 or global_step % per_epoch == 0:
                loss, bad_step = monitor.read(accelerator)
                rate = throughput.lap()
                if bad_step is not None:
                    last = latest_checkpoint(args.checkpoint_dir)
                    fail(f"the training loss became nan or inf at step {bad_step} (epoch {(bad_step - 1) // per_epoch}); "
                         f"stopped without saving anything after it. Last good checkpoint: {last or 'none'}. "
                         "Lower --learning_rate (or raise --lr_warmup_steps) and start again")
                bar.set_postfix(epoch=epoch, loss=f"{loss:.4g}", samples_s=f"{rate:.0f}")
                accelerator.log({"train/loss": loss, "train/lr": scheduler.get_last_lr()[0], "train/samples_per_s": rate}, step=global_step)
            if checkpoint_due:
                save_checkpoint(accelerator, args.checkpoint_dir, global_step, {**progress, "global_step": global_step}, args.checkpoints_total_limit)
                throughput.restart()
        unwrapped = accelerator.unwrap_model(model)
        metrics = validate(accelerator, unwrapped, val)
        accelerator.log({f"val/{name}": value for name, value in metrics.items()}, step=global_step)
        if accelerator.is_main_process and args.report_to != "none":
            log_image(accelerator, "val/reconstructions", reconstruction_grid(unwrapped, splits.val[:8]), global_step)
        if accelerator.is_main_process:
            tqdm.write(f"epoch {epoch}: " + ", ".join(f"val {name} {value:.4g}" for name, value in metrics.items()))
    bar.close()
    accelerator.wait_for_everyone()
    if throughput.steps:
        accelerator.print(f"trained {throughput.steps} steps: {throughput.overall:.0f} samples/s "
                          f"({world} process(es) x batch {args.batch_size} x accumulation {accumulation}, {device.type})")
    trained = accelerator.unwrap_model(model)
    print(f"[rank {rank}/{world}] final weights sha256 {parameter_digest(trained)}", flush=True)
    return trained


# ---------------------------------------------------------------------------- the output folder


def write_output_folder(
    args: argparse.Namespace, model: AutoEncoder, metrics: dict[str, float], splits: Splits, command: str, hyperparameters: dict[str, Any]
) -> None:
    """config.json, model.safetensors, the card and its images, renamed into place at once."""
    staging = fresh_staging(args.output_dir)
    model.save_pretrained(staging)
    device = model.latent_mean.device
    images = {"Test digits over their reconstructions": "reconstructions.png", "Samples": "samples.png"}
    save_image(reconstruction_grid(model, splits.test[:CARD_DIGITS]), staging / "reconstructions.png")
    with torch.no_grad():
        samples = model.sample(CARD_SAMPLES, generator=torch.Generator(device).manual_seed(0)).cpu()
    save_image(make_grid(samples, nrow=8, pad_value=1), staging / "samples.png")
    if model.config.noise:
        clean = splits.test[:CARD_DIGITS].float() / 255
        noisy = corrupt(clean, "masking", 0.25, torch.Generator().manual_seed(0))
        with torch.no_grad():
            denoised = model.reconstruct(noisy.to(device)).cpu()
        save_image(make_grid(torch.cat([noisy, denoised, clean]), nrow=CARD_DIGITS, pad_value=1), staging / "denoising.png")
        images["Masking noise 25%: input, denoised, clean"] = "denoising.png"
    card = build_model_card(
        model.config,
        metrics,
        repo_id=args.hub_model_id,
        dataset=DEFAULT_DATASET if Path(args.dataset).exists() else args.dataset,  # a local folder is a copy of MNIST
        num_test_images=len(splits.test),
        hyperparameters=hyperparameters,
        command=command,
        images=images,
    )
    card.save(staging / "README.md")  # replaces the generic card save_pretrained wrote
    commit_dir(staging, args.output_dir)


def push(args: argparse.Namespace, token: str) -> str | None:
    """Upload the output folder; on failure return the message with the retry command (the folder
    stays as it is)."""
    repo_id = args.hub_model_id
    try:
        url = push_folder(args.output_dir, repo_id, token=token, private=args.hub_private_repo)
    except Exception as err:  # any failure (network, auth, quota) ends the same way: the local folder is complete
        retry = retry_command(args.output_dir, repo_id, args.hub_private_repo)
        return (f"push to {repo_id} failed ({scrub(f'{type(err).__name__}: {err}', token)}). {args.output_dir} is "
                f"complete; retry with HF_TOKEN set or after `hf auth login`:\n  {retry}")
    print(f"pushed {args.output_dir} to {url}", flush=True)
    return None


def publish(args: argparse.Namespace, argv: list[str], accelerator: Accelerator, model: AutoEncoder, splits: Splits, token: str | None) -> dict[str, float]:
    """Fit the latent statistics on the training codes, evaluate on the test split, write the folder."""
    model.eval().fit_latent_stats(splits.train)
    metrics = evaluate(model, splits.train, splits.train_labels, splits.test, splits.test_labels)
    command = reproduce_command(argv, accelerator.num_processes, accelerator.device.type, token)
    hyperparameters = {
        **public_hyperparameters(args),
        "model_overrides": args.model_overrides,
        "processes": accelerator.num_processes,
        "mixed_precision": accelerator.mixed_precision,
        "train_images": len(splits.train),
    }
    write_output_folder(args, model, metrics, splits, command, hyperparameters)
    summary = ", ".join(f"{name} {value:.4g}" for name, value in metrics.items() if not name.startswith("psnr_"))
    print(f"wrote {args.output_dir}: {summary}", flush=True)
    return metrics


# ---------------------------------------------------------------------------- entry point


def main(argv: list[str] | None = None) -> dict[str, float] | None:
    """Run the script; returns the test metrics on the main process (None on the others)."""
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parse_args(argv)
    model = build_model(args)
    check_tracker(args.report_to)
    token = resolve_token(args)
    splits = load_splits(args, model.config)
    bound = args.epochs * len(splits.train) // args.batch_size
    check_output_paths(args, model, bound)
    checkpoint = resume_point(args)

    accelerator = make_accelerator(args)
    trained = train(args, accelerator, model, splits, checkpoint)
    metrics, push_failure = None, None
    if accelerator.is_main_process:
        metrics = publish(args, argv, accelerator, trained, splits, token)
        if args.push_to_hub:
            push_failure = push(args, token)
    accelerator.wait_for_everyone()
    accelerator.end_training()
    if push_failure:
        fail(push_failure)
    return metrics

if __name__ == "__main__":
    main()
