"""The named presets. A variant is a choice of encoder, bottleneck, decoder and loss, not a class.

Each preset is flat settings (`autoencoders.config.from_settings`): the parts by registered name, the
model's fields, and arguments that go to every part that takes them (`hidden_dims` to the encoder and
its mirrored decoder). A new member of the family is a file of parts plus one entry here.

Values follow the tutorial where it has them (simple: 20-d code; sparse: one hidden layer of 341,
a 30-d code, BCE and the `log` penalty) and Hinton & Salakhutdinov (2006) for `deep`
(1000-500-250-30), the reference its quality is measured against. Every preset with hidden layers
uses batch normalisation: on MNIST it makes the deep model converge several times faster (4.5
squared error per test image after 10 epochs instead of about 9). `denoising` is the deep MLP at
half width with a 64-d code, so that the six bundled models stay under 30 MB together.

Default reconstruction loss per preset, and why:
- simple: `mse`. It is nearly a linear model, PCA's twin; PCA minimises squared error, so training
  on the same objective makes the comparison with PCA fair.
- deep, denoising, sparse, conv: `bce`. Pixels are near 0 or 1, and the Bernoulli likelihood keeps
  gradients alive for saturated sigmoid outputs where squared error flattens; it trains faster to
  a lower squared error too.
- vae, beta_vae, cvae: `bce`. The VAE's ELBO needs a likelihood, and MNIST's is modelled as
  Bernoulli per pixel.
- topk: `bce`, as deep: the dictionary's atoms live in the logits, so the sigmoid clips them to ink.

`beta_vae` (Higgins et al. 2017) is the VAE with its KL weighted by beta = 4 (`kl_weight`), which
trades reconstruction for fewer, more independent code units; 10 units, and a 200-100 MLP instead of
the VAE's 512-256 so that it weighs under 2 MB. `cvae` (Sohn et al. 2015) gives its encoder and
decoder the digit's label (one-hot): the 16-d code keeps the style and the label picks the digit;
a 240-120 MLP, under 2.5 MB.

`topk` is the k-sparse autoencoder (`autoencoders/topk.py`): an MLP with one hidden layer of 320
into 256 latents of which the 30 largest survive, and a linear dictionary decoder of unit-norm atoms;
a latent is dead (for AuxK) after 2,500 training images without firing.
256 latents, not the 512 of the issue's example: a 512-latent dictionary alone (2 MB) and the fitted
code statistics (two 512x512 matrices, 2 MB) would not fit its 3.3 MB share of the bundled weights.
The MLP encoder, not Gao et al.'s linear one: at k = 30 a linear encoder stalls above 8 squared error
per test digit on MNIST where an MLP goes below 6.5 in the same epochs (docs/topk.md). The code
statistics fit one Gaussian (`latent_mixture` 1): 20 full 256x256 covariances would take 5 MB.

`vq` is the VQ-VAE (`autoencoders/vq.py`): an 8x8 grid of tokens from a 256-entry codebook, and a
transformer prior over the grids conditioned on the digit's label (`prior_classes` 10), as van den
Oord et al. conditioned their PixelCNN priors on the class: a draw picks the label from the training
labels' frequencies, then the grid. Without the label the same prior left a third of its samples
unrecognisable (well-formed strokes that make no digit); `prior_classes: 0` fits it without labels,
for a dataset that has none.
"""

from __future__ import annotations

from typing import Any

DEEP_HIDDEN = [1000, 500, 250]

VARIANTS: dict[str, dict[str, Any]] = {
    "simple": {"encoder": "linear", "latent_dim": 20, "recon_loss": "mse"},
    "deep": {
        "encoder": "mlp",
        "hidden_dims": DEEP_HIDDEN,
        "latent_dim": 30,
        "normalization": "batch",
        "recon_loss": "bce",
    },
    "denoising": {
        "encoder": "mlp",
        "hidden_dims": [512, 256],
        "latent_dim": 64,
        "normalization": "batch",
        "recon_loss": "bce",
        "noise": {"gaussian": 0.5, "masking": 0.5, "salt_and_pepper": 0.5},
    },
    "sparse": {
        "encoder": "mlp",
        "hidden_dims": [341],
        "latent_dim": 30,
        "normalization": "batch",
        "bottleneck": "sparse",
        "sparsity_penalty": "log",
        "sparsity_weight": 1.0,
        "recon_loss": "bce",
    },
    "conv": {
        "encoder": "conv",
        "hidden_dims": [32, 64, 128],
        "latent_dim": 32,
        "activation": "silu",
        "normalization": "batch",
        "recon_loss": "bce",
    },
    "vae": {
        "encoder": "mlp",
        "hidden_dims": [512, 256],
        "latent_dim": 20,
        "normalization": "batch",
        "bottleneck": "variational",
        "kl_weight": 1.0,
        "recon_loss": "bce",
    },
    "topk": {
        "encoder": "mlp",
        "hidden_dims": [320],
        "normalization": "batch",
        "latent_dim": 256,
        "bottleneck": "topk",
        "k": 30,
        "dead_after": 2500,
        "decoder": "dictionary",
        "recon_loss": "bce",
        "latent_mixture": 1,
    },
    "beta_vae": {
        "encoder": "mlp",
        "hidden_dims": [200, 100],
        "latent_dim": 10,
        "normalization": "batch",
        "bottleneck": "variational",
        "kl_weight": 4.0,
        "recon_loss": "bce",
    },
    "cvae": {
        "encoder": "conditional_mlp",
        "hidden_dims": [240, 120],
        "latent_dim": 16,
        "num_classes": 10,
        "normalization": "batch",
        "bottleneck": "variational",
        "kl_weight": 1.0,
        "recon_loss": "bce",
    },
    "vq": {
        "encoder": "conv-grid",
        "bottleneck": "vq",
        "hidden_dims": [32, 64],
        "latent_dim": 64,
        "codebook_size": 256,
        "prior_classes": 10,
        "latent_mixture": 1,
        "recon_loss": "bce",
    },
}
