"""The vector-quantised autoencoder (VQ-VAE, van den Oord et al. 2017), as parts.

- `conv-grid` encoder: stride-2 convolutions down to a grid of feature vectors (8x8 for a 32x32 image
  and two layers), flattened channel-major, [B, embedding_dim * cells].
- `vq` bottleneck: each vector of the grid is replaced by its nearest codebook entry; the code is the
  grid of their indices [B, side, side]. Training passes the decoder the quantised vectors with the
  straight-through gradient (z + sg(e - z)), adds the commitment loss beta * ||z - sg(e)||^2 (summed
  over the grid per image, like the reconstruction loss over pixels), and updates the codebook by
  exponential moving averages (Sonnet's VectorQuantizerEMA: counts N_i and sums m_i decayed by
  gamma, Laplace-smoothed counts, e_i = m_i / N_i). A code whose averaged count falls below
  `dead_threshold` is restarted at a random encoder output of the current batch (as
  vector-quantize-pytorch's `threshold_ema_dead_code`). After training `fit_prior` fits a small
  causal transformer over the token grids (raster order); `sample_prior` draws grids from it. With
  `prior_classes` the prior is class-conditional, as van den Oord et al.'s PixelCNN priors were: it
  starts each grid from its label's start token, and a draw picks the label first (from the training
  labels' frequencies, or the one asked for), so the prior is the mixture p(y) p(grid | y).
- `conv-grid` decoder: the grid of quantised vectors, a 3x3 convolution, then stride-2 transposed
  convolutions back to the image.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .blocks import DEFAULT_CONV, Layers, SequentialEncoder, _check_conv, _check_layers, _check_shape, _hidden, conv_layers, deconv_layers
from .parts import Bottleneck, Decoder, register

DEFAULT_GRID_CONV = DEFAULT_CONV[:2]  # two stride-2 layers: a 32x32 image becomes an 8x8 grid


def _grid_channels(shape: list[int], hidden_dims: list[int], grid: int, features: int, what: str) -> int:
    """The vectors' size when `features` spread over the `grid` x `grid` map the conv layers make of `shape`."""
    side = _check_conv(shape, hidden_dims)
    if side != grid:
        raise ValueError(
            f"a {shape[1]}x{shape[2]} image through {len(hidden_dims)} stride-2 layers is {side}x{side} at the end, not the "
            f"{grid}x{grid} grid of the code: pass grid={side} or change hidden_dims"
        )
    if features % (side * side):
        raise ValueError(f"{what} {features} is not a multiple of the {side}x{side} grid's {side * side} cells")
    return features // (side * side)


@register("conv-grid")
class GridEncoder(SequentialEncoder):
    """Stride-2 4x4 convolutions of `hidden_dims` channels, a 3x3 convolution at the last size, then a
    1x1 convolution to `out_features / cells` channels per cell: a grid of vectors, flattened."""

    first_layer_name = "first-convolution kernels"

    def __init__(
        self,
        input_shape: list[int],
        out_features: int,
        hidden_dims: list[int] = DEFAULT_GRID_CONV,
        activation: str = "relu",
        normalization: str = "batch",
        grid: int = 8,
    ) -> None:
        self.input_shape = _check_shape("input_shape", input_shape)
        _check_layers(hidden_dims, activation, normalization)
        channels = _grid_channels(input_shape, hidden_dims, grid, out_features, "out_features")
        width = hidden_dims[-1]
        super().__init__(
            *conv_layers(input_shape[0], hidden_dims, activation, normalization),
            *_hidden(nn.Conv2d(width, width, 3, padding=1), width, activation, normalization),
            nn.Conv2d(width, channels, 1),
            nn.Flatten(),
        )


@register("conv-grid")
class GridDecoder(Decoder, Layers):
    """The grid encoder mirrored: the flattened grid of vectors, a 3x3 convolution, then stride-2
    transposed convolutions back to the image's logits."""

    def __init__(
        self,
        latent_dim: int,
        output_shape: list[int],
        hidden_dims: list[int] = DEFAULT_GRID_CONV,
        activation: str = "relu",
        normalization: str = "batch",
        grid: int = 8,
    ) -> None:
        _check_shape("output_shape", output_shape)
        _check_layers(hidden_dims, activation, normalization)
        channels = _grid_channels(output_shape, hidden_dims, grid, latent_dim, "latent_dim (the decoder's input)")
        side = grid
        widths = hidden_dims[::-1]
        super().__init__(
            nn.Unflatten(1, (channels, side, side)),
            *_hidden(nn.Conv2d(channels, widths[0], 3, padding=1), widths[0], activation, normalization),
            *deconv_layers(widths, output_shape[0], activation, normalization),
        )


class TokenPrior(nn.Module):
    """A small causal transformer over a `side` x `side` grid of tokens in raster order: p(t_1)
    p(t_2 | t_1) ... Position 0 sees only a start token: index `codebook_size`, or `codebook_size +
    label` for a prior conditioned on `classes` labels. A position is its row's embedding plus its
    column's, so what is learnt about one row holds for the others; no dropout, since one pass or two
    over the training grids underfits rather than overfits."""

    def __init__(self, codebook_size: int, side: int, width: int, layers: int, heads: int, classes: int = 0) -> None:
        super().__init__()
        self.codebook_size, self.side = codebook_size, side
        self.tokens = nn.Embedding(codebook_size + max(1, classes), width)
        self.rows = nn.Parameter(torch.randn(side, 1, width) * 0.02)
        self.columns = nn.Parameter(torch.randn(1, side, width) * 0.02)
        layer = nn.TransformerEncoderLayer(width, heads, 4 * width, dropout=0.0, batch_first=True, norm_first=True)
        self.blocks = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(width)
        self.head = nn.Linear(width, codebook_size)

    def forward(self, sequences: Tensor) -> Tensor:
        """Tokens [B, L] (the first is the start token) -> logits [B, L, codebook_size] of the next token."""
        length = sequences.shape[1]
        mask = nn.Transformer.generate_square_subsequent_mask(length, device=sequences.device)
        positions = (self.rows + self.columns).flatten(0, 1)[:length]
        hidden = self.blocks(self.tokens(sequences) + positions, mask=mask, is_causal=True)
        return self.head(self.norm(hidden))

    def start(self, labels: Tensor) -> Tensor:
        """The start tokens [B, 1] of grids with `labels` [B] (all 0 for an unconditional prior)."""
        return (self.codebook_size + labels).long().unsqueeze(1)

    def shifted(self, tokens: Tensor, labels: Tensor) -> Tensor:
        """Grids flattened [B, L] -> the inputs that predict them: the start token, then all but the last."""
        return torch.cat([self.start(labels), tokens[:, :-1]], dim=1)

    def nll(self, tokens: Tensor, labels: Tensor) -> Tensor:
        """-log p(grid | label) in nats per grid, [B]."""
        logits = self(self.shifted(tokens, labels))
        return F.cross_entropy(logits.transpose(1, 2), tokens, reduction="none").sum(dim=1)


@register("vq")
class VectorQuantizer(Bottleneck):
    """A `grid` x `grid` map of `latent_dim`-d vectors, each replaced by the nearest of a codebook of
    `codebook_size` entries, updated by EMA, with dead-code restarts and a prior fitted after training."""

    has_prior = True
    discrete = True
    statistic_names = {
        "codebook_usage": "Codebook entries used on the test set (%)",
        "perplexity": "Perplexity of the test tokens (exp of their entropy)",
        "prior_nll": "Prior's negative log-likelihood of the test token grids (nats per image)",
    }

    def __init__(
        self,
        latent_dim: int,
        grid: int = 8,
        codebook_size: int = 256,
        commitment_weight: float = 0.25,
        decay: float = 0.99,
        epsilon: float = 1e-5,
        dead_threshold: float = 1.0,
        prior_width: int = 64,
        prior_layers: int = 3,
        prior_heads: int = 4,
        prior_epochs: int = 10,
        prior_batch_size: int = 128,
        prior_learning_rate: float = 1e-3,
        prior_temperature: float = 1.0,
        prior_classes: int = 0,
    ) -> None:
        super().__init__(latent_dim)
        if not isinstance(grid, int) or grid < 1 or not isinstance(codebook_size, int) or codebook_size < 2:
            raise ValueError(f"grid must be a positive int and codebook_size an int of at least 2, got {grid!r} and {codebook_size!r}")
        if not 0.0 < decay < 1.0:
            raise ValueError(f"decay must be in (0, 1), got {decay}")
        self.side, self.cells, self.codebook_size, self.embedding_dim = grid, grid * grid, codebook_size, latent_dim
        self.commitment_weight, self.decay, self.epsilon, self.dead_threshold = commitment_weight, decay, epsilon, dead_threshold
        if not prior_temperature > 0:
            raise ValueError(f"prior_temperature must be positive, got {prior_temperature}")
        self.prior_epochs, self.prior_batch_size, self.prior_learning_rate = prior_epochs, prior_batch_size, prior_learning_rate
        self.prior_temperature = prior_temperature
        if not isinstance(prior_classes, int) or prior_classes < 0:
            raise ValueError(f"prior_classes must be an int >= 0 (0: a prior without labels), got {prior_classes!r}")
        self.prior_classes = prior_classes
        codebook = torch.randn(codebook_size, latent_dim)
        # Counts of 1 and sums equal to the entries keep e_i = m_i / N_i from the start; entries
        # the first batch does not use fall below the threshold and restart at its encoder outputs.
        self.register_buffer("codebook", codebook)
        self.register_buffer("cluster_size", torch.ones(codebook_size))
        self.register_buffer("embed_sum", codebook.clone())
        self.register_buffer("prior_fitted", torch.zeros((), dtype=torch.bool))
        self.token_prior = TokenPrior(codebook_size, grid, prior_width, prior_layers, prior_heads, prior_classes)
        if prior_classes:  # p(y): the share of each label among the training grids, what a draw picks labels from
            self.register_buffer("prior_label_weights", torch.full((prior_classes,), 1 / prior_classes))

    @property
    def in_features(self) -> int:
        return self.cells * self.embedding_dim

    @property
    def decoder_features(self) -> int:
        return self.cells * self.embedding_dim

    @property
    def code_shape(self) -> tuple[int, ...]:
        return (self.side, self.side)

    @property
    def loss_weights(self) -> dict[str, float]:
        return {"commitment": self.commitment_weight}

    def describe_code(self) -> str:
        return f"{self.side}x{self.side} grid of tokens, {self.codebook_size} entries of {self.embedding_dim}-d vectors"

    def vectors(self, features: Tensor) -> Tensor:
        """Encoder features [B, D * cells] (channel-major) -> the grid of vectors [B, side, side, D]."""
        return features.view(len(features), self.embedding_dim, self.side, self.side).permute(0, 2, 3, 1)

    def nearest(self, vectors: Tensor) -> Tensor:
        """The index of the nearest codebook entry (squared Euclidean distance) of each vector [..., D]."""
        flat = vectors.reshape(-1, self.embedding_dim)
        distances = flat.square().sum(1, keepdim=True) - 2 * flat @ self.codebook.T + self.codebook.square().sum(1)
        return distances.argmin(dim=1).view(vectors.shape[:-1])

    def code(self, features: Tensor) -> Tensor:
        return self.nearest(self.vectors(features))

    def decoder_input(self, codes: Tensor) -> Tensor:
        """Token grids [B, side, side] -> their codebook vectors, flattened channel-major [B, D * cells]."""
        if codes.dtype in (torch.bool, torch.float16, torch.bfloat16, torch.float32, torch.float64) or codes.is_complex():
            raise ValueError(f"a vq code is a grid of integer token indices, got {codes.dtype} (encode() gives them)")
        if codes.ndim != 3 or tuple(codes.shape[1:]) != self.code_shape:
            raise ValueError(f"expected token grids of shape [B, {self.side}, {self.side}], got {list(codes.shape)}")
        if len(codes) and (int(codes.min()) < 0 or int(codes.max()) >= self.codebook_size):
            raise ValueError(f"token indices must be in [0, {self.codebook_size}), got {int(codes.min())}..{int(codes.max())}")
        return self.codebook[codes.long()].permute(0, 3, 1, 2).flatten(1)

    def forward(self, features: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        """(the quantised vectors with the straight-through gradient, flattened for the decoder;
        {"commitment": ||z - sg(e)||^2 summed per image, averaged}). In training mode the codebook
        is updated from this batch first (EMA, restarts); the output uses the entries before the update.
        Under autocast (`--mixed_precision bf16`) it still runs in float32: the nearest entry and the
        EMA sums need the precision, and the codebook is a float32 buffer."""
        with torch.autocast(features.device.type, enabled=False):
            vectors = self.vectors(features.float())
            indices = self.nearest(vectors.detach())
            quantised = self.codebook[indices]
            commitment = (vectors - quantised.detach()).square().flatten(1).sum(dim=1).mean()
            if self.training and torch.is_grad_enabled():
                self.update_codebook(vectors.detach().reshape(-1, self.embedding_dim), indices.flatten())
            straight_through = vectors + (quantised - vectors).detach()
        return straight_through.permute(0, 3, 1, 2).flatten(1), {"commitment": commitment}

    @torch.no_grad()
    def update_codebook(self, vectors: Tensor, indices: Tensor) -> None:
        """One EMA step from `vectors` [N, D] assigned to `indices` [N], then restart the dead entries."""
        onehot = F.one_hot(indices, self.codebook_size).to(vectors.dtype)
        counts, sums = onehot.sum(dim=0), onehot.T @ vectors
        if torch.distributed.is_available() and torch.distributed.is_initialized():  # every process's batch counts
            torch.distributed.all_reduce(counts)
            torch.distributed.all_reduce(sums)
        self.cluster_size.mul_(self.decay).add_(counts, alpha=1 - self.decay)
        self.embed_sum.mul_(self.decay).add_(sums, alpha=1 - self.decay)
        total = self.cluster_size.sum()
        smoothed = (self.cluster_size + self.epsilon) / (total + self.codebook_size * self.epsilon) * total
        self.codebook.copy_(self.embed_sum / smoothed.unsqueeze(1))
        self.restart_dead(vectors)

    @torch.no_grad()
    def restart_dead(self, vectors: Tensor) -> None:
        """Entries whose averaged count is below `dead_threshold` move to random `vectors` (recent
        encoder outputs), with the threshold as their count."""
        dead = self.cluster_size < self.dead_threshold
        count = int(dead.sum())
        if count == 0 or self.dead_threshold <= 0:
            return
        chosen = vectors[torch.randint(len(vectors), (count,), device=vectors.device)]
        self.codebook[dead] = chosen
        self.embed_sum[dead] = chosen * self.dead_threshold
        self.cluster_size[dead] = self.dead_threshold

    def set_statistics(self, codes: Tensor) -> dict[str, float]:
        """Over the test token grids: `codebook_usage` (% of entries used), `perplexity`, and the
        fitted prior's `prior_nll`, -log p(grid) (a class-conditional prior: of the mixture over labels)."""
        counts = torch.bincount(codes.flatten().long(), minlength=self.codebook_size).double()
        probabilities = counts / counts.sum()
        entropy = -(probabilities[counts > 0] * probabilities[counts > 0].log()).sum()
        results = {"codebook_usage": 100 * float((counts > 0).double().mean()), "perplexity": float(entropy.exp())}
        if bool(self.prior_fitted):
            device = self.codebook.device
            with torch.no_grad():
                was_training = self.token_prior.training
                self.token_prior.eval()
                nll = torch.cat([self.prior_nll(batch.flatten(1).to(device)).cpu() for batch in codes.long().split(1024)])
                self.token_prior.train(was_training)
            results["prior_nll"] = float(nll.mean())
        return results

    def prior_nll(self, tokens: Tensor) -> Tensor:
        """-log p(grid) in nats of flattened grids [B, cells], [B]; a class-conditional prior sums
        p(y) p(grid | y) over the labels."""
        if not self.prior_classes:
            return self.token_prior.nll(tokens, tokens.new_zeros(len(tokens)))
        per_label = torch.stack([self.token_prior.nll(tokens, tokens.new_full((len(tokens),), y)) for y in range(self.prior_classes)])
        return -torch.logsumexp(self.prior_label_weights.log().unsqueeze(1) - per_label, dim=0)

    def prior_labels(self, labels: Tensor | None, count: int) -> Tensor:
        """Labels [count] checked for this prior: all 0 for an unconditional prior (which takes none)."""
        if not self.prior_classes:
            if labels is not None:
                raise ValueError("this vq prior is not class-conditional (prior_classes 0): it takes no labels")
            return torch.zeros(count, dtype=torch.long, device=self.codebook.device)
        if labels is None:
            raise ValueError(f"this vq prior is class-conditional (prior_classes {self.prior_classes}): pass the grids' labels")
        labels = labels.to(self.codebook.device)
        valid = tuple(labels.shape) == (count,) and not labels.is_floating_point()
        if not valid or (count and not 0 <= int(labels.min()) <= int(labels.max()) < self.prior_classes):
            raise ValueError(f"expected {count} integer labels in 0..{self.prior_classes - 1}, got {labels.dtype} {list(labels.shape)}")
        return labels.long()

    def fit_prior(self, codes: Tensor, seed: int = 0, labels: Tensor | None = None) -> None:
        """Fit the prior to token grids `codes` [N, side, side] (the training images', with their
        `labels` [N] for a class-conditional prior) by maximum likelihood with AdamW for
        `prior_epochs` epochs, on the codebook's device."""
        tokens = codes.flatten(1).long().to(self.codebook.device)
        labels = self.prior_labels(labels, len(tokens))
        if self.prior_classes:
            self.prior_label_weights.copy_(torch.bincount(labels, minlength=self.prior_classes).float() / len(labels))
        generator = torch.Generator().manual_seed(seed)
        optimizer = torch.optim.AdamW(self.token_prior.parameters(), lr=self.prior_learning_rate, weight_decay=0.01)
        steps = self.prior_epochs * math.ceil(len(tokens) / self.prior_batch_size)
        schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, self.prior_learning_rate, total_steps=max(steps, 1), pct_start=0.05)
        self.token_prior.train()
        with torch.enable_grad():
            for _ in range(self.prior_epochs):
                for batch in torch.randperm(len(tokens), generator=generator).split(self.prior_batch_size):
                    batch = batch.to(tokens.device)
                    loss = self.token_prior.nll(tokens[batch], labels[batch]).mean()
                    optimizer.zero_grad(set_to_none=True)
                    loss.backward()
                    optimizer.step()
                    schedule.step()
        self.token_prior.eval()
        self.prior_fitted.fill_(True)

    @torch.no_grad()
    def sample_prior(
        self, n: int, generator: torch.Generator | None = None, device: torch.device | str = "cpu", labels: Tensor | None = None
    ) -> Tensor:
        """`n` token grids [n, side, side] drawn from the fitted prior, one token at a time, each from
        its conditional distribution at `prior_temperature` (1: the prior itself; below 1: sharper).
        A class-conditional prior draws the grids of `labels` [n], or first draws each label from
        the training labels' frequencies."""
        if not bool(self.prior_fitted):
            raise RuntimeError("this vq model's prior is not fitted yet: call fit_latent_stats(train_images) first (train.py does)")
        if labels is None and self.prior_classes:
            labels = torch.multinomial(self.prior_label_weights.to(device), n, replacement=True, generator=generator)
        labels = self.prior_labels(labels, n).to(device)
        was_training = self.token_prior.training
        self.token_prior.eval()
        sequences = self.token_prior.start(labels)
        for _ in range(self.cells):
            probabilities = (self.token_prior(sequences)[:, -1] / self.prior_temperature).softmax(dim=-1)
            sequences = torch.cat([sequences, torch.multinomial(probabilities, 1, generator=generator)], dim=1)
        self.token_prior.train(was_training)
        return sequences[:, 1:].view(n, self.side, self.side)

    def uniform_code(self, n: int, generator: torch.Generator | None = None, device: torch.device | str = "cpu") -> Tensor:
        """`n` token grids of independent uniform tokens: the baseline the prior is measured against."""
        return torch.randint(self.codebook_size, (n, *self.code_shape), generator=generator, device=device)
