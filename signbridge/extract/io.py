"""Landmarks Parquet files: written atomically, read back validated against the contract."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

from signbridge.errors import SchemaError


def write_landmarks(table, path: str | Path) -> Path:
    """Write a landmarks table as zstd Parquet; a reader never sees a half-written file."""
    import pyarrow.parquet as pq

    from signbridge.contracts import validate_landmarks

    path = Path(path)
    validate_landmarks(table, source=str(path))
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        pq.write_table(table, tmp, compression="zstd", compression_level=6, row_group_size=4096)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def read_landmarks(path: str | Path, source: str | None = None):
    """Read and validate a landmarks Parquet file. SchemaError names the file and the mismatch."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from signbridge.contracts import validate_landmarks

    src = source or str(path)
    try:
        table = pq.read_table(str(path))
    except FileNotFoundError:
        raise SchemaError("landmarks file not found", source=src) from None
    except (pa.ArrowInvalid, OSError) as e:
        raise SchemaError(f"not a readable Parquet file: {e}", source=src,
                          hint="was it written by `signbridge extract`?") from None
    validate_landmarks(table, source=src)
    return table
