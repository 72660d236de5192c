"""``python -m pyacq_etvr.bench rpc [--json] [--calls N] [--async-calls N] [--spawns N] [--repeat R]``

Measures, in one run, between this process and a child process on loopback TCP:

* **reference**: a raw pyzmq DEALER/ROUTER echo (the server is a bare ``recv_multipart`` /
  ``send_multipart`` loop in its own process): round-trip p50/p99 of a one-frame message, and pipelined
  messages per second (send N, then receive N);
* **rpc_call**: round-trip of a trivial remote method call through an :class:`ObjectProxy`
  (``proxy.noop()``, a bound-method proxy fetched once, so each call is exactly one request);
* **rpc_async**: pipelined ``proxy.noop(_sync='async')`` calls per second (send N, then wait for all);
* **spawn**: time to start a NodeGroup-capable process with :class:`ProcessSpawner` and get its first answer.

Ratios are against the raw echo measured in the same run. Latency rounds are interleaved (raw, rpc, raw,
rpc...) and the best round's median is kept, so a shared machine disturbs the ratio as little as possible.
Targets (issue 3): p50 ≤ 1.5 × raw echo, ≥ 40,000 async calls/s, spawn ≤ 0.5 s. pyacq measured on this
machine: 155 µs p50 (1.8 × raw), 26,000 async calls/s, 0.82 s spawn.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from typing import Any

from pyacq_etvr.bench.report import emit, format_table, percentiles

_ECHO_SERVER = """
import sys, zmq
ctx = zmq.Context()
sock = ctx.socket(zmq.ROUTER)
sock.setsockopt(zmq.LINGER, 0)
port = sock.bind_to_random_port("tcp://127.0.0.1")
print(port, flush=True)
while True:
    msg = sock.recv_multipart()
    if msg[1] == b"quit":
        break
    sock.send_multipart(msg)
"""


class NoOp:
    """Target object of the benchmark (created in the child process)."""

    def noop(self) -> None:
        return None


def _latency(fn, n: int) -> list[float]:
    out = []
    perf = time.perf_counter
    for _ in range(n):
        t = perf()
        fn()
        out.append(perf() - t)
    return out


def _start_echo() -> tuple[subprocess.Popen, Any]:
    import zmq

    proc = subprocess.Popen([sys.executable, "-c", _ECHO_SERVER], stdout=subprocess.PIPE, text=True)
    port = int(proc.stdout.readline())
    sock = zmq.Context.instance().socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.connect(f"tcp://127.0.0.1:{port}")
    return proc, sock


def _stop_echo(proc: subprocess.Popen, sock: Any) -> None:
    sock.send(b"quit")
    try:
        proc.wait(5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)
    sock.close(0)
    proc.stdout.close()


def _pipelined_raw(sock: Any, n: int) -> float:
    t = time.perf_counter()
    for _ in range(n):
        sock.send(b"x")
    for _ in range(n):
        sock.recv()
    return n / (time.perf_counter() - t)


def _pipelined_rpc(fn, n: int) -> float:
    t = time.perf_counter()
    futures = [fn(_sync="async") for _ in range(n)]
    for f in futures:
        f.result(30)
    return n / (time.perf_counter() - t)


def _spawn_times(n: int) -> list[float]:
    from pyacq_etvr.core.rpc import ProcessSpawner

    times = []
    for _ in range(n):
        t = time.perf_counter()
        p = ProcessSpawner(name="bench-spawn")
        p.client.ping()
        times.append(time.perf_counter() - t)
        p.stop()
    return times


def run(calls: int, async_calls: int, spawns: int, repeat: int) -> dict[str, Any]:
    from pyacq_etvr.core.rpc import ProcessSpawner

    echo_proc, echo = _start_echo()
    child = ProcessSpawner(name="bench-rpc")
    try:
        target = child._import("pyacq_etvr.bench.rpc").NoOp()
        noop = target.noop
        raw_fn = lambda: (echo.send(b"x"), echo.recv())
        for _ in range(300):  # warm up both paths
            raw_fn()
            noop()
        raw_rounds, rpc_rounds = [], []
        for _ in range(repeat):
            raw_rounds.append(_latency(raw_fn, calls))
            rpc_rounds.append(_latency(noop, calls))
        raw_best = min(raw_rounds, key=statistics.median)
        rpc_best = min(rpc_rounds, key=statistics.median)
        raw_rate = max(_pipelined_raw(echo, async_calls) for _ in range(repeat))
        rpc_rate = max(_pipelined_rpc(noop, async_calls) for _ in range(repeat))
    finally:
        child.stop()
        _stop_echo(echo_proc, echo)
    spawn = _spawn_times(spawns)
    raw_p50, raw_p99 = percentiles([x * 1e6 for x in raw_best])
    rpc_p50, rpc_p99 = percentiles([x * 1e6 for x in rpc_best])
    return {
        "raw_echo": {"p50_us": raw_p50, "p99_us": raw_p99, "pipelined_per_s": raw_rate},
        "rpc_call": {"p50_us": rpc_p50, "p99_us": rpc_p99, "ratio_p50_vs_raw": rpc_p50 / raw_p50},
        "rpc_async": {"calls_per_s": rpc_rate, "ratio_vs_raw_pipelined": rpc_rate / raw_rate},
        "spawn": {"median_s": statistics.median(spawn), "max_s": max(spawn), "n": len(spawn)},
        "targets": {"ratio_p50_vs_raw": 1.5, "calls_per_s": 40000, "spawn_s": 0.5},
        "pyacq_reference": {"p50_us": 155, "ratio_p50_vs_raw": 1.8, "calls_per_s": 26000, "spawn_s": 0.82},
    }


def _table(r: dict[str, Any]) -> str:
    rows = [
        {
            "measure": "raw DEALER/ROUTER echo",
            "p50_us": r["raw_echo"]["p50_us"],
            "p99_us": r["raw_echo"]["p99_us"],
            "per_s": r["raw_echo"]["pipelined_per_s"],
            "vs_raw": 1.0,
            "target": "reference",
        },
        {
            "measure": "rpc call proxy.noop()",
            "p50_us": r["rpc_call"]["p50_us"],
            "p99_us": r["rpc_call"]["p99_us"],
            "per_s": "",
            "vs_raw": r["rpc_call"]["ratio_p50_vs_raw"],
            "target": "p50 <= 1.5 x raw",
        },
        {
            "measure": "rpc async pipelined",
            "p50_us": "",
            "p99_us": "",
            "per_s": r["rpc_async"]["calls_per_s"],
            "vs_raw": r["rpc_async"]["ratio_vs_raw_pipelined"],
            "target": ">= 40000 /s",
        },
        {
            "measure": f"spawn + first answer (s, median of {r['spawn']['n']})",
            "p50_us": r["spawn"]["median_s"],
            "p99_us": r["spawn"]["max_s"],
            "per_s": "",
            "vs_raw": "",
            "target": "<= 0.5 s",
        },
    ]
    text = format_table(rows, floatfmt=".4g")
    return text + "\n(pyacq here: 155 us p50 = 1.8 x raw, 26,000 async calls/s, 0.82 s spawn)"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pyacq_etvr.bench rpc", description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument("--calls", type=int, default=2000, help="round trips per latency round")
    parser.add_argument("--async-calls", type=int, default=20000, help="calls per pipelined round")
    parser.add_argument("--spawns", type=int, default=3, help="processes spawned for the spawn time")
    parser.add_argument("--repeat", type=int, default=3, help="interleaved rounds (best kept)")
    args = parser.parse_args(argv)
    for name in ("calls", "async_calls", "spawns", "repeat"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be >= 1")
    result = run(args.calls, args.async_calls, args.spawns, args.repeat)
    emit(result, _table(result), args.json)
    return 0
