#!/usr/bin/env python
"""Wall time for a recipe (a variant and its training config) to reach a test squared error per image
below 3.00 (Hinton & Salakhutdinov 2006's 30-d deep autoencoder) on this machine.

It runs training/train.py itself (same config, same seed: the weights are exactly those of a plain
run) and scores the test set after every epoch. Two clocks: `seconds` from the start of this process
(imports, data loading, validation and these test evaluations included: the one the target counts)
and `training_seconds` (training and validation only, the test evaluations left out); beside them
`cpu_seconds`, the CPU time of all the process's threads, which a busy machine does not inflate. The run's
output folder is a normal model folder, so `python benchmarks/time_to_quality.py --output_dir
demo/weights/deep` also produces the bundled `deep` weights. Each recipe's curve goes into
benchmarks/results/time_to_quality.json under its `--name`, beside the others already there.

    python benchmarks/time_to_quality.py --variant deep --config training/configs/deep-fast.yaml --name deep-fast
"""

from __future__ import annotations

import time

# The clock starts with the process: read its start time from the kernel where there is one, so the
# interpreter's own start and the imports below count too.
_IMPORTED = time.perf_counter()


def process_start() -> float:
    """This process's start on the `time.perf_counter` clock (Linux: from /proc; else the import of this module)."""
    try:
        with open("/proc/self/stat") as stat:
            ticks = int(stat.read().rsplit(")", 1)[1].split()[19])  # field 22, starttime, in clock ticks since boot
        import os

        since_boot = time.clock_gettime(time.CLOCK_BOOTTIME) - ticks / os.sysconf("SC_CLK_TCK")
        return time.perf_counter() - since_boot
    except (OSError, ValueError, IndexError, AttributeError):
        return _IMPORTED


PROCESS_START = process_start()

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from autoencoders import AutoEncoder  # noqa: E402
from autoencoders.data import load_images, pad_images  # noqa: E402
from autoencoders.evaluate import score_images  # noqa: E402
from benchmarks.machine import describe_machine  # noqa: E402
from training.train import main as train  # noqa: E402

TARGET = 3.00
RESULTS = ROOT / "benchmarks" / "results" / "time_to_quality.json"
TRAIN_IMAGES = 55_000  # the training split an epoch passes over (MNIST's 60k less the 5k validation images)


def run(variant: str, config: str | None, data: str, output_dir: Path, extra: list[str]) -> dict[str, object]:
    """Train `variant` with `config` (None: its own), scoring the test set after every epoch."""
    test_images = load_images(data, "test", size=None)[0]  # padded to the model's input below, as train.py pads
    curve: list[dict[str, float]] = []
    excluded = 0.0
    start = time.perf_counter()

    def on_epoch_end(epoch: int, model: AutoEncoder) -> None:
        nonlocal excluded
        clock = time.perf_counter()
        training_seconds = clock - start - excluded
        error = score_images(model, pad_images(test_images, model.config.input_shape[-1]))["squared_error"].mean().item()
        excluded += time.perf_counter() - clock
        point = {
            "epoch": epoch + 1,
            "seconds": time.perf_counter() - PROCESS_START,
            "training_seconds": training_seconds,
            "cpu_seconds": time.process_time(),  # all threads since the process started: on a loaded machine, the work done
            "test_squared_error": error,
        }
        curve.append(point)
        print(f"epoch {epoch + 1}: test squared error {error:.3f} after {point['seconds']:.0f} s from process start", flush=True)

    argv = [
        "--variant",
        variant,
        *(["--config", config] if config else []),
        "--dataset",
        data,
        "--output_dir",
        str(output_dir),
        "--report_to",
        "none",
        "--overwrite_output_dir",
        *extra,
    ]
    train(argv, on_epoch_end=on_epoch_end)
    first = next((point for point in curve if point["test_squared_error"] < TARGET), None)
    return {
        "variant": variant,
        "config": config or f"training/configs/{variant}.yaml",
        "threads": os.environ.get("OMP_NUM_THREADS", "unset"),
        "load_average": os.getloadavg()[1],  # the last 5 minutes' run queue: above the core count, the clocks are inflated
        "epochs_run": len(curve),
        "best_error": min(point["test_squared_error"] for point in curve),
        "epoch": first and first["epoch"],
        "seconds": first and first["seconds"],
        "training_seconds": first and first["training_seconds"],
        "reached_error": first and first["test_squared_error"],
        "samples_per_s": TRAIN_IMAGES * len(curve) / curve[-1]["training_seconds"],
        "command": " ".join(["python benchmarks/time_to_quality.py", *argv]),
        "curve": curve,
    }


def record(path: Path, name: str, result: dict[str, object]) -> dict[str, object]:
    """The results file at `path` with `result` as recipe `name` (replacing an older run of that name)."""
    old = json.loads(path.read_text()) if path.is_file() else {}
    recipes = old.get("recipes", {}) if isinstance(old.get("recipes"), dict) else {}
    return {"target": TARGET, "machine": describe_machine(), "recipes": {**recipes, name: result}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--variant", default="deep", help="the preset to train (default: deep)")
    parser.add_argument("--config", help="its training config (default: training/configs/<variant>.yaml)")
    parser.add_argument("--name", help="the recipe's name in the results file (default: the config's file name)")
    parser.add_argument("--data", default="../shared/data/mnist", help="relative to the repository root")
    parser.add_argument("--output_dir", type=Path, help="default: runs/time_to_quality-<name>")
    parser.add_argument("--results", type=Path, default=RESULTS, help="the results file to add the recipe to")
    args, extra = parser.parse_known_args()
    name = args.name or Path(args.config or args.variant).stem
    args.results = args.results.resolve()
    os.chdir(ROOT)  # relative paths, so that the card's reproduce command is portable
    result = run(args.variant, args.config, args.data, args.output_dir or Path(f"runs/time_to_quality-{name}"), extra)
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text(json.dumps(record(args.results, name, result), indent=2) + "\n")
    print(f"wrote recipe {name} to {args.results}")


if __name__ == "__main__":
    main()
