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
Nodes: :class:`RawRecorder`, :class:`ReplaySource`.
"""

from __future__ import annotations

import json
import logging
import os
import struct
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from pyacq_etvr.core.errors import ConfigError, PyacqError, StreamError, StreamTimeout
from pyacq_etvr.core.node import Node
from pyacq_etvr.core.registry import register_node_type
from pyacq_etvr.core.spec import dtype_from_json, dtype_to_json
from pyacq_etvr.core.stream import InputStream
from pyacq_etvr.nodes._worker import InputWorker

log = logging.getLogger(__name__)

FORMAT = "pyacq_etvr-raw"
VERSION = 1
CHUNK_HEADER = struct.Struct("<4sqqI")
MAGIC = b"CHNK"


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
        self.dtype = dt if isinstance(dt, np.dtype) else dtype_from_json(dt)
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

    ``data`` has shape ``(n_samples, *sample_shape)``; ``chunk_index``/``chunk_timestamp_ns``/``chunk_len``
    have one entry per chunk; ``index``/``timestamp_ns`` one per sample (each sample carries its chunk's
    index and timestamp; pyacq's index convention: the chunk's index is the absolute index of its last
    sample + 1).
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
        dtype = dtype_from_json(header["dtype"])
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


class RawRecorder(Node):
    """Record any set of streams to a folder, losslessly (pyacq's ``RawRecorder``, crash-safe format above).

    ``configure(streams, dirname, autoconnect=True, lag_warning_s=1.0)``: ``streams`` is a dict
    ``{name: output}`` or a list of outputs (named ``input0``, ``input1``... as in pyacq); outputs may be
    OutputStreams, proxies of them, or their params dicts. One input per stream is created (every-chunk
    semantics, never latest-frame) and connected if ``autoconnect``. ``initialize()`` creates the folder
    (it must not exist or be empty: ConfigError) and writes the headers; ``start()`` records.

    Threading: one worker thread per stream writes each chunk as it arrives. A recorder that falls behind
    says so: chunks lost in transit (the stream's sequence numbers jump, e.g. ZeroMQ's high-water mark was
    hit because writing is too slow) are counted in ``stats()[name]['dropped']``, chunks written more than
    ``lag_warning_s`` after their capture time in ``'late'``, each with a (rate-limited) warning in the log.
    Index jumps are counted too (``'gaps'``, ``'missing'`` samples) without a warning: a latest-frame
    producer such as the pupil detector skips indices by design. ``stop()`` writes the chunks still queued
    before returning.
    """

    _input_specs: dict[str, dict[str, Any]] = {}
    _output_specs: dict[str, dict[str, Any]] = {}

    def _configure(
        self, streams: Any = (), dirname: str | None = None, autoconnect: bool = True, lag_warning_s: float = 1.0
    ) -> None:
        if not dirname:
            raise ConfigError("RawRecorder: dirname is required")
        if isinstance(streams, dict):
            items = list(streams.items())
        elif isinstance(streams, (list, tuple)):
            items = [(f"input{i}", s) for i, s in enumerate(streams)]
        else:
            raise ConfigError(f"RawRecorder: streams must be a dict or a list, got {type(streams).__name__}")
        if not items:
            raise ConfigError("RawRecorder: streams is empty")
        self.dirname = str(dirname)
        if os.path.exists(self.dirname) and (not os.path.isdir(self.dirname) or os.listdir(self.dirname)):
            raise ConfigError(f"record: {self.dirname!r} already exists and is not an empty folder")
        self.lag_warning_ns = int(float(lag_warning_s) * 1e9)
        for name, _ in items:
            if not isinstance(name, str) or not name or "/" in name or name.startswith("."):
                raise ConfigError(f"RawRecorder: stream name must be a plain file name, got {name!r}")
            self.inputs[name] = InputStream(spec={}, node=self, name=name)
        if autoconnect:
            for name, out in items:
                self.inputs[name].connect(out)

    def _initialize(self) -> None:
        names = list(self.inputs)
        create_recording_folder(self.dirname, names)
        self._writers = {n: RawStreamWriter(self.dirname, n, self.inputs[n].params) for n in names}
        self._counts = {
            n: {"gaps": 0, "missing": 0, "late": 0, "dropped": 0, "next": None, "warned_ns": 0} for n in names
        }
        self._workers = [InputWorker(self.inputs[n], self._writer_cb(n), f"{self._label} {n}") for n in names]

    def _writer_cb(self, name: str) -> Any:
        writer = self._writers[name]
        c = self._counts[name]

        def on_chunk(index: int, data: np.ndarray, ts: int) -> None:
            writer.write(index, ts, data)
            expected = c["next"]
            c["next"] = index
            if expected is not None and index - data.shape[0] > expected:  # informational: a latest-frame
                c["gaps"] += 1  # producer (pupil detector) skips indices by design
                c["missing"] += index - data.shape[0] - expected
            problem = None
            dropped = self.inputs[name].stats().get("dropped", 0)
            if dropped > c["dropped"]:
                problem = f"{dropped - c['dropped']} chunks lost in transit (the recorder fell behind)"
                c["dropped"] = dropped
            now = time.monotonic_ns()
            if now - ts > self.lag_warning_ns:
                c["late"] += 1
                problem = problem or f"writing {(now - ts) * 1e-9:.2f} s after capture: falling behind"
            if problem and now - c["warned_ns"] > 1_000_000_000:
                c["warned_ns"] = now
                log.warning("%s: stream %r: %s", self._label, name, problem)

        return on_chunk

    def stats(self) -> dict[str, dict[str, Any]]:
        """Per stream: chunks, samples, bytes, gaps, missing, late, and the input's counters."""
        out: dict[str, dict[str, Any]] = {}
        for n, w in getattr(self, "_writers", {}).items():
            c = self._counts[n]
            out[n] = {"chunks": w.chunks, "samples": w.samples, "bytes": w.bytes, "gaps": c["gaps"]}
            out[n].update(missing=c["missing"], late=c["late"], dropped=c["dropped"])
        return out

    def _start(self) -> None:
        for w in self._workers:
            w.start()

    def _stop(self) -> None:
        for w in self._workers:
            w.stop()
        for name, worker in zip(self.inputs, self._workers):  # write what is still queued
            cb = worker.callback
            while True:
                try:
                    index, data, ts = self.inputs[name].recv(timeout=0, with_timestamp=True)
                except (StreamTimeout, StreamError):
                    break
                cb(index, data, ts)

    def _close(self) -> None:
        for w in getattr(self, "_workers", []):
            w.stop()
        for w in getattr(self, "_writers", {}).values():
            w.close()


class ReplaySource(Node):
    """Replay one recorded stream as a source (e.g. recorded eye images instead of a Camera).

    ``configure(dirname, stream='video', loop=True, realtime=True, speed=1.0)``. Output ``video`` has the
    recorded stream's dtype and shape (whatever the stream is, despite the name: it stands in for a Camera's
    ``video``). Chunks are sent as recorded, paced by their recorded capture times divided by ``speed``
    (``realtime=False``: as fast as possible). Sent chunks carry a fresh capture timestamp (replay time) and a
    running index, so downstream latency measurements stay meaningful. ``stats()``: state, frames, loops, fps.
    A missing folder/stream or an empty stream raise ConfigError at configure().
    """

    _output_specs = {"video": {}}

    def _configure(
        self, dirname: str = "", stream: str = "video", loop: bool = True, realtime: bool = True, speed: float = 1.0
    ) -> None:
        rec = RawRecording(dirname)
        self.recorded = rec.read(stream)
        if self.recorded.chunk_len.size == 0:
            raise ConfigError(f"replay: stream {stream!r} of {dirname!r} has no complete chunk")
        if not isinstance(speed, (int, float)) or not speed > 0:
            raise ConfigError(f"replay: speed must be > 0, got {speed!r}")
        self.loop, self.realtime, self.speed = bool(loop), bool(realtime), float(speed)
        dt = self.recorded.data.dtype
        self.outputs["video"].spec.update(dtype=dtype_to_json(dt), shape=[-1, *self.recorded.data.shape[1:]])
        st = self.recorded.header.get("streamtype")
        if st:
            self.outputs["video"].spec["streamtype"] = st
        self._counts = {"frames": 0, "loops": 0}
        self._replay_state = "idle"
        self._stop_evt = threading.Event()
        self._thread: threading.Thread | None = None

    def _start(self) -> None:
        self._stop_evt.clear()
        self._thread = threading.Thread(target=self._run, name=f"{self._label} replay", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        rec, out = self.recorded, self.outputs["video"]
        starts = np.concatenate([[0], np.cumsum(rec.chunk_len)])
        t_rel = (rec.chunk_timestamp_ns - rec.chunk_timestamp_ns[0]) / self.speed
        self._replay_state = "streaming"
        index = 0
        while not self._stop_evt.is_set():
            t0 = time.monotonic_ns()
            for k in range(rec.chunk_len.shape[0]):
                if self.realtime:
                    wait = (t0 + t_rel[k] - time.monotonic_ns()) * 1e-9
                    if wait > 0 and self._stop_evt.wait(wait):
                        break
                if self._stop_evt.is_set():
                    break
                chunk = rec.data[starts[k] : starts[k + 1]]
                index += chunk.shape[0]
                out.send(chunk, index=index, timestamp_ns=time.monotonic_ns())
                self._counts["frames"] += 1
            else:
                self._counts["loops"] += 1
                if not self.loop:
                    break
                continue
            break
        self._replay_state = "finished" if not self._stop_evt.is_set() else "stopped"

    def stats(self) -> dict[str, Any]:
        out: dict[str, Any] = {"state": self._replay_state, **self._counts}
        span = (self.recorded.chunk_timestamp_ns[-1] - self.recorded.chunk_timestamp_ns[0]) * 1e-9
        n = self.recorded.chunk_len.shape[0]
        out["fps"] = (n - 1) / span * self.speed if span > 0 and self.realtime else float("nan")
        return out

    def _stop(self) -> None:
        self._stop_evt.set()
        if self._thread is not None:
            self._thread.join(2.0)
            self._thread = None

    def _close(self) -> None:
        self._stop()


register_node_type(RawRecorder)
register_node_type(ReplaySource)
