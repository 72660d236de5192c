"""Benchmarks: ``python -m pyacq_etvr.bench <name> [--json]``.

Each benchmark is a module ``pyacq_etvr.bench.<name>`` exposing ``main(argv) -> int``. It prints a table
and always measures a reference (raw pyzmq, bare ``cv2.imdecode``, a numpy copy...) in the same run, so
the ratios are meaningful on any machine. Benchmarks never assert absolute speeds.
"""

from __future__ import annotations

BENCHMARKS: dict[str, str] = {
    "streams": "stream transfer modes between two processes vs raw pyzmq",
    "rpc": "RPC round-trip, async throughput and NodeGroup spawn time vs raw DEALER/ROUTER",
    "camera": "synthetic camera rendering and MJPEG decoding vs bare cv2.imdecode",
    "pupil": "pupil detector accuracy and speed on a labelled folder",
    "pipeline": "two synthetic eyes to OSC: end-to-end latency and drops",
    "viewers": "Qt viewers: oscilloscope/image repaint cost and Qt poller latency vs plain pyqtgraph / core poller",
}
