"""pyacq_etvr: real-time acquisition and stream-processing graphs, and a VR eye tracker built with them.

The public API mirrors pyacq's, so a pyacq script ports by changing the import::

    import pyacq_etvr as pyacq

Names are re-exported lazily: ``import pyacq_etvr`` loads nothing heavy
(no Qt, no OpenCV, no python-osc, not even ZeroMQ until a stream or RPC object is used).
"""

from __future__ import annotations

from pyacq_etvr._lazy import lazy_exports

__version__ = "0.1.0"

# public name -> module that defines it
_EXPORTS: dict[str, str] = {
    # nodes and streams
    "Node": "pyacq_etvr.core.node",
    "register_node_type": "pyacq_etvr.core.registry",
    "NodeState": "pyacq_etvr.core.node",
    "StreamSpec": "pyacq_etvr.core.spec",
    "OutputStream": "pyacq_etvr.core.stream",
    "InputStream": "pyacq_etvr.core.stream",
    "RingBuffer": "pyacq_etvr.core.stream",
    "ThreadPollInput": "pyacq_etvr.core.poller",
    "StreamConverter": "pyacq_etvr.core.tools",
    "ChannelSplitter": "pyacq_etvr.core.tools",
    "StreamMonitor": "pyacq_etvr.core.tools",
    "NumpyDeviceBuffer": "pyacq_etvr.devices",
    "NoiseGenerator": "pyacq_etvr.devices",
    # viewers (Qt is imported only when one of these is used)
    "ImageViewer": "pyacq_etvr.viewers.imageviewer",
    "QOscilloscope": "pyacq_etvr.viewers.oscilloscope",
    "GazeViewer": "pyacq_etvr.viewers.gaze",
    # eye-tracking nodes (OpenCV / python-osc load on use)
    "Camera": "pyacq_etvr.nodes.camera.node",
    "PupilDetector": "pyacq_etvr.nodes.pupil",
    "RawRecorder": "pyacq_etvr.nodes.recorder",
    # process management
    "create_manager": "pyacq_etvr.core.manager",
    "Manager": "pyacq_etvr.core.manager",
    "NodeGroup": "pyacq_etvr.core.nodegroup",
    "Host": "pyacq_etvr.core.host",
    # rpc
    "RPCServer": "pyacq_etvr.core.rpc",
    "RPCClient": "pyacq_etvr.core.rpc",
    "ObjectProxy": "pyacq_etvr.core.rpc",
    "ProcessSpawner": "pyacq_etvr.core.rpc",
    "RemoteCallException": "pyacq_etvr.core.rpc",
}

__getattr__, __dir__, __all__ = lazy_exports(__name__, _EXPORTS, extra=["__version__"])
