"""Errors a user can act on: which input, what is wrong, what to do.

Stage code raises these (or wraps library errors in them) so the CLI prints one
line and the batch runner records the reason in the manifest instead of a
traceback from deep inside a library.
"""
from __future__ import annotations


class SignBridgeError(Exception):
    """Base class. ``str()`` is the one-line message shown to users.

    ``permanent``: no retry can fix it (a bad key, a bad setting, a broken file, missing credentials),
    so an Airflow task fails at once instead of going through its retries; transient ones (a network
    blip, a 5xx) are retried with backoff.
    """

    permanent = True

    def __init__(self, message: str, *, source: str | None = None, hint: str | None = None,
                 permanent: bool | None = None):
        self.message = message
        self.source = source
        self.hint = hint
        if permanent is not None:
            self.permanent = permanent
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

    permanent = False  # unreachable or 5xx until a backend says otherwise


class InvalidKeyError(StorageError):
    """A key tries to leave its prefix (``..``, absolute path, backslashes, control chars)."""

    permanent = True


class RunCancelled(SignBridgeError):
    """The user stopped ``signbridge process`` (SIGINT/SIGTERM)."""


class SchemaError(SignBridgeError):
    """A table or document does not match its data contract."""


class InputError(SignBridgeError):
    """An input video or file cannot be used (empty, truncated, not a video, ...)."""


class NoSignerError(SignBridgeError):
    """The video is readable but no person/signing was detected."""


class ModelError(SignBridgeError):
    """A model/checkpoint cannot be loaded or does not fit the data."""
