"""User-facing errors.

Anything raised as :class:`VQTalkerError` is printed by the CLI as a single ``error: ...`` line and the
process exits with status 2. Use it for bad input and missing files, never for programming errors.
"""


class VQTalkerError(Exception):
    """An error caused by the user's input or environment, with a message that says how to fix it."""


class MissingWeightsError(VQTalkerError):
    """A component needs a local weights file that is not present (we never download at run time)."""
