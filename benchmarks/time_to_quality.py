#!/usr/bin/env python
"""Wall time for the `deep` preset (30-d code) to reach a test squared error per image below 3.00
(Hinton & Salakhutdinov 2006) on this machine, with its training config.

It runs training/train.py itself (same config, same seed: the weights are exactly those of a plain
run) and scores the test set after every epoch; the clock counts everything but those test
evaluations. The run's output folder is a normal model folder, so
`python benchmarks/time_to_quality.py --output_dir demo/weights/deep` also produces the bundled
`deep` weights. Results: benchmarks/results/time_to_quality.json.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from autoencoders import AutoEncoder  # noqa: E402
from autoencoders.data import load_images  # noqa: E402
from autoencoders.evaluate import score_images  # noqa: E402
from training.train import main as train  # noqa: E402

TARGET = 3.00
RESULTS = ROOT / "benchmarks" / "results" / "time_to_quality.json"


def run(data: str, output_dir: Path, extra: list[str]) -> dict[str, object]:
    test_images = load_images(data, "test")[0]
    curve: list[dict[str, float]] = []
    excluded = 0.0
    start = time.perf_counter()

    def on_epoch_end(epoch: int, model: AutoEncoder) -> None:
        nonlocal excluded
        clock = time.perf_counter()
        error = score_images(model, test_images)["squared_error"].mean().item()
        curve.append({"epoch": epoch + 1, "seconds": clock - start - excluded, "test_squared_error": error})
        excluded += time.perf_counter() - clock
        print(f"epoch {epoch + 1}: test squared error {error:.3f} after {(clock - start - excluded) / 60:.1f} min", flush=True)

    argv = [
        "--variant",
        "deep",
        "--dataset",
        data,
        "--output_dir",
        str(output_dir),
        "--checkpoint_dir",
        "runs/time_to_quality",
        "--report_to",
        "none",
        "--overwrite_output_dir",
        *extra,
    ]
    train(argv, on_epoch_end=on_epoch_end)
    first = next((point for point in curve if point["test_squared_error"] < TARGET), None)
    best = min(point["test_squared_error"] for point in curve)
    return {
        "variant": "deep",
        "target": TARGET,
        "epochs_run": len(curve),
        "best_error": best,
        "epoch": first and first["epoch"],
        "seconds": first and first["seconds"],
        "reached_error": first and first["test_squared_error"],
        "command": " ".join(["training/train.py", *argv]),
        "curve": curve,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default="../shared/data/mnist", help="relative to the repository root")
    parser.add_argument("--output_dir", type=Path, default=Path("runs/time_to_quality-deep"))
    args, extra = parser.parse_known_args()
    os.chdir(ROOT)  # relative paths, so that the card's reproduce command is portable
    results = run(args.data, args.output_dir, extra)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
