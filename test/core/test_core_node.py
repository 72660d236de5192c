"""Node lifecycle state machine, stream shorthands, hooks and the node type registry."""

from __future__ import annotations

import numpy as np
import pytest

from pyacq_etvr.core.errors import ConfigError, SpecMismatchError, StateError
from pyacq_etvr.core.node import Node, NodeState
from pyacq_etvr.core.registry import NodeRegistry, get_node_type, list_node_types, register_node_type


class Producer(Node):
    _output_specs = {"out": dict(streamtype="analogsignal", dtype="float32", shape=(-1, 2))}

    def _configure(self, nb_channel: int = 2, gain: float = 1.0) -> None:
        self.gain = gain
        self.output.spec["shape"] = (-1, nb_channel)
        self.output.spec["sample_rate"] = 100.0


class Consumer(Node):
    _input_specs = {"sig": dict(streamtype="analogsignal", dtype="float32")}

    def __init__(self, **kw):
        super().__init__(**kw)
        self.events: list[str] = []

    def _configure(self) -> None:
        self.events.append("configure")

    def after_input_connect(self, inputname: str) -> None:
        self.events.append(f"connect:{inputname}")

    def _initialize(self) -> None:
        self.events.append("initialize")

    def _start(self) -> None:
        self.events.append("start")

    def _stop(self) -> None:
        self.events.append("stop")

    def _close(self) -> None:
        self.events.append("close")


class TwoOutputs(Node):
    _output_specs = {"a": dict(dtype="uint8", shape=(-1,)), "b": dict(dtype="uint8", shape=(-1,))}


def test_lifecycle_and_hooks():
    prod, cons = Producer(name="prod"), Consumer(name="cons")
    assert prod.state is NodeState.NEW and not prod.configured()
    prod.configure(nb_channel=3)
    prod.output.configure(protocol="inproc")
    assert prod.output.params["shape"] == [-1, 3] and prod.output.params["sample_rate"] == 100.0
    cons.configure()
    cons.input.connect(prod.output)
    cons.initialize()
    prod.initialize()
    assert cons.initialized() and not cons.running()
    for _ in range(2):  # start/stop repeatable
        cons.start()
        assert cons.running()
        cons.stop()
    cons.close()
    prod.close()
    assert cons.events == ["configure", "connect:sig", "initialize", "start", "stop", "start", "stop", "close"]
    assert cons.closed() and not cons.configured()
    cons.close()  # idempotent


def test_wrong_transitions_raise_state_error():
    node = Producer(name="p")
    with pytest.raises(StateError, match="initialize.*'new'"):
        node.initialize()
    with pytest.raises(StateError, match="start"):
        node.start()
    node.configure()
    with pytest.raises(StateError, match="stop"):
        node.stop()
    node.output.configure()
    node.initialize()
    with pytest.raises(StateError, match="configure"):
        node.configure()
    node.start()
    with pytest.raises(StateError, match="close"):
        node.close()
    node.stop()
    node.close()
    with pytest.raises(StateError, match="start.*closed"):
        node.start()


def test_unconnected_input_fails_initialize():
    cons = Consumer(name="c")
    cons.configure()
    with pytest.raises(StateError, match="input 'sig' is not connected"):
        cons.initialize()
    assert cons.state is NodeState.CONFIGURED
    cons.close()


def test_shorthand_with_several_streams_names_them():
    node = TwoOutputs(name="two")
    with pytest.raises(ConfigError, match=r"2 outputs \['a', 'b'\]"):
        node.output  # noqa: B018
    with pytest.raises(ConfigError, match="0 inputs"):
        node.input  # noqa: B018
    node.close()


def test_bad_configure_kwargs():
    with pytest.raises(ConfigError, match="unknown configure"):
        TwoOutputs().configure(bogus=1)
    with pytest.raises(TypeError):
        Producer().configure(bogus=1)


def test_spec_mismatch_on_connect_names_both_streams():
    prod = Producer(name="prod")
    prod.configure()
    prod.output.configure(protocol="inproc", dtype="float32")
    other = Node(name="x")
    from pyacq_etvr.core.stream import InputStream

    inp = InputStream(spec=dict(dtype="int16"), node=other, name="in")
    with pytest.raises(SpecMismatchError, match=r"'prod.out' to input 'x.in': dtype differs"):
        inp.connect(prod.output)
    prod.close()


def test_output_spec_cannot_be_overridden():
    prod = Producer(name="p")
    prod.configure()
    with pytest.raises(ConfigError, match="fixed by the stream spec"):
        prod.output.configure(dtype="int16")
    prod.output.configure(dtype=np.float32, shape=[-1, 2])  # same values in another spelling are fine
    prod.close()


def test_registry():
    reg = NodeRegistry(builtins={})
    assert reg.register(Producer) is Producer
    assert reg.get("Producer") is Producer
    assert "Producer" in reg and reg.names() == ["Producer"]
    with pytest.raises(ConfigError, match="unknown node type 'Nope'; known types: Producer"):
        reg.get("Nope")
    with pytest.raises(ConfigError, match="not a Node subclass"):
        reg.register(int)  # type: ignore[arg-type]
    register_node_type(Consumer, registry=reg)
    assert reg.get("Consumer") is Consumer
    # the default registry knows the built-in nodes lazily
    assert {"NumpyDeviceBuffer", "NoiseGenerator", "StreamMonitor"} <= set(list_node_types())
    assert get_node_type(f"{__name__}:Producer") is Producer
    with pytest.raises(ConfigError, match="cannot import node type"):
        get_node_type("no_such_module_xyz:Thing")


def test_main_input_and_output_shorthand():
    from pyacq_etvr.core.errors import ConfigError
    from pyacq_etvr.core.node import Node

    class Two(Node):
        _input_specs = {"image": {}, "extra": {}}
        _output_specs = {"video": {}, "truth": {}}

    class Main(Two):
        _main_input = "image"
        _main_output = "video"

    with pytest.raises(ConfigError, match="2 inputs"):
        Two().input  # noqa: B018
    with pytest.raises(ConfigError, match="2 outputs"):
        Two().output  # noqa: B018
    node = Main()
    assert node.input is node.inputs["image"]
    assert node.output is node.outputs["video"]
