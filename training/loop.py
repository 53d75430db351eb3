"""The training hot loop, importable so that a benchmark times exactly what `train.py` runs.

The whole uint8 training split lives on the training device. Each epoch a permutation is drawn
from a generator seeded by (seed, epoch), identical on every rank, and cut into micro-batches of
which each rank takes a disjoint shard; the ragged tail is dropped so every rank runs the same
number of steps. Batches are slices of the device tensor: no DataLoader, no per-image Python, and
no host synchronisation inside the loop (the running loss and the first non-finite step stay on
the device until someone reads them).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterator

import torch
from accelerate import Accelerator
from torch import Tensor
from torch.optim.lr_scheduler import LambdaLR

from autoencoders.checks import check_choice
from autoencoders.data import as_float

LR_SCHEDULERS = ("constant", "constant_with_warmup", "linear", "cosine")


def crowded_cores_note() -> str | None:
    """A note for a run whose OpenMP threads will share their cores with other work, else None.

    With two threads on two cores (torch's default when OMP_NUM_THREADS is unset, and as fast as
    OMP_NUM_THREADS=2: 30,200 samples/s for the tutorial-size `deep` model on an AMD EPYC), one busy
    neighbour process makes every parallel region wait for the thread it preempted: 300 to 6,000
    samples/s, where one thread keeps 8,500. The thread count is not changed behind the user's back:
    results depend on it in the last bits, so a run would no longer reproduce (or resume) exactly.
    Judged from the 1-minute load average before training starts; silent when OMP_NUM_THREADS is set.
    """
    if "OMP_NUM_THREADS" in os.environ or not hasattr(os, "getloadavg"):
        return None
    threads, cores, load = torch.get_num_threads(), len(os.sched_getaffinity(0)), os.getloadavg()[0]
    if threads < 2 or load + threads <= cores + 0.5:
        return None
    return (
        f"note: the load average is {load:.1f} on {cores} cores and torch runs {threads} threads: with other work on "
        "the cores, OpenMP threads stall each other (up to 100x slower); OMP_NUM_THREADS=1 trains at a steady one-core speed"
    )


def flush_denormals() -> bool:
    """Treat subnormal floats as zero on every CPU thread; True when every thread of torch's pool does.

    On x86 a matrix product with subnormal operands runs up to 100x slower. Late in training a BCE
    model's output gradients (sigmoid of very negative logits) become subnormal: the tutorial-size
    `deep` model slowed from 35,000 to 23,000 samples/s within 700 steps. Values below 1.2e-38 do not
    matter to these models. The flag is per thread and OpenMP's workers copy it when they start, so
    this works only before torch's first parallel operation; `train.py` calls it first thing.
    """
    if not torch.set_flush_denormal(True):  # a CPU without the flag
        return False
    subnormal = torch.ones(1 << 20, dtype=torch.int32).view(torch.float32)  # 1.4e-45, split over all threads
    return not bool(subnormal.mul(1.0).count_nonzero())


def steps_per_epoch(num_images: int, batch_size: int, world_size: int = 1, accumulation: int = 1) -> int:
    """Optimizer steps in one epoch; each takes `accumulation` micro-batches of `batch_size` on
    every one of `world_size` ranks."""
    return num_images // (batch_size * world_size * accumulation)


def epoch_batches(
    num_images: int,
    batch_size: int,
    *,
    seed: int,
    epoch: int,
    rank: int = 0,
    world_size: int = 1,
    accumulation: int = 1,
) -> Tensor:
    """This rank's micro-batches of one epoch as indices [micro_steps, batch_size] into the split.

    Micro-step i of rank r is the r-th of `world_size` consecutive blocks of the permutation, so
    the ranks' shards are disjoint and together cover the permutation minus the ragged tail.
    """
    micro_steps = steps_per_epoch(num_images, batch_size, world_size, accumulation) * accumulation
    generator = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    order = torch.randperm(num_images, generator=generator)
    return order[: micro_steps * world_size * batch_size].view(micro_steps, world_size, batch_size)[:, rank]


def lr_schedule(name: str, warmup_steps: int, total_steps: int) -> Callable[[int], float]:
    """The factor of the peak learning rate at an optimizer step (the names are diffusers')."""
    check_choice("lr_scheduler", name, LR_SCHEDULERS)
    warmup_steps = 0 if name == "constant" else warmup_steps

    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        if name in ("constant", "constant_with_warmup"):
            return 1.0
        progress = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
        return 1.0 - progress if name == "linear" else 0.5 * (1.0 + math.cos(math.pi * progress))

    return factor


class WeightAverage:
    """An exponential moving average of a model's parameters and floating-point buffers (batch norm's
    running statistics), the weights that get validated and saved when a config sets `ema`.

    It smooths out the noise of the last optimizer steps, which is what a short run's final error is
    made of. Every `every` steps one `torch._foreach_lerp_` over all tensors (on 2 CPU cores about 5%
    of a `deep` step when every step); the decay per update is `decay ** every`, warmed up as
    min(that, (1 + n) / (10 + n)) after n updates (TensorFlow's ExponentialMovingAverage with
    num_updates), so that the average forgets the initialisation within a short run.
    """

    def __init__(self, model: torch.nn.Module, decay: float, every: int = 1) -> None:
        if not 0 < decay < 1 or every < 1:
            raise ValueError(f"a weight average needs 0 < decay < 1 and every >= 1, got decay {decay}, every {every}")
        self.decay, self.every = decay, every
        self.names = [name for name, _ in self._sources(model)]
        self.tensors = [tensor.detach().clone() for _, tensor in self._sources(model)]

    @staticmethod
    def _sources(model: torch.nn.Module) -> list[tuple[str, Tensor]]:
        buffers = [(name, buffer) for name, buffer in model.named_buffers() if buffer.is_floating_point()]
        return [*model.named_parameters(), *buffers]

    def _live(self, model: torch.nn.Module) -> list[Tensor]:
        return [tensor.detach() for _, tensor in self._sources(model)]

    def update(self, model: torch.nn.Module, step: int) -> None:
        """Average in `model`'s weights after optimizer step `step` (counted from 1) when `every` divides it."""
        if step % self.every:
            return
        updates = step // self.every
        decay = min(self.decay**self.every, (1 + updates) / (10 + updates))
        torch._foreach_lerp_(self.tensors, self._live(model), 1 - decay)

    def swap(self, model: torch.nn.Module) -> None:
        """Exchange the average with `model`'s weights (twice restores both)."""
        live = self._live(model)
        held = torch._foreach_mul(live, 1.0)
        torch._foreach_copy_(live, self.tensors)
        self.tensors = held

    def state_dict(self) -> dict[str, Tensor]:
        return {name: tensor.contiguous() for name, tensor in zip(self.names, self.tensors)}

    def load_state_dict(self, state: dict[str, Tensor]) -> None:
        if sorted(state) != sorted(self.names):
            raise ValueError(f"the saved weight average holds {sorted(state)[:3]}..., not this model's tensors")
        torch._foreach_copy_(self.tensors, [state[name] for name in self.names])


def build_optimizer(model: torch.nn.Module, learning_rate: float, weight_decay: float, device: torch.device) -> torch.optim.AdamW:
    """AdamW, fused into one kernel on CPU and CUDA: on 2 CPU cores the unfused update costs more
    than half of a small MLP's step."""
    return torch.optim.AdamW(model.parameters(), lr=learning_rate, weight_decay=weight_decay, fused=device.type in ("cpu", "cuda"))


def build_scheduler(optimizer: torch.optim.Optimizer, name: str, warmup_steps: int, total_steps: int) -> LambdaLR:
    return LambdaLR(optimizer, lr_schedule(name, warmup_steps, total_steps))


class LossMonitor:
    """Sum of the training losses and the first non-finite one, kept on the device so that the loop
    never waits for the host; `read` synchronises (all ranks must call it at the same step)."""

    def __init__(self, device: torch.device, first_step: int, accumulation: int) -> None:
        self.first_step, self.accumulation = first_step, accumulation
        self.total = torch.zeros((), device=device, dtype=torch.float64)
        self.count = torch.zeros((), device=device, dtype=torch.float64)
        self.micro_step = torch.zeros((), device=device, dtype=torch.int64)
        self.first_bad = torch.full((), -1, device=device, dtype=torch.int64)

    def add(self, loss: Tensor) -> None:
        loss = loss.detach()
        bad = ~torch.isfinite(loss) & (self.first_bad < 0)
        self.first_bad = torch.where(bad, self.micro_step, self.first_bad)
        self.total += loss
        self.count += 1
        self.micro_step += 1

    def read(self, accelerator: Accelerator) -> tuple[float, int | None]:
        """(mean loss over all ranks since the last read, first optimizer step with a non-finite
        loss on any rank or None), then start a new mean."""
        stats = accelerator.gather(torch.stack([self.total, self.count, self.first_bad.double()]).view(1, 3))
        first_bad = stats[:, 2].where(stats[:, 2] >= 0, math.inf).min()
        mean, first_bad = torch.stack([stats[:, 0].sum() / stats[:, 1].sum().clamp_min(1), first_bad]).tolist()
        self.total.zero_()
        self.count.zero_()
        if math.isinf(first_bad):
            return mean, None
        return mean, self.first_step + int(first_bad) // self.accumulation + 1


def train_steps(
    accelerator: Accelerator,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    images: Tensor,
    batches: Tensor,
    monitor: LossMonitor,
    augment: Callable[[Tensor], Tensor] | None = None,
    labels: Tensor | None = None,
) -> Iterator[None]:
    """Train on `batches` (rows of indices into `images`, both on the device), each batch passed
    through `augment` (float images in [0, 1]) when given, and with its `labels` (on the device; for
    a conditional model, None for the others); yields after every optimizer step, so the caller
    counts steps, logs and checkpoints between them."""
    model.train()
    for indices in batches:
        with accelerator.accumulate(model):
            batch = images.index_select(0, indices)
            if augment is not None:
                batch = augment(as_float(batch))
            loss = (model(batch) if labels is None else model(batch, labels.index_select(0, indices))).loss
            monitor.add(loss)
            accelerator.backward(loss)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
        if accelerator.sync_gradients:
            scheduler.step()
            yield
