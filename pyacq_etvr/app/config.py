"""Configuration of ``pyacq-etvr run``: TOML file + command line, validated before anything starts.

Precedence: built-in defaults < ``--config FILE`` (TOML) < command-line options. Every value is checked up
front; a bad one raises :class:`~pyacq_etvr.core.errors.ConfigError` whose message names the key
(``left.fps``, ``osc.port``...), and ``pyacq-etvr run`` exits with status 2 before starting any process.
Sources are checked too: a video file or recording that does not exist, an HTTP camera whose host does not
answer, a serial port or /dev/video device that is absent.

``pyacq-etvr config --example`` prints :data:`EXAMPLE` (every key, documented, with its default);
``pyacq-etvr config FILE`` checks a file and prints the resolved configuration.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
import socket
import sys
from dataclasses import dataclass, field
from typing import Any

from pyacq_etvr.core.errors import ConfigError

EXAMPLE = """\
# pyacq-etvr run configuration (TOML). Every key is optional; the values shown are the defaults.
# Command-line options override the file: --left/--right/--osc-host/--osc-port/--osc-scheme/--duration...

[left]                     # the left eye camera ([right] takes the same keys)
source = "synthetic"       # "synthetic" | "none" (one-eye setup) | 0 | "/dev/video2" | "http://192.168.1.50/"
                           # | "COM3" | "/dev/ttyACM0" | "eye.mp4" | "replay:DIR" (a pyacq-etvr recording)
fps = 60.0                 # synthetic eye frame rate, frames per second
rotation = 0.0             # degrees, counter-clockwise about the ROI centre
# roi = [40, 30, 160, 160] # x, y, width, height in source pixels (default: whole frame)
flip_h = false             # mirror the image horizontally
flip_v = false             # mirror the image vertically
tier = "easy"              # synthetic eye difficulty: clean | easy | medium | hard
seed = 1                   # synthetic eye random seed (right eye default: 2)
detector = "default"       # pupil detector: default | hsf | blob | ransac | hsrac
stall_timeout = 1.0        # s without a new frame -> the camera is "stalled" and reconnects
baudrate = 3000000         # serial cameras (ETVR wired protocol); 115200 on macOS
flip_x = "auto"            # mirror gaze x: true for a real camera facing the eye; "auto" = false for synthetic

[filters]                  # applied per eye, on the pupil position in pixels, in this order
outlier_max_jump = 40.0    # px: a jump larger than this is dropped unless the next samples confirm it
one_euro_min_cutoff = 1.5  # Hz
one_euro_beta = 0.05
one_euro_d_cutoff = 1.0    # Hz
blink_max_hold = 1.0       # s: keep the last good position while the eye is closed, at most this long

[calibration]
file = "auto"              # JSON file (both eyes), loaded at start if it exists, rewritten after each sweep and
                           # recenter. "auto": $XDG_CONFIG_HOME/pyacq-etvr/calibration.json with real cameras,
                           # not persisted with synthetic / replayed eyes; "" = never persist.
auto_sweep_s = 4.0         # with no stored calibration, calibrate automatically over the first N s (0 = off)
sweep_s = 15.0             # duration of a sweep started by /avatar/parameters/etvr_recalibrate
min_confidence = 0.5       # detections below this are not used and are reported invalid

[osc]
host = "127.0.0.1"
port = 9000                # VRChat; the VRCFT module variant listens on 8889
scheme = "native"          # native | vrcft-v1 | vrcft-v2
native_look = "vec"        # native scheme: vec (/tracking/eye/LeftRightVec) | pitchyaw
bundles = false            # one OSC bundle per update instead of one datagram per address
max_rate = 0.0             # updates per second, 0 = one per camera frame

[control]
enabled = true             # listen for /avatar/parameters/etvr_recenter and etvr_recalibrate (bool true)
host = "127.0.0.1"
port = 9001

[run]
duration = 0.0             # seconds, 0 = until Ctrl-C
record = ""                # folder to record eye images, pupil, gaze and OSC values into ("" = off)
viewer = false             # open the Qt viewers
status_interval = 1.0      # seconds between status refreshes
restart = true             # restart an eye whose process died
priority = 0               # nice value of the eye and OSC processes, -20..19 (< 0: less latency, needs CAP_SYS_NICE)
"""

SCHEMES = ("native", "vrcft-v1", "vrcft-v2")


@dataclass
class EyeConfig:
    source: Any = "synthetic"
    fps: float = 60.0
    rotation: float = 0.0
    roi: list[int] | None = None
    flip_h: bool = False
    flip_v: bool = False
    tier: str = "easy"
    seed: int = 1
    detector: str = "default"
    flip_x: Any = "auto"
    stall_timeout: float = 1.0
    baudrate: int = 3_000_000

    @property
    def enabled(self) -> bool:
        return not (isinstance(self.source, str) and self.source.lower() == "none")

    @property
    def replay_dir(self) -> str | None:
        if isinstance(self.source, str) and self.source.startswith("replay:"):
            return self.source[len("replay:") :]
        return None

    @property
    def synthetic(self) -> bool:
        return isinstance(self.source, str) and self.source.lower() == "synthetic"

    def gaze_flip_x(self) -> bool:
        return (not self.synthetic and self.replay_dir is None) if self.flip_x == "auto" else bool(self.flip_x)

    def camera_kwargs(self) -> dict[str, Any]:
        """Settings for the Camera node (only those that apply to the source kind)."""
        kw: dict[str, Any] = {"source": self.source, "rotation": self.rotation, "flip_h": self.flip_h}
        kw["flip_v"] = self.flip_v
        kw["stall_timeout"] = self.stall_timeout
        if self.replay_dir is None and not self.synthetic:
            from pyacq_etvr.nodes.camera.source import parse_source

            if parse_source(self.source).kind == "serial":
                kw["baudrate"] = self.baudrate
        if self.roi is not None:
            kw["roi"] = tuple(self.roi)
        if self.synthetic:
            kw.update(fps=self.fps, tier=self.tier, seed=self.seed)
        return kw


@dataclass
class FilterConfig:
    outlier_max_jump: float = 40.0
    one_euro_min_cutoff: float = 1.5
    one_euro_beta: float = 0.05
    one_euro_d_cutoff: float = 1.0
    blink_max_hold: float = 1.0

    def chain(self) -> list[tuple[str, dict[str, Any]]]:
        return [
            ("outlier", {"max_jump": self.outlier_max_jump, "confirm": 2}),
            ("one_euro", {"min_cutoff": self.one_euro_min_cutoff, "beta": self.one_euro_beta,
                          "d_cutoff": self.one_euro_d_cutoff}),
            ("blink_hold", {"max_hold": self.blink_max_hold}),
        ]  # fmt: skip


@dataclass
class CalibrationConfig:
    file: str = "auto"
    auto_sweep_s: float = 4.0
    sweep_s: float = 15.0
    min_confidence: float = 0.5


@dataclass
class OscConfig:
    host: str = "127.0.0.1"
    port: int = 9000
    scheme: str = "native"
    native_look: str = "vec"
    bundles: bool = False
    max_rate: float = 0.0


@dataclass
class ControlConfig:
    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = 9001


@dataclass
class RunConfig:
    duration: float = 0.0
    record: str = ""
    viewer: bool = False
    status_interval: float = 1.0
    restart: bool = True
    priority: int = 0


@dataclass
class AppConfig:
    left: EyeConfig = field(default_factory=EyeConfig)
    right: EyeConfig = field(default_factory=lambda: EyeConfig(seed=2))
    filters: FilterConfig = field(default_factory=FilterConfig)
    calibration: CalibrationConfig = field(default_factory=CalibrationConfig)
    osc: OscConfig = field(default_factory=OscConfig)
    control: ControlConfig = field(default_factory=ControlConfig)
    run: RunConfig = field(default_factory=RunConfig)

    def eyes(self) -> list[str]:
        """The enabled eyes, in order."""
        return [e for e in ("left", "right") if getattr(self, e).enabled]

    def calibration_path(self) -> str:
        """The calibration file to use ("" = none), with ``"auto"`` resolved (see the example config)."""
        f = self.calibration.file
        if f != "auto":
            return os.path.expanduser(f) if f else ""
        if all(getattr(self, e).synthetic or getattr(self, e).replay_dir is not None for e in self.eyes()):
            return ""
        base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
        return os.path.join(base, "pyacq-etvr", "calibration.json")

    def eye_mode(self) -> str:
        e = self.eyes()
        return "both" if len(e) == 2 else e[0]

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


# ------------------------------------------------------------------------------------------ validation
_RANGES: dict[str, tuple[float, float]] = {
    "fps": (1.0, 1000.0),
    "rotation": (0.0, 360.0),
    "outlier_max_jump": (1e-6, 1e6),
    "one_euro_min_cutoff": (1e-9, 1e3),
    "one_euro_beta": (0.0, 1e3),
    "one_euro_d_cutoff": (1e-9, 1e3),
    "blink_max_hold": (1e-3, 60.0),
    "auto_sweep_s": (0.0, 600.0),
    "sweep_s": (0.5, 600.0),
    "min_confidence": (0.0, 1.0),
    "max_rate": (0.0, 10000.0),
    "duration": (0.0, 1e7),
    "status_interval": (0.05, 3600.0),
    "port": (0, 65535),
    "seed": (0, 2**31 - 1),
    "stall_timeout": (0.05, 60.0),
    "baudrate": (1200, 20_000_000),
    "priority": (-20, 19),
}


def _check_value(key: str, name: str, value: Any, default: Any) -> Any:
    """Type/range check of one value against its default's type. Returns the normalised value."""
    if name == "source" and isinstance(value, int) and not isinstance(value, bool):
        return value
    if name in ("flip_x",):
        if value == "auto" or isinstance(value, bool):
            return value
        raise ConfigError(f'{key} must be true, false or "auto", got {value!r}')
    if name == "roi":
        if value is None:
            return None
        ok = isinstance(value, (list, tuple)) and len(value) == 4
        if not ok or not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
            raise ConfigError(f"{key} must be [x, y, width, height] (integers), got {value!r}")
        if value[0] < 0 or value[1] < 0 or value[2] < 1 or value[3] < 1:
            raise ConfigError(f"{key} must have x, y >= 0 and width, height >= 1, got {list(value)!r}")
        return list(value)
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise ConfigError(f"{key} must be true or false, got {value!r}")
        return value
    if isinstance(default, (int, float)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ConfigError(f"{key} must be a number, got {value!r}")
        if isinstance(default, int) and not isinstance(value, int):
            raise ConfigError(f"{key} must be an integer, got {value!r}")
        lo, hi = _RANGES.get(name, (-math.inf, math.inf))
        if not lo <= value <= hi:
            raise ConfigError(f"{key} = {value!r} is out of range [{lo:g}, {hi:g}]")
        return type(default)(value)
    if isinstance(default, str) and not isinstance(value, str):
        raise ConfigError(f"{key} must be a string, got {value!r}")
    return value


def _apply_section(section: str, target: Any, values: Any) -> None:
    if not isinstance(values, dict):
        raise ConfigError(f"[{section}] must be a table, got {values!r}")
    known = {f.name: f for f in dataclasses.fields(target)}
    for name, value in values.items():
        key = f"{section}.{name}"
        if name not in known:
            raise ConfigError(f"unknown key {key!r}; known keys in [{section}]: {', '.join(known)}")
        default = getattr(type(target)(), name)
        setattr(target, name, _check_value(key, name, value, default))


def apply_dict(cfg: AppConfig, data: dict[str, Any]) -> AppConfig:
    """Apply a parsed TOML document (nested dict) onto ``cfg``; ConfigError naming any bad key."""
    sections = {f.name for f in dataclasses.fields(cfg)}
    for section, values in data.items():
        if section not in sections:
            raise ConfigError(f"unknown section [{section}]; known sections: {', '.join(sorted(sections))}")
        _apply_section(section, getattr(cfg, section), values)
    return cfg


def load_toml(path: str) -> dict[str, Any]:
    """Parse a TOML file; ConfigError naming the file on a syntax error or if it cannot be read."""
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - Python 3.10
        import tomli as tomllib
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except OSError as exc:
        raise ConfigError(f"--config {path}: cannot read it ({exc.strerror})") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"--config {path}: invalid TOML ({exc})") from None


def check_source(key: str, eye: EyeConfig, timeout: float = 1.5) -> None:
    """Check that an eye's source is usable before starting anything (ConfigError naming ``key``)."""
    if not eye.enabled:
        return
    if eye.replay_dir is not None:
        from pyacq_etvr.nodes.recorder import RawRecording

        try:
            rec = RawRecording(eye.replay_dir)
            if "video" not in rec.streams:
                raise ConfigError(f"it has no 'video' stream (streams: {rec.streams})")
        except ConfigError as exc:
            raise ConfigError(f"{key}: recording {eye.replay_dir!r} cannot be replayed: {exc}") from None
        return
    from pyacq_etvr.nodes.camera.source import parse_source

    try:
        spec = parse_source(eye.source)
    except ConfigError as exc:
        raise ConfigError(f"{key}: {exc}") from None
    if spec.kind == "http":
        from pyacq_etvr.nodes.camera.mjpeg import parse_http_url

        host, port, _ = parse_http_url(str(spec.target))
        try:
            socket.create_connection((host, port), timeout=timeout).close()
        except OSError as exc:
            raise ConfigError(f"{key}: camera {eye.source!r} is unreachable ({host}:{port}: {exc})") from None
    elif spec.kind == "serial" and not os.path.exists(str(spec.target)):
        raise ConfigError(f"{key}: serial port {spec.target!r} does not exist")
    elif spec.kind == "uvc":
        dev = spec.target if isinstance(spec.target, str) else f"/dev/video{spec.target}"
        if sys.platform.startswith("linux") and not os.path.exists(dev):
            raise ConfigError(f"{key}: camera device {dev} does not exist")


def validate(cfg: AppConfig, check_sources: bool = True) -> AppConfig:
    """Cross-field checks (names, enums, sources). Returns ``cfg``; ConfigError naming the key otherwise."""
    if not cfg.eyes():
        raise ConfigError("left.source and right.source are both 'none': at least one eye is needed")
    for eye in ("left", "right"):
        e: EyeConfig = getattr(cfg, eye)
        if not isinstance(e.source, (str, int)) or isinstance(e.source, bool):
            raise ConfigError(f"{eye}.source must be a string or a camera index, got {e.source!r}")
        if e.enabled:
            from pyacq_etvr.pupil import list_detectors

            if e.detector not in list_detectors():
                raise ConfigError(f"{eye}.detector must be one of {', '.join(list_detectors())}, got {e.detector!r}")
        if e.synthetic:
            from pyacq_etvr.synth import TIERS

            if e.tier not in TIERS:
                raise ConfigError(f"{eye}.tier must be one of {', '.join(sorted(TIERS))}, got {e.tier!r}")
        if check_sources:
            check_source(f"{eye}.source", e)
        if e.enabled and e.replay_dir is None:  # the Camera node's own validation, before anything starts
            from pyacq_etvr.nodes.camera.config import CameraConfig

            try:
                CameraConfig.from_kwargs(e.camera_kwargs())
            except ConfigError as exc:
                raise ConfigError(f"[{eye}] {exc}") from None
    if cfg.osc.scheme not in SCHEMES:
        raise ConfigError(f"osc.scheme must be one of {', '.join(SCHEMES)}, got {cfg.osc.scheme!r}")
    if cfg.osc.native_look not in ("vec", "pitchyaw"):
        raise ConfigError(f"osc.native_look must be 'vec' or 'pitchyaw', got {cfg.osc.native_look!r}")
    from pyacq_etvr.nodes.osc import check_endpoint

    check_endpoint(cfg.osc.host, cfg.osc.port, "osc")
    if cfg.control.enabled:
        check_endpoint(cfg.control.host, cfg.control.port, "control")
    if cfg.run.record and os.path.exists(cfg.run.record):
        if not os.path.isdir(cfg.run.record) or os.listdir(cfg.run.record):
            raise ConfigError(f"run.record: {cfg.run.record!r} already exists and is not an empty folder")
    if cfg.calibration_path():
        from pyacq_etvr.nodes.calibration import read_calibration_file

        try:
            read_calibration_file(cfg.calibration_path())
        except ConfigError as exc:
            raise ConfigError(f"calibration.file: {exc}") from None
    return cfg


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``pyacq-etvr run`` options that map onto configuration keys."""
    a = parser.add_argument
    a("--config", metavar="FILE", help="TOML configuration file (see: pyacq-etvr config --example)")
    a("--left", metavar="SRC", help="left eye source ('none' for no left eye); default synthetic")
    a("--right", metavar="SRC", help="right eye source ('none' for no right eye); default synthetic")
    a("--osc-host", metavar="HOST", help="OSC destination host (default 127.0.0.1)")
    a("--osc-port", metavar="PORT", type=int, help="OSC destination port (default 9000)")
    a("--osc-scheme", metavar="SCHEME", help="native | vrcft-v1 | vrcft-v2 (default native)")
    a("--control-port", metavar="PORT", type=int, help="OSC control port (default 9001)")
    a("--no-control", action="store_true", help="do not listen for OSC control messages")
    a("--calibration", metavar="FILE", help="calibration JSON file (loaded if present, saved after changes)")
    a("--fps", type=float, help="frame rate of the synthetic eyes (both)")
    a("--duration", type=float, metavar="S", help="stop after S seconds (default: until Ctrl-C)")
    a("--record", metavar="DIR", help="record eye images, pupil, gaze and OSC values into DIR")
    a("--viewer", action="store_true", help="open the Qt viewers")


def _cli_overrides(ns: argparse.Namespace) -> dict[str, dict[str, Any]]:
    over: dict[str, dict[str, Any]] = {}

    def put(section: str, key: str, value: Any) -> None:
        if value is not None:
            over.setdefault(section, {})[key] = value

    for eye in ("left", "right"):
        src = getattr(ns, eye)
        if src is not None:
            put(eye, "source", int(src) if src.isdigit() else src)
        put(eye, "fps", ns.fps)
    put("osc", "host", ns.osc_host)
    put("osc", "port", ns.osc_port)
    put("osc", "scheme", ns.osc_scheme)
    put("control", "port", ns.control_port)
    if ns.no_control:
        put("control", "enabled", False)
    put("calibration", "file", ns.calibration)
    put("run", "duration", ns.duration)
    put("run", "record", ns.record)
    if ns.viewer:
        put("run", "viewer", True)
    return over


def _cli_key(section: str, key: str) -> str:
    names = {("osc", "host"): "--osc-host", ("osc", "port"): "--osc-port", ("osc", "scheme"): "--osc-scheme"}
    names.update({("control", "port"): "--control-port", ("run", "duration"): "--duration"})
    names.update({("left", "source"): "--left", ("right", "source"): "--right", ("run", "record"): "--record"})
    return names.get((section, key), f"--{key}")


def build_config(ns: argparse.Namespace, check_sources: bool = True) -> AppConfig:
    """Defaults < TOML file < command line, validated. ConfigError (naming the key) on any bad value."""
    cfg = AppConfig()
    if ns.config:
        apply_dict(cfg, load_toml(ns.config))
    over = _cli_overrides(ns)
    for section, values in over.items():
        for key, value in values.items():
            try:
                apply_dict(cfg, {section: {key: value}})
            except ConfigError as exc:
                raise ConfigError(f"{_cli_key(section, key)} ({section}.{key}): {exc}") from None
    return validate(cfg, check_sources)


def to_toml(cfg: AppConfig) -> str:
    """The resolved configuration as TOML text (``None`` values omitted)."""
    lines: list[str] = []
    for section, values in cfg.to_dict().items():
        lines.append(f"[{section}]")
        for k, v in values.items():
            if v is None:
                continue
            if isinstance(v, bool):
                text = "true" if v else "false"
            elif isinstance(v, str):
                text = '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
            else:
                text = repr(v)
            lines.append(f"{k} = {text}")
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """``pyacq-etvr config --example`` | ``pyacq-etvr config FILE [--no-source-check]``."""
    p = argparse.ArgumentParser(prog="pyacq-etvr config", description="print or check a TOML configuration")
    p.add_argument("file", nargs="?", help="configuration file to check")
    p.add_argument("--example", action="store_true", help="print a documented example configuration")
    p.add_argument("--no-source-check", action="store_true", help="do not check that the sources are reachable")
    ns = p.parse_args(argv)
    if ns.example:
        sys.stdout.write(EXAMPLE)
        return 0
    if not ns.file:
        p.print_usage(sys.stderr)
        print("pyacq-etvr config: give a FILE to check, or --example", file=sys.stderr)
        return 2
    try:
        cfg = build_config(argparse.Namespace(config=ns.file, **_EMPTY_RUN_ARGS), not ns.no_source_check)
    except ConfigError as exc:
        print(f"pyacq-etvr config: error: {exc}", file=sys.stderr)
        return 2
    sys.stdout.write(f"# {ns.file}: OK. Resolved configuration:\n" + to_toml(cfg))
    return 0


_EMPTY_RUN_ARGS: dict[str, Any] = {
    "left": None, "right": None, "osc_host": None, "osc_port": None, "osc_scheme": None, "control_port": None,
    "no_control": False, "calibration": None, "fps": None, "duration": None, "record": None, "viewer": False,
}  # fmt: skip
