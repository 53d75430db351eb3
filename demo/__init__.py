"""The Gradio Space: sketch, denoise, generate, interpolate and map digits with the bundled autoencoders."""
