"""``python -m pyacq_etvr.bench viewers [--json] [--quick]``: repaint cost of the Qt viewers (offscreen).

Three measurements, each next to a reference measured in the same run:

* **oscilloscope**, 16 channels of noise at 10 kHz, 3 s window, 1000 px wide, channels stacked
  (``auto_scale``): one display frame = append 50 ms of data + ``refresh()`` (decimation to the plot width)
  + a synchronous repaint. Reference: the same window with the same gains drawn at full resolution
  (``setData`` with all 30,000 points per channel, no decimation) + repaint.
* **image viewer**, 240x240 uint8 frame with a pupil overlay: ``set_frame`` + ``set_pupil`` + ``refresh()``
  + repaint. Reference: a bare pyqtgraph ``ImageItem.setImage`` + repaint in a plain view of the same size.
* **Qt poller delivery**: one-way latency from ``OutputStream.send`` to the ``new_data`` slot in the GUI
  thread (QtPollInput), p50/p99 at 200 Hz. Reference: the core ThreadPollInput callback in its own thread.

The ratio column is reference / viewer for costs (> 1: the viewer is cheaper) and viewer / reference for
the latency (the Qt hop's overhead). Runs offscreen (``QT_QPA_PLATFORM=offscreen`` is set if unset).
"""

from __future__ import annotations

import argparse
import os
import threading
import time
from typing import Any

import numpy as np

from pyacq_etvr.bench.report import emit, format_table, percentiles


def _timed(fn: Any, n: int) -> list[float]:
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t0) * 1e3)
    return out


def bench_scope(n: int) -> dict[str, Any]:
    from pyacq_etvr.viewers import OscilloscopeWidget
    from pyacq_etvr.viewers._qt import QtWidgets, pg

    nch, rate = 16, 10000.0
    w = OscilloscopeWidget(nch, rate, xsize=3.0, decimation_method="min_max")
    w.resize(1000, 600)
    w.show()
    rng = np.random.default_rng(0)
    chunk = rng.standard_normal((500, nch)).astype(np.float32)
    for _ in range(60):  # fill the 3 s window
        w.append(chunk)
    w.auto_scale()  # channels stacked, as a user looks at them
    QtWidgets.QApplication.processEvents()

    def frame() -> None:
        w.append(chunk)
        w.refresh()
        w.graphics.viewport().repaint()

    ours = _timed(frame, n)
    ref_view = pg.GraphicsLayoutWidget()
    ref_view.resize(1000, 600)
    ref_view.show()
    plot = ref_view.addPlot()
    plot.setYRange(w.params["ylim_min"], w.params["ylim_max"], padding=0)
    curves = [plot.plot(pen=pg.intColor(i, nch)) for i in range(nch)]
    gains, offsets = w._gains.copy(), w._offsets.copy()
    x = np.arange(w.ring.size, dtype=np.float64) / rate
    QtWidgets.QApplication.processEvents()

    def ref_frame() -> None:
        w.append(chunk)
        win = w.window()
        for i, c in enumerate(curves):
            c.setData(x, win[:, i] * gains[i] + offsets[i])
        ref_view.viewport().repaint()

    ref = _timed(ref_frame, max(3, n // 4))
    w.close()
    ref_view.close()
    return {"ours": ours, "ref": ref}


def bench_image(n: int) -> dict[str, Any]:
    from pyacq_etvr.eyetypes import PUPIL_DTYPE
    from pyacq_etvr.viewers import ImageViewerWidget
    from pyacq_etvr.viewers._qt import QtWidgets, pg

    frames = np.random.default_rng(1).integers(0, 255, (8, 240, 240), dtype=np.uint8)
    rec = np.zeros(1, PUPIL_DTYPE)
    rec["found"], rec["x"], rec["y"], rec["confidence"], rec["ellipse"] = True, 120, 110, 0.9, (120, 110, 40, 34, 15)
    w = ImageViewerWidget()
    w.resize(480, 500)
    w.show()
    QtWidgets.QApplication.processEvents()
    k = [0]

    def frame() -> None:
        k[0] += 1
        w.set_frame(frames[k[0] % 8], index=k[0])
        rec["index"] = k[0]
        w.set_pupil(rec)
        w.refresh()
        w.graphics.viewport().repaint()

    ours = _timed(frame, n)
    view = pg.GraphicsLayoutWidget()
    view.resize(480, 480)
    vb = view.addViewBox(lockAspect=True, invertY=True)
    item = pg.ImageItem(axisOrder="row-major")
    vb.addItem(item)
    view.show()
    QtWidgets.QApplication.processEvents()

    def ref_frame() -> None:
        k[0] += 1
        item.setImage(frames[k[0] % 8], autoLevels=False, levels=(0, 255))
        view.viewport().repaint()

    ref = _timed(ref_frame, n)
    w.close()
    view.close()
    return {"ours": ours, "ref": ref}


def _latency(n: int, qt: bool) -> list[float]:
    from pyacq_etvr.core.poller import ThreadPollInput
    from pyacq_etvr.core.stream import InputStream, OutputStream
    from pyacq_etvr.viewers import QtPollInput
    from pyacq_etvr.viewers._qt import QtWidgets

    out = OutputStream()
    out.configure(protocol="tcp", interface="127.0.0.1", transfermode="plaindata", dtype="float64", shape=(-1, 1))
    inp = InputStream()
    inp.connect(out)
    lat: list[float] = []
    got = threading.Event()

    def slot(index: int, data: Any) -> None:
        lat.append((time.perf_counter() - float(data[0, 0])) * 1e3)
        got.set()

    poller = QtPollInput(inp, max_pending=1000) if qt else ThreadPollInput(inp)
    poller.new_data.connect(slot)
    poller.start()
    buf = np.zeros((1, 1))
    period = 1 / 200.0
    try:
        for _ in range(n):
            got.clear()
            buf[0, 0] = time.perf_counter()
            out.send(buf)
            deadline = time.monotonic() + 1.0
            while not got.is_set() and time.monotonic() < deadline:
                if qt:
                    QtWidgets.QApplication.processEvents()
                else:
                    got.wait(0.001)
            time.sleep(period)
    finally:
        poller.stop()
        poller.wait(5.0 if qt else 5000.0)
        inp.close()
        out.close()
    return lat


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m pyacq_etvr.bench viewers", description=__doc__.splitlines()[0])
    p.add_argument("--json", action="store_true", help="print a JSON document instead of a table")
    p.add_argument("--quick", action="store_true", help="few iterations (smoke test)")
    args = p.parse_args(argv)
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from pyacq_etvr.viewers import mkQApp

    mkQApp()
    n = 8 if args.quick else 100
    scope, image = bench_scope(n), bench_image(n)
    lat_qt, lat_ref = _latency(n, True), _latency(n, False)
    rows = []
    for name, res in (("oscilloscope 16ch@10kHz frame (ms)", scope), ("image 240x240 + overlay (ms)", image)):
        o50, o99 = percentiles(res["ours"])
        r50, r99 = percentiles(res["ref"])
        rows.append({"measure": name, "p50": o50, "p99": o99, "ref p50": r50, "ref p99": r99, "ratio": r50 / o50})
    q50, q99 = percentiles(lat_qt)
    r50, r99 = percentiles(lat_ref)
    rows.append(
        {"measure": "poller latency (ms)", "p50": q50, "p99": q99, "ref p50": r50, "ref p99": r99, "ratio": q50 / r50}
    )
    result = {"benchmark": "viewers", "iterations": n, "rows": rows}
    table = (
        "Qt viewers, offscreen (costs in ms per display frame; ratio = reference / viewer, latency: viewer / ref)\n"
        + format_table(rows, ["measure", "p50", "p99", "ref p50", "ref p99", "ratio"])
    )
    emit(result, table, args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
