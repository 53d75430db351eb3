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
