"""CURVE: authorised clients are served, others get nothing (and the refusal is logged)."""

from __future__ import annotations

import logging
import os

import pytest
import zmq
import zmq.auth

from pyacq_etvr.core.errors import SecurityError
from pyacq_etvr.core.rpc import RPCClient, auth
from pyacq_etvr.core.rpc.server import start_background_server
from pyacq_etvr.testing import wait_until


@pytest.fixture
def keys(tmp_path):
    paths = auth.generate_keys(str(tmp_path / "deploy"))
    # a second key pair that is NOT authorised
    os.makedirs(tmp_path / "intruder")
    pub, sec = zmq.auth.create_certificates(str(tmp_path / "intruder"), "client")
    server_curve, client_curve = auth.load_keys_dir(str(tmp_path / "deploy"))
    intruder_pub, intruder_sec = zmq.auth.load_certificate(sec)
    intruder = auth.ClientCurve(intruder_pub, intruder_sec, server_curve.public_key)
    yield server_curve, client_curve, intruder, paths
    auth.stop_authenticators()


def test_authorised_client_served_unauthorised_refused(keys, caplog):
    server_curve, client_curve, intruder, _ = keys
    srv = start_background_server(curve=server_curve, default=False)
    good = bad = None
    try:
        srv["box"] = {}
        good = RPCClient(srv.address, curve=client_curve)
        assert good.ping() == "pong"
        box = good.send("get_item", {"name": "box"}, return_type="proxy")

        caplog.set_level(logging.WARNING)
        bad = RPCClient(srv.address, curve=intruder)
        rbuiltins = None
        with pytest.raises(SecurityError, match="refused our credentials"):
            rbuiltins = bad._import("builtins", timeout=5.0)
        assert rbuiltins is None
        with pytest.raises(SecurityError):
            bad.send("set_item", {"name": "owned", "value": 1}, sync="off")
        # a raw socket with the intruder's keys pushes a request anyway: nothing executes
        raw = zmq.Context.instance().socket(zmq.DEALER)
        raw.setsockopt(zmq.LINGER, 0)
        raw.setsockopt(zmq.SNDTIMEO, 300)
        raw.setsockopt(zmq.RCVTIMEO, 300)
        auth.apply_client_curve(raw, intruder)
        raw.connect(srv.address)
        try:
            raw.send_multipart([b"0", b"set_item", b"auto", b"json", b'{"name": "owned", "value": 1}'])
        except zmq.Again:
            pass
        with pytest.raises(zmq.Again):
            raw.recv()
        raw.close(0)
        assert wait_until(lambda: any("not authorised" in r.getMessage() for r in caplog.records), 5)
        assert good.ping() == "pong"
        with pytest.raises(Exception, match="no object named 'owned'"):
            good["owned"]
        assert box._get_value() == {}
        # a plain (no CURVE) client is refused at the handshake
        plain = zmq.Context.instance().socket(zmq.DEALER)
        plain.setsockopt(zmq.LINGER, 0)
        plain.setsockopt(zmq.RCVTIMEO, 300)
        plain.connect(srv.address)
        plain.send_multipart([b"0", b"ping", b"auto", b"msgpack", b""])
        with pytest.raises(zmq.Again):
            plain.recv()
        plain.close(0)
        assert srv.request_count == 5  # only the authorised client's 5 requests ran
    finally:
        for c in (good, bad):
            if c is not None:
                c.close()
        srv.close()
        srv._thread.join(5)


def test_keys_dir_applies_to_servers_clients_and_spawned_processes(keys):
    _, _, _, paths = keys
    from pyacq_etvr.core.rpc import ProcessSpawner
    from pyacq_etvr.core.rpc.server import RPCServer

    auth.use_keys_dir(os.path.dirname(paths["server_secret"]))
    try:
        # with keys, binding a public address is allowed (and CURVE-protected)
        srv = RPCServer("tcp://0.0.0.0:*", advertise="127.0.0.1")
        assert srv.curve is not None and srv.address.startswith("tcp://127.0.0.1:")
        srv.close()
        proc = ProcessSpawner(name="curve-child")
        try:
            assert proc._import("pyacq_etvr.core.rpc.auth").keys_dir() == auth.keys_dir()
            assert proc.client.ping() == "pong"
        finally:
            proc.stop()
    finally:
        auth.use_keys_dir(None)
    with pytest.raises(SecurityError, match="cannot read CURVE key"):
        auth.use_keys_dir(os.path.dirname(paths["authorized_dir"]) + "-nope")
