"""Node type registry: class name -> Node subclass, used by ``NodeGroup.create_node('ClassName', ...)``.

The registry is an explicit object (:class:`NodeRegistry`); :data:`default_registry` is the one used by
:func:`register_node_type`, :func:`get_node_type` and :func:`list_node_types`. Built-in node types are known
lazily (:data:`BUILTIN_NODE_TYPES`: name -> module), so looking one up imports its module on first use and
``import pyacq_etvr`` stays cheap. A ``'package.module:ClassName'`` name imports that module and returns the
class (it must be a Node subclass).
"""

from __future__ import annotations

import importlib
import threading
from typing import TYPE_CHECKING

from .errors import ConfigError

if TYPE_CHECKING:
    from .node import Node

#: Node types shipped with pyacq_etvr: class name -> module that defines (and registers) it.
BUILTIN_NODE_TYPES: dict[str, str] = {
    "NumpyDeviceBuffer": "pyacq_etvr.devices",
    "NoiseGenerator": "pyacq_etvr.devices",
    "StreamMonitor": "pyacq_etvr.core.tools",
    "StreamConverter": "pyacq_etvr.core.tools",
    "ChannelSplitter": "pyacq_etvr.core.tools",
    # eye-tracking nodes
    "Camera": "pyacq_etvr.nodes.camera.node",
    "PupilDetector": "pyacq_etvr.nodes.pupil",
    "OneEuroFilter": "pyacq_etvr.nodes.filters.nodes",
    "MovingAverageFilter": "pyacq_etvr.nodes.filters.nodes",
    "OutlierFilter": "pyacq_etvr.nodes.filters.nodes",
    "BlinkHoldFilter": "pyacq_etvr.nodes.filters.nodes",
    "FilterChain": "pyacq_etvr.nodes.filters.nodes",
    "Calibration": "pyacq_etvr.nodes.calibration",
    "EyeMerge": "pyacq_etvr.nodes.merge",
    "OscSender": "pyacq_etvr.nodes.osc",
    "RawRecorder": "pyacq_etvr.nodes.recorder",
    "ReplaySource": "pyacq_etvr.nodes.recorder",
    # Qt viewers (need a QApplication: create them in a qt=True NodeGroup)
    "ImageViewer": "pyacq_etvr.viewers.imageviewer",
    "QOscilloscope": "pyacq_etvr.viewers.oscilloscope",
    "GazeViewer": "pyacq_etvr.viewers.gaze",
}


class NodeRegistry:
    """Thread-safe mapping of node type names to Node subclasses, with lazily imported built-ins."""

    def __init__(self, builtins: dict[str, str] | None = None) -> None:
        self._types: dict[str, type[Node]] = {}
        self._lazy: dict[str, str] = dict(BUILTIN_NODE_TYPES if builtins is None else builtins)
        self._lock = threading.RLock()

    def register(self, cls: type[Node], name: str | None = None) -> type[Node]:
        """Register ``cls`` under ``name`` (default: its class name); a later registration replaces an earlier one.

        Returns ``cls`` (usable as a decorator).
        """
        from .node import Node

        if not (isinstance(cls, type) and issubclass(cls, Node)):
            raise ConfigError(f"register_node_type: {cls!r} is not a Node subclass")
        key = name or cls.__name__
        with self._lock:
            self._types[key] = cls
        return cls

    def register_lazy(self, name: str, module: str) -> None:
        """Declare that importing ``module`` registers node type ``name`` (imported on first lookup)."""
        with self._lock:
            self._lazy[name] = module

    def get(self, name: str) -> type[Node]:
        """Return the node class registered as ``name``; ConfigError listing the known names otherwise."""
        with self._lock:
            cls = self._types.get(name)
            lazy = self._lazy.get(name)
        if cls is not None:
            return cls
        if lazy is not None:
            importlib.import_module(lazy)
            with self._lock:
                cls = self._types.get(name)
            if cls is None:
                raise ConfigError(f"module {lazy!r} did not register node type {name!r}")
            return cls
        if ":" in name:
            return self._import(name)
        raise ConfigError(f"unknown node type {name!r}; known types: {', '.join(self.names())}")

    def _import(self, spec: str) -> type[Node]:
        from .node import Node

        module, _, clsname = spec.partition(":")
        try:
            cls = getattr(importlib.import_module(module), clsname)
        except (ImportError, AttributeError) as exc:
            raise ConfigError(f"cannot import node type {spec!r}: {exc}") from None
        if not (isinstance(cls, type) and issubclass(cls, Node)):
            raise ConfigError(f"{spec!r} is not a Node subclass")
        return self.register(cls)

    def names(self) -> list[str]:
        """Registered and built-in type names, sorted."""
        with self._lock:
            return sorted(set(self._types) | set(self._lazy))

    def __contains__(self, name: object) -> bool:
        with self._lock:
            return name in self._types or name in self._lazy


#: The registry used by :func:`register_node_type` / :func:`get_node_type` and by NodeGroup.
default_registry = NodeRegistry()


def register_node_type(
    cls: type[Node], classname: str | None = None, registry: NodeRegistry | None = None
) -> type[Node]:
    """Register a Node subclass so that NodeGroups can create it by name (pyacq's ``register_node_type``)."""
    return (registry or default_registry).register(cls, classname)


def get_node_type(name: str, registry: NodeRegistry | None = None) -> type[Node]:
    """Look up a node class by registered name (or ``'module:Class'``)."""
    return (registry or default_registry).get(name)


def list_node_types(registry: NodeRegistry | None = None) -> list[str]:
    """Names of all known node types."""
    return (registry or default_registry).names()
