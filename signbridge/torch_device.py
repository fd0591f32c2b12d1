"""The one place a torch device is chosen, for every stage that runs a model (extract, recognize, probe).

torch names ROCm GPUs ``cuda`` too, so one check covers the NVIDIA and AMD builds.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch


def torch_device(name: str | None = "auto") -> "torch.device":
    """``auto``: the first CUDA/ROCm device when torch sees one, else the CPU; a GPU asked for and absent is a
    ConfigError naming what to do, not a failure deep inside the first model call."""
    import torch

    if name in ("auto", "", None):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(name)
    except RuntimeError:
        from signbridge.errors import ConfigError

        raise ConfigError(f"device {name!r} is not a torch device name",
                          hint="use auto, cpu, cuda or cuda:N (ROCm GPUs are cuda too)") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        from signbridge.errors import ConfigError

        raise ConfigError(f"device {name!r} was asked for, but torch sees no CUDA/ROCm device",
                          hint="use --device cpu or auto, or install the GPU build of torch on a machine with a GPU")
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        from signbridge.errors import ConfigError

        n = torch.cuda.device_count()
        raise ConfigError(f"device {name!r} was asked for, but torch sees {n} CUDA/ROCm device(s): cuda:0 to cuda:{n - 1}",
                          hint="use one of those, or auto")
    return dev
