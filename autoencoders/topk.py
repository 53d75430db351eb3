"""The k-sparse autoencoder of interpretability work: a TopK bottleneck and a dictionary decoder.

Makhzani & Frey (2013) keep the k largest units of a wide code; Gao et al. (2024, "Scaling and
evaluating sparse autoencoders") add a ReLU after the selection, a linear decoder whose columns (the
dictionary's *atoms*) have unit norm, an encoder that starts as the decoder's transpose, and the AuxK
loss that revives dead latents. EleutherAI's sparsify and SAELens implement the same; the choices here:

- `topk` bottleneck: code = ReLU(TopK_k(features)); every other latent is exactly 0.
- AuxK (Gao et al., section A.2): a latent is dead when it has not fired for `dead_after` training
  images (a counter per latent, a buffer, so it is saved, loaded and resumed with the weights). The
  `k_aux` largest pre-activations among the dead latents, decoded by the atoms alone (no bias), must
  explain the residual the live code left: with a linear output and squared error that is Gao's
  ||e - e_hat||^2; here the residual lives in the decoder's logits, so the term is the reconstruction
  loss of `logits.detach() + e_hat`. Its weight `aux_weight` is Gao's 1/32 (sparsify also scales it
  by min(1, dead / k_aux); that left 3.5% of the latents dead here), and its gradient reaches only the
  dead latents. Their code in that term is softplus, not ReLU, of the pre-activations: a latent whose
  pre-activations have gone negative on every image gets no gradient through a ReLU and stays dead
  for good (6 of 256 did in the first epochs of a warped run), while softplus still gives it one,
  which Adam scales to full-size steps since nothing else reaches its encoder row and atom.
- `dictionary` decoder: logits = W z + b with W = V / ||V|| column by column. The atoms are unit norm at
  every step of any training loop, and the gradient that reaches V is the gradient for W with its
  component along each atom removed (scaled by 1 / ||V||): Gao et al.'s projection, by construction,
  instead of a renormalisation after each optimiser step that a loop has to remember.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .parts import Bottleneck, Decoder, Part, register

AUX_WEIGHT = 1 / 32  # Gao et al. 2024, section A.2


def top_k(features: Tensor, k: int, activation: Callable[[Tensor], Tensor] = torch.relu) -> Tensor:
    """`activation` (ReLU) of the `k` largest features of each row; every other entry is 0."""
    values, indices = features.topk(k, dim=1)
    return torch.zeros_like(features).scatter(1, indices, activation(values))


def activation_density(codes: Tensor) -> Tensor:
    """[latents]: the fraction of the rows of `codes` in which each latent is active (> 0)."""
    return (codes > 0).double().mean(dim=0)


@register("topk")
class TopKBottleneck(Bottleneck):
    """The `k` largest of `latent_dim` pre-activations survive (ReLU after the selection), with the
    AuxK loss on latents dead for `dead_after` training images (`aux_weight` 0: no AuxK)."""

    statistic_names: ClassVar[dict[str, str]] = {
        "l0": "L0: active latents per image",
        "dead_latents": "Dead latents: % of latents active on no test image",
        "density_median": "Median over latents of the fraction of test images that activate it",
        "density_max": "Largest fraction of test images that activate one latent",
    }

    def __init__(self, latent_dim: int, k: int = 30, k_aux: int = 128, aux_weight: float = AUX_WEIGHT, dead_after: int = 10_000) -> None:
        super().__init__(latent_dim)
        if not isinstance(k, int) or not 1 <= k <= latent_dim:
            raise ValueError(f"k must be an int in [1, latent_dim = {latent_dim}], got {k!r}")
        if not isinstance(k_aux, int) or k_aux < 1:
            raise ValueError(f"k_aux must be a positive int, got {k_aux!r}")
        if aux_weight < 0:
            raise ValueError(f"aux_weight must not be negative, got {aux_weight}")
        if not isinstance(dead_after, int) or dead_after < 1:
            raise ValueError(f"dead_after must be a positive int (training images), got {dead_after!r}")
        self.k, self.k_aux, self.aux_weight, self.dead_after = k, k_aux, float(aux_weight), dead_after
        self.register_buffer("images_since_fired", torch.zeros(latent_dim, dtype=torch.long))

    @property
    def loss_weights(self) -> dict[str, float]:
        return {"auxk": self.aux_weight}

    def code(self, features: Tensor) -> Tensor:
        return top_k(features, self.k)

    def project(self, codes: Tensor) -> Tensor:
        """ReLU(TopK(codes)): the Euclidean projection onto the non-negative codes with at most k
        non-zero entries, so that a sampled or interpolated code is one this model can produce."""
        return top_k(codes, self.k)

    def dead(self) -> Tensor:
        """[latent_dim] bool: the latents that fired on none of the last `dead_after` training images."""
        return self.images_since_fired >= self.dead_after

    @torch.no_grad()
    def count_firing(self, code: Tensor) -> None:
        """Advance the dead-latent counter by a batch of training codes: latents active on any image
        of the batch restart from 0, the others age by the batch size."""
        self.images_since_fired += len(code)
        self.images_since_fired[(code > 0).any(dim=0)] = 0

    def decoded_terms(
        self, features: Tensor, code: Tensor, logits: Tensor, decoder: Decoder, loss: Callable[[Tensor], Tensor]
    ) -> dict[str, Tensor]:
        """In training: the AuxK term (against the dead latents before this batch), then the counter
        update. In eval mode the term is 0 and the counter stays as it is."""
        if not self.training:
            return {"auxk": logits.new_zeros(())}
        dead = self.dead()
        dead_count = int(dead.sum())
        term = logits.new_zeros(())
        if dead_count and self.aux_weight > 0:
            k_aux = min(self.k_aux, dead_count)
            aux_code = top_k(features.masked_fill(~dead, -torch.inf), k_aux, F.softplus)
            residual_fit = decoder(aux_code) - decoder(aux_code.new_zeros(1, aux_code.shape[1]))  # the atoms alone, no bias
            term = loss(logits.detach() + residual_fit)
        self.count_firing(code)
        return {"auxk": term}

    def image_statistics(self, features: Tensor) -> dict[str, Tensor]:
        return {"l0": (self.code(features) > 0).sum(dim=1).float()}

    def set_statistics(self, codes: Tensor) -> dict[str, float]:
        density = activation_density(codes)
        return {
            "dead_latents": 100.0 * float((density == 0).double().mean()),
            "density_median": float(density.median()),
            "density_max": float(density.max()),
        }


@register("dictionary")
class DictionaryDecoder(Decoder):
    """Codes -> logits = W code + b, each column of W (an atom) of unit norm. With `init_encoder` the
    model's encoder starts as W's transpose (Gao et al.), when its last linear layer has W.T's shape."""

    def __init__(self, latent_dim: int, output_shape: list[int], init_encoder: bool = True) -> None:
        super().__init__()
        pixels = 1
        for side in output_shape:
            pixels *= side
        self.output_shape = list(output_shape)
        self.init_encoder = bool(init_encoder)
        self.directions = nn.Parameter(F.normalize(torch.randn(pixels, latent_dim), dim=0))
        self.bias = nn.Parameter(torch.zeros(pixels))

    def atoms(self) -> Tensor:
        """[pixels, latent_dim]: the unit-norm columns W the code is decoded with."""
        return F.normalize(self.directions, dim=0)

    def atom_images(self) -> Tensor:
        """[latent_dim, C, H, W]: each atom laid out as an image (what its latent adds to the logits)."""
        return self.atoms().T.reshape(-1, *self.output_shape)

    def forward(self, codes: Tensor) -> Tensor:
        return F.linear(codes, self.atoms(), self.bias).unflatten(1, self.output_shape)

    @torch.no_grad()
    def start_from_data(self, images: Tensor) -> None:
        """The bias starts as the logit of the mean training image: before any latent fires the
        output is the average digit (sparsify starts its decoder bias at the data's median likewise).
        From 0 (grey everywhere) half the latents die in the first epoch and the run ends worse."""
        self.bias.copy_(torch.logit(images.mean(dim=0).flatten().clamp(1e-3, 1 - 1e-3)))

    @torch.no_grad()
    def connect(self, parts: dict[str, Part]) -> None:
        if not self.init_encoder:
            return
        last = [module for module in parts["encoder"].modules() if isinstance(module, nn.Linear)][-1:]
        if last and tuple(last[0].weight.shape) == tuple(self.directions.T.shape):
            last[0].weight.copy_(self.atoms().T)
