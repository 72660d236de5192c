"""Fuzz: 10,000 malformed messages at a server while a well-behaved client keeps getting correct answers."""

from __future__ import annotations

import json
import random

import msgpack
import pytest
import zmq

from pyacq_etvr.core.rpc import ProcessSpawner
from pyacq_etvr.testing import wait_until

MAX_MSG = 1 << 20


def _garbage(rng: random.Random, n: int) -> bytes:
    return rng.randbytes(n)


def _proxy_ref(rng: random.Random) -> dict:
    return {
        "___type_name___": "proxy",
        "rpc_addr": "tcp://127.0.0.1:1",
        "obj_id": rng.randrange(1 << 40),
        "ref_id": rng.randrange(100),
        "attributes": ["__class__", "__init__"],
    }


def malformed_message(rng: random.Random, i: int) -> list[bytes]:
    """One malformed request (frames after the DEALER identity), cycling through the attack kinds."""
    kind = i % 16
    ok_id = str(i).encode()
    if kind == 0:  # random number of random frames
        return [_garbage(rng, rng.randrange(0, 40)) for _ in range(rng.randrange(1, 9))]
    if kind == 1:  # too few frames
        return [ok_id, b"ping"]
    if kind == 2:  # too many frames
        return [ok_id, b"ping", b"auto", b"msgpack", b"", b"extra"]
    if kind == 3:  # garbage msgpack options
        return [ok_id, b"call_obj", b"auto", b"msgpack", _garbage(rng, rng.randrange(1, 200))]
    if kind == 4:  # garbage json options
        return [ok_id, b"call_obj", b"auto", b"json", b"{" + _garbage(rng, 30)]
    if kind == 5:  # unknown action
        return [ok_id, rng.choice([b"exec", b"eval", b"\xff\xfe", b"get_obj" * 50]), b"auto", b"msgpack", b""]
    if kind == 6:  # bad request ids
        return [rng.choice([b"abc", b"", b"9" * 100, b"1.5"]), b"ping", b"auto", b"msgpack", b""]
    if kind == 7:  # unknown serializer / return type
        return [ok_id, b"ping", rng.choice([b"auto", b"nope"]), rng.choice([b"pickle", b"yaml"]), b""]
    if kind == 8:  # msgpack declaring huge containers
        return [ok_id, b"call_obj", b"auto", b"msgpack", rng.choice([b"\xdd\xff\xff\xff\xff", b"\xdf\xff\xff\xff\xff"])]
    if kind == 9:  # array whose declared shape does not match its data, or an object dtype
        arr = {"___type_name___": "ndarray", "data": b"\0" * 8, "dtype": rng.choice(["f8", "O"]), "shape": [10**9]}
        return [ok_id, b"set_item", b"auto", b"msgpack", msgpack.packb({"name": "a", "value": arr})]
    if kind == 10:  # references to objects that do not exist
        return [ok_id, b"call_obj", b"auto", b"msgpack", msgpack.packb({"obj": _proxy_ref(rng), "args": []})]
    if kind == 11:  # options of the wrong types
        opts = rng.choice([[1, 2], "text", 3, {"obj": 5, "args": "x", "kwargs": [1]}, {"name": [1]}])
        action = rng.choice([b"call_obj", b"get_item", b"delete", b"import", b"set_item"])
        return [ok_id, action, b"auto", b"json", json.dumps(opts).encode()]
    if kind == 12:  # deeply nested
        return [ok_id, b"get_item", b"auto", b"json", b"[" * 5000 + b"]" * 5000]
    if kind == 13:  # unknown type tag
        opts = msgpack.packb({"name": "x", "value": {"___type_name___": "pickle"}})
        return [ok_id, b"set_item", b"auto", b"msgpack", opts]
    if kind == 14:  # import of a module that does not exist, wrong item
        return [ok_id, b"import", b"auto", b"json", json.dumps({"module": "no.such.module"}).encode()]
    # kind 15: oversized message (over MAXMSGSIZE: the server's ZeroMQ drops the connection)
    if i % 1000 == 15:
        return [ok_id, b"ping", b"auto", b"msgpack", b"\0" * (2 * MAX_MSG)]
    return [ok_id, b"get_item", b"auto", b"msgpack", msgpack.packb({"name": "no such item"})]


@pytest.mark.timeout(120)
def test_fuzz_server_keeps_serving():
    proc = ProcessSpawner(name="fuzzed", max_msg_size=MAX_MSG)
    fuzzer = None
    try:
        rops = proc._import("operator")
        add = rops.add
        fuzzer = zmq.Context.instance().socket(zmq.DEALER)
        fuzzer.setsockopt(zmq.LINGER, 0)
        fuzzer.setsockopt(zmq.SNDTIMEO, 5000)
        fuzzer.connect(proc.address)
        rng = random.Random(1234)
        replies = 0
        for i in range(10_000):
            fuzzer.send_multipart(malformed_message(rng, i))
            if i % 250 == 249:
                # the well-behaved client is served correctly in the middle of the storm
                assert add(i, 1, _timeout=20) == i + 1
                while fuzzer.poll(0):
                    data = fuzzer.recv()
                    reply = json.loads(data) if data.startswith(b"{") else msgpack.unpackb(data, raw=False)
                    replies += 1
                    assert reply["action"] == "return" and reply["error"] is not None
        assert proc.client.ping(timeout=20) == "pong"
        server = proc.client["self"]._set_proxy_options(timeout=60)  # a loaded 2-core machine can be slow
        # the server may still be working through the backlog: wait until it handled (almost) everything
        # (messages queued behind an oversized one are dropped with that connection by ZeroMQ)
        assert wait_until(lambda: server.malformed_count + server.request_count >= 9000, 60)
        assert server.malformed_count > 3000
        assert proc.client.ping(timeout=20) == "pong"
        assert add(2, 3) == 5
        assert proc.is_alive()
        while fuzzer.poll(200):
            fuzzer.recv()
            replies += 1
        assert replies > 500  # malformed requests with a usable id got an error reply
    finally:
        if fuzzer is not None:
            fuzzer.close(0)
        assert proc.stop() == 0
