"""OSC output to VRChat / VRCFaceTracking and OSC control input (recenter / recalibrate).

* :class:`OscOutput` - plain sender: a latest-value slot plus one sender thread. ``submit()`` never blocks
  (it overwrites the slot; an overwritten value is counted as dropped), the thread sends at most
  ``max_rate`` packets per second through a non-blocking UDP socket; a send that would block is dropped and
  counted, so a stalled network never delays the trackers and never queues stale gaze.
* :class:`OscEncoder` - OSC packets from python-osc templates, values packed in place.
* :class:`OscControlServer` - python-osc UDP server (default 127.0.0.1:9001) mapping
  ``/avatar/parameters/etvr_recenter`` and ``/avatar/parameters/etvr_recalibrate`` (bool true) to callbacks;
  and :class:`OscCapture` (a recording OSC server for tests and tools): defined in
  :mod:`pyacq_etvr.nodes.osc_control`, importable from here.
* :class:`OscSender` node - input ``merged`` (MERGED_DTYPE), output ``sent`` (what was sent, with the send
  time, for recording and latency measurement). See its docstring.

python-osc is imported lazily, when an OscOutput starts or a control server is created.
"""

from __future__ import annotations

import logging
import math
import socket
import struct
import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from pyacq_etvr.core.errors import ConfigError, StateError
from pyacq_etvr.core.node import Node
from pyacq_etvr.core.registry import register_node_type
from pyacq_etvr.core.spec import dtype_to_json
from pyacq_etvr.nodes._worker import InputWorker
from pyacq_etvr.nodes.merge import MERGED_DTYPE
from pyacq_etvr.nodes.osc_control import RECALIBRATE, RECENTER, OscCapture, OscControlServer, check_endpoint
from pyacq_etvr.nodes.osc_schemes import build_messages, check_scheme

log = logging.getLogger(__name__)

#: A sent OSC packet set (output ``sent`` of OscSender): the merged values plus the send time.
SENT_DTYPE = np.dtype([*MERGED_DTYPE.descr, ("sent_ns", "int64"), ("messages", "int16")])


class OscEncoder:
    """OSC 1.0 packets of float messages without per-packet builder objects.

    python-osc builds each (address, number of floats) message once as a template; later packets copy the
    template and pack the big-endian float32 values in place (the argument block is at a fixed offset), which
    is ~5x cheaper than building a message per packet. Bundles are python-osc's bundle header (time tag
    IMMEDIATELY) followed by size-prefixed messages, as the OSC 1.0 specification lays them out.
    """

    def __init__(self, message_builder: Any, bundle_builder: Any, immediately: Any) -> None:
        self._builder = message_builder
        self._templates: dict[tuple[str, int], tuple[bytearray, int, struct.Struct]] = {}
        self._bundle_head = bundle_builder(immediately).build().dgram

    def message(self, address: str, args: list[float]) -> bytes:
        key = (address, len(args))
        t = self._templates.get(key)
        if t is None:
            b = self._builder(address)
            for _ in args:
                b.add_arg(0.0, "f")
            dgram = b.build().dgram
            t = (bytearray(dgram), len(dgram) - 4 * len(args), struct.Struct(f">{len(args)}f"))
            self._templates[key] = t
        buf, offset, st = t
        st.pack_into(buf, offset, *args)
        return bytes(buf)

    def bundle(self, messages: list[bytes]) -> bytes:
        return self._bundle_head + b"".join(len(m).to_bytes(4, "big") + m for m in messages)


class OscOutput:
    """Send merged eye records as OSC packets without ever blocking the caller.

    Parameters
    ----------
    host, port : str, int, default '127.0.0.1', 9000
        Destination (VRChat listens on 9000, the VRCFT module variant on 8889).
    scheme : 'native' | 'vrcft-v1' | 'vrcft-v2', default 'native'
    eyes : 'both' | 'left' | 'right', default 'both'
        One-eye mode sends the one eye's values (vrcft-v2 uses its one-eye addresses).
    native_look : 'vec' | 'pitchyaw', default 'vec'
        Which native look address to send (only one at a time, as VRChat requires).
    bundles : bool, default False
        Send all messages of one record in a single OSC bundle (one datagram) instead of one datagram each.
    max_rate : float, default 0
        Maximum records per second (0 = no limit: one per submitted record). Values submitted faster replace
        the pending one (latest wins).
    inline : bool, default False
        Send from the caller's thread in :meth:`submit` (only with ``max_rate=0``): lower latency, no thread.
    max_angle_deg : float, default 30
        Gaze angle (degrees) at ``abs(x) == 1`` or ``abs(y) == 1`` for the pitch/yaw look.
    on_sent : callable(record, sent_ns, n_messages), optional
        Called from the sender thread after each send (the node publishes it on its ``sent`` output).
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 9000,
        scheme: str = "native",
        eyes: str = "both",
        native_look: str = "vec",
        bundles: bool = False,
        max_rate: float = 0.0,
        max_angle_deg: float = 30.0,
        on_sent: Callable[[np.void, int, int], None] | None = None,
        inline: bool = False,
    ) -> None:
        check_scheme(scheme, eyes, native_look)
        self.addr = check_endpoint(host, port, "osc")
        if not isinstance(max_rate, (int, float)) or not math.isfinite(max_rate) or max_rate < 0:
            raise ConfigError(f"osc.max_rate must be a number >= 0 (0 = unlimited), got {max_rate!r}")
        if not isinstance(max_angle_deg, (int, float)) or not (0 < max_angle_deg <= 90):
            raise ConfigError(f"osc.max_angle_deg must be within (0, 90], got {max_angle_deg!r}")
        self.scheme, self.eyes, self.native_look = scheme, eyes, native_look
        self.bundles = bool(bundles)
        self.min_interval_ns = int(1e9 / max_rate) if max_rate > 0 else 0
        self.max_angle_deg = float(max_angle_deg)
        self.on_sent = on_sent
        if inline and self.min_interval_ns:
            raise ConfigError("osc: inline sending needs max_rate = 0 (a rate limit needs the sender thread)")
        self.inline = bool(inline)
        self._send_lock = threading.Lock()
        self._open = False
        self._slot = np.zeros(1, dtype=MERGED_DTYPE)
        self._work = np.zeros(1, dtype=MERGED_DTYPE)
        self._cond = threading.Condition()
        self._new = False
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._sock: socket.socket | None = None
        self._encoder: OscEncoder | None = None
        self.counters = {"submitted": 0, "sent": 0, "messages": 0, "overwritten": 0, "would_block": 0, "errors": 0}
        self.last_send_ns = 0

    def start(self) -> None:
        """Open the socket and start the sender thread (idempotent)."""
        if self._open:
            return
        from pythonosc.osc_bundle_builder import IMMEDIATELY, OscBundleBuilder
        from pythonosc.osc_message_builder import OscMessageBuilder

        self._encoder = OscEncoder(OscMessageBuilder, OscBundleBuilder, IMMEDIATELY)
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._sock.setblocking(False)
        self._stopping = False
        self._open = True
        if not self.inline:
            self._thread = threading.Thread(target=self._run, name="OscOutput", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 2.0) -> None:
        """Stop the thread (the pending value, if any, is not sent) and close the socket."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        with self._send_lock:
            self._open = False
            if self._sock is not None:
                self._sock.close()
                self._sock = None

    @property
    def running(self) -> bool:
        return self._open

    def submit(self, record: np.ndarray | np.void) -> None:
        """Put the newest merged record in the slot (never blocks; an unsent previous value is dropped).

        ``inline`` mode: send it now from the caller's thread instead (non-blocking socket: a send that
        would block is dropped), saving the hand-over to the sender thread; the caller then drains its input
        to the newest value itself so that nothing stale queues up."""
        if self.inline:
            rec = record if isinstance(record, np.void) else np.asarray(record).reshape(-1)[-1]
            with self._send_lock:
                self.counters["submitted"] += 1
                if not self._open:
                    return
                try:
                    self._send(rec)
                except Exception:
                    self.counters["errors"] += 1
                    log.exception("OSC send failed")
            return
        with self._cond:
            if self._new:
                self.counters["overwritten"] += 1
            self._slot[0] = record if isinstance(record, np.void) else np.asarray(record).reshape(-1)[-1]
            self._new = True
            self.counters["submitted"] += 1
            self._cond.notify()

    def stats(self) -> dict[str, Any]:
        """Counters (plain dict): submitted, sent, messages, overwritten, would_block, errors, last_send_age_s."""
        out: dict[str, Any] = dict(self.counters)
        out["last_send_age_s"] = (time.monotonic_ns() - self.last_send_ns) * 1e-9 if self.last_send_ns else None
        return out

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._new and not self._stopping:
                    self._cond.wait(0.5)
                if self._stopping:
                    return
                # rate limit: wait out the interval (submit() may replace the slot meanwhile: latest wins)
                while self.min_interval_ns and not self._stopping:
                    wait_ns = self.last_send_ns + self.min_interval_ns - time.monotonic_ns()
                    if wait_ns <= 0:
                        break
                    self._cond.wait(wait_ns * 1e-9)
                if self._stopping:
                    return
                self._work[0] = self._slot[0]
                self._new = False
            try:
                self._send(self._work[0])
            except Exception:  # never let one bad value kill the sender
                self.counters["errors"] += 1
                log.exception("OSC send failed")

    def _send(self, rec: np.void) -> None:
        enc = self._encoder
        assert enc is not None
        msgs = build_messages(rec, self.scheme, self.eyes, self.native_look, self.max_angle_deg)
        if not msgs:
            return
        packets = [enc.message(address, args) for address, args in msgs]
        dgrams = [enc.bundle(packets)] if self.bundles else packets
        for d in dgrams:
            try:
                self._transmit(d)
            except (BlockingIOError, InterruptedError):
                self.counters["would_block"] += 1
                return  # network stalled: drop this value, the next one is newer anyway
            except OSError as exc:
                self.counters["errors"] += 1
                log.warning("OSC send to %s:%d failed: %s", *self.addr, exc)
                return
        now = time.monotonic_ns()
        self.last_send_ns = now
        self.counters["sent"] += 1
        self.counters["messages"] += len(msgs)
        if self.on_sent is not None:
            self.on_sent(rec, now, len(msgs))

    def _transmit(self, dgram: bytes) -> None:
        """Send one datagram without blocking (raises BlockingIOError when the socket buffer is full)."""
        assert self._sock is not None
        self._sock.sendto(dgram, self.addr)


class OscSender(Node):
    """OSC sender node: merged two-eye records -> OSC packets (VRChat native, VRCFT v1 / v2).

    Input ``merged``: MERGED_DTYPE (-1,) (output of EyeMerge). Output ``sent`` (optional: configure it to
    record what was sent): SENT_DTYPE (-1,), one record per packet set with the send time ``sent_ns``; chunk
    timestamp = the capture time of the frame the values came from.

    Settings: those of :class:`OscOutput` (host='127.0.0.1', port=9000, scheme='native', eyes='both',
    native_look='vec', bundles=False, max_rate=0 (unlimited), max_angle_deg=30).

    Direct mode: ``merge.attach(sender)`` (both in one process) hands every merged record over by a direct
    call from the merge's thread instead of the ``merged`` stream (one hop less); the input may then stay
    unconnected.

    Threading: with ``max_rate=0`` (default) one worker thread receives the newest merged record (older
    queued ones are skipped and counted as ``overwritten``) and sends it at once through the non-blocking
    socket (a send that would block is dropped); with a rate limit, the worker puts the record into
    OscOutput's latest-value slot and OscOutput's own thread sends at most ``max_rate`` per second.
    Sending follows the data: when tracking stops, sending stops (VRChat then falls back to its own eye
    animation after 10 s); stop() ends the threads cleanly. ``stats()`` adds the capture->send latency
    p50/p99 (ms) of the last 2048 packets, overall and per
    eye whose frame triggered the packet (``latency_ms_p50_left``...).
    """

    _input_specs = {"merged": {"dtype": dtype_to_json(MERGED_DTYPE), "shape": [-1]}}
    _output_specs = {"sent": {"dtype": dtype_to_json(SENT_DTYPE), "shape": [-1]}}

    def _configure(self, **params: Any) -> None:
        inline = not params.get("max_rate")
        self.osc = OscOutput(on_sent=self._on_sent, inline=inline, **params)
        self._direct_source = False
        self._lat = np.zeros((3, 2048), np.float64)  # capture->send latency, ms: all, left-sourced, right-sourced
        self._nlat = [0, 0, 0]
        self._sent_rec = np.zeros(1, SENT_DTYPE)

    def _initialize(self) -> None:
        inline = self.osc.inline  # sending in the worker thread: drain to the newest record, never queue
        self._worker = InputWorker(self.inputs["merged"], self._on_chunk, f"{self._label} worker", latest=inline)
        if not self.inputs["merged"].connected:
            self._worker = None  # fed by an attached EyeMerge only

    def _on_chunk(self, index: int, data: np.ndarray, ts: int) -> None:
        if data.shape[0]:
            self.osc.submit(data[-1])

    def accept_direct(self) -> None:
        """Called by :meth:`EyeMerge.attach`: merged records will arrive through :meth:`push_merged`."""
        self._direct_source = True

    def push_merged(self, merged: np.ndarray, timestamp_ns: int = 0) -> None:
        """Send the newest of ``merged`` (MERGED_DTYPE) now: called by an attached EyeMerge (thread-safe)."""
        if merged.shape[0] and self.running():
            self.osc.submit(merged[-1])

    def check_input_specs(self) -> None:
        if not self.inputs["merged"].connected and not self._direct_source:
            raise StateError(f"{self._label}: connect the input 'merged' (or attach it to an EyeMerge)")

    def _on_sent(self, rec: np.void, sent_ns: int, n_messages: int) -> None:
        lat = (sent_ns - int(rec["timestamp_ns"])) * 1e-6
        for row in (0, 1 + int(rec["source"])):
            self._lat[row, self._nlat[row] % self._lat.shape[1]] = lat
            self._nlat[row] += 1
        out = self.outputs["sent"]
        if out.configured:
            r = self._sent_rec
            for name in MERGED_DTYPE.names or ():
                r[name] = rec[name]
            r["sent_ns"] = sent_ns
            r["messages"] = n_messages
            out.send(r, index=self._nlat[0], timestamp_ns=int(rec["timestamp_ns"]))

    def stats(self) -> dict[str, Any]:
        """Plain dict: OscOutput counters, latency_ms_p50/p99, chunks received, errors."""
        out = self.osc.stats()
        if self.inputs["merged"].connected:
            out["overwritten"] += int(self.inputs["merged"].stats().get("skipped", 0))
        for row, suffix in ((0, ""), (1, "_left"), (2, "_right")):
            n = min(self._nlat[row], self._lat.shape[1])
            if n:
                p50, p99 = np.percentile(self._lat[row, :n], [50, 99])
                out["latency_ms_p50" + suffix], out["latency_ms_p99" + suffix] = float(p50), float(p99)
        w = getattr(self, "_worker", None)
        out["chunks"] = w.chunks if w else 0
        out["worker_errors"] = w.errors if w else 0
        return out

    def _start(self) -> None:
        self.osc.start()
        if self._worker is not None:
            self._worker.start()

    def _stop(self) -> None:
        if self._worker is not None:
            self._worker.stop()
        self.osc.stop()

    def _close(self) -> None:
        w = getattr(self, "_worker", None)
        if w is not None:
            w.stop()
        self.osc.stop()


register_node_type(OscSender)

__all__ = [
    "RECALIBRATE",
    "RECENTER",
    "SENT_DTYPE",
    "OscCapture",
    "OscControlServer",
    "OscEncoder",
    "OscOutput",
    "OscSender",
    "check_endpoint",
]
