"""Composition of the eye-tracking pipeline with the Manager (used by ``pyacq-etvr run`` and the benchmark).

Process layout::

    NodeGroup "eye-left-<gen>"    Camera --direct--> PupilDetector --direct--> FilterChain --tcp--+
                                  (ReplaySource --inproc--> PupilDetector)                         |
    NodeGroup "eye-right-<gen>"   (same)                                                           |
                                  [RawRecorder: video, truth, pupil_raw, pupil (filtered)]         |
    NodeGroup "osc"               Calibration(left), Calibration(right) --direct--> EyeMerge --direct--> OscSender
                                  [RawRecorder: gaze, OSC values]

"direct": the nodes share one thread (``Camera.attach``/``PupilDetector.attach`` in an eye process: the
camera's acquisition thread detects and filters each frame; ``Calibration.attach``/``EyeMerge.attach`` in the
OSC process: the calibration's worker thread merges and sends): a frame crosses each process with at most one
thread wake-up, and no frame is skipped between the camera and the filters.

Each eye lives in its own process so that a crash (camera driver, decoder) takes down one eye only:
:meth:`Pipeline.restart_eye` rebuilds that eye's group with the same settings and reconnects the eye's
Calibration node to it, while the other eye and the OSC group keep running (calibration is kept).
Recordings: ``<record>/left``, ``<record>/right`` and ``<record>/osc`` are each a RawRecording folder
(an eye restarted mid-run records into ``<record>/left-<gen>``).
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from pyacq_etvr.app.config import AppConfig
from pyacq_etvr.core.errors import PyacqError

log = logging.getLogger(__name__)

NODE_TYPES = {
    "Camera": "pyacq_etvr.nodes.camera.node",
    "PupilDetector": "pyacq_etvr.nodes.pupil",
    "FilterChain": "pyacq_etvr.nodes.filters.nodes",
    "RawRecorder": "pyacq_etvr.nodes.recorder",
    "ReplaySource": "pyacq_etvr.nodes.recorder",
    "Calibration": "pyacq_etvr.nodes.calibration",
    "EyeMerge": "pyacq_etvr.nodes.merge",
    "OscSender": "pyacq_etvr.nodes.osc",
}

EYE_NODES = ("Camera", "ReplaySource", "PupilDetector", "FilterChain", "RawRecorder")
OSC_NODES = ("Calibration", "EyeMerge", "OscSender", "RawRecorder")


def _register(ng: Any, names: tuple[str, ...]) -> None:
    for n in names:
        ng.register_node_type_from_module(NODE_TYPES[n], n)


def pid_alive(pid: int) -> bool:
    """True if process ``pid`` exists and is not a zombie (Linux /proc; falls back to kill(pid, 0))."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
        return data[data.rfind(b")") + 2 : data.rfind(b")") + 3] != b"Z"
    except FileNotFoundError:
        return False
    except OSError:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True


@contextlib.contextmanager
def children_ignore_sigint() -> Iterator[None]:
    """Block SIGINT in this thread while spawning: child processes inherit the blocked mask, so a Ctrl-C in the
    terminal (sent to the whole process group) reaches only ``pyacq-etvr run``, which then stops the NodeGroups
    in order. A Ctrl-C arriving meanwhile stays pending and is delivered here when the block ends."""
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "pthread_sigmask"):
        yield
        return
    old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def create_nodegroup(manager: Any, name: str) -> Any:
    """``manager.create_nodegroup(name=name)`` with Ctrl-C kept away from the new process."""
    with children_ignore_sigint():
        return manager.create_nodegroup(name=name)


def set_process_priority(pid: int, nice: int) -> bool:
    """Set the nice value of every thread of process ``pid`` (Linux nice is per thread; threads created later
    inherit it from their creator). A lower value lets the kernel run the pipeline's threads sooner after a
    wake-up on a loaded machine: less latency tail. Negative values need CAP_SYS_NICE: refused -> a warning,
    False, nothing changed for the threads not yet set. ``nice == 0`` does nothing."""
    if nice == 0 or not hasattr(os, "setpriority"):
        return nice == 0
    try:
        tids = [int(t) for t in os.listdir(f"/proc/{pid}/task")]
    except FileNotFoundError:
        log.warning("cannot set the priority of process %d: no such process", pid)
        return False
    except OSError:  # no /proc: the main thread only
        tids = [pid]
    try:
        for tid in tids:
            with contextlib.suppress(ProcessLookupError):  # a thread that ended meanwhile
                os.setpriority(os.PRIO_PROCESS, tid, nice)
    except OSError as exc:
        log.warning(
            "cannot set the priority (nice %d) of process %d: %s; running at the default priority", nice, pid, exc
        )
        return False
    return True


@dataclass
class EyeGroup:
    """One eye's NodeGroup and the proxies of its nodes."""

    eye: str
    gen: int
    nodegroup: Any
    pid: int
    source: Any  # Camera or ReplaySource
    pupil: Any
    filt: Any
    recorder: Any = None
    started: float = field(default_factory=time.monotonic)
    alive: bool = True

    @property
    def nodes(self) -> list[Any]:
        return [n for n in (self.source, self.pupil, self.filt, self.recorder) if n is not None]


class Pipeline:
    """Build, run, watch and tear down the pipeline of an :class:`AppConfig` on a Manager.

    ``Pipeline(cfg, manager, expose_sent=False).build()`` creates and connects everything (nothing runs yet);
    ``start()``; ``check_eyes()`` returns the eyes whose process died; ``restart_eye(eye)``; ``status()`` (plain dict);
    ``recenter()`` / ``recalibrate()``; ``close()`` stops and closes every node and NodeGroup it created.
    """

    def __init__(self, cfg: AppConfig, manager: Any, expose_sent: bool = False) -> None:
        self.cfg = cfg
        self.manager = manager
        self.expose_sent = expose_sent  # publish the OscSender's ``sent`` output over tcp (benchmark, tools)
        # streams the main process reads (viewers) must cross processes: tcp; otherwise in-process: inproc
        self.local_protocol = "tcp" if cfg.run.viewer else "inproc"
        self.eyes: dict[str, EyeGroup] = {}
        self.restarts = {e: 0 for e in cfg.eyes()}
        self._generation = {e: 0 for e in cfg.eyes()}
        self.down_reason: dict[str, str] = {}
        self.osc_group: Any = None
        self.osc_pid = 0
        self.calib: dict[str, Any] = {}
        self.merge: Any = None
        self.sender: Any = None
        self.osc_recorder: Any = None

    # ------------------------------------------------------------------------------------------ building
    def build(self) -> None:
        self._build_osc_group()
        for eye in self.cfg.eyes():
            self.eyes[eye] = self._build_eye(eye, 0)
            self._connect_eye(eye)
        if self.cfg.run.record:
            self._build_osc_recorder()
        for n in self._osc_nodes():
            n.initialize()
        for g in self.eyes.values():
            for n in g.nodes:
                n.initialize()

    def _osc_nodes(self) -> list[Any]:
        nodes = [self.sender, self.merge, *self.calib.values()]
        return [n for n in (*nodes, self.osc_recorder) if n is not None]

    def _build_osc_group(self) -> None:
        cfg = self.cfg
        ng = self.osc_group = create_nodegroup(self.manager, "osc")
        self.osc_pid = int(ng.getpid())
        set_process_priority(self.osc_pid, cfg.run.priority)
        _register(ng, OSC_NODES)
        self.merge = ng.create_node("EyeMerge", name="merge")
        self.merge.configure()
        self.sender = ng.create_node("OscSender", name="osc")
        o = cfg.osc
        self.sender.configure(
            host=o.host,
            port=o.port,
            scheme=o.scheme,
            eyes=cfg.eye_mode(),
            native_look=o.native_look,
            bundles=o.bundles,
            max_rate=o.max_rate,
        )
        self.merge.attach(self.sender)  # same process: direct calls, no stream hop (see EyeMerge.attach)
        if self.expose_sent:
            self.sender.outputs["sent"].configure(protocol="tcp", interface="127.0.0.1")
        elif cfg.run.record:
            self.sender.outputs["sent"].configure(protocol="inproc")
        c = cfg.calibration
        for eye in cfg.eyes():
            cal = ng.create_node("Calibration", name=f"calibration-{eye}")
            e = getattr(cfg, eye)
            cal.configure(
                eye=eye,
                path=cfg.calibration_path() or None,
                auto_sweep_s=c.auto_sweep_s or None,
                sweep_s=c.sweep_s,
                min_confidence=c.min_confidence,
                flip_x=e.gaze_flip_x(),
            )
            if cfg.run.record or cfg.run.viewer:  # the gaze stream feeds only the recorder and the viewers
                cal.outputs["gaze"].configure(protocol=self.local_protocol)
            cal.attach(self.merge)  # a frame crosses the OSC process in one thread: calibration -> merge -> send
            self.calib[eye] = cal

    def _build_osc_recorder(self) -> None:
        streams = {f"{eye}_gaze": cal.outputs["gaze"] for eye, cal in self.calib.items()}
        streams["osc"] = self.sender.outputs["sent"]
        self.osc_recorder = self.osc_group.create_node("RawRecorder", name="record-osc")
        self.osc_recorder.configure(streams=streams, dirname=os.path.join(self.cfg.run.record, "osc"))

    def _build_eye(self, eye: str, gen: int) -> EyeGroup:
        e = getattr(self.cfg, eye)
        ng = create_nodegroup(self.manager, f"eye-{eye}-{gen}")
        try:
            set_process_priority(int(ng.getpid()), self.cfg.run.priority)  # before its node threads exist
            _register(ng, EYE_NODES)
            if e.replay_dir is not None:
                src = ng.create_node("ReplaySource", name=f"{eye}-replay")
                src.configure(dirname=e.replay_dir, stream="video", loop=True)
            else:
                src = ng.create_node("Camera", name=f"{eye}-camera")
                src.configure(**e.camera_kwargs())
            src.outputs["video"].configure(protocol=self.local_protocol)
            has_truth = e.synthetic and self.cfg.run.record
            if has_truth:
                src.outputs["truth"].configure(protocol="inproc")
            pupil = ng.create_node("PupilDetector", name=f"{eye}-pupil")
            pupil.configure(detector=e.detector)
            if e.replay_dir is None:
                src.attach(pupil)  # detection in the camera's thread: no stream hop, no wake-up, no GIL hand-over
            else:
                pupil.inputs["image"].connect(src.outputs["video"])
            if self.cfg.run.record or self.cfg.run.viewer:  # the raw pupil stream feeds the recorder and viewers
                pupil.outputs["pupil"].configure(protocol=self.local_protocol)
            filt = ng.create_node("FilterChain", name=f"{eye}-filters")
            filt.configure(filters=self.cfg.filters.chain(), min_confidence=self.cfg.calibration.min_confidence)
            pupil.attach(filt)  # filtering in the detecting thread as well
            filt.outputs["output"].configure(protocol="tcp", interface="127.0.0.1")
            rec = None
            if self.cfg.run.record:
                streams = {"video": src.outputs["video"], "pupil": filt.outputs["output"]}
                streams["pupil_raw"] = pupil.outputs["pupil"]  # the detector's output before the filters
                if has_truth:
                    streams["truth"] = src.outputs["truth"]
                rec = ng.create_node("RawRecorder", name=f"record-{eye}")
                folder = eye if gen == 0 else f"{eye}-{gen}"
                rec.configure(streams=streams, dirname=os.path.join(self.cfg.run.record, folder))
            pid = int(ng.getpid())
        except BaseException:
            self._close_group(ng, f"eye-{eye}-{gen}")
            raise
        return EyeGroup(eye, gen, ng, pid, src, pupil, filt, rec)

    def _connect_eye(self, eye: str) -> None:
        self.calib[eye].inputs["pupil"].connect(self.eyes[eye].filt.outputs["output"])

    # ------------------------------------------------------------------------------------------ running
    def start(self) -> None:
        """Start consumers first (OSC group), then each eye from its filters to its camera."""
        for n in self._osc_nodes():
            n.start()
        for g in self.eyes.values():
            self._start_eye(g)

    @staticmethod
    def _start_eye(g: EyeGroup) -> None:
        for n in (g.recorder, g.filt, g.pupil, g.source):
            if n is not None:
                n.start()

    def check_eyes(self) -> list[str]:
        """Eyes whose NodeGroup process died since the last call (each reported once).

        Raises PyacqError if the OSC NodeGroup died: without it nothing reaches VRChat, and its calibration
        state is gone, so ``pyacq-etvr run`` stops with an error rather than pretend to run."""
        if self.osc_pid and not pid_alive(self.osc_pid):
            raise PyacqError(f"the OSC NodeGroup process {self.osc_pid} died; stopping")
        dead = []
        for eye, g in self.eyes.items():
            if g.alive and not pid_alive(g.pid):
                g.alive = False
                self.down_reason[eye] = f"process {g.pid} died"
                log.error("%s eye: NodeGroup process %d died", eye, g.pid)
                dead.append(eye)
        return dead

    def restart_eye(self, eye: str) -> float:
        """Rebuild ``eye``'s NodeGroup with the same settings and reconnect it. Returns the seconds it took."""
        t0 = time.monotonic()
        old = self.eyes[eye]
        self._close_group(old.nodegroup, f"eye-{eye}-{old.gen}")
        self._generation[eye] += 1  # a fresh name per attempt: the Manager keeps dead groups' names
        gen = self._generation[eye]
        g = self._build_eye(eye, gen)
        cal = self.calib[eye]
        try:
            if cal.running():
                cal.stop()
            cal.inputs["pupil"].connect(g.filt.outputs["output"])
            for n in g.nodes:
                n.initialize()
            cal.start()
            self._start_eye(g)
        except BaseException:
            self._close_group(g.nodegroup, f"eye-{eye}-{gen}")
            raise
        self.eyes[eye] = g
        self.restarts[eye] += 1
        self.down_reason.pop(eye, None)
        dt = time.monotonic() - t0
        log.warning("%s eye: NodeGroup restarted (generation %d) in %.2f s", eye, gen, dt)
        return dt

    def viewer_outputs(self) -> dict[str, dict[str, Any]]:
        """Per eye the outputs the viewers show: camera ``video``, detector ``pupil``, calibrated ``gaze``."""
        return {eye: self.eye_outputs(eye) for eye in self.eyes}

    def eye_outputs(self, eye: str) -> dict[str, Any]:
        g = self.eyes[eye]
        return {
            "video": g.source.outputs["video"],
            "pupil": g.pupil.outputs["pupil"],
            "gaze": self.calib[eye].outputs["gaze"],
        }

    def recenter(self) -> dict[str, bool]:
        return {eye: bool(cal.recenter()) for eye, cal in self.calib.items()}

    def recalibrate(self, duration_s: float | None = None) -> None:
        for cal in self.calib.values():
            cal.recalibrate(duration_s)

    # ------------------------------------------------------------------------------------------ status
    def status(self) -> dict[str, Any]:
        """Snapshot (plain dict) for the status display: ``{'eyes': {eye: {...}}, 'osc': {...}}``."""
        osc: dict[str, Any] = {}
        try:
            osc = dict(self.sender.stats())
        except Exception as exc:  # the OSC group itself died: report it, do not crash the display
            osc = {"error": str(exc)}
        osc["scheme"] = self.cfg.osc.scheme
        osc["target"] = f"{self.cfg.osc.host}:{self.cfg.osc.port}"
        eyes = {eye: self._eye_status(eye, g, osc) for eye, g in self.eyes.items()}
        return {"eyes": eyes, "osc": osc}

    def _eye_status(self, eye: str, g: EyeGroup, osc: dict[str, Any]) -> dict[str, Any]:
        s: dict[str, Any] = {"alive": g.alive, "restarts": self.restarts[eye], "generation": g.gen}
        if not g.alive:
            s["reason"] = self.down_reason.get(eye, "process died")
            return s
        try:
            cam = g.source.stats()
            det = g.pupil.stats()
            flt = g.filt.stats()
            cal = self.calib[eye].status()
        except Exception as exc:
            s.update(alive=False, reason=f"not answering: {type(exc).__name__}")
            return s
        s.update(
            camera_state=cam.get("state", "?"),
            fps=cam.get("fps"),
            frames=cam.get("frames", 0),
            dropped=int(cam.get("dropped", 0)) + int(det.get("skipped", 0)),  # by the transport + by detection
            detection_rate=flt.get("detection_rate"),
            mean_confidence=flt.get("mean_confidence"),
            calibrated=cal.get("calibrated", False),
            calibrating=cal.get("sweeping", False),
            latency_ms_p50=osc.get(f"latency_ms_p50_{eye}"),
            latency_ms_p99=osc.get(f"latency_ms_p99_{eye}"),
        )
        return s

    # ------------------------------------------------------------------------------------------ teardown
    def _close_group(self, ng: Any, name: str) -> None:
        """Close a NodeGroup through its Host (an expected exit, not reported as a death); reaps the process."""
        try:
            host = getattr(self.manager, "default_host", None)
            if host is not None and not hasattr(host, "_rpc_addr"):  # local Manager: we own the Host
                host.close_nodegroup(name)
            else:
                ng.close(_timeout=5)
        except Exception as exc:
            log.debug("closing NodeGroup %s: %s", name, exc)

    def stop(self) -> None:
        """Stop every node: sources first, so that downstream nodes see the last frames."""
        for g in self.eyes.values():
            if g.alive:
                for n in (g.source, g.pupil, g.filt, g.recorder):
                    _quietly(n, "stop")
        for n in (*self.calib.values(), self.merge, self.sender, self.osc_recorder):
            _quietly(n, "stop")

    def close(self) -> None:
        """Stop and close every node and NodeGroup this pipeline created (errors logged, all attempted)."""
        self.stop()
        for eye, g in self.eyes.items():
            self._close_group(g.nodegroup, f"eye-{eye}-{g.gen}")
        if self.osc_group is not None:
            self._close_group(self.osc_group, "osc")
        self.eyes.clear()
        self.osc_group = None


def _quietly(node: Any, method: str) -> None:
    if node is None:
        return
    try:
        if method == "stop" and not node.running():
            return
        getattr(node, method)()
    except Exception as exc:
        log.warning("%s %s(): %s", node, method, exc)
