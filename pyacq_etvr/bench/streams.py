"""``python -m pyacq_etvr.bench streams [--json] [--quick]``: stream transfer modes between two processes.

For analog ``(1024, 16)`` float32 chunks and ``(1, 240, 240)`` uint8 frames, a sender process and this
(receiving) process measure, per transport:

* throughput: the sender sends as fast as a flow-control window allows (at most 256 chunks in flight, the
  receiver acks every 32, identical for every transport, so nothing is dropped and no sender spins on a full
  queue) for ``--seconds``; the receiver counts chunks/s and MB/s. Chunks lost anyway are reported;
* CPU per chunk of the sender and of the receiver process (``time.process_time``, ZeroMQ I/O threads
  included) and ``cpu_bound_per_s = 1 / max(sender, receiver)``: the rate an idle 2-core machine would
  reach, much steadier than wall-clock rates when other processes load the machine;
* one-way latency at a paced 200 Hz: receive time minus the send timestamp (``time.monotonic_ns``, one clock
  for both processes), p50 / p99.

Every transport of a payload is set up at once and measured in ``--repeat`` interleaved rounds (the order of the
transports alternates between rounds, so a reference and its contender sit next to each other in time and
neither one always goes first). Rates and CPU per chunk are medians over rounds; the throughput and CPU ratios
are medians of the per-round ratios (contender / reference measured in the same round), which cancels slow
load drifts from other processes; latency percentiles pool the samples of every round (``rounds_per_s`` and
``rounds_cpu_bound_per_s`` in the JSON list each round).

Transports: ``plaindata`` over tcp and ipc, ``sharedmem``, and in the same run the references: raw pyzmq
zero-copy PUB/SUB over tcp and ipc with the same payload, and a numpy copy of the payload. Ratios compare
plaindata to raw pyzmq on the same protocol and sharedmem to raw pyzmq ipc.
"""

from __future__ import annotations

import argparse
import json
import select
import subprocess
import sys
import time
from typing import Any

import numpy as np
import zmq

from .report import emit, format_table, percentiles

PAYLOADS: dict[str, dict[str, Any]] = {
    "analog": dict(streamtype="analogsignal", dtype="float32", shape=(-1, 16), chunk=(1024, 16)),
    "image": dict(streamtype="image", dtype="uint8", shape=(-1, 240, 240), chunk=(1, 240, 240)),
}
TRANSPORTS = ("raw-tcp", "raw-ipc", "plaindata-tcp", "plaindata-ipc", "sharedmem")
RING_CHUNKS = 512
#: flow control of the throughput phase: at most WINDOW chunks in flight, the receiver acks every ACK_EVERY
#: (identical for every transport, so nothing is dropped and the sender does not spin on a full queue)
WINDOW, ACK_EVERY = 256, 32


def _payload(name: str) -> np.ndarray:
    p = PAYLOADS[name]
    return (np.arange(int(np.prod(p["chunk"]))) % 251).astype(p["dtype"]).reshape(p["chunk"])


# ----------------------------------------------------------------------------------------- sender side
class _RawSender:
    def __init__(self, protocol: str, payload: np.ndarray) -> None:
        from pyacq_etvr.core import ipcfiles
        from pyacq_etvr.core.stream.channel import _bind_url

        self.sock = zmq.Context.instance().socket(zmq.XPUB)  # XPUB: only to learn when the reader joined
        self.sock.setsockopt(zmq.LINGER, 0)
        url = _bind_url(protocol, "127.0.0.1", "*")
        self.sock.bind(url)
        self.ipc_path = ipcfiles.register_bound(url)  # an ipc socket file: unlinked by close()
        self.pool = [payload.copy() for _ in range(8)]
        self.info = {"url": self.sock.getsockopt_string(zmq.LAST_ENDPOINT)}

    def wait(self) -> None:
        if not self.sock.poll(30000):  # the subscription message: the reader is attached and subscribed
            raise RuntimeError("no reader connected")
        self.sock.recv()

    def send_fast(self, k: int) -> None:
        self.sock.send(self.pool[0], copy=False)

    def send_stamped(self, k: int) -> None:
        buf = self.pool[k % 8]
        buf.view(np.uint8).reshape(-1)[:8].view(np.int64)[0] = time.monotonic_ns()
        self.sock.send(buf, copy=False)

    def end(self) -> None:
        self.sock.send(b"E")

    def close(self) -> None:
        from pyacq_etvr.core import ipcfiles

        self.sock.close(0)
        ipcfiles.release_bound(self.ipc_path)


class _StreamSender:
    def __init__(self, transport: str, payload_name: str, payload: np.ndarray) -> None:
        from pyacq_etvr.core.stream import OutputStream

        p = PAYLOADS[payload_name]
        self.out = OutputStream(name="bench")
        mode, _, protocol = transport.partition("-")
        extra = dict(buffer_size=RING_CHUNKS * payload.shape[0]) if mode == "sharedmem" else {}
        self.out.configure(
            protocol=protocol or "ipc",
            transfermode=mode,
            streamtype=p["streamtype"],
            dtype=p["dtype"],
            shape=p["shape"],
            **extra,
        )
        self.payload = payload
        self.empty = payload[:0]
        self.info = self.out.params

    def wait(self) -> None:
        self.out.wait_for_subscribers(1, 30000)

    def send_fast(self, k: int) -> None:
        self.out.send(self.payload)

    send_stamped = send_fast  # the stream stamps every chunk itself

    def end(self) -> None:
        self.out.send(self.empty)

    def close(self) -> None:
        self.out.close()


class _Acks:
    """PULL socket receiving the receiver's running chunk count."""

    def __init__(self) -> None:
        self.sock = zmq.Context.instance().socket(zmq.PULL)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.bind("tcp://127.0.0.1:*")
        self.url = self.sock.getsockopt_string(zmq.LAST_ENDPOINT)
        self.acked = 0

    def poll(self, timeout_ms: float = 0) -> None:
        if not self.sock.poll(timeout_ms):
            if timeout_ms:
                raise RuntimeError("receiver stopped acknowledging")
            return
        while self.sock.poll(0):
            self.acked = max(self.acked, int(self.sock.recv()))

    def close(self) -> None:
        self.sock.close(0)


def _blast(sender: Any, acks: _Acks, seconds: float) -> tuple[int, float]:
    """Send for ``seconds`` with the flow-control window; return (chunks sent, process CPU seconds used)."""
    acks.poll()  # discard anything stale
    acks.acked = 0
    cpu0 = time.process_time()
    end, k, send = time.monotonic() + seconds, 0, sender.send_fast
    while True:
        if k - acks.acked >= WINDOW:
            acks.poll(10000)
        send(k)
        k += 1
        if not k % ACK_EVERY:
            acks.poll()
            if time.monotonic() > end:
                return k, time.process_time() - cpu0


def _peer(cfg: dict[str, Any]) -> int:
    """Sender process: set up, print connection info, then obey 'tp S' / 'lat S HZ' / 'quit' lines."""
    payload = _payload(cfg["payload"])
    transport = cfg["transport"]
    if transport.startswith("raw-"):
        sender: Any = _RawSender(transport[4:], payload)
    else:
        sender = _StreamSender(transport, cfg["payload"], payload)
    acks = _Acks()
    print(json.dumps({"info": sender.info, "acks": acks.url}), flush=True)
    sender.wait()
    print("ready", flush=True)
    for line in sys.stdin:
        cmd = line.split()
        cpu = 0.0
        if cmd[0] == "tp":
            k, cpu = _blast(sender, acks, float(cmd[1]))
        elif cmd[0] == "lat":
            period, n = 1.0 / float(cmd[2]), int(float(cmd[1]) * float(cmd[2]))
            t0 = time.monotonic()
            for k in range(n):
                delay = t0 + k * period - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                sender.send_stamped(k)
        else:
            break
        sender.end()
        print(json.dumps({"sent": k if cmd[0] == "tp" else n, "cpu": cpu}), flush=True)
    sender.close()
    acks.close()
    return 0


# --------------------------------------------------------------------------------------- receiver side
class _RawReceiver:
    def __init__(self, info: dict[str, Any], dtype: str) -> None:
        self.sock = zmq.Context.instance().socket(zmq.SUB)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.setsockopt(zmq.SUBSCRIBE, b"")
        self.sock.connect(info["url"])
        self.dtype = np.dtype(dtype)
        self.timeout_ms = -1.0

    def recv(self, timeout_ms: float) -> tuple[bool, int]:
        """(is_data, send timestamp or 0); raises TimeoutError."""
        if timeout_ms != self.timeout_ms:  # blocking recv with RCVTIMEO: no extra poll per message
            self.sock.setsockopt(zmq.RCVTIMEO, int(timeout_ms))
            self.timeout_ms = timeout_ms
        while True:
            try:
                frame = self.sock.recv(copy=False)
            except zmq.Again:
                raise TimeoutError from None
            if len(frame) == 1:
                return False, 0
            break
        data = np.frombuffer(frame, dtype=self.dtype)
        return True, int(data.view(np.int64)[0])

    def close(self) -> None:
        self.sock.close(0)


class _StreamReceiver:
    def __init__(self, info: dict[str, Any]) -> None:
        from pyacq_etvr.core.errors import StreamTimeout
        from pyacq_etvr.core.stream import InputStream

        self.inp = InputStream()
        self.inp.connect(info)
        self.timeout_error = StreamTimeout  # resolved once: no per-chunk import in the measured loop

    def recv(self, timeout_ms: float) -> tuple[bool, int]:
        try:
            _, data, ts = self.inp.recv(timeout_ms, None, True)
        except self.timeout_error:
            raise TimeoutError from None
        return data.shape[0] > 0, ts

    def close(self) -> None:
        self.inp.close()


def _readline(proc: subprocess.Popen, timeout: float) -> str:
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    line = proc.stdout.readline() if ready else ""
    if not line:
        raise RuntimeError(f"benchmark peer did not answer: {proc.stderr.read() if proc.poll() is not None else ''}")
    return line


def _command(proc: subprocess.Popen, line: str) -> None:
    proc.stdin.write(line + "\n")
    proc.stdin.flush()


def _drain(rx: Any, first_timeout: float, ack: Any) -> tuple[int, list[int], float, float]:
    """Receive until the end marker.

    Returns (chunks, receive-send latencies ns, seconds from first to last chunk, process CPU seconds used).
    """
    count, lat, t_first, t_last = 0, [], 0.0, 0.0
    timeout = first_timeout
    cpu0 = time.process_time()
    while True:
        try:
            is_data, ts = rx.recv(timeout)
        except TimeoutError:
            break  # the end marker itself was dropped
        now = time.monotonic_ns()
        if not is_data:
            break
        if count == 0:
            t_first = now
        t_last = now
        lat.append(now - ts)
        count += 1
        if ack is not None and not count % ACK_EVERY:
            ack.send(str(count).encode())
        timeout = 2000.0
    return count, lat, (t_last - t_first) / 1e9, time.process_time() - cpu0


class _Link:
    """One sender process and its receiver in this process, kept open across measurement rounds."""

    def __init__(self, payload_name: str, transport: str) -> None:
        self.payload_name, self.transport = payload_name, transport
        cfg = json.dumps({"payload": payload_name, "transport": transport})
        cmd = [sys.executable, "-m", "pyacq_etvr.bench", "streams", "--peer", cfg]
        self.proc = subprocess.Popen(
            cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        self.rx: Any = None
        self.ack = zmq.Context.instance().socket(zmq.PUSH)
        self.ack.setsockopt(zmq.LINGER, 0)
        self.rates: list[float] = []
        self.cpu_tx: list[float] = []
        self.cpu_rx: list[float] = []
        self.cpu_bound: list[float] = []
        self.lat: list[np.ndarray] = []
        self.lost = 0
        try:
            hello = json.loads(_readline(self.proc, 30))
            self.ack.connect(hello["acks"])
            info = hello["info"]
            dtype = PAYLOADS[payload_name]["dtype"]
            self.rx = _RawReceiver(info, dtype) if transport.startswith("raw-") else _StreamReceiver(info)
            if _readline(self.proc, 30).strip() != "ready":
                raise RuntimeError("peer failed to start")
        except BaseException:
            self.close()
            raise

    def throughput(self, seconds: float) -> None:
        _command(self.proc, f"tp {seconds}")
        count, _, span, rx_cpu = _drain(self.rx, 10000.0, self.ack)
        answer = json.loads(_readline(self.proc, 30))
        self.lost += max(0, answer["sent"] - count)
        self.rates.append((count - 1) / span if span > 0 and count > 1 else float("nan"))
        self.cpu_tx.append(answer["cpu"] / max(1, answer["sent"]) * 1e6)
        self.cpu_rx.append(rx_cpu / max(1, count) * 1e6)
        self.cpu_bound.append(1e6 / max(self.cpu_tx[-1], self.cpu_rx[-1], 1e-3))

    def latency(self, seconds: float) -> None:
        _command(self.proc, f"lat {seconds} 200")
        _, lat, _, _ = _drain(self.rx, 10000.0, None)
        _readline(self.proc, 30)
        self.lat.append(np.asarray(lat, dtype=float) / 1e3)

    def row(self) -> dict[str, Any]:
        """Medians over rounds (robust to a loaded machine): rate, CPU per chunk; p50 / p99 of pooled latencies."""
        rate = float(np.median(self.rates))
        p50, p99 = percentiles(np.concatenate(self.lat) if self.lat else [])
        cpu_tx, cpu_rx = float(np.median(self.cpu_tx)), float(np.median(self.cpu_rx))
        nbytes = _payload(self.payload_name).nbytes
        return {
            "payload": self.payload_name,
            "transport": self.transport,
            "chunks_per_s": rate,
            "MB_per_s": rate * nbytes / 1e6,
            "lost": self.lost,
            "lat_p50_us": p50,
            "lat_p99_us": p99,
            "tx_cpu_us": cpu_tx,
            "rx_cpu_us": cpu_rx,
            "cpu_bound_per_s": 1e6 / max(cpu_tx, cpu_rx),
            "rounds_per_s": [round(r, 1) for r in self.rates],
            "rounds_cpu_bound_per_s": [round(r, 1) for r in self.cpu_bound],
        }

    def close(self) -> None:
        proc = self.proc
        if proc.poll() is None:
            try:
                _command(proc, "quit")
                proc.wait(10)
            except (OSError, subprocess.TimeoutExpired):
                proc.kill()
                proc.wait(10)
        self.ack.close(0)
        if self.rx is not None:
            self.rx.close()
        for f in (proc.stdin, proc.stdout, proc.stderr):
            f.close()


def _measure_payload(payload_name: str, seconds: float, lat_seconds: float, repeat: int) -> list[dict[str, Any]]:
    """All transports of one payload, interleaved ``repeat`` times, alternating order (see the module doc)."""
    links: list[_Link] = []
    try:
        for transport in TRANSPORTS:
            links.append(_Link(payload_name, transport))
        for r in range(repeat):
            order = links if r % 2 == 0 else links[::-1]
            for link in order:
                link.throughput(seconds)
            for link in order:
                link.latency(lat_seconds / repeat)
        return [link.row() for link in links]
    finally:
        for link in links:
            link.close()


def _numpy_copy(payload_name: str, seconds: float) -> dict[str, Any]:
    src = _payload(payload_name)
    dst = np.empty_like(src)
    n, t0, cpu0 = 0, time.perf_counter(), time.process_time()
    while time.perf_counter() - t0 < seconds:
        for _ in range(100):
            np.copyto(dst, src)
        n += 100
    rate = n / (time.perf_counter() - t0)
    cpu = (time.process_time() - cpu0) / n * 1e6
    row = {
        "payload": payload_name,
        "transport": "numpy-copy",
        "chunks_per_s": rate,
        "MB_per_s": rate * src.nbytes / 1e6,
    }
    nan = float("nan")
    return {**row, "lost": 0, "lat_p50_us": nan, "lat_p99_us": nan, "tx_cpu_us": cpu, "rx_cpu_us": nan,
            "cpu_bound_per_s": 1e6 / cpu}  # fmt: skip


REFERENCE = {"plaindata-tcp": "raw-tcp", "plaindata-ipc": "raw-ipc", "sharedmem": "raw-ipc"}


def _paired_ratio(ours: list[float], ref: list[float]) -> float:
    """Median over rounds of ours / reference measured in the same round (NaN without rounds)."""
    ratios = [a / b for a, b in zip(ours, ref) if b > 0 and a == a and b == b]
    return float(np.median(ratios)) if ratios else float("nan")


def _add_ratios(rows: list[dict[str, Any]]) -> None:
    by = {(r["payload"], r["transport"]): r for r in rows}
    nan = float("nan")
    for r in rows:
        ref = by.get((r["payload"], REFERENCE.get(r["transport"], "")))
        r["tp_ratio"] = _paired_ratio(r["rounds_per_s"], ref["rounds_per_s"]) if ref else nan
        r["p99_ratio"] = r["lat_p99_us"] / ref["lat_p99_us"] if ref else nan
        r["cpu_ratio"] = _paired_ratio(r["rounds_cpu_bound_per_s"], ref["rounds_cpu_bound_per_s"]) if ref else nan


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pyacq_etvr.bench streams", description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", action="store_true", help="print a JSON document instead of the table")
    parser.add_argument("--quick", action="store_true", help="short windows (smoke test; noisy numbers)")
    parser.add_argument("--seconds", type=float, default=0.6, help="throughput window per transport and round (s)")
    parser.add_argument("--latency-seconds", type=float, default=3.0, help="200 Hz latency time per transport (s)")
    parser.add_argument("--payload", choices=sorted(PAYLOADS), action="append", help="restrict to a payload")
    parser.add_argument("--repeat", type=int, default=6, help="interleaved rounds over the transports (median)")
    parser.add_argument("--peer", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.peer:
        return _peer(json.loads(args.peer))
    seconds, lat_seconds, repeat = (0.2, 0.5, 1) if args.quick else (args.seconds, args.latency_seconds, args.repeat)
    if repeat < 1 or seconds <= 0 or lat_seconds <= 0:
        parser.error("--repeat, --seconds and --latency-seconds must be > 0")
    rows: list[dict[str, Any]] = []
    for payload_name in args.payload or list(PAYLOADS):
        rows.append(_numpy_copy(payload_name, seconds / 2))
        rows.extend(_measure_payload(payload_name, seconds, lat_seconds, repeat))
    _add_ratios(rows)
    result = {
        "benchmark": "streams",
        "seconds": seconds,
        "latency_seconds": lat_seconds,
        "repeat": repeat,
        "rows": rows,
        "targets": {
            "plaindata tp_ratio": ">= 0.9 (vs raw pyzmq, same protocol)",
            "plaindata p99_ratio": "<= 1.2",
            "sharedmem tp_ratio (image)": ">= 2.5 (vs raw pyzmq ipc)",
            "sharedmem p99_ratio": "<= 1.0",
        },
    }
    cols = ["payload", "transport", "chunks_per_s", "MB_per_s", "lost", "lat_p50_us", "lat_p99_us", "tx_cpu_us",
            "rx_cpu_us", "tp_ratio", "p99_ratio", "cpu_ratio"]  # fmt: skip
    table = format_table(rows, cols) + (
        "\nratios: plaindata vs raw pyzmq same protocol, sharedmem vs raw pyzmq ipc (tp: measured chunks/s;"
        "\np99: latency at 200 Hz; cpu: 1 / max(sender, receiver CPU per chunk), robust on a loaded machine)"
    )
    emit(result, table, args.json)
    return 0
