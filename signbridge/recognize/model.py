"""The sign classifier: a small transformer encoder with a cosine classifier head.

The head compares an L2-normalised embedding with one unit vector per class, so
a class *is* a prototype in embedding space. That is what makes few-shot
vocabulary work without retraining: a new gloss is the mean embedding of its
example clips, scored exactly like the trained classes.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F


@dataclass(frozen=True)
class ModelConfig:
    n_features: int
    n_classes: int
    n_steps: int = 24
    d_model: int = 64
    n_layers: int = 2
    n_heads: int = 4
    ff_mult: int = 2
    dropout: float = 0.2
    scale: float = 16.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "ModelConfig":
        return cls(**{k: d[k] for k in cls.__dataclass_fields__ if k in d})


class SignEncoder(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        d = cfg.d_model
        self.inp = nn.Sequential(nn.Linear(cfg.n_features, d), nn.LayerNorm(d), nn.GELU(), nn.Dropout(cfg.dropout),
                                 nn.Linear(d, d))
        self.pos = nn.Parameter(torch.zeros(1, cfg.n_steps, d))
        nn.init.trunc_normal_(self.pos, std=0.02)
        layer = nn.TransformerEncoderLayer(d, cfg.n_heads, d * cfg.ff_mult, cfg.dropout, activation="gelu",
                                           batch_first=True, norm_first=True)
        self.enc = nn.TransformerEncoder(layer, cfg.n_layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(d)
        self.proj = nn.Linear(2 * d, d)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.enc(self.inp(x) + self.pos)
        h = self.norm(h)
        pooled = torch.cat([h.mean(dim=1), h.amax(dim=1)], dim=-1)
        return F.normalize(self.proj(pooled), dim=-1)


class SignClassifier(nn.Module):
    """Encoder + cosine head; ``forward`` returns (logits, embedding)."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        self.encoder = SignEncoder(cfg)
        self.weight = nn.Parameter(torch.randn(cfg.n_classes, cfg.d_model) * 0.1)
        self.scale = cfg.scale

    def prototypes(self) -> torch.Tensor:
        return F.normalize(self.weight, dim=-1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        emb = self.encoder(x)
        return self.scale * emb @ self.prototypes().t(), emb


class LetterClassifier(nn.Module):
    """Fingerspelled letters from one hand shape (see ``fingerspell.letter_features``)."""

    def __init__(self, n_in: int, n_classes: int = 26, hidden: int = 256, dropout: float = 0.2):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(n_in, hidden), nn.LayerNorm(hidden), nn.GELU(),
                                 nn.Dropout(dropout), nn.Linear(hidden, hidden), nn.GELU(), nn.Dropout(dropout),
                                 nn.Linear(hidden, n_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)
