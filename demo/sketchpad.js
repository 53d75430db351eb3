() => {
    // Gradio 6.31 gives a sketchpad its image (upload) tool whenever the sketchpad is empty: when the
    // page opens, after its trash icon, after a Clear. A drag on the canvas then selects the placeholder
    // text instead of drawing. Select the Brush then, unless the visitor chose the image tool to upload.
    const tools = (pad) => pad.querySelectorAll(".toolbar-wrap .half-container:first-child > button"); // image, brush, eraser
    const trash = (pad) => [...pad.querySelectorAll(".top-panel > button")].at(-1);
    const choseImageTool = new WeakSet();

    document.addEventListener("click", (event) => {
        const button = event.target.closest?.(".sketch .toolbar-wrap button, .sketch .top-panel > button");
        if (!button) return;
        const pad = button.closest(".sketch");
        if (event.isTrusted && button === tools(pad)[0]) choseImageTool.add(pad);
        else choseImageTool.delete(pad);
    }, true);

    const selectBrushes = () => {
        for (const pad of document.querySelectorAll(".sketch")) {
            const [image, brush] = tools(pad);
            if (image && brush && image.classList.contains("highlight") && !choseImageTool.has(pad)) brush.click();
        }
    };
    new MutationObserver(selectBrushes).observe(document.body, {
        subtree: true, childList: true, attributes: true, attributeFilter: ["class"],
    });

    // Photos: a phone's 12-megapixel photo comes back from the canvas as PNGs of 20 MB and more, over
    // the Space's 2 MB upload limit, and the upload failed without a word. A picture chosen for a
    // sketchpad or dropped on it is shrunk to MAX_SIDE pixels a side before the sketchpad takes it:
    // its PNGs then stay under 2 MB (640 x 640 x 4 bytes at most) and the digit keeps some 200 pixels.
    // The event is held back, and sent again with the shrunk picture.
    const MAX_SIDE = 640;
    const sentAgain = new WeakSet();
    const shrink = async (file) => {
        const bitmap = await createImageBitmap(file); // upright, as the photo's EXIF orientation says; throws if unreadable
        const scale = MAX_SIDE / Math.max(bitmap.width, bitmap.height);
        if (scale >= 1) {
            bitmap.close();
            return file;
        }
        const canvas = document.createElement("canvas");
        canvas.width = Math.max(1, Math.round(bitmap.width * scale));
        canvas.height = Math.max(1, Math.round(bitmap.height * scale));
        const context = canvas.getContext("2d");
        context.imageSmoothingQuality = "high";
        context.drawImage(bitmap, 0, 0, canvas.width, canvas.height);
        bitmap.close();
        const blob = await new Promise((resolve) => canvas.toBlob(resolve, "image/png"));
        return new File([blob], file.name.replace(/\.[^.]*$/, "") + ".png", {type: "image/png"});
    };
    // A file the browser cannot read as a picture (a damaged file, an iPhone's HEIC photo in Chrome)
    // left the pad as it was, without a word: say so, in a note that goes by itself.
    const tell = (message) => {
        const note = document.createElement("div");
        note.className = "picture-note";
        note.setAttribute("role", "alert");
        note.textContent = message;
        Object.assign(note.style, {
            position: "fixed", top: "16px", right: "16px", zIndex: 1000, maxWidth: "min(420px, calc(100vw - 32px))",
            padding: "12px 16px", borderRadius: "8px", border: "1px solid var(--error-border-color, #ef4444)",
            background: "var(--background-fill-primary, white)", color: "var(--body-text-color, black)",
            boxShadow: "0 4px 12px rgba(0, 0, 0, 0.25)", fontSize: "14px",
        });
        (document.querySelector(".gradio-container") ?? document.body).append(note);
        setTimeout(() => note.remove(), 10000);
    };
    const shrunk = async (files) => {
        const transfer = new DataTransfer();
        for (const file of files) {
            try {
                transfer.items.add(await shrink(file));
            } catch {
                const heic = /\.hei[cf]$/i.test(file.name) ? " (an iPhone takes JPEGs with Settings › Camera › Formats › Most Compatible)" : "";
                tell(`Your browser cannot read "${file.name}" as a picture. Send a JPEG, PNG or WebP${heic}.`);
            }
        }
        return transfer;
    };
    document.addEventListener("change", (event) => {
        const input = event.target;
        if (sentAgain.has(event) || input?.type !== "file" || !input.closest(".sketch") || !input.files?.length) return;
        event.stopImmediatePropagation();
        shrunk([...input.files]).then((transfer) => {
            input.files = transfer.files;
            if (!transfer.files.length) return; // nothing readable: the pad stays as it was
            const again = new Event("change", {bubbles: true});
            sentAgain.add(again);
            input.dispatchEvent(again);
        });
    }, true);
    document.addEventListener("drop", (event) => {
        const target = event.target;
        if (sentAgain.has(event) || !target.closest?.(".sketch") || !event.dataTransfer?.files.length) return;
        event.preventDefault();
        event.stopImmediatePropagation();
        shrunk([...event.dataTransfer.files]).then((transfer) => {
            if (!transfer.files.length) return;
            const again = new DragEvent("drop", {bubbles: true, cancelable: true, dataTransfer: transfer,
                                                 clientX: event.clientX, clientY: event.clientY});
            sentAgain.add(again);
            target.dispatchEvent(again);
        });
    }, true);

    // Gradio 6.31's image editor uploads its pictures (background, strokes, composite) anew each time
    // the page gathers an event's inputs or updates a loading status: some 18 uploads a stroke, and
    // dozens after a photo, of the same three pictures. The server files an upload under its content's
    // hash, so an upload of the same files made in the last REUSE_MS gets the server's own earlier
    // answer here (or shares the one still on its way) instead of going out again. Uploads with
    // progress (a file chosen in the file dialog) and pages without Web Crypto (plain http to another
    // machine) go out as they are.
    const REUSE_MS = 5000; // a stroke's repeats come within 2 s; far inside the cache lifetime (the files are still there)
    const answers = new Map(); // the files' names and SHA-256 -> {time, text: Promise of the answer's body}
    const sendAsIs = window.fetch.bind(window);
    const hex = (buffer) => [...new Uint8Array(buffer)].map((byte) => byte.toString(16).padStart(2, "0")).join("");
    const fingerprint = async (files) =>
        (await Promise.all(files.map(async (file) => `${file.name}:${hex(await crypto.subtle.digest("SHA-256", await file.arrayBuffer()))}`))).join("|");
    window.fetch = async (resource, options) => {
        const url = typeof resource === "string" ? resource : resource instanceof URL ? resource.href : "";
        const files = options?.body instanceof FormData ? options.body.getAll("files") : [];
        if (!/\/gradio_api\/upload$/.test(url) || !files.length || !files.every((file) => file instanceof File) || !crypto.subtle)
            return sendAsIs(resource, options);
        const key = await fingerprint(files);
        const now = performance.now();
        for (const [old, answer] of answers) if (now - answer.time > REUSE_MS) answers.delete(old);
        const earlier = answers.get(key);
        if (earlier) return new Response(await earlier.text, {status: 200, headers: {"Content-Type": "application/json"}});
        const response = sendAsIs(resource, options);
        const text = response.then((r) => (r.ok ? r.clone().text() : Promise.reject(r.status)));
        answers.set(key, {time: now, text});
        text.catch(() => answers.delete(key)); // a refused upload is not remembered
        return response;
    };

    // The Clear buttons: empty each sketchpad through its own trash icon, which resets its canvas every
    // time (setting the value to None from Python works only once: a second None is no change). Counts
    // the Clears of each button under `key` and returns the count, which the tab's live events read
    // with their other inputs (see AS_SHOWN in ui.py).
    window.sketchpadClears = {};
    window.clearSketchpads = (key, ids) => {
        for (const id of ids) {
            const pad = document.getElementById(id);
            if (pad) trash(pad)?.click();
        }
        window.sketchpadClears[key] = (window.sketchpadClears[key] ?? 0) + 1;
        return window.sketchpadClears[key];
    };
}
