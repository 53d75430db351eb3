#!/usr/bin/env python
"""Training speed of every preset on this machine, in one run:

- ours: the training script's own hot loop (`training.loop.train_steps` under an Accelerator,
  batches sliced from the uint8 split resident on the device, fused AdamW, subnormals flushed to
  zero), batch 256, in float32 (train.py's default), and with `--mixed_precision bf16` (bf16
  autocast: on a CPU with AVX512-BF16 or AMX about twice as fast, at a cost in error per epoch
  that docs/benchmarks.md gives);
- reference: the same model fed the tutorial's way (torchvision MNIST on the same IDX files,
  per-image Pad + ToTensor, DataLoader batch 32, default Adam) — and our speed-up over it;
- plain: the simplest fast loop (slices of a shuffled float copy of the split, default Adam), batch
  256 — and our speed-up over it;
- pythae: pythae 0.1.2's AE trainer on the same encoder and decoder, batch 256, for the models that
  are plain autoencoders (a plain bottleneck, no input noise) — and our speed-up over it;
- ceiling: sgemm GFLOP/s measured at the model's own matrix-product shapes and batch size, turned
  into samples/s (benchmarks/ceiling.py) — and the fraction of it our loop reaches, beside the
  fraction that the step's matrix products alone reach back to back;
- peak memory: the peak resident set of a process that runs only our loop.

Each measurement runs in a fresh subprocess so that peak memory and caches do not leak between
them. Run on a quiet machine: `python benchmarks/speed.py [--models conv ...]`; it prints a table and
writes benchmarks/results/speed.json (with `--models`, the other models' rows stay as they were).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from autoencoders import VARIANTS, AutoEncoder  # noqa: E402
from benchmarks.machine import describe_machine  # noqa: E402
from benchmarks.meter import Throughput  # noqa: E402

BATCH_SIZE = 256
TUTORIAL = "deep-tutorial"
# name -> (preset, overrides). The tutorial's deep model (1024-341-113-20, no normalisation) carries the target.
MODELS = {TUTORIAL: ("deep", {"hidden_dims": [341, 113], "latent_dim": 20, "normalization": "none"})} | {
    name: (name, {}) for name in VARIANTS
}
RESULTS = ROOT / "benchmarks" / "results" / "speed.json"


def build(name: str) -> AutoEncoder:
    variant, overrides = MODELS[name]
    return AutoEncoder.from_variant(variant, **overrides)


def ours(name: str, data: str, seconds: float, mixed_precision: str = "no") -> float:
    """Samples/s of train.py's loop (`--mixed_precision`): warm-up steps, then as many epochs'
    steps as fit in `seconds` (the median over half-second windows, as for the baselines)."""
    from accelerate import Accelerator

    from autoencoders.data import load_images
    from training.loop import (
        LossMonitor,
        build_optimizer,
        build_scheduler,
        epoch_batches,
        flush_denormals,
        train_steps,
    )

    if not flush_denormals():
        raise RuntimeError("subnormal floats are not flushed on every thread, as train.py does")
    accelerator = Accelerator(cpu=True, mixed_precision=mixed_precision)
    model = build(name)
    optimizer = build_optimizer(model, 1e-3, 0.0, accelerator.device)
    scheduler = build_scheduler(optimizer, "constant", 0, 1)
    model, optimizer, scheduler = accelerator.prepare(model, optimizer, scheduler)
    images, labels, _ = load_images(data, "train")
    images = images.to(accelerator.device)
    labels = labels.to(accelerator.device) if accelerator.unwrap_model(model).conditional else None  # as train.py passes them
    monitor = LossMonitor(accelerator.device, 0, 1)
    meter = Throughput(seconds, warmup=20)
    for epoch in range(1000):
        batches = epoch_batches(len(images), BATCH_SIZE, seed=0, epoch=epoch)
        for _ in train_steps(accelerator, model, optimizer, scheduler, images, batches, monitor, labels=labels):
            if meter.tick(BATCH_SIZE):
                return meter.samples_per_s
    raise RuntimeError("unreachable: 1000 epochs in the time budget")


def ours_bf16(name: str, data: str, seconds: float) -> float:
    return ours(name, data, seconds, "bf16")


def reference(name: str, data: str, seconds: float) -> float:
    from benchmarks.reference import reference_samples_per_s, torchvision_root

    root = torchvision_root(Path(data), Path(tempfile.gettempdir()) / "autoencoders-torchvision")
    return reference_samples_per_s(build(name), root, seconds)


def plain(name: str, data: str, seconds: float) -> float:
    from autoencoders.data import load_images
    from benchmarks.reference import plain_samples_per_s

    images, labels, _ = load_images(data, "train")
    return plain_samples_per_s(build(name), images, labels, BATCH_SIZE, seconds)


def pythae(name: str, data: str, seconds: float) -> float:
    from autoencoders.data import load_images
    from benchmarks.reference import pythae_samples_per_s

    return pythae_samples_per_s(build(name), load_images(data, "train")[0], BATCH_SIZE, seconds)


def is_plain_autoencoder(name: str) -> bool:
    """What pythae's AE can train: a deterministic code (plain bottleneck) and no input corruption."""
    config = build(name).config
    return config.bottleneck.name == "plain" and not config.noise


def ceiling(name: str, data: str, seconds: float) -> dict[str, float]:
    from benchmarks.ceiling import ceiling as measure

    return measure(build(name), BATCH_SIZE)


def measure_one(kind: str, name: str, data: str, seconds: float) -> dict[str, float]:
    """Run one measurement in this process (the subprocess side)."""
    result = {"ours": ours, "ours_bf16": ours_bf16, "plain": plain, "pythae": pythae, "reference": reference, "ceiling": ceiling}[kind](
        name, data, seconds
    )
    values = result if isinstance(result, dict) else {f"{kind}_samples_per_s": result}
    values[f"{kind}_peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return values


def in_subprocess(kind: str, name: str, data: str, seconds: float) -> dict[str, float]:
    command = [sys.executable, __file__, "--one", kind, name, "--data", data, "--seconds", str(seconds)]
    output = subprocess.run(command, check=True, capture_output=True, text=True, cwd=ROOT).stdout
    return json.loads(output.strip().splitlines()[-1])


def run(data: str, seconds: float, names: list[str]) -> dict[str, object]:
    rows = []
    for name in names:
        row = {"model": name, "batch_size": BATCH_SIZE, "parameters": sum(p.numel() for p in build(name).parameters())}
        kinds = ("ours", "ours_bf16", "plain", *(["pythae"] if is_plain_autoencoder(name) else []), "ceiling", "reference")
        for kind in kinds:
            row |= in_subprocess(kind, name, data, seconds)
        row["speedup_over_reference"] = row["ours_samples_per_s"] / row["reference_samples_per_s"]
        row["speedup_over_plain"] = row["ours_samples_per_s"] / row["plain_samples_per_s"]
        row["bf16_speedup"] = row["ours_bf16_samples_per_s"] / row["ours_samples_per_s"]
        row["speedup_over_pythae"] = row["ours_samples_per_s"] / row["pythae_samples_per_s"] if "pythae_samples_per_s" in row else None
        row["fraction_of_ceiling"] = row["ours_samples_per_s"] / row["ceiling_samples_per_s"]
        rows.append(row)
        print(
            f"{name:14s} ours {row['ours_samples_per_s']:9,.0f}/s  ceiling {row['ceiling_samples_per_s']:9,.0f}/s "
            f"({row['fraction_of_ceiling']:.0%})  reference {row['reference_samples_per_s']:7,.0f}/s "
            f"(x{row['speedup_over_reference']:.1f})  plain {row['plain_samples_per_s']:7,.0f}/s (x{row['speedup_over_plain']:.2f})  "
            + (f"pythae {row['pythae_samples_per_s']:7,.0f}/s (x{row['speedup_over_pythae']:.2f})  " if row["speedup_over_pythae"] else "")
            + f"bf16 {row['ours_bf16_samples_per_s']:7,.0f}/s (x{row['bf16_speedup']:.2f})  peak {row['ours_peak_rss_mb']:.0f} MB",
            flush=True,
        )
    return {"machine": describe_machine(), "rows": rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=str(ROOT.parent / "shared/data/mnist"), help="MNIST IDX folder")
    parser.add_argument("--seconds", type=float, default=10.0, help="timed seconds per measurement")
    parser.add_argument("--models", nargs="+", choices=list(MODELS), default=list(MODELS), help="the models to time (default: all)")
    parser.add_argument("--one", nargs=2, metavar=("KIND", "MODEL"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure_one(*args.one, args.data, args.seconds)))
        return
    results = run(args.data, args.seconds, args.models)
    if RESULTS.exists():  # a run of some models keeps the others' rows, as they were measured before
        measured = {row["model"] for row in results["rows"]}
        kept = [row for row in json.loads(RESULTS.read_text())["rows"] if row["model"] not in measured and row["model"] in MODELS]
        order = list(MODELS)
        results["rows"] = sorted(kept + results["rows"], key=lambda row: order.index(row["model"]))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
