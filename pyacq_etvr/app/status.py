"""Live status of ``pyacq-etvr run``: per eye camera state, fps, detection rate, mean confidence, latency
camera -> OSC (p50/p99), dropped frames (stale frames dropped by the camera transport plus frames the
detector skipped because it was busy), restarts; plus the OSC sender's counters.

:func:`format_status` turns a status snapshot (plain dict, see :meth:`Pipeline.status`) into lines;
:class:`StatusPrinter` refreshes them in place on a terminal (ANSI: cursor up + clear line) or prints one
plain line per refresh when stdout is not a TTY (logs, pipes, tests). :func:`format_summary` is the final
report printed after a stop.
"""

from __future__ import annotations

import math
import sys
from typing import Any, TextIO


def _num(v: Any, fmt: str = ".1f", none: str = "-") -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return none
    return format(v, fmt)


def eye_line(eye: str, s: dict[str, Any]) -> str:
    """One eye's status as a single line."""
    if not s.get("alive", False):
        return f"{eye:5s} DOWN ({s.get('reason', 'process died')}; restarts {s.get('restarts', 0)})"
    return (
        f"{eye:5s} {s.get('camera_state', '?'):12s} {_num(s.get('fps')):>5s} fps  "
        f"det {_num(100 * s['detection_rate'] if s.get('detection_rate') is not None else None, '.0f'):>3s}%  "
        f"conf {_num(s.get('mean_confidence'), '.2f')}  "
        f"lat {_num(s.get('latency_ms_p50'))}/{_num(s.get('latency_ms_p99'))} ms  "
        f"dropped {s.get('dropped', 0)}  restarts {s.get('restarts', 0)}"
        + ("  [calibrating]" if s.get("calibrating") else "" if s.get("calibrated") else "  [uncalibrated]")
    )


def osc_line(s: dict[str, Any]) -> str:
    return (
        f"osc   {s.get('scheme', '?')} -> {s.get('target', '?')}  sent {s.get('sent', 0)}  "
        f"dropped {s.get('overwritten', 0) + s.get('would_block', 0)}  errors {s.get('errors', 0)}"
    )


def format_status(snapshot: dict[str, Any], elapsed_s: float) -> list[str]:
    """Status lines: a header, one per eye, one for OSC."""
    lines = [f"pyacq-etvr run  t={elapsed_s:7.1f} s"]
    for eye, s in snapshot.get("eyes", {}).items():
        lines.append(eye_line(eye, s))
    if "osc" in snapshot:
        lines.append(osc_line(snapshot["osc"]))
    return lines


def format_summary(snapshot: dict[str, Any], elapsed_s: float) -> str:
    """Final summary printed after the run stopped."""
    lines = [f"pyacq-etvr run: stopped after {elapsed_s:.1f} s"]
    for eye, s in snapshot.get("eyes", {}).items():
        lines.append(
            f"  {eye}: frames {s.get('frames', 0)}, dropped {s.get('dropped', 0)}, "
            f"detection {_num(100 * s['detection_rate'] if s.get('detection_rate') is not None else None, '.0f')}%, "
            f"latency p50/p99 {_num(s.get('latency_ms_p50'))}/{_num(s.get('latency_ms_p99'))} ms, "
            f"restarts {s.get('restarts', 0)}, calibrated {s.get('calibrated', False)}"
        )
    o = snapshot.get("osc", {})
    if o:
        lines.append(f"  osc: {o.get('sent', 0)} updates ({o.get('messages', 0)} messages) to {o.get('target', '?')}")
    return "\n".join(lines)


class StatusPrinter:
    """Print status lines, in place on a TTY (``tty=None``: detect from the stream)."""

    def __init__(self, stream: TextIO | None = None, tty: bool | None = None) -> None:
        self.stream = stream or sys.stdout
        self.tty = self.stream.isatty() if tty is None else tty
        self._shown = 0

    def show(self, lines: list[str]) -> None:
        if self.tty:
            out = "\x1b[F" * self._shown  # back to the first line of the previous block
            out += "".join("\x1b[2K" + line + "\n" for line in lines)
            self._shown = len(lines)
            self.stream.write(out)
        else:
            self.stream.write(" | ".join(lines) + "\n")
        self.stream.flush()

    def invalidate(self) -> None:
        """Something else was printed (a log line): draw the next block below it instead of over it."""
        self._shown = 0

    def log_filter(self, record: object) -> bool:
        """A ``logging`` filter that calls :meth:`invalidate` for every record (and lets it through)."""
        self.invalidate()
        return True

    def finish(self, text: str) -> None:
        self.stream.write(text + "\n")
        self.stream.flush()
