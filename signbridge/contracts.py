"""Load the versioned data contracts in ``schemas/`` and validate against them.

The JSON files in ``schemas/`` are the single source of truth: the Arrow schema
of the landmarks table is built from ``landmarks.v1.json`` and the JSON
documents (gloss track, transcript, run manifest) are checked with JSON Schema.
The files are also packaged inside ``signbridge/_schemas`` so an installed
wheel carries them.
"""
from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any, Mapping

from signbridge.errors import SchemaError

LANDMARKS_VERSION = "1.0"
DOCUMENT_KINDS = ("gloss_track", "transcript", "manifest")
PARTS = ("face", "pose", "left_hand", "right_hand")


def schemas_dir() -> Path:
    repo = Path(__file__).resolve().parent.parent / "schemas"
    if repo.is_dir():
        return repo
    return Path(__file__).resolve().parent / "_schemas"


@functools.lru_cache(maxsize=None)
def load_schema_file(name: str) -> dict:
    path = schemas_dir() / name
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise SchemaError(f"schema file {name} not found in {schemas_dir()}") from None


@functools.lru_cache(maxsize=None)
def landmarks_spec() -> dict:
    return load_schema_file(f"landmarks.v{LANDMARKS_VERSION.split('.')[0]}.json")


def part_width(part: str) -> int:
    col = next(c for c in landmarks_spec()["columns"] if c["name"] == part)
    return col["points"] * len(col["dims"])


def part_shape(part: str) -> tuple[int, int]:
    col = next(c for c in landmarks_spec()["columns"] if c["name"] == part)
    return col["points"], len(col["dims"])


@functools.lru_cache(maxsize=None)
def landmarks_arrow_schema():
    """Arrow schema (without file metadata) built from the contract file.

    Landmark parts are variable-size ``list<float32>`` whose length the
    validator enforces (their field metadata says ``points`` and ``dims``), not ``fixed_size_list``: pyarrow < 26 cannot read back
    a Parquet fixed-size list column that contains nulls (apache/arrow#35692),
    and our mediapipe pin keeps pyarrow < 26.
    """
    import pyarrow as pa

    fields = []
    for col in landmarks_spec()["columns"]:
        t = getattr(pa, col["type"])()
        meta = {"doc": col["doc"]}
        if "points" in col:
            t = pa.list_(t)  # flattened points x dims; length checked by validate_landmarks
            # the shape a reader needs to unflatten the list, carried with the column (every Parquet reader
            # keeps Arrow field metadata): points, and the dims' names in order
            meta.update(points=str(col["points"]), dims=",".join(col["dims"]))
        fields.append(pa.field(col["name"], t, nullable=col["nullable"], metadata=meta))
    return pa.schema(fields)


def part_to_arrow(values, present=None):
    """(n, points, dims) float array (+ optional bool mask of detected rows) -> list<float32> column.

    Rows where ``present`` is False (or all values are NaN when no mask is given) become nulls.
    """
    import numpy as np
    import pyarrow as pa

    v = np.ascontiguousarray(values, dtype=np.float32)
    n = v.shape[0]
    flat = v.reshape(n, -1)
    if present is None:
        present = ~np.all(np.isnan(flat), axis=1) if flat.shape[1] else np.zeros(n, bool)
    present = np.asarray(present, dtype=bool)
    width = flat.shape[1]
    kept = flat[present]
    offsets = np.zeros(n + 1, dtype=np.int32)
    offsets[1:] = np.cumsum(present.astype(np.int32) * width)
    mask = pa.array(~present)
    return pa.ListArray.from_arrays(pa.array(offsets), pa.array(kept.ravel(), pa.float32()), mask=mask)


def part_to_numpy(table, part: str):
    """Landmark part column -> ((n, points, dims) float32 with NaN where missing, (n,) bool detected)."""
    import numpy as np

    points, dims = part_shape(part)
    col = table.column(part).combine_chunks()
    n = len(col)
    out = np.full((n, points, dims), np.nan, dtype=np.float32)
    present = col.is_valid().to_numpy(zero_copy_only=False) if n else np.zeros(0, bool)
    if present.any():
        vals = col.flatten().to_numpy(zero_copy_only=False).astype(np.float32, copy=False)
        out[present] = vals.reshape(-1, points, dims)
    return out, present


def landmarks_metadata_key() -> str:
    return landmarks_spec()["metadata_key"]


def with_landmarks_metadata(table, meta: Mapping[str, Any]):
    """Attach (validated) file metadata to a landmarks table."""
    meta = {"schema_version": LANDMARKS_VERSION, **dict(meta)}
    missing = [k for k in landmarks_spec()["metadata"]["required"] if k not in meta]
    if missing:
        raise SchemaError(f"landmarks metadata is missing {', '.join(missing)}")
    return table.replace_schema_metadata({landmarks_metadata_key(): json.dumps(meta, default=str)})


def read_landmarks_metadata(table_or_schema, source: str | None = None) -> dict:
    schema = getattr(table_or_schema, "schema", table_or_schema)
    raw = (schema.metadata or {}).get(landmarks_metadata_key().encode())
    if raw is None:
        raise SchemaError("no SignBridge landmarks metadata in this table", source=source,
                          hint="was it written by `signbridge extract`?")
    return json.loads(raw)


def validate_landmarks(table, source: str | None = None) -> dict:
    """Check columns, types, widths, order and metadata. Returns the metadata."""
    import pyarrow as pa
    import pyarrow.compute as pc

    meta = read_landmarks_metadata(table, source)
    version = str(meta.get("schema_version"))
    if version.split(".")[0] != LANDMARKS_VERSION.split(".")[0]:
        raise SchemaError(f"landmarks schema version {version} is not supported (this SignBridge reads {LANDMARKS_VERSION})",
                          source=source, hint="re-extract the video with this version")
    missing = [k for k in landmarks_spec()["metadata"]["required"] if k not in meta]
    if missing:
        raise SchemaError(f"landmarks metadata is missing {', '.join(missing)}", source=source)
    expected = landmarks_arrow_schema()
    for f in expected:
        if f.name not in table.schema.names:
            raise SchemaError(f"landmarks table has no column {f.name!r}", source=source)
        got = table.schema.field(f.name).type
        if not got.equals(f.type):
            hint = ("build landmark columns with signbridge.contracts.part_to_arrow (variable lists; see "
                    "landmarks_arrow_schema for why not fixed-size)") if f.name in PARTS else None
            raise SchemaError(f"column {f.name!r} has type {got}, expected {f.type}", source=source, hint=hint)
        if not f.nullable and table.column(f.name).null_count:
            raise SchemaError(f"column {f.name!r} has nulls but may not", source=source)
        if f.name in PARTS and table.num_rows:
            lengths = pc.list_value_length(table.column(f.name)).drop_null()
            width = part_width(f.name)
            if len(lengths) and (pc.min(lengths).as_py() != width or pc.max(lengths).as_py() != width):
                raise SchemaError(f"column {f.name!r} has rows whose length is not {width} "
                                  f"({part_shape(f.name)[0]} points x {part_shape(f.name)[1]} values)", source=source)
    if table.num_rows > 1:
        frames = table.column("frame")
        diffs = pc.subtract(frames.slice(1), frames.slice(0, table.num_rows - 1))
        if pc.min(diffs).as_py() <= 0:
            raise SchemaError("frames are not strictly increasing", source=source)
    del pa
    return meta


def _validator(kind: str):
    import jsonschema

    if kind not in DOCUMENT_KINDS:
        raise SchemaError(f"unknown document kind {kind!r}")
    schema = load_schema_file(f"{kind}.v1.schema.json")
    return jsonschema.Draft202012Validator(schema)


def validate_document(kind: str, doc: Mapping[str, Any], source: str | None = None) -> Mapping[str, Any]:
    """Validate a gloss track / transcript / manifest dict against its JSON Schema."""
    v = _validator(kind)
    errors = sorted(v.iter_errors(doc), key=lambda e: list(e.absolute_path))
    if errors:
        e = errors[0]
        where = "/".join(str(p) for p in e.absolute_path) or "(top level)"
        more = f" (+{len(errors) - 1} more)" if len(errors) > 1 else ""
        raise SchemaError(f"invalid {kind} at {where}: {e.message}{more}", source=source)
    return doc
