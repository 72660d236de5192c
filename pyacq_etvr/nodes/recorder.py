"""Lossless raw recording of any set of streams, a reader that opens it as numpy arrays, and replay.

Folder layout (one recording = one folder)::

    recording.json        format, version, pyacq_etvr version, stream names, start time (written first)
    <name>.json           header of one stream: dtype (numpy descr), shape, streamtype, sample_rate, ...,
                          and the chunk record layout; written and fsync'ed BEFORE the first chunk
    <name>.raw            append-only chunk records: a 28-byte little-endian header
                          (magic b'CHNK', index int64, timestamp_ns int64, n_samples uint32) then the
                          chunk's bytes (C order). Each record is written with one ``os.writev`` call
                          straight to the file descriptor (no user-space buffer), so a SIGKILL leaves every
                          record written before it intact; at worst the last record is partial, and the
                          reader drops it and says so (``truncated_bytes``).

Plain objects: :class:`RawStreamWriter`, :class:`RawRecording` (reader), :class:`RecordedStream`.
Nodes (module :mod:`pyacq_etvr.nodes.recorder_nodes`): ``RawRecorder``, ``ReplaySource``.
"""

from __future__ import annotations

import json
import os
import struct
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from pyacq_etvr.core.errors import ConfigError, PyacqError

FORMAT = "pyacq_etvr-raw"
VERSION = 1
CHUNK_HEADER = struct.Struct("<4sqqI")
MAGIC = b"CHNK"


def dtype_to_json(dtype: np.dtype) -> Any:
    """A JSON-able description of ``dtype`` (str for simple dtypes, numpy descr list for structured)."""
    dt = np.dtype(dtype)
    if dt.fields is None and dt.subdtype is None:
        return dt.str
    return [list(d) if len(d) == 2 else [d[0], d[1], list(d[2])] for d in dt.descr]


def dtype_from_json(desc: Any, where: str) -> np.dtype:
    """Inverse of :func:`dtype_to_json`; PyacqError naming ``where`` on a bad description."""
    try:
        if isinstance(desc, str):
            return np.dtype(desc)
        return np.dtype([tuple(d[:2]) if len(d) == 2 else (d[0], d[1], tuple(d[2])) for d in desc])
    except (TypeError, ValueError, IndexError) as exc:
        raise PyacqError(f"{where}: invalid dtype description {desc!r} ({exc})") from None


def write_json_sync(path: str, obj: Any) -> None:
    """Write JSON atomically (temp + rename) and fsync it."""
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf8") as f:
        json.dump(obj, f, indent=2, sort_keys=True)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


class RawStreamWriter:
    """Append-only writer of one stream's chunks (header file first, then records).

    ``params`` is the stream's params dict (``dtype``, ``shape``, optional ``streamtype``, ``sample_rate``...).
    Chunks must match the dtype and the shape except axis 0, else SpecMismatchError-like PyacqError.
    """

    def __init__(self, dirname: str, name: str, params: dict[str, Any]) -> None:
        if not name or "/" in name or name.startswith("."):
            raise ConfigError(f"recorder stream name must be a plain file name, got {name!r}")
        self.name = name
        dt = params.get("dtype")
        self.dtype = dt if isinstance(dt, np.dtype) else dtype_from_json(dt, f"recorder stream {name!r}")
        shape = params.get("shape", (-1,))
        self.sample_shape = tuple(int(s) for s in (shape[1:] if len(shape) else ()))
        header = {
            "format": FORMAT,
            "version": VERSION,
            "name": name,
            "dtype": dtype_to_json(self.dtype),
            "shape": [-1, *self.sample_shape],
            "chunk_header": {"struct": CHUNK_HEADER.format, "fields": ["magic", "index", "timestamp_ns", "n"]},
        }
        for key in ("streamtype", "sample_rate", "units", "channel_info"):
            if params.get(key) is not None:
                header[key] = params[key]
        write_json_sync(os.path.join(dirname, name + ".json"), header)
        self.path = os.path.join(dirname, name + ".raw")
        self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_EXCL, 0o644)
        self.chunks = 0
        self.samples = 0
        self.bytes = 0

    def write(self, index: int, timestamp_ns: int, data: np.ndarray) -> None:
        """Append one chunk record (one ``os.writev``: header + the array's buffer, no extra copy if contiguous)."""
        if data.dtype != self.dtype or data.shape[1:] != self.sample_shape:
            raise PyacqError(
                f"recorder stream {self.name!r}: chunk {data.dtype}{data.shape} does not match "
                f"{self.dtype}(-1, {self.sample_shape})"
            )
        buf = np.ascontiguousarray(data)
        hdr = CHUNK_HEADER.pack(MAGIC, int(index), int(timestamp_ns), buf.shape[0])
        n = os.writev(self._fd, [hdr, buf.reshape(-1).view(np.uint8)])
        if n != len(hdr) + buf.nbytes:
            raise PyacqError(f"recorder stream {self.name!r}: short write ({n} bytes)")
        self.chunks += 1
        self.samples += buf.shape[0]
        self.bytes += n

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


@dataclass
class RecordedStream:
    """One recorded stream as numpy arrays.

    ``data`` is (n_samples, *sample_shape); ``chunk_index``/``chunk_timestamp_ns``/``chunk_len`` have one entry
    per chunk; ``index``/``timestamp_ns`` one per sample (each sample carries its chunk's index and timestamp,
    pyacq's index convention: the chunk's index is the absolute index of its last sample + 1).
    """

    name: str
    header: dict[str, Any]
    data: np.ndarray
    chunk_index: np.ndarray
    chunk_timestamp_ns: np.ndarray
    chunk_len: np.ndarray
    truncated_bytes: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def index(self) -> np.ndarray:
        return np.repeat(self.chunk_index, self.chunk_len)

    @property
    def timestamp_ns(self) -> np.ndarray:
        return np.repeat(self.chunk_timestamp_ns, self.chunk_len)


class RawRecording:
    """Open a recording folder. ``rec.streams`` lists the names; ``rec.read(name)`` returns a RecordedStream."""

    def __init__(self, dirname: str) -> None:
        self.dirname = dirname
        meta_path = os.path.join(dirname, "recording.json")
        if not os.path.isdir(dirname):
            raise ConfigError(f"recording folder {dirname!r} does not exist")
        try:
            with open(meta_path, encoding="utf8") as f:
                self.meta = json.load(f)
        except (OSError, ValueError) as exc:
            raise ConfigError(f"{dirname!r} is not a pyacq_etvr recording ({meta_path}: {exc})") from None
        if not isinstance(self.meta, dict) or self.meta.get("format") != FORMAT:
            raise ConfigError(f"{meta_path}: not a {FORMAT} recording")
        self.streams: list[str] = [str(s) for s in self.meta.get("streams", [])]

    def header(self, name: str) -> dict[str, Any]:
        if name not in self.streams:
            raise ConfigError(f"recording {self.dirname!r} has no stream {name!r} (streams: {self.streams})")
        with open(os.path.join(self.dirname, name + ".json"), encoding="utf8") as f:
            return json.load(f)

    def read(self, name: str) -> RecordedStream:
        """Read every complete chunk of ``name`` (a partial last record is dropped and reported)."""
        header = self.header(name)
        dtype = dtype_from_json(header["dtype"], f"{name}.json")
        sample_shape = tuple(header["shape"][1:])
        sample_bytes = dtype.itemsize * int(np.prod(sample_shape, dtype=np.int64))
        path = os.path.join(self.dirname, name + ".raw")
        raw = np.fromfile(path, dtype=np.uint8) if os.path.getsize(path) else np.empty(0, np.uint8)
        buf = memoryview(raw)
        pos, hs, total = 0, CHUNK_HEADER.size, raw.size
        idx, ts, lens, starts = [], [], [], []
        while pos + hs <= total:
            magic, index, tstamp, n = CHUNK_HEADER.unpack_from(buf, pos)
            if magic != MAGIC:
                raise PyacqError(f"{path}: corrupt chunk header at byte {pos}")
            end = pos + hs + n * sample_bytes
            if end > total:
                break
            idx.append(index)
            ts.append(tstamp)
            lens.append(n)
            starts.append(pos + hs)
            pos = end
        chunks = [raw[s : s + n * sample_bytes] for s, n in zip(starts, lens)]
        flat = np.concatenate(chunks) if chunks else np.empty(0, np.uint8)
        data = flat.view(dtype).reshape(-1, *sample_shape) if flat.size else np.empty((0, *sample_shape), dtype)
        return RecordedStream(
            name,
            header,
            data,
            np.asarray(idx, np.int64),
            np.asarray(ts, np.int64),
            np.asarray(lens, np.int64),
            truncated_bytes=total - pos,
        )


def create_recording_folder(dirname: str, names: list[str]) -> None:
    """Create ``dirname`` (must not exist or be empty) and write ``recording.json`` first."""
    if os.path.exists(dirname) and (not os.path.isdir(dirname) or os.listdir(dirname)):
        raise ConfigError(f"record: {dirname!r} already exists and is not an empty folder")
    if len(set(names)) != len(names):
        raise ConfigError(f"record: stream names must be unique, got {names}")
    os.makedirs(dirname, exist_ok=True)
    from pyacq_etvr import __version__

    meta = {
        "format": FORMAT,
        "version": VERSION,
        "pyacq_etvr": __version__,
        "streams": names,
        "started_unix": time.time(),
        "started_monotonic_ns": time.monotonic_ns(),
    }
    write_json_sync(os.path.join(dirname, "recording.json"), meta)
