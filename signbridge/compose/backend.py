"""What every composer backend receives and returns (rules, SmolLM2 in process, vLLM).

Kept apart from :mod:`signbridge.compose.core`, which picks a backend, so the backends import this
contract and not the module that imports them.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, Sequence

from signbridge.errors import SignBridgeError


@dataclass
class Item:
    """One sentence-sized group of spans, as every backend receives it."""

    labels: list[str]
    confidences: list[float]
    starts_ms: list[float] = field(default_factory=list)
    ends_ms: list[float] = field(default_factory=list)
    draft: str = ""


class Backend(Protocol):
    name: str
    model: str
    prompt_version: str

    def generate(self, items: Sequence[Item]) -> list[str | None]:
        """One batched call; ``None`` for an item the backend could not produce."""


class BackendUnavailable(SignBridgeError):
    """The configured backend cannot run here (package missing, no endpoint); rules take over."""
