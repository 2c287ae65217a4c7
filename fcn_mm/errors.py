"""The root of every error fcn_mm raises on purpose.

Each error class of fcn_mm subclasses :class:`FcnMmError` beside the built-in
class it had before (``ValueError``, ``RuntimeError``, ...), so that code
catching the old base keeps working and the tools catch all of them in one
place (:func:`fcn_mm.apis.cli.expected_error_message`). Each message names
the file or config key, what was expected, what was found and the fix.
"""

__all__ = [
    'ConfigArgumentError', 'ConfigError', 'FcnMmError', 'MissingConfigKeyError'
]


class FcnMmError(Exception):
    """An error fcn_mm raises on purpose; its message says what to do."""


class ConfigError(FcnMmError, ValueError):
    """A config, with the command line's options, that cannot run."""


class ConfigArgumentError(ConfigError):
    """Config entries pass keyword arguments that their class does not take
    (a typo such as ``default_hooks.checkpoint.intervall``)."""


class MissingConfigKeyError(ConfigError, KeyError):
    """A config lacks a key that a tool option needs.

    A ``KeyError``, as before; unlike ``KeyError`` it prints its message
    without quotes.
    """

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ''
