"""The exceptions that mean "the user's input is unusable": each message names the file or key.

A leaf module (imports nothing of onehead), so every entry point can catch these without
importing the code that raises them.
"""


class ConfigError(ValueError):
    """A params file or value that cannot be used; the message names the file and key."""


class DataError(ValueError):
    """Data that cannot be used; the message names the file and the problem."""


class CheckpointError(ValueError):
    """A checkpoint that cannot be used; the message names the file (and the key)."""


class MissingWeightsError(RuntimeError):
    """Pretrained weights asked for but not installed."""


USER_ERRORS = (ConfigError, DataError, CheckpointError, MissingWeightsError, FileNotFoundError)
