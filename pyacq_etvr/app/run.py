"""``pyacq-etvr run``: two eye cameras in, gaze and eyelids out over OSC, supervised.

The default run needs nothing but this package: two synthetic eye cameras, OSC to 127.0.0.1:9000 (VRChat's
native eye-tracking addresses), OSC control on 127.0.0.1:9001. With no stored calibration each eye calibrates
itself automatically over the first ``calibration.auto_sweep_s`` seconds (4 s; the synthetic eyes look around
like a user doing a sweep); until then the eye is reported uncalibrated and no look values are sent for it
(lids are). Send ``/avatar/parameters/etvr_recalibrate`` (bool true) to run a new sweep
(``calibration.sweep_s``, 15 s) and ``/avatar/parameters/etvr_recenter`` while looking straight ahead.

Ctrl-C / SIGTERM stop the run at the next tick, after a restart or build under way has finished (a second one
stops at once). Exit status: 0 after ``--duration`` or a stop signal (clean stop: every process reaped, a
summary printed), 2 for a bad configuration (nothing started), 1 if the pipeline could not be built or failed.
See :mod:`pyacq_etvr.app.config` for the options and ``pyacq-etvr config --example`` for the TOML file.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
import time
from types import FrameType
from typing import Any

from pyacq_etvr.app.config import AppConfig, add_arguments, build_config
from pyacq_etvr.app.status import StatusPrinter, format_status, format_summary
from pyacq_etvr.app.supervisor import Supervisor
from pyacq_etvr.core.errors import ConfigError

log = logging.getLogger("pyacq_etvr.run")


class _StopRequest:
    """SIGINT / SIGTERM handler: the first signal asks the main loop to stop at its next tick.

    Whatever the loop is doing when the signal comes (building the pipeline, restarting an eye: spawning a
    process, connecting it) finishes first, so no NodeGroup process is left half-made and unrecorded (an
    exception raised from a signal handler can land between a process spawn and its bookkeeping, and that
    process would outlive ``pyacq-etvr run``). A second signal raises KeyboardInterrupt at once, for a user
    who does not want to wait.
    """

    def __init__(self) -> None:
        self.event = threading.Event()

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        if self.event.is_set():
            raise KeyboardInterrupt
        self.event.set()

    def is_set(self) -> bool:
        return self.event.is_set()


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="pyacq-etvr run", description=__doc__.split("\n\n")[0])
    add_arguments(p)
    p.add_argument("-v", "--verbose", action="count", default=0, help="more log output (-vv: debug)")
    p.add_argument("--plain", action="store_true", help="plain status lines even on a terminal")
    return p


def _setup_logging(verbose: int) -> None:
    root = logging.getLogger()
    if not root.handlers:
        h = logging.StreamHandler(sys.stderr)
        h.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        root.addHandler(h)
    root.setLevel(logging.WARNING if verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG)


def main(argv: list[str] | None = None) -> int:
    ns = _parser().parse_args(argv)
    try:
        cfg = build_config(ns)
    except ConfigError as exc:
        print(f"pyacq-etvr run: error: {exc}", file=sys.stderr)
        return 2
    _setup_logging(ns.verbose)
    printer = StatusPrinter(tty=False if ns.plain else None)
    for h in logging.getLogger().handlers:  # a log line printed between refreshes is not overwritten
        h.addFilter(printer.log_filter)
    return run(cfg, printer)


def run(cfg: AppConfig, printer: StatusPrinter) -> int:
    """Run the configured pipeline until ``cfg.run.duration`` or a stop signal. Returns the exit status."""
    control = None
    if cfg.control.enabled:
        from pyacq_etvr.nodes.osc import OscControlServer

        events = {"recenter": threading.Event(), "recalibrate": threading.Event()}
        try:
            control = OscControlServer(
                events["recenter"].set, events["recalibrate"].set, host=cfg.control.host, port=cfg.control.port
            )
        except ConfigError as exc:
            print(f"pyacq-etvr run: error: {exc}", file=sys.stderr)
            return 2
    else:
        events = {}
    stop = _StopRequest()
    old_handlers = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    sup = Supervisor(cfg)
    t0 = time.monotonic()
    status = 0
    try:
        sup.start()
        if control is not None:
            control.start()
        print(f"pyacq-etvr run: started ({', '.join(cfg.eyes())} eye; OSC {cfg.osc.scheme} to "
              f"{cfg.osc.host}:{cfg.osc.port}{f'; control on port {control.port}' if control else ''})",
              flush=True)  # fmt: skip
        _loop(cfg, sup, events, printer, t0, stop)
    except KeyboardInterrupt:
        pass
    except Exception as exc:
        log.exception("pyacq-etvr run failed")
        print(f"pyacq-etvr run: error: {exc}", file=sys.stderr)
        status = 1
    finally:
        try:
            if control is not None:
                control.stop()
        finally:
            sup.close()  # takes a last status snapshot before closing the pipeline
            for sig, handler in old_handlers.items():
                signal.signal(sig, handler)
        printer.finish(format_summary(sup.last_status, time.monotonic() - t0))
    return status


def _open_viewers(sup: Supervisor) -> Any:
    """The Qt dashboard (eye images with pupil overlay, gaze plot) in this process, started."""
    from pyacq_etvr.viewers.dashboard import EyeDashboard

    assert sup.pipeline is not None
    dash = EyeDashboard(sup.pipeline.viewer_outputs(), title="pyacq-etvr run")
    dash.start()
    return dash


def _loop(
    cfg: AppConfig, sup: Supervisor, events: dict[str, Any], printer: StatusPrinter, t0: float, stop: _StopRequest
) -> None:
    dash = _open_viewers(sup) if cfg.run.viewer and not stop.is_set() else None
    try:
        _ticks(cfg, sup, events, printer, t0, dash, stop)
    finally:
        if dash is not None:
            dash.close()


def _ticks(
    cfg: AppConfig,
    sup: Supervisor,
    events: dict[str, Any],
    printer: StatusPrinter,
    t0: float,
    dash: Any,
    stop: _StopRequest,
) -> None:
    next_status = time.monotonic()
    end = t0 + cfg.run.duration if cfg.run.duration > 0 else float("inf")
    while not stop.is_set():
        now = time.monotonic()
        if now >= end:
            return
        for eye in sup.tick():
            if dash is not None:
                assert sup.pipeline is not None
                dash.reconnect_eye(eye, sup.pipeline.eye_outputs(eye))
        if events and events["recenter"].is_set():
            events["recenter"].clear()
            log.warning("OSC control: recenter -> %s", sup.pipeline.recenter())
        if events and events["recalibrate"].is_set():
            events["recalibrate"].clear()
            sup.pipeline.recalibrate()
            log.warning("OSC control: recalibration sweep started (%.1f s)", cfg.calibration.sweep_s)
        if now >= next_status:
            printer.show(format_status(sup.refresh_status(), now - t0))
            next_status = now + cfg.run.status_interval
        pause = min(0.05, max(0.0, end - time.monotonic()))
        if dash is not None:
            dash.process_events(pause)  # keeps the Qt window alive instead of sleeping
        else:
            stop.event.wait(pause)


if __name__ == "__main__":
    sys.exit(main())
