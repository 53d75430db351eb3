"""What each tab of the Space computes, as plain functions of plain values (no UI here).

Images go out as uint8 arrays: 32x32 digits (white ink on black, as the models see them) or strips
and grids of them. Bad input raises `InputError` with a message for the person who sent it; an
empty canvas is not an error, it returns blank outputs and a hint.
All model work is a single small batch under `torch.inference_mode()`.
"""

from __future__ import annotations

import math
import zlib
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import Tensor

from autoencoders import AutoEncoder
from autoencoders.checks import check_choice
from autoencoders.config import CORRUPTIONS
from autoencoders.features import NoFilters, decoder_atoms, input_filters, unit_responses
from autoencoders.likelihood import label_scores
from autoencoders.metrics import psnr, squared_error_per_image
from autoencoders.noise import corrupt
from autoencoders.traversals import TRAVERSAL_VALUES, traversal_units, traversals

from .gallery import Digits
from .latent_map import EXTENT, LatentMap
from .models import LoadedModel
from .preprocess import EmptyCanvas, InputError, digit_from_sketch

ALL = "all"
GUESS = "guess"
DIGITS = [str(d) for d in range(10)]
AXES = 8  # generation sliders: the first principal axes of each model's codes
AXIS_RANGE = 3.0  # sliders span -3..3 standard deviations
NOISE_SEED = 0  # one fixed noise pattern per digit, so the slider changes only the strength
GRID_SAMPLES = 16
FEATURES_SHOWN = 48  # first-layer filters on the Features tab, 8 a row
ATOMS_PER_ROW = 16  # a dictionary decoder's atoms on the Features tab: all of them, 16 a row
TOP_DIGITS = 16  # max-activating examples: the bundled test digits that activate a code unit most
# What each tab says while its canvas is empty (the Reconstruct tab has no gallery).
RECONSTRUCT_HINT = "Draw a digit, or drop a photo of one on the canvas: every stroke updates the reconstruction."
DENOISE_HINT = "Draw a digit or pick one below, then move the noise slider."
INTERPOLATE_HINT = "Draw or pick two digits, A and B."
MAP_DIGIT = "Decoded at the ring"  # the Latent map's decoded digit, named so by its caption
CODE_GAP = 5  # units of space between the codes of two models in the "all" chart (discrete codes: their grid instead)
NO_CODE = pd.DataFrame({"unit": pd.Series(dtype=int), "value": pd.Series(dtype=float), "variant": pd.Series(dtype=str)})

Sketch = Any  # a Sketchpad value: {"background", "layers", "composite"} of numpy images, or None


def with_article(digit: Any) -> str:
    """A digit with its article, as a caption reads it: "a 7", "an 8"."""
    return f"an {digit}" if str(digit) == "8" else f"a {digit}"


def to_uint8(images: Tensor) -> np.ndarray:
    """[..., H, W] floats in [0, 1] -> uint8 [H, W] (the single image or grid they hold)."""
    return images.clamp(0, 1).mul(255).round().to(torch.uint8).reshape(images.shape[-2:]).numpy()


def tile(images: Tensor, per_row: int, gap: int = 2, line: float = 0.5) -> np.ndarray:
    """[N, 1, H, W] -> one uint8 image, `per_row` digits a row, lines of brightness `line` between them.
    (torchvision's make_grid does this too, but importing torchvision adds 2 s to the cold start.)"""
    count, _, height, width = images.shape
    rows = -(-count // per_row)
    canvas = torch.full((rows * (height + gap) + gap, per_row * (width + gap) + gap), line)
    for i, image in enumerate(images[:, 0]):
        top, left = gap + i // per_row * (height + gap), gap + i % per_row * (width + gap)
        canvas[top : top + height, left : left + width] = image
    return to_uint8(canvas)


def choice(value: Any, options: list[str], what: str) -> str:
    try:
        check_choice(what, value, options)
    except ValueError as err:
        raise InputError(str(err)) from None
    return value


def finite(value: Any, what: str, low: float, high: float) -> float:
    """A number in [low, high]; NaN, inf, text or None is an InputError naming the range."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = math.nan
    if not low <= number <= high:
        raise InputError(f"{what} must be a number between {low:g} and {high:g}, got {value!r}")
    return number


def digit_choice(value: Any, guess: bool = True) -> str:
    """A digit control's value: "0".."9" (an int is fine too), or "guess" where allowed."""
    return choice(str(value), [GUESS, *DIGITS] if guess else DIGITS, "digit")


def format_metric(value: float | str | None) -> str:
    if value is None:
        return "—"
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def format_psnr(value: float) -> str:
    return "identical" if value >= 99 else f"{value:.1f} dB"


def token_grid(name: str, model: AutoEncoder, code: Tensor) -> str:
    """A discrete code's grid of token indices as a Markdown table."""
    rows = ["| " + " | ".join(str(token) for token in row) + " |" for row in code.tolist()]
    header = "|" + " |" * code.shape[1] + "\n|" + " --- |" * code.shape[1]
    return f"\n\n**{name}**: its code ({model.bottleneck.describe_code()}):\n\n" + header + "\n" + "\n".join(rows)


class Endpoints:
    """The Space's computations over a fixed set of loaded models and bundled digits."""

    def __init__(self, models: dict[str, LoadedModel], digits: Digits) -> None:
        missing = {"denoising", "deep"} - set(models)
        if missing:
            raise ValueError(f"the Space needs the {sorted(missing)} models for its Denoise tab")
        self.models = models
        self.variants = list(models)
        self.charted = [name for name in models if not models[name].model.discrete]  # the "all" code chart's models
        self.digits = digits
        pixels = torch.from_numpy(digits.images).unsqueeze(1)
        self.maps: dict[str, LatentMap] = {}
        self.axis_order: dict[str, Tensor] = {}
        self.origin: dict[str, tuple[Tensor, int]] = {}
        self.filters: dict[str, Tensor | None] = {}
        self.atoms: dict[str, Tensor | None] = {}
        self.codes: dict[str, Tensor] = {}
        self.units: dict[str, list[int]] = {}
        labels = torch.from_numpy(digits.labels.astype(np.int64))
        with torch.inference_mode():
            for name, loaded in models.items():
                model = loaded.model.eval()
                try:
                    self.filters[name] = input_filters(model)
                except NoFilters:
                    self.filters[name] = None
                try:
                    self.atoms[name] = decoder_atoms(model)
                except NoFilters:
                    self.atoms[name] = None
                given = labels if model.conditional else None  # a conditional model encodes each digit with its label
                if not bool(model.latent_fitted):
                    model.fit_latent_stats(pixels, labels=given)  # weights without fitted statistics: fit on the bundled digits
                codes = self.codes[name] = model.encode(pixels, given)
                if model.discrete:
                    continue  # a grid of tokens: no plane of codes to map, no axes to slide along, no units to sweep
                if model.has_prior:
                    self.units[name] = traversal_units(model, pixels, given)
                self.maps[name] = LatentMap.fit(codes, digits.labels)
                # The fitted axes come sorted by variance; the VAE's prior has none, so order its
                # units by how much they vary over real digits (inactive units change nothing).
                spread = codes.var(dim=0) if model.has_prior else -torch.arange(codes.shape[1]).float()
                self.axis_order[name] = spread.argsort(descending=True)
                # The sliders start from the most typical bundled digit: the mean of a nonlinear
                # model's codes can lie between its clusters and decode to a blank (it does for conv).
                typical = int(model.axes_from_code(codes).norm(dim=1).argmin())
                self.origin[name] = (codes[typical : typical + 1], int(digits.labels[typical]))

    def model(self, variant: str) -> AutoEncoder:
        return self.models[choice(variant, self.variants, "variant")].model

    @staticmethod
    def digit(sketch: Sketch) -> Tensor:
        """A sketch -> the model input [1, 1, 32, 32]."""
        return torch.from_numpy(digit_from_sketch(sketch))[None, None]

    @staticmethod
    def label_for(model: AutoEncoder, images: Tensor, digit: str) -> tuple[list[int] | None, str]:
        """(the labels a conditional model reads `images` as, how they were chosen): the picked digit,
        or with "guess" the label under which the model itself finds each image likeliest (its
        importance-weighted bound of log p(x | y), `label_scores`); (None, "") for the other models."""
        if not model.conditional:
            return None, ""
        if digit != GUESS:
            return [int(digit)] * len(images), f"read as {with_article(digit)} (picked)"
        guesses = label_scores(model, images).argmax(dim=1).tolist()
        return guesses, "guessed: read as " + ", ".join(map(with_article, guesses)) + " (the label it finds likeliest)"

    @torch.inference_mode()
    def reconstruct(
        self, sketch: Sketch, variant: str, digit: str = GUESS
    ) -> tuple[np.ndarray | None, np.ndarray | None, pd.DataFrame, str]:
        """(model input, reconstruction or a strip of all, the code as a table, the errors). A
        conditional model (`cvae`) reads the drawing as `digit`, or guesses it ("guess") and says so."""
        names = self.variants if variant == ALL else [choice(variant, [*self.variants, ALL], "variant")]
        digit = digit_choice(digit)
        try:
            image = self.digit(sketch)
        except EmptyCanvas:
            return None, None, NO_CODE, RECONSTRUCT_HINT
        rows, outputs, codes, grids = [], [], [], []
        for name in names:
            model = self.models[name].model
            labels, how = self.label_for(model, image, digit)
            code = model.encode(image, labels)
            output = model.decode(code, labels)
            outputs.append(output)
            padding = model.config.padding
            error = squared_error_per_image(image, output, padding).item()
            note = f" ({how})" if how else ""
            rows.append(f"| {name}{note} | {error:.2f} | {format_psnr(psnr(image, output, padding).item())} |")
            if model.discrete:  # its tokens go below the errors, as the grid they are
                grids.append(token_grid(name, model, code[0]))
            if model.discrete and variant == ALL:
                continue  # token indices are names, not sizes: as bars beside real codes they would dwarf them
            offset = codes[-1][0] + CODE_GAP if codes else 0  # side by side, in preset order, with a gap
            codes.extend((offset + i, value, name) for i, value in enumerate(code[0].flatten().tolist()))
        details = "| variant | squared error | PSNR |\n| --- | --- | --- |\n" + "\n".join(rows) + "".join(grids)
        picture = tile(torch.cat(outputs), len(outputs)) if variant == ALL else to_uint8(outputs[0])
        return to_uint8(image), picture, pd.DataFrame(codes, columns=list(NO_CODE.columns)), details

    @torch.inference_mode()
    def denoise(self, sketch: Sketch, corruption: str, level: float) -> tuple[Any, ...]:
        """(clean, noisy, denoised by `denoising`, denoised by `deep`, PSNR of each against the clean)."""
        corruption = choice(corruption, list(CORRUPTIONS), "corruption")
        level = finite(level, "the noise level", 0.0, 1.0)
        try:
            clean = self.digit(sketch)
        except EmptyCanvas:
            return None, None, None, None, DENOISE_HINT
        noisy = corrupt(clean, corruption, level, torch.Generator().manual_seed(NOISE_SEED))
        denoised = [self.models[name].model.reconstruct(noisy) for name in ("denoising", "deep")]
        padding = self.models["denoising"].model.config.padding
        scores = [format_psnr(psnr(clean, image, padding).item()) for image in (noisy, *denoised)]
        details = (
            f"PSNR against the clean digit ({corruption.replace('_', ' ')}, level {level:.2f}):\n\n"
            "| noisy | denoising AE | deep AE |\n| --- | --- | --- |\n| " + " | ".join(scores) + " |"
        )
        return to_uint8(clean), to_uint8(noisy), *(to_uint8(image) for image in denoised), details

    def coordinates(self, values: tuple[Any, ...]) -> Tensor:
        if len(values) > AXES:
            raise InputError(f"at most {AXES} axis coordinates, got {len(values)}")
        return torch.tensor([[finite(v, f"axis {i + 1}", -AXIS_RANGE, AXIS_RANGE) for i, v in enumerate(values)]])

    @torch.inference_mode()
    def generate(self, variant: str, *coords: float, digit: Any = None) -> tuple[np.ndarray, str]:
        """Decode the point `coords` SDs along the model's first principal axes (VAE: its prior's
        units) from its most typical bundled digit (the one whose code is nearest the centre). A
        conditional model (`cvae`) decodes it as `digit` (default: that bundled digit's label), so
        the sliders move the style and the digit stays. A discrete code (`vq`) has no axes: the
        sliders seed a draw from its prior, of `digit` when one is picked."""
        model = self.model(variant)
        point = self.coordinates(coords)
        if model.discrete:  # no axes: the sliders' position picks the seed of a draw from its prior
            values = point[0].tolist() + [0.0] * (AXES - point.shape[1])  # unset sliders are at 0
            seed = zlib.crc32(" ".join(f"{value:.1f}" for value in values).encode())
            label = self.drawn_digit(model, digit, None)
            image = model.sample(1, torch.Generator().manual_seed(seed), labels=label)
            asked = f" as {with_article(label)}" if label is not None else ""
            return to_uint8(image), (
                f"{variant}: its code ({model.bottleneck.describe_code()}) is not a vector, so it has no axes to move along: "
                f"each position of the sliders picks a seed, and the digit is drawn{asked} from the prior fitted over its token grids."
            )
        full = torch.zeros(1, model.config.latent_dim)
        full[0, self.axis_order[variant][: point.shape[1]]] = point[0]
        origin, label = self.origin[variant]
        drawn = self.drawn_digit(model, digit, label)
        image = model.decode(model.code_from_axes(full, origin), drawn)
        axes = "units of its prior N(0, I)" if model.has_prior else "principal axes of its training codes"
        caption = f"{variant}: {float(point.norm()):.1f} SD along the {axes}, from its most typical test digit ({with_article(label)})"
        return to_uint8(image), caption + (f", drawn as {with_article(drawn)}." if drawn is not None else ".")

    @staticmethod
    def drawn_digit(model: AutoEncoder, digit: Any, default: int | Tensor | None) -> int | Tensor | None:
        """The label(s) a model that draws the digit asked for (`cvae`, `vq`) draws: `digit`, else
        `default`; None for the other models."""
        if not model.sample_classes:
            return None
        return default if digit is None or digit == "" else int(digit_choice(digit, guess=False))

    @torch.inference_mode()
    def traversal_grid(self, variant: str, digit: Any = None) -> tuple[np.ndarray | None, str]:
        """(a variational model's latent traversals: a row per active unit, the most variable first,
        set to -3..3 prior SD around its most typical bundled digit's code; a caption). A model
        without a prior has none, and says so."""
        model = self.model(variant)
        if not model.has_prior or model.discrete:
            return (
                None,
                f"{variant}: latent traversals are for the variational models (vae, beta_vae, cvae), whose prior has units to sweep.",
            )
        units = self.units[variant]
        if not units:
            return None, f"{variant}: no code unit is active on the bundled digits, so there is nothing to sweep."
        origin, label = self.origin[variant]
        drawn = self.drawn_digit(model, digit, label)
        grid = traversals(model, origin[0], units, label=drawn)
        span = f"{TRAVERSAL_VALUES[0]:g} to {TRAVERSAL_VALUES[-1]:g}"
        caption = (
            f"{variant}: its {len(units)} active units (variance over the bundled digits > 0.01), one a row, most variable first "
            f"({', '.join(map(str, units))}), each set from {span} SD with the others at the code of its most typical digit ({with_article(label)})"
        )
        return tile(grid.flatten(0, 1), grid.shape[1]), caption + (f", drawn as {with_article(drawn)}." if drawn is not None else ".")

    @staticmethod
    def random_coordinates() -> list[float]:
        """Slider values drawn from N(0, 1), clipped to the sliders' range."""
        return [round(v, 1) for v in torch.randn(AXES).clamp(-AXIS_RANGE, AXIS_RANGE).tolist()]

    @torch.inference_mode()
    def sample_grid(self, variant: str, seed: int = 0, digit: Any = None) -> np.ndarray:
        """A grid of `GRID_SAMPLES` random samples from the mixture fitted to the model's codes (a
        discrete code: from the prior fitted over its token grids); those of a model that draws the
        digit asked for (`cvae`, `vq`) are all `digit` (default: each row 0..7, then 8, 9, 0, ...)."""
        model = self.model(variant)
        labels = self.drawn_digit(model, digit, torch.arange(GRID_SAMPLES) % 10)
        return tile(model.sample(GRID_SAMPLES, torch.Generator().manual_seed(seed), labels=labels), GRID_SAMPLES // 2)

    @torch.inference_mode()
    def interpolate(
        self, sketch_a: Sketch, sketch_b: Sketch, variant: str, steps: float, digit: str = GUESS
    ) -> tuple[np.ndarray | None, str]:
        """A strip of `steps` images decoded along the straight line from A's code to B's. A
        conditional model (`cvae`) reads both as `digit` and draws every step as it (the line then
        runs through style alone), or with "guess" reads each as its likeliest label and draws each
        step as the label of the nearer end."""
        model = self.model(variant)
        steps = int(finite(steps, "the number of steps", 2, 16))
        digit = digit_choice(digit)
        try:
            pair = torch.cat([self.digit(sketch_a), self.digit(sketch_b)])
        except EmptyCanvas:
            return None, INTERPOLATE_HINT
        weights = torch.linspace(0, 1, steps).unsqueeze(1)
        if model.discrete:  # tokens have no straight line between them: blend their codebook vectors
            start, end = model.decoder_input(model.encode(pair))
            strip = model.decode_features(start + weights * (end - start))
            return tile(strip, steps), (
                f"{variant}: {steps} steps from A to B along the straight line between the codebook vectors of their "
                f"tokens (its code: {model.bottleneck.describe_code()}; the steps between are not tokens)."
            )
        labels, how = self.label_for(model, pair, digit)
        start, end = model.encode(pair, labels)
        along = None if labels is None else [labels[0] if w < 0.5 else labels[1] for w in weights[:, 0].tolist()]
        strip = model.decode(model.bottleneck.project(start + weights * (end - start)), along)
        distance = float((end - start).norm())
        note = f" A and B {how}." if how else ""
        return tile(strip, steps), f"{variant}: {steps} steps from A to B, codes {distance:.1f} apart.{note}"

    @torch.inference_mode()
    def features(self, sketch: Sketch, variant: str) -> tuple[np.ndarray | None, str]:
        """(the model's first-layer filters, those the digit excites most first, or in their own
        order when the canvas is empty; a caption). An encoder without such filters says so. A
        dictionary decoder (topk) shows its atoms instead: the latents the digit activates."""
        model = self.model(variant)
        if self.atoms[variant] is not None:
            return self.dictionary_features(sketch, variant)
        filters = self.filters[variant]
        if filters is None:
            return None, f"{variant}: its {model.config.encoder.name} encoder has no first layer of weights to draw."
        shown = min(len(filters), FEATURES_SHOWN)
        which = f"the {shown} of its {len(filters)}" if shown < len(filters) else f"all {shown} of its"
        units = model.encoder.first_layer_name
        legend = "each drawn as the pattern it weighs the input by: grey 0, white the most positive, black the most negative"
        try:
            order = unit_responses(model, self.digit(sketch))[0].argsort(descending=True, stable=True)
            caption = f"{variant}: {which} {units}, those this digit excites most first ({legend})."
        except EmptyCanvas:
            order = torch.arange(len(filters))
            caption = f"{variant}: {which} {units}, in their own order ({legend}). Draw or pick a digit to see those it excites most first."
        return tile(filters[order[:shown]], 8, line=1.0), caption

    def dictionary_features(self, sketch: Sketch, variant: str) -> tuple[np.ndarray, str]:
        """Every atom of the decoder, 16 a row, in latent order; for a digit, the atoms of the latents
        it activates, strongest first, and their values in the caption."""
        model, atoms = self.model(variant), self.atoms[variant]
        legend = "each atom drawn as what its latent adds to the logits: grey 0, white the most positive, black the most negative"
        try:
            code = model.encode(self.digit(sketch))[0]
        except EmptyCanvas:
            caption = (
                f"{variant}: all {len(atoms)} atoms of its dictionary, latent 0 first, {ATOMS_PER_ROW} a row ({legend}). "
                "Draw or pick a digit to see the latents it activates."
            )
            return tile(atoms, ATOMS_PER_ROW, line=1.0), caption
        active = torch.nonzero(code > 0)[:, 0]
        active = active[code[active].argsort(descending=True, stable=True)]
        values = ", ".join(f"{int(i)}: {float(code[i]):.2f}" for i in active)
        caption = (
            f"{variant}: this digit activates {len(active)} of its {len(atoms)} latents; their atoms, strongest first "
            f"({legend}). Latent: value — {values or 'none'}."
        )
        return tile(atoms[active] if len(active) else atoms[:0].new_ones(1, *atoms.shape[1:]), 8, line=1.0), caption

    @torch.inference_mode()
    def top_digits(self, variant: str, unit: float) -> tuple[np.ndarray, str]:
        """(the bundled test digits whose code is largest in `unit`, strongest first; a caption): the
        max-activating examples of a latent, as sparse-autoencoder dashboards show them (a discrete
        code: the digits whose grid holds codebook entry `unit` in the most cells)."""
        codes, model = self.codes[choice(variant, self.variants, "variant")], self.model(variant)
        # A discrete code's units are its codebook entries: a digit's value is how many cells of its grid hold one.
        units = model.bottleneck.codebook_size if model.discrete else codes.shape[1]
        unit = int(finite(unit, "the code unit", 0, units - 1))
        values = (codes.flatten(1) == unit).sum(dim=1).float() if model.discrete else codes[:, unit]
        order = values.argsort(descending=True, stable=True)[:TOP_DIGITS]
        share = ""
        if self.atoms[variant] is not None or model.discrete:  # a sparse code: only the digits that activate the latent at all
            order = order[values[order] > 0]
            share = f"; {int((values > 0).sum())} of the {len(codes)} bundled test digits activate it"
        if not len(order):
            return tile(torch.zeros(1, 1, 32, 32), 1), f"{variant}: none of the {len(codes)} bundled test digits activates latent {unit}."
        pixels = torch.from_numpy(self.digits.images[order.numpy()]).unsqueeze(1).float() / 255
        listed = ", ".join(f"{int(self.digits.labels[i])} ({float(values[i]):.2f})" for i in order)
        caption = (
            f"{variant}: the {len(order)} bundled test digits with the largest value of code unit {unit}{share}. Digit (value): {listed}."
        )
        return tile(pixels, 8), caption

    @torch.inference_mode()
    def latent_map(self, variant: str, x: float, y: float) -> tuple[np.ndarray | None, np.ndarray | None, str]:
        """(the map with a ring at (x, y), the digit decoded there, a caption)."""
        model = self.model(variant)
        x = finite(x, "x", -EXTENT, EXTENT)
        y = finite(y, "y", -EXTENT, EXTENT)
        if model.discrete:
            return (
                None,
                None,
                (
                    f"{variant}: no map. Its code ({model.bottleneck.describe_code()}) is not a point of a vector space, "
                    "so there is no plane of principal axes to lay its digits on; see its tokens on the Reconstruct tab."
                ),
            )
        atlas = self.maps[variant]
        nearest = atlas.nearest_label(x, y) if model.conditional else None
        image = model.decode(model.bottleneck.project(atlas.code(x, y)), nearest)
        caption = (
            f"{variant}: {len(atlas.points)} test digits on the two principal axes of their codes; "
            f"the ring at ({x:.2f}, {y:.2f}) SD decodes to the digit in “{MAP_DIGIT}”"
        )
        caption += f", drawn as {with_article(nearest)}: the label of the test digit nearest the ring." if nearest is not None else "."
        return atlas.render((x, y)), to_uint8(image), caption

    def models_markdown(self) -> str:
        """Where each model came from, then every metric its model card reports (a row per metric,
        a column per model; the cards are read as they are, whatever metrics they hold)."""
        sources = "\n".join(
            f"- **{name}** ({loaded.model.bottleneck.describe_code()}): {loaded.source}" for name, loaded in self.models.items()
        )
        names = list(dict.fromkeys(m.name for loaded in self.models.values() for m in loaded.metrics))
        if not names:
            return sources + "\n\nNo metrics: the model cards hold no `model-index` results."
        values = {(name, m.name): m.value for name, loaded in self.models.items() for m in loaded.metrics}
        rows = [f"| {metric} | " + " | ".join(format_metric(values.get((name, metric))) for name in self.models) + " |" for metric in names]
        header = "| metric (from the model cards) | " + " | ".join(self.models) + " |\n|" + " --- |" * (len(self.models) + 1)
        return sources + "\n\n" + header + "\n" + "\n".join(rows)
