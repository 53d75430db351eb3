"""GPU training throughput of every preset, the whole training split resident on the GPU.

Run on a CUDA machine: `python benchmarks/gpu_throughput.py [--data MNIST folder]`. For each preset and
batch size it times 100 optimizer steps (forward + backward + fused Adam, TF32 matmuls) after 30
warm-up steps, slicing batches from the uint8 tensor on the GPU, and reports samples/s and seconds
per 55,000-image epoch. Results: benchmarks/results/gpu_<device>.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from autoencoders import VARIANTS, AutoEncoder
from autoencoders.data import load_images


def main(data: str) -> None:
    if not torch.cuda.is_available():
        raise SystemExit("gpu_throughput.py measures CUDA training: this machine has no CUDA device (see benchmarks/speed.py for CPUs)")
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True
    images, labels, _ = load_images(data, "train")
    images, labels = images.cuda(), labels.cuda()
    rows = []
    for name in VARIANTS:
        for batch_size in (256, 4096):
            model = AutoEncoder.from_variant(name).cuda().train()
            optimizer = torch.optim.Adam(model.parameters(), 1e-3, fused=True)
            for step in range(130):
                if step == 30:
                    torch.cuda.synchronize()
                    start = time.perf_counter()
                offset = (step * batch_size) % (len(images) - batch_size)
                batch = slice(offset, offset + batch_size)
                loss = (model(images[batch], labels[batch]) if model.conditional else model(images[batch])).loss
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
            torch.cuda.synchronize()
            samples_per_s = 100 * batch_size / (time.perf_counter() - start)
            rows.append(
                {
                    "variant": name,
                    "batch_size": batch_size,
                    "samples_per_s": samples_per_s,
                    "seconds_per_epoch": len(images) / samples_per_s,
                }
            )
            print(f"{name} batch={batch_size} {samples_per_s:,.0f} samples/s  {len(images) / samples_per_s:.3f} s/epoch", flush=True)
    device = torch.cuda.get_device_name()
    out = Path(__file__).parent / "results" / f"gpu_{device.split()[1].lower()}.json"
    out.write_text(json.dumps({"device": device, "torch": torch.__version__, "rows": rows}, indent=2) + "\n")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="../shared/data/mnist", help="folder of the four MNIST IDX files")
    main(parser.parse_args().data)
