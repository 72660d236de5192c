"""Stream specifications: what a stream carries (dtype, shape, streamtype, sample rate...).

A :class:`StreamSpec` is a frozen dataclass that accepts pyacq's keyword form::

    StreamSpec(streamtype='analogsignal', dtype='float32', shape=(-1, 16), sample_rate=1000.)
    StreamSpec.from_dict({'dtype': [('x', 'f4'), ('y', 'f4')], 'shape': (-1,)})

Fields left at ``None`` are "unspecified": an input spec usually names only what the node requires.
:func:`check_compatible` compares an output's spec with an input's spec at ``connect()`` time and raises
:class:`~pyacq_etvr.core.errors.SpecMismatchError` naming both streams and the field that differs.

Dtypes travel over RPC as plain JSON/msgpack values (:func:`dtype_to_json` / :func:`dtype_from_json`): a
string such as ``'<f4'`` for simple dtypes, a list of ``[name, type, (shape)]`` for structured ones.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import numpy as np

from .errors import ConfigError, SpecMismatchError

#: Stream types pyacq documents; others are accepted (free text) but these are the common ones.
STREAM_TYPES = ("analogsignal", "digitalsignal", "event", "image", "image/video", "video")

#: Keys of a stream spec (pyacq's keyword form). Anything else in a params dict is transport configuration.
SPEC_KEYS = (
    "streamtype",
    "dtype",
    "shape",
    "timeaxis",
    "compression",
    "scale",
    "offset",
    "units",
    "sample_rate",
)

#: Fields compared by :func:`check_compatible` (scale, units... are informational).
CHECKED_FIELDS = ("dtype", "shape", "streamtype")


def dtype_to_json(dtype: Any) -> str | list:
    """Return a JSON/msgpack-serialisable description of ``dtype`` (str, or list for structured dtypes)."""
    dt = np.dtype(dtype)
    if dt.fields is None and dt.subdtype is None:
        return dt.str
    return _descr_to_json(dt.descr)


def _descr_to_json(descr: Any) -> list:
    out: list = []
    for item in descr:
        name, typ = item[0], item[1]
        typ_json = _descr_to_json(typ) if isinstance(typ, list) else typ
        if len(item) > 2:
            out.append([name, typ_json, list(item[2])])
        else:
            out.append([name, typ_json])
    return out


def _json_to_descr(obj: Any) -> Any:
    if isinstance(obj, str):
        return obj
    out = []
    for item in obj:
        if not isinstance(item, (list, tuple)) or len(item) not in (2, 3):
            raise ConfigError(f"dtype: cannot understand field description {item!r}")
        name = item[0] if isinstance(item[0], str) else tuple(item[0])
        typ = _json_to_descr(item[1]) if isinstance(item[1], (list, tuple)) else item[1]
        if len(item) == 3:
            out.append((name, typ, tuple(item[2])))
        else:
            out.append((name, typ))
    return out


def dtype_from_json(obj: Any) -> np.dtype:
    """Inverse of :func:`dtype_to_json`; also accepts anything ``np.dtype()`` accepts. ConfigError if invalid."""
    if isinstance(obj, np.dtype):
        return obj
    try:
        if isinstance(obj, (list, tuple)):
            return np.dtype(_json_to_descr(obj))
        return np.dtype(obj)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"dtype: invalid dtype {obj!r} ({exc})") from None


def normalize_shape(shape: Any) -> tuple[int, ...]:
    """Return ``shape`` as a tuple of ints; ``-1`` is allowed on axis 0 only (variable time axis)."""
    if isinstance(shape, (int, np.integer)):
        shape = (int(shape),)
    try:
        out = tuple(int(s) for s in shape)
    except (TypeError, ValueError):
        raise ConfigError(f"shape: expected a tuple of ints, got {shape!r}") from None
    if len(out) == 0:
        raise ConfigError("shape: must have at least one axis (axis 0 is time)")
    for i, s in enumerate(out):
        if s == -1 and i == 0:
            continue
        if s < 0 or (s == 0 and i > 0):
            raise ConfigError(f"shape: invalid size {s} on axis {i} of {out} (only axis 0 may be -1)")
    return out


@dataclasses.dataclass(frozen=True)
class StreamSpec:
    """What a stream carries. ``None`` means "unspecified" (accept anything for that field).

    Attributes:
        streamtype: 'analogsignal', 'digitalsignal', 'event', 'image'... (free text, compared exactly).
        dtype: numpy dtype (structured dtypes allowed).
        shape: shape of a chunk; axis 0 is time and may be -1 (variable number of samples per chunk).
        timeaxis: always 0 (kept for pyacq compatibility; other values are refused).
        compression: '' (no compression is implemented; other values are refused).
        scale, offset, units: informational metadata (``value = offset + scale * raw``).
        sample_rate: samples per second along axis 0 (Hz), informational.
    """

    streamtype: str | None = None
    dtype: np.dtype | None = None
    shape: tuple[int, ...] | None = None
    timeaxis: int = 0
    compression: str = ""
    scale: float | None = None
    offset: float | None = None
    units: str = ""
    sample_rate: float | None = None

    def __post_init__(self) -> None:
        if self.dtype is not None:
            object.__setattr__(self, "dtype", dtype_from_json(self.dtype))
        if self.shape is not None:
            object.__setattr__(self, "shape", normalize_shape(self.shape))
        if self.timeaxis not in (0, None):
            raise ConfigError(f"timeaxis: only 0 is supported, got {self.timeaxis!r}")
        if self.compression not in ("", None):
            raise ConfigError(f"compression: {self.compression!r} is not supported (use '')")
        if self.streamtype is not None and not isinstance(self.streamtype, str):
            raise ConfigError(f"streamtype: expected a str, got {self.streamtype!r}")
        if self.sample_rate is not None:
            try:
                rate = float(self.sample_rate)
            except (TypeError, ValueError):
                raise ConfigError(f"sample_rate: expected a number, got {self.sample_rate!r}") from None
            if not rate > 0:
                raise ConfigError(f"sample_rate: must be > 0, got {self.sample_rate!r}")
            object.__setattr__(self, "sample_rate", rate)

    @classmethod
    def from_dict(cls, params: Mapping[str, Any] | None) -> StreamSpec:
        """Build a spec from a pyacq keyword dict; keys that are not spec fields are ignored."""
        if params is None:
            return cls()
        kw = {k: params[k] for k in SPEC_KEYS if k in params}
        if kw.get("compression") is None:
            kw.pop("compression", None)
        if kw.get("timeaxis") is None:
            kw.pop("timeaxis", None)
        if kw.get("units") is None:
            kw.pop("units", None)
        return cls(**kw)

    def to_dict(self) -> dict[str, Any]:
        """JSON/msgpack-serialisable dict (dtype via :func:`dtype_to_json`, shape as a list)."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if f.name == "dtype" and v is not None:
                v = dtype_to_json(v)
            elif f.name == "shape" and v is not None:
                v = list(v)
            out[f.name] = v
        return out

    @property
    def sample_shape(self) -> tuple[int, ...]:
        """Shape of one sample (the chunk shape without axis 0)."""
        if self.shape is None:
            raise ConfigError("shape is not specified")
        return self.shape[1:]

    @property
    def sample_nbytes(self) -> int:
        """Bytes per sample (one entry along axis 0)."""
        if self.dtype is None:
            raise ConfigError("dtype is not specified")
        return int(np.prod(self.sample_shape, dtype=np.int64)) * self.dtype.itemsize


def shapes_compatible(a: tuple[int, ...], b: tuple[int, ...]) -> bool:
    """True if two chunk shapes agree (same rank, equal sizes; -1 on axis 0 matches anything)."""
    if len(a) != len(b):
        return False
    return all(x == y or (i == 0 and (x == -1 or y == -1)) for i, (x, y) in enumerate(zip(a, b)))


def check_compatible(out_spec: StreamSpec, in_spec: StreamSpec, out_name: str, in_name: str) -> None:
    """Raise SpecMismatchError if an output with ``out_spec`` cannot feed an input with ``in_spec``.

    Only fields specified on both sides are compared (see :data:`CHECKED_FIELDS`).
    """
    for field in CHECKED_FIELDS:
        a, b = getattr(out_spec, field), getattr(in_spec, field)
        if a is None or b is None:
            continue
        ok = shapes_compatible(a, b) if field == "shape" else a == b
        if not ok:
            raise SpecMismatchError(
                f"cannot connect output {out_name!r} to input {in_name!r}: {field} differs "
                f"(output {field}={_show(a)}, input {field}={_show(b)})"
            )


def _show(v: Any) -> str:
    if isinstance(v, np.dtype):
        return str(v) if v.fields is None else repr(v.descr)
    return repr(v)
