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
import functools
import hashlib
import json
import math
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

if __package__ in (None, ""):  # run as a script: import from the repository root, not from training/
    sys.path[0] = str(Path(__file__).resolve().parents[1])

import torch
from accelerate import Accelerator
from accelerate.utils import ProjectConfiguration, set_seed
from torch import Tensor
from torchvision.utils import make_grid, save_image
from tqdm.auto import tqdm

from autoencoders import AutoEncoder
from autoencoders.augment import random_warp
from autoencoders.cards import build_model_card
from autoencoders.data import as_float, dataset_id
from autoencoders.evaluate import evaluate, score_images
from autoencoders.features import NoFilters, input_filters
from autoencoders.model import evaluating
from autoencoders.noise import corrupt
from autoencoders.traversals import analogies, traversal_units, traversals
from training.atomic import commit_dir, fresh_staging
from training.checkpoints import latest_checkpoint, load_average, load_checkpoint, save_checkpoint
from training.loop import (
    LossMonitor,
    WeightAverage,
    build_optimizer,
    build_scheduler,
    crowded_cores_note,
    epoch_batches,
    flush_denormals,
    steps_per_epoch,
    train_steps,
)
from training.options import fail, parse_args, public_hyperparameters, reproduce_command, scrub
from training.preflight import (
    Splits,
    build_model,
    check_output_paths,
    check_tracker,
    load_splits,
    resolve_token,
    resume_point,
    with_padding,
)
from training.publish import push_folder, retry_command

CARD_SAMPLES = 64
CARD_DIGITS = 16
START_IMAGES = 10_000  # the training images each part may start from (Part.start_from_data)
CARD_ANALOGIES = 8  # test digits, one a row, each decoded as every label
CARD_FEATURES = 100  # first-layer units drawn on the card, 10 a row as in Ng's notes


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


def batch_transform(args: argparse.Namespace, warp: bool = True) -> Callable[[Tensor], Tensor] | None:
    """What every training batch (floats in [0, 1]) goes through: the `augment:` warp (when `warp`),
    then with `--binarize` each pixel drawn on with probability its intensity (dynamic binarisation,
    the convention of the likelihoods the literature reports on MNIST)."""
    steps: list[Callable[[Tensor], Tensor]] = []
    if args.augment and warp:
        steps.append(functools.partial(random_warp, **args.augment))
    if args.binarize:
        steps.append(torch.bernoulli)
    if not steps:
        return None

    def transform(batch: Tensor) -> Tensor:
        for step in steps:
            batch = step(batch)
        return batch

    return transform


def given_labels(model: AutoEncoder, labels: Tensor) -> Tensor | None:
    """`labels` for a conditional model, None for a model that takes none."""
    return labels if model.conditional else None


def validate(accelerator: Accelerator, model: AutoEncoder, images: Tensor, labels: Tensor) -> dict[str, float]:
    """Mean per-image metrics on `images`: each rank scores one contiguous shard (the last padded by
    repeating the final image) and `gather_for_metrics` reassembles them in order."""
    count, world = len(images), accelerator.num_processes
    chunk = math.ceil(count / world)
    start = accelerator.process_index * chunk
    index = torch.arange(start, start + chunk, device=images.device).clamp_(max=count - 1)
    shard_labels = given_labels(model, labels.to(images.device)[index])
    scores = accelerator.gather_for_metrics(score_images(model, images[index], labels=shard_labels))
    return {name: values[:count].mean().item() for name, values in scores.items()}


def reconstruction_grid(model: AutoEncoder, images: Tensor, labels: Tensor) -> Tensor:
    """Images over their reconstructions, one column per image."""
    originals = as_float(images)
    with evaluating(model):
        reconstructions = model.reconstruct(originals.to(model.latent_mean.device), given_labels(model, labels)).cpu()
    return make_grid(torch.cat([originals.cpu(), reconstructions]), nrow=len(images), pad_value=1)


def feature_grid(model: AutoEncoder) -> Tensor:
    """The first `CARD_FEATURES` first-layer filters, 10 a row; a convolution's small kernels are
    enlarged pixel for pixel to the size of the images. Raises NoFilters for an encoder without."""
    filters = input_filters(model)[:CARD_FEATURES].cpu()
    scale = max(1, model.config.content_shape[-1] // filters.shape[-1])
    return make_grid(filters.repeat_interleave(scale, dim=-1).repeat_interleave(scale, dim=-2), nrow=10, pad_value=1)


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


def resume(accelerator: Accelerator, checkpoint: Path, progress: dict[str, Any], average: WeightAverage | None) -> int:
    """Restore the training state (and the weight `average`, when the run keeps one) from `checkpoint`;
    return its optimizer step."""
    try:
        saved = load_checkpoint(accelerator, checkpoint)
        if average is not None:
            average.load_state_dict(load_average(checkpoint))
    except ValueError as err:
        fail(str(err))
    if saved["model_config"] != progress["model_config"]:
        fail(f"{checkpoint} holds a model with a different config; resume with the same variant and overrides")
    changed = [key for key in ("hyperparameters", "world_size", "train_images") if saved[key] != progress[key]]
    if changed:
        accelerator.print(f"warning: resuming with different {changed}: the run will not match an uninterrupted one")
    accelerator.print(f"resumed from {checkpoint} at step {saved['global_step']}")
    return saved["global_step"]


def stop_on_non_finite_loss(args: argparse.Namespace, bad_step: int, per_epoch: int) -> NoReturn:
    last = latest_checkpoint(args.checkpoint_dir)
    fail(
        f"the training loss became nan or inf at step {bad_step} (epoch {(bad_step - 1) // per_epoch}); "
        f"stopped without saving anything after it. Last good checkpoint: {last or 'none'}. "
        "Lower --learning_rate (or raise --lr_warmup_steps) and start again"
    )


EpochHook = Callable[[int, AutoEncoder], None]


def train(
    args: argparse.Namespace,
    accelerator: Accelerator,
    model: AutoEncoder,
    splits: Splits,
    checkpoint: Path | None,
    on_epoch_end: EpochHook | None = None,
) -> AutoEncoder:
    """Train `model` (resuming from `checkpoint`), validating each epoch and then calling
    `on_epoch_end(epoch, model)` on the main process; returns the unwrapped model. With `ema` the
    weight average stands in for the weights at every validation, hook and at the end."""
    world, rank, device = accelerator.num_processes, accelerator.process_index, accelerator.device
    accumulation = args.gradient_accumulation_steps
    per_epoch = steps_per_epoch(len(splits.train), args.batch_size, world, accumulation)
    if per_epoch == 0:
        fail(
            f"the training split has {len(splits.train)} images, fewer than one optimizer step takes "
            f"(batch_size x processes x gradient_accumulation_steps = {args.batch_size * world * accumulation}): "
            "lower --batch_size or train on more images"
        )
    total_steps = per_epoch * args.epochs
    if checkpoint is None:
        model.start_from_data(splits.train[:START_IMAGES])  # the same images on every rank: the same start
    optimizer = build_optimizer(model, args.learning_rate, args.weight_decay, device)
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
    average = WeightAverage(accelerator.unwrap_model(model), args.ema, args.ema_every) if args.ema else None
    global_step = 0 if checkpoint is None else resume(accelerator, checkpoint, progress, average)
    if accelerator.is_main_process and args.report_to != "none":
        # trackers take scalars and strings only: the nested settings go in as JSON
        config = {
            **public_hyperparameters(args),
            "model": json.dumps(args.model_overrides),
            "augment": json.dumps(args.augment),
            "world_size": world,
        }
        accelerator.init_trackers(f"autoencoders-{args.variant}", config=config)

    images, val = splits.train.to(device), splits.val.to(device)
    labels = given_labels(accelerator.unwrap_model(model), splits.train_labels.to(device))
    # the first `augment_until` of the epochs warp their batches, the rest fit the clean images
    warped, clean = batch_transform(args), batch_transform(args, warp=False)
    warp_epochs = math.ceil(args.augment_until * args.epochs)
    throughput = Throughput(args.batch_size * world * accumulation)
    monitor = LossMonitor(device, global_step, accumulation)
    with tqdm(total=total_steps, initial=global_step, disable=not accelerator.is_main_process, unit="step", dynamic_ncols=True) as bar:
        start_epoch = global_step // per_epoch
        for epoch in range(start_epoch, args.epochs):
            batches = epoch_batches(
                len(images), args.batch_size, seed=args.seed, epoch=epoch, rank=rank, world_size=world, accumulation=accumulation
            )
            if epoch == start_epoch:
                batches = batches[(global_step - epoch * per_epoch) * accumulation :]
                tqdm.write(
                    f"[rank {rank}/{world}] epoch {epoch}: {batches.numel()} images in {len(batches)} micro-batches, "
                    f"first indices {batches[0, :4].tolist()}"
                )
            throughput.restart()
            augment = warped if epoch < warp_epochs else clean
            for _ in train_steps(accelerator, model, optimizer, scheduler, images, batches.to(device), monitor, augment, labels):
                global_step += 1
                if average is not None:
                    average.update(accelerator.unwrap_model(model), global_step)
                throughput.step()
                bar.update()
                checkpoint_due = global_step % args.checkpointing_steps == 0
                if checkpoint_due or global_step % args.log_every == 0 or global_step % per_epoch == 0:
                    loss, bad_step = monitor.read(accelerator)
                    rate = throughput.lap()
                    if bad_step is not None:
                        stop_on_non_finite_loss(args, bad_step, per_epoch)
                    bar.set_postfix(epoch=epoch, loss=f"{loss:.4g}", samples_s=f"{rate:.0f}")
                    accelerator.log(
                        {"train/loss": loss, "train/lr": scheduler.get_last_lr()[0], "train/samples_per_s": rate}, step=global_step
                    )
                if checkpoint_due:
                    save_checkpoint(
                        accelerator,
                        args.checkpoint_dir,
                        global_step,
                        {**progress, "global_step": global_step},
                        args.checkpoints_total_limit,
                        None if average is None else average.state_dict(),
                    )
                    throughput.restart()
            unwrapped = accelerator.unwrap_model(model)
            if average is not None:
                average.swap(unwrapped)
            metrics = validate(accelerator, unwrapped, val, splits.val_labels)
            accelerator.log({f"val/{name}": value for name, value in metrics.items()}, step=global_step)
            if accelerator.is_main_process and args.report_to != "none":
                log_image(
                    accelerator, "val/reconstructions", reconstruction_grid(unwrapped, splits.val[:8], splits.val_labels[:8]), global_step
                )
            if accelerator.is_main_process:
                tqdm.write(f"epoch {epoch}: " + ", ".join(f"val {name} {value:.4g}" for name, value in metrics.items()))
                if on_epoch_end is not None:
                    on_epoch_end(epoch, unwrapped)
            if average is not None:
                average.swap(unwrapped)  # back to the live weights
    accelerator.wait_for_everyone()
    if average is not None:
        average.swap(accelerator.unwrap_model(model))  # the average is the model this run hands on
    if throughput.steps:
        accelerator.print(
            f"trained {throughput.steps} steps: {throughput.overall:.0f} samples/s "
            f"({world} process(es) x batch {args.batch_size} x accumulation {accumulation}, {device.type})"
        )
    trained = accelerator.unwrap_model(model)
    print(f"[rank {rank}/{world}] final weights sha256 {parameter_digest(trained)}", flush=True)
    return trained


# ---------------------------------------------------------------------------- the output folder


def save_traversals(model: AutoEncoder, splits: Splits, path: Path) -> bool:
    """The traversal grid of the active units (most variable first), around the first test digit's
    code; False (and no file) when no unit is active."""
    labels = given_labels(model, splits.test_labels)
    units = traversal_units(model, splits.test, labels)
    if not units:
        print("note: no traversals.png on the card: no code unit is active (posterior collapse)", flush=True)
        return False
    first = None if labels is None else labels[:1]
    with evaluating(model):
        code = model.encode(splits.test[:1].to(model.latent_mean.device), first)[0]
    grid = traversals(model, code, units, label=None if first is None else int(first))
    save_image(make_grid(grid.flatten(0, 1).cpu(), nrow=grid.shape[1], pad_value=1), path)
    return True


def write_output_folder(
    args: argparse.Namespace, model: AutoEncoder, metrics: dict[str, float], splits: Splits, command: str, hyperparameters: dict[str, Any]
) -> None:
    """config.json, model.safetensors, the card and its images, renamed into place at once."""
    staging = fresh_staging(args.output_dir)
    model.save_pretrained(staging)
    device = model.latent_mean.device
    images = {"Test digits over their reconstructions": "reconstructions.png", "Samples": "samples.png"}
    save_image(reconstruction_grid(model, splits.test[:CARD_DIGITS], splits.test_labels[:CARD_DIGITS]), staging / "reconstructions.png")
    classes = model.sample_classes
    sample_labels = torch.arange(CARD_SAMPLES) % classes if classes else None
    with torch.no_grad():
        samples = model.sample(CARD_SAMPLES, generator=torch.Generator(device).manual_seed(0), labels=sample_labels).cpu()
    save_image(make_grid(samples, nrow=classes or 8, pad_value=1), staging / "samples.png")
    if model.conditional:
        grid = analogies(model, splits.test[:CARD_ANALOGIES], splits.test_labels[:CARD_ANALOGIES]).cpu()
        originals = as_float(splits.test[:CARD_ANALOGIES]).unsqueeze(1)
        save_image(make_grid(torch.cat([originals, grid], dim=1).flatten(0, 1), nrow=classes + 1, pad_value=1), staging / "analogies.png")
        images["Analogies: a test digit (left), its code decoded as each digit 0 to 9"] = "analogies.png"
    if model.has_prior and not model.discrete and save_traversals(model, splits, staging / "traversals.png"):
        images["Latent traversals: each active unit from -3 to +3 prior SD, the others at a test digit's code"] = "traversals.png"
    try:
        save_image(feature_grid(model), staging / "features.png")
        images["What the first layer's units look for (grey 0, white positive, black negative)"] = "features.png"
    except NoFilters as err:
        print(f"note: no features.png on the card: {err}", flush=True)
    if model.config.noise:
        clean = as_float(splits.test[:CARD_DIGITS])
        noisy = corrupt(clean, "masking", 0.25, torch.Generator().manual_seed(0))
        with torch.no_grad():
            denoised = model.reconstruct(noisy.to(device), given_labels(model, splits.test_labels[:CARD_DIGITS])).cpu()
        save_image(make_grid(torch.cat([noisy, denoised, clean]), nrow=CARD_DIGITS, pad_value=1), staging / "denoising.png")
        images["Masking noise 25%: input, denoised, clean"] = "denoising.png"
    card = build_model_card(
        model.config,
        metrics,
        repo_id=args.hub_model_id,
        dataset=dataset_id(args.dataset),
        num_test_images=len(splits.test),
        hyperparameters=hyperparameters,
        command=command,
        images=images,
        metric_names=model.bottleneck.statistic_names,
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
        return (
            f"push to {repo_id} failed ({scrub(f'{type(err).__name__}: {err}', token)}). {args.output_dir} is "
            f"complete; retry with HF_TOKEN set or after `hf auth login`:\n  {retry}"
        )
    print(f"pushed {args.output_dir} to {url}", flush=True)
    return None


def publish(
    args: argparse.Namespace, argv: list[str], accelerator: Accelerator, model: AutoEncoder, splits: Splits, token: str | None
) -> dict[str, float]:
    """Fit the latent statistics on the training codes, evaluate on the test split, write the folder."""
    model.eval().fit_latent_stats(splits.train, labels=splits.train_labels if model.sample_classes else None)
    metrics = evaluate(model, splits.train, splits.train_labels, splits.test, splits.test_labels)
    command = reproduce_command(argv, accelerator.num_processes, accelerator.device.type, token)
    hyperparameters = {
        **public_hyperparameters(args),
        "model_overrides": args.model_overrides,
        "processes": accelerator.num_processes,
        "threads_per_process": torch.get_num_threads(),  # results depend on it in the last bits
        "mixed_precision": accelerator.mixed_precision,
        "train_images": len(splits.train),
    }
    write_output_folder(args, model, metrics, splits, command, hyperparameters)
    summary = ", ".join(f"{name} {value:.4g}" for name, value in metrics.items() if not name.startswith("psnr_"))
    print(f"wrote {args.output_dir}: {summary}", flush=True)
    return metrics


# ---------------------------------------------------------------------------- entry point


def main(argv: list[str] | None = None, on_epoch_end: EpochHook | None = None) -> dict[str, float] | None:
    """Run the script; returns the test metrics on the main process (None on the others).
    `on_epoch_end(epoch, model)` lets a caller watch the run (benchmarks/time_to_quality.py)."""
    if not flush_denormals():
        print(
            "note: subnormal floats are not flushed to zero on every thread (torch's thread pool started before "
            "training, or this CPU cannot); late epochs may run slower",
            file=sys.stderr,
            flush=True,
        )
    note = crowded_cores_note()
    if note:
        print(note, file=sys.stderr, flush=True)
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parse_args(argv)
    model = build_model(args)
    check_tracker(args.report_to)
    token = resolve_token(args)
    splits = load_splits(args, model.config, model.sample_classes, model.conditional)
    model = with_padding(model, splits.padding)
    bound = args.epochs * len(splits.train) // args.batch_size
    check_output_paths(args, model, bound)
    checkpoint = resume_point(args)

    accelerator = make_accelerator(args)
    trained = train(args, accelerator, model, splits, checkpoint, on_epoch_end)
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
