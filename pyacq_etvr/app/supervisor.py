"""Supervision of ``pyacq-etvr run``: the Manager, the Pipeline, and restarting dead eyes.

What the ETVR backend promises and does not do: if an eye's NodeGroup process dies (SIGKILL, segfault,
driver crash), :meth:`Supervisor.tick` notices it within one tick (the main loop ticks every 50 ms; liveness
is read from /proc, no RPC round trip), logs it, and rebuilds that eye's NodeGroup with the same settings,
reconnecting its stream to the eye's Calibration node (whose calibration is kept). The other eye's process
and the OSC process are not touched, so the other eye keeps sending throughout. A restart that fails is
retried with a backoff (0.5 s doubling to 5 s); ``run.restart = false`` disables restarting.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from pyacq_etvr.app.config import AppConfig
from pyacq_etvr.app.pipeline import Pipeline

log = logging.getLogger(__name__)


class Supervisor:
    """Owns the Manager (local mode: NodeGroups are children of this process) and the Pipeline."""

    def __init__(self, cfg: AppConfig) -> None:
        self.cfg = cfg
        self.manager: Any = None
        self.pipeline: Pipeline | None = None
        self.last_status: dict[str, Any] = {}
        self.restart_times: list[tuple[str, float]] = []
        self._retry: dict[str, tuple[float, float]] = {}  # eye -> (next attempt time, backoff)

    def start(self) -> None:
        from pyacq_etvr.core.manager import create_manager

        self.manager = create_manager(mode="local", auto_close_at_exit=True)
        self.pipeline = Pipeline(self.cfg, self.manager)
        self.pipeline.build()
        self.pipeline.start()

    def tick(self) -> list[str]:
        """Detect dead eyes and restart them (or retry a failed restart when its backoff expired).

        Returns the eyes restarted during this tick (their streams are new: viewers must reconnect)."""
        p = self.pipeline
        assert p is not None
        for eye in p.check_eyes():
            if self.cfg.run.restart:
                self._retry[eye] = (0.0, 0.5)
        now = time.monotonic()
        restarted = []
        for eye, (when, backoff) in list(self._retry.items()):
            if now < when:
                continue
            try:
                dt = p.restart_eye(eye)
            except Exception as exc:
                log.error("%s eye: restart failed (%s); retrying in %.1f s", eye, exc, backoff)
                self._retry[eye] = (time.monotonic() + backoff, min(5.0, backoff * 2))
                continue
            del self._retry[eye]
            self.restart_times.append((eye, dt))
            restarted.append(eye)
        return restarted

    def refresh_status(self) -> dict[str, Any]:
        assert self.pipeline is not None
        self.last_status = self.pipeline.status()
        return self.last_status

    def close(self) -> None:
        """Stop and close everything; every process reaped. Safe to call after a partial start."""
        try:
            if self.pipeline is not None:
                try:
                    self.refresh_status()
                except Exception as exc:
                    log.debug("final status: %s", exc)
                self.pipeline.close()
        finally:
            if self.manager is not None:
                self.manager.close()
