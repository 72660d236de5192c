"""`pyacq-etvr config` and the run configuration: example, check, and every kind of bad value."""

from __future__ import annotations

import argparse
import http.server
import socket
import subprocess
import sys
import threading

import pytest

from pyacq_etvr.app.config import EXAMPLE, AppConfig, add_arguments, build_config
from pyacq_etvr.app.config import main as config_main
from pyacq_etvr.core.errors import ConfigError


def ns(*argv):
    p = argparse.ArgumentParser()
    add_arguments(p)
    return p.parse_args(list(argv))


def test_example_is_valid_and_documents_every_key(tmp_path, capsys):
    assert config_main(["--example"]) == 0
    text = capsys.readouterr().out
    assert text == EXAMPLE
    f = tmp_path / "eyes.toml"
    f.write_text(text)
    assert config_main([str(f)]) == 0
    assert "OK" in capsys.readouterr().out
    cfg = AppConfig().to_dict()
    for section, values in cfg.items():
        assert f"[{section}]" in EXAMPLE or section == "right"
        for key in values:
            assert f"\n{key} =" in EXAMPLE or f"# {key} =" in EXAMPLE, key


def test_file_then_command_line_precedence(tmp_path):
    f = tmp_path / "eyes.toml"
    f.write_text('[osc]\nport = 9100\nscheme = "vrcft-v1"\n[right]\nsource = "none"\n[left]\nfps = 90.0\n')
    cfg = build_config(ns("--config", str(f), "--osc-port", "9200"))
    assert cfg.osc.port == 9200 and cfg.osc.scheme == "vrcft-v1" and cfg.left.fps == 90.0
    assert cfg.eyes() == ["left"] and cfg.eye_mode() == "left"


@pytest.mark.parametrize(
    "toml,key",
    [
        ("[osc]\nprot = 9000\n", "osc.prot"),
        ("[oscc]\nport = 9000\n", "oscc"),
        ("[osc]\nport = 70000\n", "osc.port"),
        ("[left]\nfps = -5\n", "left.fps"),
        ('[left]\nfps = "fast"\n', "left.fps"),
        ("[filters]\none_euro_min_cutoff = 0\n", "filters.one_euro_min_cutoff"),
        ("[calibration]\nmin_confidence = 2.0\n", "calibration.min_confidence"),
        ('[osc]\nscheme = "vrchat"\n', "osc.scheme"),
        ("[left]\nroi = [1, 2, 3]\n", "left.roi"),
        ('[left]\ndetector = "magic"\n', "left.detector"),
        ('[left]\ntier = "impossible"\n', "left.tier"),
        ('[left]\nsource = "/nonexistent/eye.mp4"\n', "left.source"),
        ('[right]\nsource = "/dev/ttyDOESNOTEXIST9"\n', "right.source"),
        ('[right]\nsource = "replay:/nonexistent/rec"\n', "right.source"),
        ('[left]\nsource = "none"\n[right]\nsource = "none"\n', "left.source"),
        ("[run]\nduration = -1\n", "run.duration"),
        ("[run]\npriority = -30\n", "run.priority"),
        ("[run]\npriority = 1.5\n", "run.priority"),
        ("[left]\nstall_timeout = 0.01\n", "left.stall_timeout"),
        ("[left]\nfps = 10.0\nstall_timeout = 0.06\n", r"\[left\] stall_timeout"),
        ('[osc]\nhost = "no-such-host.invalid"\n', "osc.host"),
        ("not toml at all [", "invalid TOML"),
    ],
)
def test_bad_values_name_the_key(tmp_path, toml, key):
    f = tmp_path / "bad.toml"
    f.write_text(toml)
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        build_config(ns("--config", str(f)))


def test_unreachable_http_camera(tmp_path):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there any more
    with pytest.raises(ConfigError, match=r"--left|left\.source"):
        build_config(ns("--left", f"http://127.0.0.1:{port}/"))
    srv = http.server.HTTPServer(("127.0.0.1", 0), http.server.BaseHTTPRequestHandler)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    try:  # a reachable camera passes the check
        assert build_config(ns("--left", f"http://127.0.0.1:{srv.server_port}/")).left.source.startswith("http")
    finally:
        srv.shutdown()
        srv.server_close()


def test_cli_errors_name_the_option():
    with pytest.raises(ConfigError, match=r"osc\.scheme"):
        build_config(ns("--osc-scheme", "nope"))
    with pytest.raises(ConfigError, match="--duration"):
        build_config(ns("--duration", "-3"))


def test_config_command_exit_status(tmp_path):
    f = tmp_path / "bad.toml"
    f.write_text("[osc]\nport = -1\n")
    proc = subprocess.run(
        [sys.executable, "-m", "pyacq_etvr.cli", "config", str(f)], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 2 and "osc.port" in proc.stderr


def test_calibration_file_auto(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    assert build_config(ns()).calibration_path() == ""  # synthetic eyes: nothing persisted by default
    clip = tmp_path / "eye.mp4"
    clip.write_bytes(b"")  # exists: enough for the source check
    cfg = build_config(ns("--left", str(clip)))
    assert cfg.calibration_path() == str(tmp_path / "pyacq-etvr" / "calibration.json")
    assert build_config(ns("--calibration", "~/c.json")).calibration_path().endswith("/c.json")
    bad = tmp_path / "bad.json"
    bad.write_text("[1, 2")
    with pytest.raises(ConfigError, match="calibration.file"):
        build_config(ns("--calibration", str(bad)))
