"""The Gradio UI: six tabs over `Endpoints`, with stable API names for scripts.

API (see README): `reconstruct`, `denoise`, `generate`, `interpolate`, `latent_map`, `features`,
`top_digits`, plus `random_sample`, `sample_grid` and `traversals`. Sliders fire on `.input`/`.release`, never on
`.change`, so programmatic updates do not call back in cascades. Model events skip the queue and
share `WORKERS` threads; the queue (for API clients) and upload limits are in `QUEUE_SIZE` and
`LAUNCH_OPTIONS`.
"""

from __future__ import annotations

import functools
import inspect
import json
import logging
import os
import random
import re
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gradio as gr
import numpy as np
from gradio import processing_utils, utils
from gradio.data_classes import GradioModel, GradioRootModel
from gradio.route_utils import API_PREFIX
from PIL import ExifTags, Image, ImageOps
from starlette.middleware import Middleware

from autoencoders.config import CORRUPTIONS

from .cache import start_janitor
from .endpoints import (
    ALL,
    AXES,
    AXIS_RANGE,
    DENOISE_HINT,
    DIGITS,
    GUESS,
    INTERPOLATE_HINT,
    MAP_DIGIT,
    RECONSTRUCT_HINT,
    TOP_DIGITS,
    Endpoints,
)
from .gallery import Digits, load_digits
from .gate import FirstComeGate
from .latent_map import EXTENT, LatentMap
from .models import load_models
from .png import png_bytes
from .preprocess import MAX_PIXELS, InputError

log = logging.getLogger(__name__)

WORKERS = 2  # model events run on two threads: one per core of a basic Space; more only queue inside torch
QUEUE_SIZE = 64  # the queued API's (gradio_client, /call/): a full queue drains in ~2 s; beyond it, refuse at once
CACHE_MINUTES = 10  # cached files (uploads, output pictures) older than this are deleted: see cache_lifetime
CANVAS = 280  # sketchpad pixels: 10x MNIST's 28, small enough to upload on every stroke
GALLERY_SCALE = 8  # gallery digits go onto the sketchpad 8x enlarged, black on white like a drawing
# Model events skip the queue: the page posts each call and gets its answer in the same request
# (Gradio's /run route) instead of joining the queue and reading an event stream, a third less server
# CPU per call (docs/space.md). The queued API (`gradio_client`, /call/) still shares WORKERS through
# the queue; `max_threads` bounds both routes' work to WORKERS threads, and `FirstComeGate` lets the
# page's calls in WORKERS at a time, in the order they came.
POOL = {"queue": False, "concurrency_id": "models", "concurrency_limit": WORKERS}
# ... and each event's inputs are preprocessed and outputs postprocessed in the thread that runs it
# (`processed_in_one_task`), not as a task each on Gradio's thread pool.
ONE_TASK = {"preprocess": False, "postprocess": False, **POOL}
LIVE = {"trigger_mode": "always_last", "show_progress": "hidden"}  # only the latest pending call runs
# Frontend js for live events: send what the page shows when the call leaves, not what Gradio 6.31's
# frontend read when the event fired. It reads a sketchpad slowly (tens to hundreds of ms per read,
# one after another), so six quick slider steps leave up to 0.7 s later and after the events that
# fired after them, each with the values of its moment:
# - each slider's position as its range input shows it (else the view could settle on an old one);
# - a sketchpad as blank if its tab's Clear was pressed since the values were read (the count of
#   Clears read with them, the last value, is behind the page's; else the old digit came back).
AS_SHOWN = """(...values) => {
    const [inputs, clear] = %s;
    const stale = clear !== null && values.at(-1) !== (window.sketchpadClears?.[clear] ?? 0);
    return inputs.map((kind, i) => {
        const range = kind && kind !== "pad" && document.querySelector(`#${kind} input[type=range]`);
        if (range) return Number(range.value);
        return kind === "pad" && stale ? {background: null, layers: [], composite: null} : values[i];
    }).concat(values.slice(inputs.length));
}"""
SKETCHPAD_JS = (Path(__file__).parent / "sketchpad.js").read_text(encoding="utf-8")
CSS = """
.pixels img { image-rendering: pixelated; width: 100%; height: 100%; object-fit: contain; }
.pixels .image-frame { box-sizing: border-box; height: 100%; padding-top: 28px; }  /* below the label */
#reconstruction .image-frame { padding-top: 46px; }  /* its label names the six models in two lines */
.digit-gallery { height: auto !important; }
/* the gallery: all 30 digits at once, ten a row, no scrolling */
.digit-gallery .grid-container { grid-template-columns: repeat(10, minmax(0, 1fr)); grid-auto-rows: auto; margin-top: 16px; }
.digit-gallery .gallery-item, .digit-gallery .thumbnail-item { width: 100%; height: auto; aspect-ratio: 1; min-width: 0; }
.digit-gallery .gallery-container, .digit-gallery .grid-wrap { height: auto !important; min-height: 0 !important; }
/* Phones: the pad and its Clear, then the answers, then the other controls, so that a drawing's answer
   shows right below it rather than two screens down; on Generate and the Latent map the decoded digit
   comes first and stays in sight while the sliders below it scroll */
@media (max-width: 640px) {
  .pad-first, .answer-first { flex-direction: column; flex-wrap: nowrap; }
  .pad-first > .column, .answer-first > .column { display: contents; }
  .answer-first .answer { order: -1; position: sticky; top: 0; z-index: 10; background: var(--background-fill-primary); }
  .answer-first .form { isolation: isolate; }  /* the sliders' labels (z-index 40) stay under the sticky digit */
  .pad-first .sketch, .pad-first .pads, .pad-first .clear { order: -2; }
  .pad-first > .column:last-child > * { order: -1; }
  #reconstruct-seen, #reconstruction { min-width: 100% !important; }  /* a line each: room for the long label */
  /* the gallery six a row: thumbnails a finger can hit (ten a row left 24 px, mostly caption) */
  .digit-gallery .grid-container { grid-template-columns: repeat(6, minmax(0, 1fr)); }
  .digit-gallery .caption-label { padding: 0 4px; font-size: 11px; }
}
"""
# Gradio scopes `css` to the inside of the page's container; the container itself is styled here. Its
# "overflow: hidden" made it the frame a sticky element sticks to, so the sticky digit scrolled away;
# "clip" clips alike without that.
HEAD = "<style>@media (max-width: 640px) { .gradio-container { overflow: clip !important; } }</style>"
# System fonts: the default theme's web font cannot load offline, and its fallback drew some letters
# (the title's first) in another face.
THEME = gr.themes.Default(font=["ui-sans-serif", "system-ui", "sans-serif"], font_mono=["ui-monospace", "monospace"])
LAUNCH_OPTIONS: dict[str, Any] = {
    "max_file_size": "2mb",  # a 280x280 sketch is ~10 kB and an MNIST digit under 1 kB: 2 MB is ample
    "show_error": True,  # show our messages (and Gradio's input checks) instead of a bare "Error"
    # Every session (a tab, an API client) holds a ~140 kB copy of the page's config and the app keeps
    # no per-session state worth keeping: 1000 sessions, not Gradio's 10000, bounds that at ~140 MB.
    "state_session_capacity": 1000,
    # Threads for the events' functions and their pre- and postprocessing (Gradio's default: 40). The
    # work holds the GIL or one core each, so more threads only contend: at 50 clients, 2 threads
    # served 93 calls/s at 11.6 ms of CPU each, 40 threads 79 calls/s at 14.7 ms.
    "max_threads": WORKERS,
    "app_kwargs": {"middleware": [Middleware(FirstComeGate, prefixes=(f"{API_PREFIX}/run/",), limit=WORKERS)]},
    "ssr_mode": False,
    "css": CSS,
    "head": HEAD,
    "theme": THEME,
    "js": SKETCHPAD_JS,  # selects the sketchpads' Brush; empties them for the Clear buttons
}
INTRO = """# Autoencoders on MNIST
Classic autoencoders — simple, deep, denoising, sparse, convolutional, variational, beta-VAE, a
conditional VAE that draws the digit you ask for, k-sparse and vector-quantised (VQ-VAE) — loaded
like any Hugging Face model. Draw a digit and watch each one squeeze it through its code and back."""


def friendly(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Turn every failure of `fn` into a short message in the UI (and for API clients): an
    `InputError` says what was wrong with the input; anything else is logged, never shown raw.
    (The browser sanitizes the HTML of error messages, so echoing a bad value back is safe.)"""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except InputError as err:
            raise gr.Error(str(err), print_exception=False) from None
        except Exception:
            log.exception("%s failed", fn.__name__)
            raise gr.Error("Sorry, that input could not be processed. Try another drawing.", print_exception=False) from None

    return wrapper


def processed_in_one_task(fn: Callable[..., Any], inputs: list[gr.Component], outputs: list[gr.Component]) -> Callable[..., Any]:
    """`fn` for an event declared with `ONE_TASK`: it takes the inputs as Gradio received them and
    returns the outputs as Gradio sends them, calling the components' own `preprocess` and
    `postprocess` itself. Gradio would run each of those as a task of its own on its two threads, so
    under load a call waited in their line once per input and output (13 times for Generate): doing
    them in the task that runs `fn` gave 10-25% more calls a second at 50 clients (docs/space.md)."""

    def received(block: gr.Component, value: Any) -> Any:
        model = getattr(block, "data_model", None)
        if model is not None and value is not None:
            value = model.model_validate(value, context={"validate_meta": True})  # Gradio checked the files' folder
        return block.preprocess(value)

    def sent(block: gr.Component, value: Any) -> Any:
        if not utils.is_prop_update(value):
            value = block.postprocess(value)
            return value.model_dump() if isinstance(value, GradioModel | GradioRootModel) else value
        if "value" in value:
            return {**value, "value": sent(block, value["value"])}
        return value

    @functools.wraps(fn)  # the API names its parameters after fn's
    def run(*values: Any) -> Any:
        results = fn(*(received(block, value) for block, value in zip(inputs, values, strict=True)))
        if len(outputs) == 1:
            return sent(outputs[0], results)
        return [sent(block, value) for block, value in zip(outputs, results, strict=True)]

    # Gradio looks on every call for parameters asking for a gr.Request or event data, by evaluating
    # the type hints (strings here) anew: 7% of the server's time at 50 clients. These functions ask
    # for neither, so the wrapper has none, and its signature, for the API's names, is worked out once.
    signature = inspect.signature(fn)
    asking = [name for name, p in signature.parameters.items() if re.search(r"Request|Progress|OAuth|\w*Data\b", str(p.annotation))]
    if asking:
        raise ValueError(f"{fn.__name__} asks Gradio for {asking}: give it an event with Gradio's own processing")
    run.__signature__ = signature  # type: ignore[attr-defined]
    run.__annotations__ = {}
    return run


def model_event(
    triggers: list[Any], fn: Callable[..., Any], inputs: list[gr.Component], outputs: list[gr.Component], **options: Any
) -> None:
    """An event of the model pool (`ONE_TASK`) on `triggers`: `fn` on `inputs` into `outputs`, run as one task."""
    gr.on(triggers, processed_in_one_task(fn, inputs, outputs), inputs, outputs, **ONE_TASK, **options)


def live(
    triggers: list[Any],
    fn: Callable[..., Any],
    inputs: list[gr.Component],
    outputs: list[gr.Component],
    api_name: str,
    clears: gr.Number | None = None,
) -> None:
    """`fn` following the visitor's input live (`LIVE`): one event for all `triggers`, so one call at
    a time and a trigger meanwhile reruns it on the inputs as they are then; `AS_SHOWN` sends the
    sliders as shown (each needs an elem_id) and, given the tab's `clears` (`clear_button`), its
    sketchpads as blank when read before a Clear. (A photo dropped on an untouched sketchpad fires
    its .change before the pad holds it, then only .upload: list both.) The API endpoint `api_name`
    is `fn` on `inputs` alone, behind a button the page never shows: the count of Clears is the
    page's bookkeeping, read as the last input and dropped before `fn`."""
    unnamed = [block.label for block in inputs if isinstance(block, gr.Slider) and not block.elem_id]
    if unnamed:
        raise ValueError(f"every slider of a live event needs an elem_id: {unnamed}")
    model_event([gr.Button(visible=False).click], fn, inputs, outputs, api_name=api_name)
    kinds = [block.elem_id if isinstance(block, gr.Slider) else "pad" if isinstance(block, gr.Sketchpad) else None for block in inputs]
    js = AS_SHOWN % json.dumps([kinds, clears and clears.elem_id]) if any(kinds) else None
    counted = inputs if clears is None else [*inputs, clears]

    def page_event(*values: Any) -> Any:  # not functools.wraps: Gradio would check the count against fn's signature
        return fn(*values[: len(inputs)])

    model_event(triggers, page_event, counted, outputs, js=js, api_visibility="private", **LIVE)


def sketch_of(digit: np.ndarray) -> dict[str, Any]:
    """A 32x32 white-on-black digit as a Sketchpad value: enlarged, black ink on white paper."""
    paper = Image.fromarray(255 - digit).resize((32 * GALLERY_SCALE,) * 2, Image.Resampling.NEAREST)
    rgba = np.asarray(paper.convert("RGBA"))
    return {"background": rgba, "layers": [], "composite": rgba}


def sketchpad(label: str, elem_id: str) -> gr.Sketchpad:
    """A sketchpad to draw on or to drop a photo onto, whose images Gradio cannot read are refused
    with a message a person understands. (`SKETCHPAD_JS` selects its Brush whenever it is empty.)

    (Gradio's own error names the component index and the pydantic model. Wrapping the instance's
    `preprocess` rather than subclassing: a Gradio component subclass writes a .pyi stub next to
    its source file at import time.)"""
    pad = gr.Sketchpad(
        label=label,
        type="numpy",
        image_mode="RGBA",
        canvas_size=(CANVAS, CANVAS),
        brush=gr.Brush(default_size=18, colors=["#000000"], color_mode="fixed"),
        transforms=(),
        layers=False,
        sources=("upload",),
        elem_id=elem_id,
        elem_classes="sketch",
    )
    preprocess = pad.preprocess

    def readable(payload: Any) -> Any:
        try:
            return preprocess(upright(payload))
        except Image.DecompressionBombError:
            raise gr.Error(
                f"This image is too large: the Space reads images of up to {MAX_PIXELS:,} pixels (4096x4096). Scale it down.",
                print_exception=False,
            ) from None
        except (OSError, ValueError, TypeError) as err:  # UnidentifiedImageError is an OSError
            raise gr.Error(
                f"This file is not an image the Space can read ({type(err).__name__}): send a PNG, JPEG or WebP.",
                print_exception=False,
            ) from None

    pad.preprocess = readable  # type: ignore[method-assign]
    return pad


def upright(payload: Any) -> Any:
    """`payload` (a sketchpad's) with its background photo turned as its EXIF orientation says. A
    phone stores a photo as its sensor read it and tags how to turn it; browsers obey the tag, Gradio's
    editor does not, so through the API an upright 3 arrived on its side and was read as a 6. Most
    pictures carry no tag and pass untouched; a turned one is saved beside the upload, as a PNG."""
    background = getattr(payload, "background", None)
    if background is None or background.path is None:
        return payload
    with Image.open(background.path) as photo:
        if photo.format == "PNG" and "exif" not in photo.info:
            return payload  # drawings: the canvas tags none (looking past a PNG's pixels costs a decode, 0.4 ms)
        if photo.getexif().get(ExifTags.Base.Orientation, 1) == 1:
            return payload
        turned = ImageOps.exif_transpose(photo)
    path = Path(background.path).with_suffix(".upright.png")
    turned.save(path)
    return payload.model_copy(update={"background": background.model_copy(update={"path": str(path), "orig_name": path.name})})


def clear_button(pads: list[gr.Sketchpad], elem_id: str) -> tuple[gr.Button, gr.Number]:
    """A Clear button that empties `pads` through their own trash icons (see `SKETCHPAD_JS`), which
    works every time; each pad's .change then resets the tab's outputs. Also returns the count of its
    clicks, hidden, for the tab's `live` events."""
    button = gr.Button("Clear", elem_id=elem_id, elem_classes="clear")
    clears = gr.Number(0, visible=False, elem_id=f"{elem_id}-count")
    js = f"() => window.clearSketchpads({json.dumps(clears.elem_id)}, {json.dumps([pad.elem_id for pad in pads])})"
    button.click(None, None, clears, js=js, api_visibility="private")
    return button, clears


def written_once(image: gr.Image) -> gr.Image:
    """`image`, writing each distinct picture it shows to Gradio's cache once, whole (PNG only, by
    `png_bytes`: several times faster than Pillow's encoder, see demo/png.py).

    Gradio 6.31 rewrites an output image's cache file in place whenever the same picture is returned
    again (the clean digit on every move of the noise slider, the latent map on every move of its
    sliders), so a browser fetching it meanwhile can get a truncated file. Here a picture already
    cached only has its ctime renewed (by which the cache ages files), and a new one is renamed into place."""
    postprocess = image.postprocess

    def write_once(value: Any) -> Any:
        if not (isinstance(value, np.ndarray) and value.dtype == np.uint8):
            return postprocess(value)
        png = png_bytes(value)
        path = Path(image.GRADIO_CACHE) / processing_utils.hash_bytes(png) / "image.png"
        try:
            stat = path.stat()
            os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # ctime only: the ETag stays
        except FileNotFoundError:  # new, or just swept from the cache
            path.parent.mkdir(parents=True, exist_ok=True)
            partial = path.with_name(f"{uuid.uuid4().hex}.partial")
            partial.write_bytes(png)
            os.replace(partial, path)
        return postprocess(str(path))

    image.postprocess = write_once  # type: ignore[method-assign]
    return image


def digit_image(label: str, height: int = 150, classes: tuple[str, ...] = (), **kwargs: Any) -> gr.Image:
    """An output for exact digit pixels: PNG (not WebP), shown enlarged without smoothing (and with
    the CSS `classes` besides)."""
    return written_once(
        gr.Image(
            label=label,
            format="png",
            type="numpy",
            image_mode="L",
            elem_classes=["pixels", *classes],
            height=height,
            min_width=80,
            buttons=["download"],
            **kwargs,
        )
    )


def variant_radio(variants: list[str], value: str, extra: list[str] | None = None, elem_id: str | None = None) -> gr.Radio:
    return gr.Radio(variants + (extra or []), value=value, label="Model", elem_id=elem_id)


def label_picker(elem_id: str) -> gr.Dropdown:
    """How a conditional model (`cvae`) reads a drawing: "guess" (the label it finds likeliest, and
    it says which) or a digit picked here; the other models take no label and ignore it."""
    return gr.Dropdown([GUESS, *DIGITS], value=GUESS, label="Digit, for cvae (guess: its likeliest label)", elem_id=elem_id)


def digit_gallery(digits: Digits, elem_id: str) -> gr.Gallery:
    """The bundled gallery digits, black on white like the sketchpad."""
    items = [(255 - image, str(label)) for image, label in zip(digits.images, digits.labels)]
    return gr.Gallery(
        items,
        label="MNIST test digits",
        columns=10,
        height="auto",
        allow_preview=False,
        object_fit="contain",
        elem_classes=["pixels", "digit-gallery"],
        elem_id=elem_id,
    )


def with_axis_parameters(fn: Callable[..., Any]) -> Callable[..., Any]:
    """`fn(variant, *coords, digit=...)` as `(variant, axis_1=0, ..., axis_8=0, digit=None)`, the API
    signature of /generate (the digit: what a conditional model draws)."""

    @functools.wraps(fn)
    def positional(variant: str, *values: Any) -> Any:
        return fn(variant, *values[:AXES], digit=values[AXES] if len(values) > AXES else None)

    keyword = inspect.Parameter.POSITIONAL_OR_KEYWORD
    positional.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [inspect.Parameter("variant", keyword, annotation=str)]
        + [inspect.Parameter(f"axis_{i + 1}", keyword, default=0.0, annotation=float) for i in range(AXES)]
        + [inspect.Parameter("digit", keyword, default=None, annotation=str | None)]
    )
    return positional


def picks(picker: gr.Gallery, gallery: Digits, sketch: gr.Sketchpad) -> Any:
    """A click on a gallery digit puts it on the sketchpad. Returns the trigger that fires once it is
    there, for the tab's `live` event: setting the sketchpad from Python does not fire its .change,
    so the pick also counts itself in a hidden Number, whose .change does. (Not a State: a State
    keeps a heartbeat connection open for as long as the page is.)"""
    count = gr.Number(0, visible=False)

    @friendly
    def pick(picked: int, evt: gr.SelectData) -> tuple[dict[str, Any], int]:
        """The gallery digit clicked, as a sketch."""
        return sketch_of(gallery.images[int(evt.index)]), picked + 1

    picker.select(pick, count, [sketch, count], api_visibility="private")
    return count.change


def reconstruct_tab(endpoints: Endpoints) -> None:
    with gr.Row(elem_classes="pad-first"):
        with gr.Column(scale=1):
            sketch = sketchpad("Draw a digit", elem_id="reconstruct-sketch")
            variant = variant_radio(endpoints.variants, "deep", [ALL], elem_id="reconstruct-variant")
            digit = label_picker(elem_id="reconstruct-digit")
            clears = clear_button([sketch], elem_id="reconstruct-clear")[1]
        with gr.Column(scale=1):
            with gr.Row():
                seen = digit_image("What the model sees (32x32)", elem_id="reconstruct-seen")
                output = digit_image("Reconstruction (all: " + " · ".join(endpoints.variants) + ")", elem_id="reconstruction")
            # One colour: Gradio's bar chart keeps the colour domain of its first data, so a chart
            # coloured by model would lose the other models' bars on switching to "all" (it still
            # does with a colour map naming every model: tried). The axis starts at the first unit
            # (left free, Vega padded and rounded it to start at -20; bins of width 1 instead merged
            # the last two units into one bar).
            code = gr.BarPlot(
                x="unit",
                y="value",
                label="Code (all: " + " · ".join(endpoints.charted) + ", left to right; token grids below)",
                height=200,
                x_title="code unit",
                x_lim=[0, None],
                elem_id="reconstruct-code",
            )
            details = gr.Markdown(RECONSTRUCT_HINT, label="Errors", elem_id="reconstruct-details")
    triggers = [sketch.change, sketch.upload, variant.input, digit.input]
    live(triggers, friendly(endpoints.reconstruct), [sketch, variant, digit], [seen, output, code, details], "reconstruct", clears)


def denoise_tab(endpoints: Endpoints, gallery: Digits) -> None:
    with gr.Row(elem_classes="pad-first"):
        with gr.Column(scale=1):
            sketch = sketchpad("Draw a digit", elem_id="denoise-sketch")
            clears = clear_button([sketch], elem_id="denoise-clear")[1]
            picker = digit_gallery(gallery, elem_id="denoise-gallery")
        with gr.Column(scale=1):
            corruption = gr.Radio(list(CORRUPTIONS), value="masking", label="Corruption")
            level = gr.Slider(0, 1, value=0.3, step=0.01, label="Noise level", elem_id="noise-level")
            with gr.Row():
                images = [
                    digit_image(label, elem_id=f"denoise-{i}") for i, label in enumerate(("Clean", "Noisy", "Denoising AE", "Deep AE"))
                ]
            details = gr.Markdown(DENOISE_HINT, label="PSNR", elem_id="denoise-details")
    triggers = [sketch.change, sketch.upload, level.input, corruption.input, picks(picker, gallery, sketch)]
    live(triggers, friendly(endpoints.denoise), [sketch, corruption, level], [*images, details], "denoise", clears)


def generate_tab(endpoints: Endpoints) -> None:
    start_image, start_caption = endpoints.generate("vae")
    start_traversals, traversals_caption = endpoints.traversal_grid("vae")
    with gr.Row(elem_classes="answer-first"):
        with gr.Column(scale=1):
            variant = variant_radio(endpoints.variants, "vae", elem_id="generate-variant")
            # what a model that draws the digit asked for (cvae, vq) draws; shown only for one (empty: cvae: its most
            # typical digit's label, vq: a label drawn as in training)
            digit = gr.Radio(DIGITS, value=None, label="Digit to draw (cvae, vq)", visible=False, elem_id="generate-digit")
            axes = [
                gr.Slider(-AXIS_RANGE, AXIS_RANGE, value=0, step=0.1, label=f"Axis {i + 1} (SD)", elem_id=f"axis-{i + 1}")
                for i in range(AXES)
            ]
            with gr.Row():
                random_button = gr.Button("Random sample", variant="primary", elem_id="random-sample")
                reset_button = gr.Button("Reset", elem_id="generate-reset")
        with gr.Column(scale=1):
            image = digit_image("Decoded", height=200, value=start_image, elem_id="generated", classes=("answer",))
            details = gr.Markdown(start_caption, label="Caption")
            grid = digit_image("Random samples", value=endpoints.sample_grid("vae", 0))
            more = gr.Button("New samples")
            sweeps = digit_image("Latent traversals (variational models)", height=300, value=start_traversals, elem_id="traversals")
            sweeps_caption = gr.Markdown(traversals_caption, label="Traversals", elem_id="traversals-caption")
    triggers = [variant.input, digit.input, *(axis.input for axis in axes)]
    live(triggers, with_axis_parameters(friendly(endpoints.generate)), [variant, *axes, digit], [image, details], "generate")

    @friendly
    def random_sample(variant: str, digit: str | None = None) -> list[Any]:
        """New slider values drawn from N(0, 1), and the digit they decode to."""
        coords = endpoints.random_coordinates()
        return [*coords, *endpoints.generate(variant, *coords, digit=digit)]

    @friendly
    def reset(variant: str, digit: str | None) -> list[Any]:
        return [0.0] * AXES + list(endpoints.generate(variant, digit=digit))

    @friendly
    def sample_grid(variant: str, digit: str | None = None) -> np.ndarray:
        """A new grid of random samples (a conditional model's: of `digit`, else of every digit)."""
        return endpoints.sample_grid(variant, random.randrange(2**31), digit)

    @friendly
    def traversal_grid(variant: str, digit: str | None = None) -> tuple[np.ndarray | None, str]:
        """A variational model's latent traversals: each active unit from -3 to +3 SD, the others fixed."""
        return endpoints.traversal_grid(variant, digit)

    @friendly
    def show_digit(variant: str) -> dict[str, Any]:
        """The digit picker, shown only for a model that draws the digit asked for (cvae, vq)."""
        return gr.update(visible=bool(endpoints.model(variant).sample_classes))

    drawn = [*axes, image, details]
    model_event([random_button.click], random_sample, [variant, digit], drawn, api_name="random_sample")
    model_event([reset_button.click], reset, [variant, digit], drawn, api_visibility="private")
    model_event([more.click, variant.input, digit.input], sample_grid, [variant, digit], [grid], api_name="sample_grid")
    variant.input(show_digit, variant, digit, api_visibility="private")
    model_event([variant.input, digit.input], traversal_grid, [variant, digit], [sweeps, sweeps_caption], api_name="traversals")


def interpolate_tab(endpoints: Endpoints, gallery: Digits) -> None:
    with gr.Row(elem_classes="pad-first"):
        with gr.Column(scale=3):
            with gr.Row(elem_classes="pads"):
                sketch_a = sketchpad("Digit A", elem_id="sketch-a")
                sketch_b = sketchpad("Digit B", elem_id="sketch-b")
            clear, clears = clear_button([sketch_a, sketch_b], elem_id="interpolate-clear")
            target = gr.Radio(["A", "B"], value="A", label="A click on a gallery digit fills", elem_id="interpolate-target")
            clear.click(None, None, target, js="() => 'A'", api_visibility="private")  # the next pick fills A again
            picker = digit_gallery(gallery, elem_id="interpolate-gallery")
        with gr.Column(scale=2):
            strip = digit_image("From A to B", elem_id="interpolation")
            details = gr.Markdown(INTERPOLATE_HINT, label="Caption", elem_id="interpolate-details")
            variant = variant_radio(endpoints.variants, "vae", elem_id="interpolate-variant")
            digit = label_picker(elem_id="interpolate-digit")
            steps = gr.Slider(2, 16, value=8, step=1, label="Steps", elem_id="steps")

    @friendly
    def fill(which: str, evt: gr.SelectData) -> tuple[Any, Any, str]:
        """Put the clicked gallery digit into A or B, then aim the next click at the other (whose
        change, from Python, is what fires the strip's event)."""
        sketch = sketch_of(gallery.images[int(evt.index)])
        return (sketch, gr.skip(), "B") if which == "A" else (gr.skip(), sketch, "A")

    picker.select(fill, target, [sketch_a, sketch_b, target], api_visibility="private")
    triggers = [sketch_a.change, sketch_a.upload, sketch_b.change, sketch_b.upload, variant.input, digit.input, steps.input, target.change]
    live(triggers, friendly(endpoints.interpolate), [sketch_a, sketch_b, variant, steps, digit], [strip, details], "interpolate", clears)


def latent_map_tab(endpoints: Endpoints) -> None:
    start_map, start_digit, start_caption = endpoints.latent_map("deep", 0.0, 0.0)
    with gr.Row(elem_classes="answer-first"):
        with gr.Column(scale=3):
            variant = variant_radio(endpoints.variants, "deep")
            atlas = written_once(
                gr.Image(start_map, label="Click anywhere on the map", format="png", interactive=False, buttons=[], elem_id="latent-map")
            )
        with gr.Column(scale=2):
            x = gr.Slider(-EXTENT, EXTENT, value=0, step=0.05, label="x (SD along the 1st axis)", elem_id="map-x")
            y = gr.Slider(-EXTENT, EXTENT, value=0, step=0.05, label="y (SD along the 2nd axis)", elem_id="map-y")
            digit = digit_image(MAP_DIGIT, height=200, value=start_digit, elem_id="map-digit", classes=("answer",))
            details = gr.Markdown(start_caption, label="Caption")
    live([variant.input, x.input, y.input], friendly(endpoints.latent_map), [variant, x, y], [atlas, digit, details], "latent_map")

    @friendly
    def choose(variant: str, evt: gr.SelectData) -> list[Any]:
        """A click on the map: move the sliders there and decode."""
        point = [round(v, 2) for v in LatentMap.from_pixel(*evt.index)]
        return [*point, *endpoints.latent_map(variant, *point)]

    atlas.select(choose, variant, [x, y, atlas, digit, details], api_visibility="private", **POOL)


def features_tab(endpoints: Endpoints, gallery: Digits) -> None:
    start_grid, start_caption = endpoints.features(None, "deep")
    top_grid, top_caption = endpoints.top_digits("deep", 0)
    with gr.Row(elem_classes="pad-first"):
        with gr.Column(scale=1):
            sketch = sketchpad("Draw a digit", elem_id="features-sketch")
            clears = clear_button([sketch], elem_id="features-clear")[1]
            picker = digit_gallery(gallery, elem_id="features-gallery")
        with gr.Column(scale=1):
            variant = variant_radio(endpoints.variants, "deep", elem_id="features-variant")
            grid = digit_image(
                "What the first layer's units look for (a dictionary: its atoms)", height=400, value=start_grid, elem_id="features"
            )
            details = gr.Markdown(start_caption, label="Caption", elem_id="features-caption")
            unit = gr.Number(0, label="Code unit (a latent)", precision=0, minimum=0, elem_id="features-unit")
            top = digit_image(
                f"The {TOP_DIGITS} bundled test digits that activate it most", height=200, value=top_grid, elem_id="features-top"
            )
            top_details = gr.Markdown(top_caption, elem_id="features-top-caption")
    live(
        [sketch.change, sketch.upload, variant.input, picks(picker, gallery, sketch)],
        friendly(endpoints.features),
        [sketch, variant],
        [grid, details],
        "features",
        clears,
    )
    live([unit.input, unit.submit, variant.input], friendly(endpoints.top_digits), [variant, unit], [top, top_details], "top_digits")


def cache_lifetime() -> tuple[int, int]:
    """(how often, after how many seconds) cached files are deleted: `AUTOENCODERS_CACHE_MINUTES`
    (default 10). Nearly every call of a slider-fed endpoint returns a picture never seen before and a
    browser fetches it at once, so ten minutes bound the cache at ten minutes of traffic (about 40 MB
    at 20 requests/s); Gradio keeps them forever by default."""
    seconds = max(1, round(float(os.environ.get("AUTOENCODERS_CACHE_MINUTES", CACHE_MINUTES)) * 60))
    return min(60, seconds), seconds


def build_demo(endpoints: Endpoints | None = None) -> gr.Blocks:
    """The whole Space. Loads the models (Hub, else bundled) unless `endpoints` is given."""
    Image.MAX_IMAGE_PIXELS = MAX_PIXELS // 2  # PIL refuses images over twice this size before decoding them
    endpoints = endpoints or Endpoints(load_models(), load_digits())
    gallery = endpoints.digits.gallery()
    with gr.Blocks(title="Autoencoders", analytics_enabled=False) as demo:
        gr.Markdown(INTRO)
        with gr.Accordion("Models: where each came from, and what its model card reports", open=False):
            gr.Markdown(endpoints.models_markdown())
        with gr.Tab("Reconstruct"):
            reconstruct_tab(endpoints)
        with gr.Tab("Denoise"):
            denoise_tab(endpoints, gallery)
        with gr.Tab("Generate"):
            generate_tab(endpoints)
        with gr.Tab("Interpolate"):
            interpolate_tab(endpoints, gallery)
        with gr.Tab("Latent map"):
            latent_map_tab(endpoints)
        with gr.Tab("Features"):
            features_tab(endpoints, gallery)
    # After every event Gradio summarises its event history with pandas (10-30 ms of CPU, growing with
    # up to 10,000 remembered events) for a monitoring page this Space does not use: do it rarely.
    os.environ.setdefault("GRADIO_ANALYTICS_CACHE_FREQUENCY", "1000")
    os.environ.setdefault("GRADIO_ANALYTICS_MAX_EVENTS", "1000")
    demo.queue(default_concurrency_limit=WORKERS, max_size=QUEUE_SIZE)
    start_janitor(demo, *cache_lifetime())  # not Gradio's delete_cache: see demo/cache.py
    return demo
