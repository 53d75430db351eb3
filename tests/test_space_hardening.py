"""The Space under abuse and load: hostile inputs to every endpoint get a message each (never a
crash, never a traceback), the limits are set, and concurrent clients get answers with no errors.
The full 50 clients x 20 calls run is `benchmarks/space_latency.py`; a smaller one runs here."""

import json
import threading
from pathlib import Path

import gradio as gr
import httpx
import numpy as np
import pytest
from conftest import render_sketch, sketch_payload
from PIL import Image

from benchmarks.space_latency import run_load, write_sketches
from demo.gate import FirstComeGate
from demo.preprocess import MAX_PIXELS
from demo.ui import LAUNCH_OPTIONS, QUEUE_SIZE, WORKERS, written_once

GENERIC = "has not enabled verbose error reporting"


def assert_friendly(message: str) -> None:
    """A message a person can read: present, short, and no traceback."""
    assert message and GENERIC not in message, message
    assert "Traceback" not in message and 'File "' not in message, message
    assert len(message) < 1500, message


def expect_message(client, *args, api_name: str) -> str:
    """Call an endpoint with bad input: it must answer with a message, as an error or a hint."""
    try:
        result = client.predict(*args, api_name=api_name)
    except Exception as err:
        message = str(err)
    else:
        message = result[-1] if isinstance(result, tuple) else str(result)
    assert_friendly(message)
    return message


@pytest.fixture(scope="module")
def files(tmp_path_factory, mnist_test):
    """Hostile and odd files, and one good sketch."""
    folder = tmp_path_factory.mktemp("hostile")
    digit = mnist_test[0][3, 0, 2:30, 2:30].numpy()
    paths = {"good": render_sketch(digit, folder / "good.png")}

    def save(name: str, image: Image.Image, **kwargs) -> None:
        paths[name] = folder / name
        image.save(paths[name], **kwargs)

    save("1x1.png", Image.new("RGBA", (1, 1), (0, 0, 0, 255)))
    huge = Image.new("L", (8000, 8000), 0)
    huge.paste(255, (3000, 2000, 5000, 6000))
    save("8000x8000.png", huge)
    nan = np.full((64, 64), np.nan, np.float32)
    nan[10:50, 28:36] = np.inf
    save("nan_inf.tiff", Image.fromarray(nan, "F"))
    save("16bit.png", Image.fromarray(digit.astype(np.uint16) * 257))
    save("1bit.png", Image.fromarray(digit > 128))
    save("palette.png", Image.fromarray(255 - digit).convert("P"))
    save("cmyk.jpg", Image.fromarray(255 - digit).convert("CMYK"))
    save("grey_alpha.png", Image.fromarray(np.stack([np.zeros_like(digit), digit], axis=2), "LA"))
    save("rgb_white_on_black.png", Image.fromarray(np.repeat(digit[..., None], 3, axis=2)))
    save("blank.png", Image.new("RGBA", (280, 280), (255, 255, 255, 255)))
    paths["not_an_image.png"] = folder / "not_an_image.png"
    paths["not_an_image.png"].write_text("this is not an image\n" * 20)
    noise = np.random.default_rng(0).integers(0, 256, (1200, 1200, 3), dtype=np.uint8)
    save("too_big_file.png", Image.fromarray(noise))  # ~4 MB: over the upload limit
    return paths


BAD_SKETCHES = {
    "string": "hello",
    "number": 42,
    "list": [1, 2, 3],
    "layers not a list": {"background": None, "layers": "x", "composite": None},
    "layer not a file": {"background": None, "layers": [{"path": 5}], "composite": None},
}


def test_hostile_files_get_messages_and_odd_formats_work(client, files):
    messages = {}
    for name, path in files.items():
        if name == "too_big_file.png":
            continue
        messages[name] = expect_message(client, sketch_payload(path), "deep", api_name="/reconstruct")
    assert "1x1" in messages["1x1.png"]
    assert "too large" in messages["8000x8000.png"]
    assert "Draw a digit" in messages["blank.png"]
    for odd in ("good", "nan_inf.tiff", "16bit.png", "1bit.png", "palette.png", "cmyk.jpg", "grey_alpha.png", "rgb_white_on_black.png"):
        assert "squared error" in messages[odd], (odd, messages[odd])  # reconstructed, not refused
    assert "not an image" in messages["not_an_image.png"]


def test_upload_over_the_size_limit_is_refused(client, files, space):
    big = files["too_big_file.png"]
    assert big.stat().st_size > 2 * 1024 * 1024
    message = expect_message(client, sketch_payload(big), "deep", api_name="/reconstruct")  # gradio_client checks first
    assert "maximum file size" in message
    with big.open("rb") as file:  # and the server refuses it from any other client
        response = httpx.post(space.local_url + "gradio_api/upload", files={"files": ("big.png", file, "image/png")})
    assert response.status_code == 413 and "maximum" in response.text.lower()


@pytest.mark.parametrize("name", list(BAD_SKETCHES))
def test_malformed_sketches_get_messages(client, name):
    for api_name, args in (("/reconstruct", ["deep"]), ("/denoise", ["masking", 0.5]), ("/features", ["sparse"])):
        expect_message(client, BAD_SKETCHES[name], *args, api_name=api_name)


def test_bad_choices_and_out_of_range_values_get_messages(client, files):
    good = sketch_payload(files["good"])
    cases = [
        ("/reconstruct", [good, "nope"]),
        ("/reconstruct", [good, None]),
        ("/denoise", [good, "fire", 0.5]),
        ("/denoise", [good, "masking", 5.0]),
        ("/denoise", [good, "masking", -1]),
        ("/denoise", [good, "masking", "loud"]),
        ("/denoise", [good, "masking", None]),
        ("/generate", ["vae", 100, 0, 0, 0, 0, 0, 0, 0]),
        ("/generate", ["vae", "x", 0, 0, 0, 0, 0, 0, 0]),
        ("/generate", ["nope", 0, 0, 0, 0, 0, 0, 0, 0]),
        ("/generate", ["vae"]),
        ("/interpolate", [good, good, "vae", 1000]),
        ("/interpolate", [good, None, "vae", 8]),
        ("/interpolate", [good, good, "deep", 0]),
        ("/latent_map", ["deep", 50, 0]),
        ("/latent_map", ["deep", None, None]),
        ("/latent_map", [None, 0, 0]),
        ("/features", [good, "nope"]),
        ("/features", [good, None]),
        ("/random_sample", ["nope"]),
        ("/sample_grid", [3.5]),
    ]
    for api_name, args in cases:
        expect_message(client, *args, api_name=api_name)


def raw_call(space, api_name: str, body: str, route: str = "call") -> tuple[str, str]:
    """POST a raw JSON body (NaN and Infinity are not valid JSON, so gradio_client cannot send
    them) to Gradio's HTTP API: the queued `call` route, or the `run` route the page takes (answered
    in the response); returns the final event and its data."""
    base = space.local_url.rstrip("/") + "/gradio_api"
    with httpx.Client(timeout=60) as http:
        if route == "run":
            response = http.post(f"{base}/run/{api_name}", content=body, headers={"content-type": "application/json"})
            if response.status_code == 200:
                return "complete", response.text
            error = response.json().get("error") if response.headers.get("content-type", "").startswith("application/json") else None
            return ("error", json.dumps(error)) if isinstance(error, str) else ("http", f"{response.status_code}: {response.text}")
        response = http.post(f"{base}/call/{api_name}", content=body, headers={"content-type": "application/json"})
        if response.status_code != 200:
            return "http", f"{response.status_code}: {response.text}"
        event = ""
        with http.stream("GET", f"{base}/call/{api_name}/{response.json()['event_id']}") as stream:
            for line in stream.iter_lines():
                if line.startswith("event:"):
                    event = line[6:].strip()
                elif line.startswith("data:") and event in ("complete", "error"):
                    return event, line[5:].strip()
    return "none", ""


@pytest.mark.parametrize(
    "api_name, data",
    [
        ("denoise", '[null, "masking", NaN]'),
        ("denoise", '[null, "masking", Infinity]'),
        ("generate", '["vae", NaN, 0, 0, 0, 0, 0, 0, 0, "3"]'),
        ("generate", '["vae", -Infinity, 0, 0, 0, 0, 0, 0, 0, "3"]'),
        ("interpolate", '[null, null, "vae", NaN, "guess"]'),
        ("latent_map", '["deep", NaN, Infinity]'),
        ("reconstruct", '[{"background": null, "layers": [NaN], "composite": null}, "deep", "guess"]'),
        ("reconstruct", '{"not": "a list"}'),
        ("reconstruct", '[{"background": {"path": "/etc/passwd", "meta": {"_type": "gradio.FileData"}}}, "deep", "guess"]'),
    ],
)
@pytest.mark.parametrize("route", ["call", "run"])
def test_nan_and_inf_values_get_messages(space, api_name, data, route):
    event, message = raw_call(space, api_name, '{"data": ' + data + "}" if data.startswith("[") else data, route)
    assert event in ("error", "http"), (event, message)
    assert_friendly(json.loads(message) if message.startswith('"') else message)


def test_the_space_keeps_serving_after_the_abuse(client, files):
    seen, output, code, details = client.predict(sketch_payload(files["good"]), "conv", api_name="/reconstruct")
    assert np.asarray(Image.open(output)).shape == (32, 32) and "squared error" in details


def test_limits_are_set_on_purpose(space, client):
    client.predict("deep", 0.0, 0.0, api_name="/latent_map")  # the queue makes its worker groups on first use
    assert space.max_file_size == 2 * 1024 * 1024
    assert LAUNCH_OPTIONS["max_file_size"] == "2mb"
    assert space._queue.max_size == QUEUE_SIZE
    assert space.state_session_capacity == LAUNCH_OPTIONS["state_session_capacity"] == 1000
    model_events = [fn for fn in space.fns.values() if fn.concurrency_id == "models"]
    assert {fn.api_name for fn in model_events} >= {"reconstruct", "denoise", "generate", "interpolate", "latent_map", "features"}
    assert {fn.concurrency_limit for fn in model_events} == {WORKERS}
    assert not any(fn.queue for fn in model_events)  # the page's calls skip the queue: one request each
    assert space.max_threads == LAUNCH_OPTIONS["max_threads"] == WORKERS
    assert space._queue.event_queue_per_concurrency_id["models"].concurrency_limit == WORKERS
    gates = [m for m in space.server_app.user_middleware if m.cls is FirstComeGate]
    assert [(m.kwargs["prefixes"], m.kwargs["limit"]) for m in gates] == [(("/gradio_api/run/",), WORKERS)]
    live = [fn for fn in model_events if fn.api_name in {"reconstruct", "denoise", "generate", "interpolate", "latent_map", "features"}]
    assert not any(fn.preprocess or fn.postprocess for fn in live)  # one task each on the threads, not one per component
    assert Image.MAX_IMAGE_PIXELS * 2 == MAX_PIXELS  # PIL refuses larger images before decoding them


def test_a_picture_shown_again_is_never_rewritten_while_a_browser_may_read_it():
    """Gradio 6.31 rewrites a cached output image in place when the same picture comes back (the clean
    digit on every noise-slider move): a reader meanwhile got truncated files (the server logged
    "Response content longer than Content-Length" under fast slider moves)."""
    image = written_once(gr.Image(format="png", type="numpy", image_mode="L"))
    digit = (np.random.default_rng(0).random((280, 280)) * 255).astype(np.uint8)
    path = Path(image.postprocess(digit).path)
    before = path.stat()
    sizes, done = [], threading.Event()

    def read_while_shown_again() -> None:
        while not done.is_set():
            sizes.append(len(path.read_bytes()))

    reader = threading.Thread(target=read_while_shown_again)
    reader.start()
    for _ in range(300):
        assert image.postprocess(digit).path == str(path)
    done.set()
    reader.join()
    after = path.stat()
    assert sizes and set(sizes) == {before.st_size}
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert np.array_equal(np.asarray(Image.open(path)), digit)
    assert image.postprocess(255 - digit).path != str(path)
    assert not list(path.parent.glob("*.partial"))


@pytest.mark.parametrize("kind", ["gradio_client", "http", "direct"])
def test_concurrent_clients_get_answers_without_errors(space, tmp_path, kind):
    """The load test in small: 10 concurrent clients x 5 calls round the five endpoints."""
    result = run_load(space.local_url, clients=10, calls=5, kind=kind, sketches=write_sketches(tmp_path, 4))
    assert result["errors"] == 0, result["error_samples"]
    assert sum(stats["count"] for stats in result["endpoints"].values()) == 50
    assert result["arrival"]["calls"] == 10  # each client's first call, measured apart


def test_the_gate_lets_the_page_calls_in_a_few_at_a_time_in_the_order_they_came():
    """`FirstComeGate` under 12 simultaneous model calls and 3 other requests: at most `limit` calls run
    at once, they start in arrival order, and the other requests do not wait for them."""
    import asyncio

    running, most, started, passed = [0], [0], [], []

    async def app(scope, receive, send):
        if not scope["path"].startswith("/gradio_api/run/"):
            passed.append(scope["path"])
            return
        running[0] += 1
        most[0] = max(most[0], running[0])
        started.append(scope["path"])
        await asyncio.sleep(0.01)
        running[0] -= 1

    async def main() -> None:
        gate = FirstComeGate(app, prefixes=("/gradio_api/run/",), limit=2)
        calls = [asyncio.create_task(gate({"type": "http", "path": f"/gradio_api/run/{i}"}, None, None)) for i in range(12)]
        await asyncio.sleep(0)  # every call has reached the gate
        others = [asyncio.create_task(gate({"type": "http", "path": f"/gradio_api/upload?{i}"}, None, None)) for i in range(3)]
        await asyncio.wait_for(asyncio.gather(*others), 0.005)  # through, while ten calls still wait
        assert len(started) == 2
        await asyncio.gather(*calls)

    asyncio.run(main())
    assert most[0] == 2
    assert started == [f"/gradio_api/run/{i}" for i in range(12)]
    assert len(passed) == 3
    with pytest.raises(ValueError, match="at least one"):
        FirstComeGate(app, prefixes=("/gradio_api/run/",), limit=0)


def test_a_one_task_event_gets_and_gives_values_as_gradio_would_have_processed_them(tmp_path):
    """`processed_in_one_task`: the inputs reach the function as the components' `preprocess` makes
    them, and the outputs leave as their `postprocess` makes them, a `gr.update`'s value included."""
    from demo.ui import processed_in_one_task

    digit = (np.arange(28 * 28).reshape(28, 28) % 256).astype(np.uint8)
    Image.fromarray(digit).save(tmp_path / "digit.png")
    source, level = gr.Image(type="numpy", image_mode="L"), gr.Slider(0, 1)
    shown, caption = gr.Image(type="numpy", image_mode="L", format="png"), gr.Markdown()
    seen = []

    def fn(image: np.ndarray, value: float) -> tuple[np.ndarray, dict]:
        seen.append((image, value))
        return 255 - image, gr.update(value=f"level {value}", visible=True)

    run = processed_in_one_task(fn, [source, level], [shown, caption])
    picture, update = run({"path": str(tmp_path / "digit.png"), "meta": {"_type": "gradio.FileData"}}, 0.5)
    np.testing.assert_array_equal(seen[0][0], digit)
    assert seen[0][1] == 0.5
    np.testing.assert_array_equal(np.asarray(Image.open(picture["path"])), 255 - digit)
    assert update == {"__type__": "update", "value": "level 0.5", "visible": True}
    assert processed_in_one_task(lambda value: value * 2, [level], [level])(0.25) == 0.5  # one output: not in a list

    def picked(value: float, evt: gr.SelectData) -> float:
        return value

    with pytest.raises(ValueError, match="evt"):  # the wrapper hides what Gradio would inject
        processed_in_one_task(picked, [level], [level])
