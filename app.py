"""Hugging Face Space entry point (the demo lands with the Space issue)."""
