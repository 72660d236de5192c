"""Serializer round trips and refusal of malformed / dangerous payloads."""

from __future__ import annotations

import datetime

import msgpack
import numpy as np
import pytest

from pyacq_etvr.core.errors import RPCProtocolError
from pyacq_etvr.core.rpc.proxy import ObjectProxy
from pyacq_etvr.core.rpc.serializer import JsonSerializer, MsgpackSerializer, decode_array

SERIALIZERS = [MsgpackSerializer, JsonSerializer]


@pytest.mark.parametrize("cls", SERIALIZERS)
def test_round_trip_of_supported_types(cls):
    ser = cls()
    structured = np.zeros(4, dtype=[("x", "<f4"), ("y", "<i2", (2,)), ("sub", [("a", "u1"), ("b", "<f8")])])
    structured["x"] = [1, 2, 3, 4]
    structured["sub"]["b"] = 7.5
    value = {
        "int": 3,
        "float": 2.5,
        "str": "héllo",
        "none": None,
        "bool": True,
        "list": [1, [2, 3], {"a": None}],
        "bytes": b"\x00\xffabc",
        "dt": datetime.datetime(2024, 5, 6, 7, 8, 9, 123456),
        "date": datetime.date(2024, 5, 6),
        "arr": np.arange(12, dtype="<i4").reshape(3, 4),
        "farr": np.asfortranarray(np.arange(6.0).reshape(2, 3)),
        "empty": np.zeros((0, 3), dtype="f8"),
        "structured": structured,
        "scalar": np.float32(1.25),
        "iscalar": np.int64(-5),
    }
    out = ser.loads(ser.dumps(value))
    for key in ("int", "float", "str", "none", "bool", "list", "bytes", "dt", "date"):
        assert out[key] == value[key], key
    for key in ("arr", "farr", "empty", "structured"):
        assert out[key].dtype == value[key].dtype and out[key].shape == value[key].shape
        assert np.array_equal(out[key], value[key]), key
    assert out["scalar"].dtype == np.float32 and out["scalar"] == np.float32(1.25)
    assert out["iscalar"].dtype == np.int64 and out["iscalar"] == -5
    assert not out["arr"].flags.writeable  # zero-copy view of the message


def test_tuples_survive_msgpack_but_become_lists_in_json():
    value = {"t": (1, (2, 3)), "l": [4]}
    assert MsgpackSerializer().loads(MsgpackSerializer().dumps(value)) == value
    assert JsonSerializer().loads(JsonSerializer().dumps(value)) == {"t": [1, [2, 3]], "l": [4]}


@pytest.mark.parametrize("cls", SERIALIZERS)
def test_proxy_reference_round_trip(cls):
    ser = cls()
    p = ObjectProxy("tcp://127.0.0.1:5555", 123, 4, "<class 'x'>", ("a", "b"))
    q = ser.loads(ser.dumps({"p": p}))["p"]
    assert isinstance(q, ObjectProxy)
    assert (q._rpc_addr, q._obj_id, q._ref_id, q._attributes) == ("tcp://127.0.0.1:5555", 123, 4, ("a", "b"))


@pytest.mark.parametrize("cls", SERIALIZERS)
def test_unserializable_value_without_server_is_a_clear_error(cls, monkeypatch):
    from pyacq_etvr.core.rpc import server

    monkeypatch.setattr(server, "_default_server", None)  # no server in this thread nor in the process
    with pytest.raises(TypeError, match="cannot serialize"):
        cls().dumps({"x": object()})
    with pytest.raises(TypeError, match="objects cannot be serialized"):
        cls().dumps(np.array([object()]))


def _tagged(**fields):
    return {"___type_name___": "ndarray", **fields}


@pytest.mark.parametrize(
    "bad",
    [
        _tagged(data=b"\x00" * 8, dtype="O", shape=[1]),  # object dtype would dereference pointers
        _tagged(data=b"\x00" * 8, dtype=[["a", "O"]], shape=[1]),
        _tagged(data=b"\x00" * 8, dtype="f8", shape=[1000000]),  # size mismatch
        _tagged(data=b"\x00" * 8, dtype="f8", shape=[-1]),
        _tagged(data=b"\x00" * 8, dtype="f8", shape="1"),
        _tagged(data=b"\x00" * 8, dtype="no such dtype", shape=[1]),
        _tagged(data=b"\x00" * 8, dtype=[[1, "f8"]], shape=[1]),
        _tagged(data="not bytes", dtype="f8", shape=[1]),
        _tagged(dtype="f8", shape=[1]),  # missing data
        {"___type_name___": "no-such-type"},
        {"___type_name___": "datetime", "data": "yesterday"},
        {"___type_name___": "proxy", "rpc_addr": 3, "obj_id": "x", "ref_id": 1},
    ],
)
def test_malformed_tagged_values_are_refused(bad):
    data = msgpack.packb({"v": bad})
    with pytest.raises(RPCProtocolError):
        MsgpackSerializer().loads(data)


@pytest.mark.parametrize("payload", [b"\xc1", b"\x92\x01", b"\xdd\xff\xff\xff\xff", b"\x81" * 5000 + b"\x00"])
def test_garbage_msgpack_raises_protocol_error(payload):
    with pytest.raises(RPCProtocolError):
        MsgpackSerializer().loads(payload)


@pytest.mark.parametrize("payload", [b"{", b"\xff\xfe", b"[" * 100000])
def test_garbage_json_raises_protocol_error(payload):
    with pytest.raises(RPCProtocolError):
        JsonSerializer().loads(payload)


def test_json_bad_base64_is_refused():
    data = b'{"___type_name___": "bytes", "data": "!!!not base64"}'
    with pytest.raises(RPCProtocolError, match="base64"):
        JsonSerializer().loads(data)


def test_decode_array_limits_dimensions():
    with pytest.raises(RPCProtocolError):
        decode_array(b"", "f8", [1] * 100)
