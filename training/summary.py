#!/usr/bin/env python
"""Print a markdown table of the test metrics in the model cards of trained folders.

python training/summary.py demo/weights/*
"""

from __future__ import annotations

import sys
from pathlib import Path

from autoencoders.cards import read_card_metrics

COLUMNS = {
    "squared error": "squared_error",
    "PCA squared error": "pca_squared_error",
    "BCE": "bce",
    "PSNR": "psnr",
    "linear probe": "linear_probe_accuracy",
    "KL": "kl",
    "masking 25%: noisy / denoised PSNR": ("psnr_noisy_masking_0.25", "psnr_denoised_masking_0.25"),
    "salt & pepper 25%: noisy / denoised PSNR": ("psnr_noisy_salt_and_pepper_0.25", "psnr_denoised_salt_and_pepper_0.25"),
}


def cell(metrics: dict[str, float], key: str | tuple[str, str]) -> str:
    if isinstance(key, tuple):
        return " / ".join(f"{metrics[k]:.2f}" for k in key) if all(k in metrics for k in key) else ""
    return f"{metrics[key]:.4g}" if key in metrics else ""


def summary(folders: list[Path]) -> str:
    """One row per folder: its test metrics, and the ratio of its squared error to PCA's."""
    lines = ["| model | " + " | ".join(COLUMNS) + " | error / PCA's | weights (MB) |", "|---" * (len(COLUMNS) + 3) + "|"]
    total = 0
    for folder in folders:
        metrics = read_card_metrics(folder / "README.md")
        size = (folder / "model.safetensors").stat().st_size
        total += size
        ratio = metrics["squared_error"] / metrics["pca_squared_error"]
        cells = [cell(metrics, key) for key in COLUMNS.values()]
        lines.append(f"| {folder.name} | " + " | ".join(cells) + f" | {ratio:.2f} | {size / 1e6:.1f} |")
    lines.append(f"\nall weights together: {total / 1e6:.1f} MB")
    return "\n".join(lines)


if __name__ == "__main__":
    print(summary([Path(arg) for arg in sys.argv[1:]]))
