"""Classic autoencoders (simple, deep, denoising, sparse, conv, VAE) that load and save like any
Hugging Face model, built from parts anyone can register."""

from .config import AutoEncoderConfig
from .hub import CheckpointError
from .model import AutoEncoder, AutoEncoderOutput
from .parts import Bottleneck, Decoder, Encoder, PartSpec, register, registered
from .variants import VARIANTS

__all__ = [
    "VARIANTS",
    "AutoEncoder",
    "AutoEncoderConfig",
    "AutoEncoderOutput",
    "Bottleneck",
    "CheckpointError",
    "Decoder",
    "Encoder",
    "PartSpec",
    "register",
    "registered",
]
__version__ = "0.2.0"
