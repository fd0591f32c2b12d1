"""Errors a user can act on: which input, what is wrong, what to do.

Stage code raises these (or wraps library errors in them) so the CLI prints one
line and the batch runner records the reason in the manifest instead of a
traceback from deep inside a library.
"""
from __future__ import annotations


class SignBridgeError(Exception):
    """Base class. ``str()`` is the one-line message shown to users."""

    def __init__(self, message: str, *, source: str | None = None, hint: str | None = None):
        self.message = message
        self.source = source
        self.hint = hint
        super().__init__(self.__str__())

    def __str__(self) -> str:
        parts = []
        if self.source:
            parts.append(f"{self.source}: ")
        parts.append(self.message)
        if self.hint:
            parts.append(f" ({self.hint})")
        return "".join(parts)


class ConfigError(SignBridgeError):
    """A setting or flag is invalid."""


class StorageError(SignBridgeError):
    """Object storage is unreachable, refused the request, or a key is invalid."""


class InvalidKeyError(StorageError):
    """A key tries to leave its prefix (``..``, absolute path, backslashes, control chars)."""


class SchemaError(SignBridgeError):
    """A table or document does not match its data contract."""


class InputError(SignBridgeError):
    """An input video or file cannot be used (empty, truncated, not a video, ...)."""


class NoSignerError(SignBridgeError):
    """The video is readable but no person/signing was detected."""


class ModelError(SignBridgeError):
    """A model/checkpoint cannot be loaded or does not fit the data."""
