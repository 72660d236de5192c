"""Child process for the multi-process stream tests: ``python _core_stream_peer.py sender|receiver JSON``.

sender: configures an OutputStream, prints its params as one JSON line, waits for N subscribers, sends the
chunks, prints its checksum, then waits for a line on stdin before closing.
receiver: connects to the params, prints "ready", receives every chunk, checks each one exactly against the
expected content, prints a JSON result line.
"""

from __future__ import annotations

import json
import sys
import zlib

import numpy as np

from pyacq_etvr.core.stream import InputStream, OutputStream

POINT = np.dtype([("x", "<f4"), ("y", "<f4"), ("flags", "u1", (2,))])
SPECS = {
    "analog": dict(streamtype="analogsignal", dtype="float32", shape=(-1, 16)),
    "image": dict(streamtype="image", dtype="uint8", shape=(-1, 240, 240)),
    "struct": dict(streamtype="event", dtype=POINT.descr, shape=(-1,)),
    "transposed": dict(streamtype="analogsignal", dtype="float64", shape=(-1, 3)),
}


def make_chunk(kind: str, k: int) -> np.ndarray:
    """Deterministic chunk number ``k`` (the receiver rebuilds it to check every byte)."""
    if kind == "analog":
        return ((np.arange(8 * 16, dtype="float32").reshape(8, 16) * 7 + k) % 1013).astype("float32")
    if kind == "image":
        img = np.empty((1, 240, 240), dtype="uint8")
        img[...] = k % 251
        img[0, k % 240] = (k * 3) % 256
        return img
    if kind == "struct":
        arr = np.zeros(3, dtype=POINT)
        arr["x"], arr["y"], arr["flags"] = k, np.arange(3) - k, [[k % 256, 7]] * 3
        return arr
    return (np.arange(3 * 5, dtype="float64").reshape(3, 5) + k).T  # non-contiguous


def sender(cfg: dict) -> None:
    out = OutputStream(name="peer")
    extra = dict(buffer_size=cfg["n"] * 8 + 16) if cfg["mode"] == "sharedmem" else dict(sndhwm=cfg["n"] + 100)
    out.configure(protocol=cfg["protocol"], transfermode=cfg["mode"], **SPECS[cfg["kind"]], **extra)
    print(json.dumps(out.params), flush=True)
    if cfg["readers"]:
        out.wait_for_subscribers(cfg["readers"], timeout=30000)
    else:  # like a pipeline: readers connected earlier, the parent says when to start
        sys.stdin.readline()
    crc = 0
    for k in range(cfg["n"]):
        chunk = make_chunk(cfg["kind"], k)
        crc = zlib.crc32(np.ascontiguousarray(chunk).tobytes(), crc)
        out.send(chunk)
    print(json.dumps({"crc": crc}), flush=True)
    sys.stdin.readline()
    out.close()


def receiver(cfg: dict) -> None:
    params = json.loads(sys.stdin.readline())
    inp = InputStream()
    inp.connect(params)
    print("ready", flush=True)
    crc, bad, index = 0, [], 0
    for k in range(cfg["n"]):
        got_index, data = inp.recv(timeout=20000)
        expected = make_chunk(cfg["kind"], k)
        index += expected.shape[0]
        if got_index != index or data.dtype != expected.dtype or not np.array_equal(data, expected):
            bad.append(k)
        crc = zlib.crc32(np.ascontiguousarray(data).tobytes(), crc)
    print(json.dumps({"crc": crc, "bad": bad[:20], "n_bad": len(bad), "stats": inp.stats()}), flush=True)
    inp.close()


def blaster(cfg: dict) -> None:
    """Writes uniform 240x240 frames into a tiny ring as fast as possible for cfg['seconds'] s."""
    import time

    out = OutputStream(name="blaster")
    out.configure(protocol="ipc", transfermode="sharedmem", buffer_size=cfg["buffer_size"], **SPECS["image"])
    print(json.dumps(out.params), flush=True)
    out.wait_for_subscribers(cfg["readers"], timeout=30000)
    frames = [np.full((1, 240, 240), v, dtype="uint8") for v in range(251)]
    k, end = 0, time.monotonic() + cfg["seconds"]
    while time.monotonic() < end:
        out.send(frames[k % 251])
        k += 1
    print(json.dumps({"sent": k}), flush=True)
    sys.stdin.readline()
    out.close()


if __name__ == "__main__":
    role, cfg = sys.argv[1], json.loads(sys.argv[2])
    {"sender": sender, "receiver": receiver, "blaster": blaster}[role](cfg)
