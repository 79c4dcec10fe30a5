"""dsvae: the Disentangled Sequential Autoencoder (Li & Mandt, ICML 2018)."""

from .config import DSVAEConfig
from .model import DSVAE, DSVAEOutput, Posterior

__version__ = "0.1.0"
__all__ = ["DSVAE", "DSVAEConfig", "DSVAEOutput", "Posterior", "__version__"]
