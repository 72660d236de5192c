"""Status display of `pyacq-etvr run`: in place on a terminal, plain lines otherwise."""

from __future__ import annotations

import io

from pyacq_etvr.app.status import StatusPrinter, format_status, format_summary

SNAP = {
    "eyes": {
        "left": {"alive": True, "camera_state": "streaming", "fps": 59.9, "detection_rate": 0.97,
                 "mean_confidence": 0.91, "latency_ms_p50": 2.1, "latency_ms_p99": 4.9, "dropped": 3,
                 "restarts": 0, "calibrated": True, "frames": 1200},
        "right": {"alive": False, "reason": "process 123 died", "restarts": 1},
    },
    "osc": {"scheme": "native", "target": "127.0.0.1:9000", "sent": 2400, "overwritten": 5, "messages": 4800},
}  # fmt: skip


def test_lines_show_every_field():
    lines = format_status(SNAP, 12.0)
    assert "t=   12.0 s" in lines[0]
    left = lines[1]
    for text in ("streaming", "59.9 fps", "det  97%", "conf 0.91", "lat 2.1/4.9 ms", "dropped 3", "restarts 0"):
        assert text in left, text
    assert "DOWN" in lines[2] and "process 123 died" in lines[2]
    assert "sent 2400" in lines[3] and "dropped 5" in lines[3]
    summary = format_summary(SNAP, 30.0)
    assert "stopped after 30.0 s" in summary and "frames 1200" in summary and "2400 updates" in summary


def test_tty_refreshes_in_place_and_pipe_gets_plain_lines():
    buf = io.StringIO()
    p = StatusPrinter(buf, tty=True)
    p.show(["a", "b"])
    p.show(["c", "d"])
    text = buf.getvalue()
    assert text.count("\x1b[F") == 2 and text.endswith("\x1b[2Kc\n\x1b[2Kd\n")  # cursor back up 2 lines
    buf = io.StringIO()
    p = StatusPrinter(buf)  # StringIO is not a TTY
    p.show(["a", "b"])
    p.finish("done")
    assert buf.getvalue() == "a | b\ndone\n"


def test_a_log_line_is_not_overwritten():
    import logging

    buf = io.StringIO()
    p = StatusPrinter(buf, tty=True)
    p.show(["a", "b"])
    assert p.log_filter(logging.LogRecord("x", logging.WARNING, "", 0, "msg", None, None))
    p.show(["c", "d"])
    assert "\x1b[F" not in buf.getvalue()  # the second block starts below, not over the log line
