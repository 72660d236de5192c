"""OSC schemes, the non-blocking sender and the control server, against real python-osc peers."""

from __future__ import annotations

import socket
import time

import numpy as np
import pytest

from pyacq_etvr.core.errors import ConfigError
from pyacq_etvr.nodes.merge import MERGED_DTYPE
from pyacq_etvr.nodes.osc import RECALIBRATE, RECENTER, OscCapture, OscControlServer, OscOutput
from pyacq_etvr.nodes.osc_schemes import build_messages, scheme_addresses
from pyacq_etvr.testing import wait_until


def merged(i=1, lx=0.25, ly=-0.5, rx=0.3, ry=-0.4, lid=0.75, dil=0.4):
    r = np.zeros(1, MERGED_DTYPE)
    r["index"], r["timestamp_ns"] = i, time.monotonic_ns()
    r["left_x"], r["left_y"], r["right_x"], r["right_y"] = lx, ly, rx, ry
    r["left_open"] = r["right_open"] = r["lid"] = lid
    r["dilation"] = dil
    r["left_valid"] = r["right_valid"] = True
    return r


@pytest.mark.parametrize(
    "scheme,eyes,look",
    [
        ("native", "both", "vec"),
        ("native", "both", "pitchyaw"),
        ("vrcft-v1", "both", "vec"),
        ("vrcft-v2", "both", "vec"),
        ("vrcft-v2", "left", "vec"),
    ],
)
def test_schemes_complete_and_in_range(scheme, eyes, look):
    msgs = dict(build_messages(merged()[0], scheme, eyes, look))
    assert {a: len(v) for a, v in msgs.items()} == scheme_addresses(scheme, eyes, look)
    for addr, args in msgs.items():
        assert all(isinstance(v, float) for v in args)
        if "PitchYaw" in addr:
            assert args == pytest.approx([15.0, 7.5, 12.0, 9.0])  # pitch positive = looking down
        elif "Vec" in addr:
            assert args == pytest.approx([0.25, -0.5, 1.0, 0.3, -0.4, 1.0])
        elif "Closed" in addr:
            assert args == pytest.approx([0.25])
        else:
            assert all(-1.0 <= v <= 1.0 for v in args)


def test_unknown_values_are_not_sent():
    rec = merged(lx=np.nan, ly=np.nan, rx=np.nan, ry=np.nan, dil=np.nan)[0]
    assert [a for a, _ in build_messages(rec, "native")] == ["/tracking/eye/EyesClosedAmount"]
    assert all("Eye" not in a or "Lid" in a for a, _ in build_messages(rec, "vrcft-v2"))


def test_sender_delivers_bundles_and_respects_max_rate():
    with OscCapture() as cap:
        out = OscOutput(port=cap.port, scheme="vrcft-v2", bundles=True, max_rate=50.0)
        out.start()
        try:
            t0 = time.monotonic()
            for i in range(200):  # 200 values in ~0.4 s, far faster than 50/s
                out.submit(merged(i + 1))
                time.sleep(0.002)
            assert wait_until(lambda: out.stats()["submitted"] == 200 and out.stats()["last_send_age_s"] > 0.05, 5)
            elapsed = time.monotonic() - t0
        finally:
            out.stop()
        st = out.stats()
        assert st["sent"] <= 50.0 * elapsed + 2
        assert st["overwritten"] > 100  # old values dropped, not queued
        assert wait_until(lambda: len(cap.by_address().get("/avatar/parameters/v2/EyeLeftX", [])) == st["sent"], 3)
        assert set(cap.by_address()) == set(scheme_addresses("vrcft-v2"))


class _StalledOutput(OscOutput):
    """OscOutput whose datagrams go into a unix socket nobody reads: once its buffer is full, sends would block."""

    def start(self):
        self._a, self._b = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._a.setblocking(False)
        super().start()

    def _transmit(self, dgram):
        self._a.send(dgram)

    def stop(self, timeout=2.0):
        super().stop(timeout)
        self._a.close()
        self._b.close()


def test_sender_never_blocks_when_network_stalls():
    out = _StalledOutput(scheme="native")
    out.start()
    try:
        worst = 0.0
        for i in range(3000):
            t0 = time.perf_counter()
            out.submit(merged(i + 1))
            worst = max(worst, time.perf_counter() - t0)
            if i % 10 == 0:
                time.sleep(0.0005)  # let the sender run and fill the buffer
        assert wait_until(lambda: out.stats()["would_block"] > 0, 5)
        assert worst < 0.5  # submit never waits for the network
        n_blocked = out.stats()["would_block"]
        out._b.recv(65536)  # the network recovers a little: sending resumes
        sent = out.stats()["sent"]
        out.submit(merged(99999))
        assert wait_until(lambda: out.stats()["sent"] > sent or out.stats()["would_block"] > n_blocked, 5)
    finally:
        out.stop()
    st = out.stats()
    assert st["submitted"] == 3001 and st["errors"] == 0


def test_sender_bad_config():
    with pytest.raises(ConfigError, match="scheme"):
        OscOutput(scheme="vrchat")
    with pytest.raises(ConfigError, match="osc.port"):
        OscOutput(port=70000)
    with pytest.raises(ConfigError, match="osc.host"):
        OscOutput(host="no-such-host.invalid")
    with pytest.raises(ConfigError, match="max_rate"):
        OscOutput(max_rate=-5)


def test_control_server_triggers_on_true_only():
    from pythonosc.udp_client import SimpleUDPClient

    calls = []
    srv = OscControlServer(lambda: calls.append("c"), lambda: calls.append("r"), port=0)
    srv.start()
    try:
        cli = SimpleUDPClient("127.0.0.1", srv.port)
        cli.send_message(RECENTER, True)
        cli.send_message(RECALIBRATE, True)
        cli.send_message(RECENTER, False)  # button released: ignored
        cli.send_message(RECENTER, [1.0, 2.0])  # malformed: ignored, counted
        cli.send_message("/avatar/parameters/other", 1.0)
        assert wait_until(lambda: srv.stats()["ignored"] == 3, 3)
        assert calls == ["c", "r"]
    finally:
        srv.stop()
    with pytest.raises(ConfigError, match="control.port"):
        busy = OscControlServer(port=0)
        try:
            OscControlServer(port=busy.port)
        finally:
            busy.stop()


def test_inline_sender_sends_from_the_caller():
    with OscCapture() as cap:
        out = OscOutput(port=cap.port, scheme="native", inline=True)
        out.submit(merged(1))  # not started: counted, nothing sent, no error
        out.start()
        try:
            for i in range(20):
                out.submit(merged(i + 2))
            assert out.stats()["sent"] == 20 and not out.stats()["overwritten"]
            assert wait_until(lambda: len(cap.snapshot()) == 40, 3)
        finally:
            out.stop()
        out.submit(merged(99))  # stopped: dropped quietly
        assert out.stats()["sent"] == 20 and out.stats()["errors"] == 0
    with pytest.raises(ConfigError, match="inline"):
        OscOutput(inline=True, max_rate=30)


def test_encoder_matches_python_osc_byte_for_byte():
    from pythonosc.osc_bundle import OscBundle
    from pythonosc.osc_bundle_builder import IMMEDIATELY, OscBundleBuilder
    from pythonosc.osc_message_builder import OscMessageBuilder

    from pyacq_etvr.nodes.osc import OscEncoder

    enc = OscEncoder(OscMessageBuilder, OscBundleBuilder, IMMEDIATELY)
    rng = np.random.default_rng(0)
    for address, n in [("/tracking/eye/LeftRightVec", 6), ("/avatar/parameters/v2/EyeLid", 1), ("/a", 4)] * 3:
        args = [float(v) for v in rng.uniform(-1, 1, n)]
        b = OscMessageBuilder(address)
        for v in args:
            b.add_arg(v, "f")
        assert enc.message(address, args) == b.build().dgram
    msgs = [enc.message("/x", [0.5]), enc.message("/yy", [0.25, -1.0])]
    bundle = OscBundle(enc.bundle(msgs))
    assert [(m.address, m.params) for m in bundle] == [("/x", [0.5]), ("/yy", [0.25, -1.0])]
