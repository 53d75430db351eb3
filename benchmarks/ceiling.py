"""The machine's own ceiling for a model: sgemm GFLOP/s measured at the model's layer shapes.

Every Linear layer costs three matrix products per training step (forward, input gradient, weight
gradient; the first layer skips the input gradient), and every convolution the same three at its
im2col shapes. Timing each product on this machine and summing gives the shortest possible step
for that batch size: `samples_per_s = batch / sum(times)`. Elementwise work, the optimizer and data
handling come on top, so a real loop reaches a fraction of it.

The same products run back to back, each once per round on its own operands as in a real step
(no product finds its data left in cache by its own previous repeat), show how much of that ceiling
the products alone can reach.
"""

from __future__ import annotations

import statistics
import time

import torch
from torch import nn

from autoencoders import AutoEncoder
from autoencoders.model import evaluating


def matmul_shapes(model: AutoEncoder, batch: int) -> list[tuple[int, int, int]]:
    """(m, k, n) of every matrix product in one forward + backward pass, for [m, k] @ [k, n]."""
    shapes: list[tuple[int, int, int]] = []
    hooks = []
    first = [True]

    def record(module: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
        x = inputs[0]
        if isinstance(module, nn.Linear):
            m, k, n = x.shape[0], module.in_features, module.out_features
        else:  # convolution as im2col: [B * output pixels, C_in * kh * kw] @ [C_in * kh * kw, C_out]
            weight = module.weight
            kernel = weight.shape[2] * weight.shape[3]
            if isinstance(module, nn.ConvTranspose2d):
                m, k, n = x.shape[0] * x.shape[2] * x.shape[3], weight.shape[0], weight.shape[1] * kernel
            else:
                m, k, n = output.shape[0] * output.shape[2] * output.shape[3], weight.shape[1] * kernel, weight.shape[0]
        shapes.append((m, k, n))  # forward
        shapes.append((k, m, n))  # weight gradient: [k, m] @ [m, n]
        if not first[0]:
            shapes.append((m, n, k))  # input gradient: [m, n] @ [n, k]
        first[0] = False

    for module in model.modules():
        if isinstance(module, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)):
            hooks.append(module.register_forward_hook(record))
    with evaluating(model):
        labels = 0 if model.conditional else None
        model.decode(model.encode(torch.zeros(batch, *model.config.input_shape), labels), labels)  # a code of any shape (vq: a token grid)
    for hook in hooks:
        hook.remove()
    return shapes


def time_matmul(m: int, k: int, n: int, min_seconds: float = 0.2) -> float:
    """Seconds for one float32 [m, k] @ [k, n] on this machine (best of several repeats)."""
    a, b = torch.randn(m, k), torch.randn(k, n)
    out = torch.empty(m, n)
    for _ in range(3):
        torch.mm(a, b, out=out)
    best, spent, reps = float("inf"), 0.0, 0
    while spent < min_seconds or reps < 5:
        start = time.perf_counter()
        torch.mm(a, b, out=out)
        elapsed = time.perf_counter() - start
        best, spent, reps = min(best, elapsed), spent + elapsed, reps + 1
    return best


def time_chain(shapes: list[tuple[int, int, int]], rounds: int = 100) -> float:
    """Median seconds for one round of all `shapes`' float32 products, back to back."""
    operands = [(torch.randn(m, k), torch.randn(k, n), torch.empty(m, n)) for m, k, n in shapes]
    times = []
    for _ in range(rounds + 5):
        start = time.perf_counter()
        for a, b, out in operands:
            torch.mm(a, b, out=out)
        times.append(time.perf_counter() - start)
    return statistics.median(times[5:])


def ceiling(model: AutoEncoder, batch: int) -> dict[str, float]:
    """Samples/s ceiling and the sgemm GFLOP/s it rests on, for one training step at `batch`, and
    the samples/s of the step's products alone, back to back."""
    shapes = matmul_shapes(model, batch)
    seconds = sum(time_matmul(*shape) for shape in shapes)
    flops = sum(2 * m * k * n for m, k, n in shapes)
    return {
        "ceiling_samples_per_s": batch / seconds,
        "products_only_samples_per_s": batch / time_chain(shapes),
        "sgemm_gflops": flops / seconds / 1e9,
        "matmul_mflop_per_sample": flops / batch / 1e6,
    }
