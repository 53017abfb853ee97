"""vqtalker: multilingual talking avatars through facial motion tokenization.

Layout follows the paper's figure::

    quantize/  -> motion/ (stage 1)  -> speech/ -> generate/ (stage 2) -> pipeline -> cli

Importing the package is cheap: no heavy modules, no weights, no network.
"""

__version__ = "0.1.0"

from vqtalker.errors import VQTalkerError  # noqa: E402

__all__ = ["VQTalkerError", "__version__"]
