"""Classic autoencoders (simple, deep, denoising, sparse, conv, VAE) that load and save like any
Hugging Face model."""

from .config import AutoEncoderConfig
from .model import AutoEncoder, AutoEncoderOutput, CheckpointError
from .variants import VARIANTS

__all__ = ["AutoEncoder", "AutoEncoderConfig", "AutoEncoderOutput", "CheckpointError", "VARIANTS"]
__version__ = "0.1.0"
