"""Node: the unit of a processing graph, with pyacq's lifecycle as an explicit state machine.

Lifecycle (each arrow is a method; any other call raises :class:`~pyacq_etvr.core.errors.StateError`)::

    NEW --configure()--> CONFIGURED --initialize()--> INITIALIZED --start()--> RUNNING
                          ^   |configure() again            ^                 |stop()
                          +---+                             +--- STOPPED <----+ (start() again)
    close(): from any state but RUNNING -> CLOSED (idempotent)

Between ``configure()`` and ``initialize()`` the user connects inputs (``node.inputs['x'].connect(...)``) and
configures outputs (``node.outputs['y'].configure(...)``); ``initialize()`` calls ``check_input_specs()``,
``check_output_specs()`` then ``_initialize()``.

Subclasses declare their streams with ``_input_specs`` / ``_output_specs`` (pyacq keyword dicts, see
:class:`~pyacq_etvr.core.spec.StreamSpec`) and override the ``_configure``, ``_initialize``, ``_start``,
``_stop``, ``_close`` hooks (no-ops by default) and optionally ``after_input_connect(name)`` /
``after_output_configure(name)``. A node's work should be a plain method that can be called on arrays, so
it is testable without streams. State queries (``running()``, ``configured()``, ``initialized()``,
``state``) are thread-safe. No Qt is involved: threads do the background work.
"""

from __future__ import annotations

import enum
import threading
from typing import Any, ClassVar

from .errors import ConfigError, StateError
from .stream import InputStream, OutputStream


class NodeState(enum.Enum):
    """Lifecycle states of a :class:`Node`."""

    NEW = "new"
    CONFIGURED = "configured"
    INITIALIZED = "initialized"
    RUNNING = "running"
    STOPPED = "stopped"
    CLOSED = "closed"


_S = NodeState


class Node:
    """Base class of every node (pyacq's ``Node(name='', parent=None)``).

    Attributes:
        name: the node's name (used in stream labels and error messages).
        inputs / outputs: dicts of :class:`InputStream` / :class:`OutputStream`, created from the class's
            ``_input_specs`` / ``_output_specs`` (a node may add more in ``_configure``).
    """

    _input_specs: ClassVar[dict[str, dict[str, Any]]] = {}
    _output_specs: ClassVar[dict[str, dict[str, Any]]] = {}
    #: stream returned by the ``input`` / ``output`` shorthand when the node has several (None: refuse)
    _main_input: ClassVar[str | None] = None
    _main_output: ClassVar[str | None] = None

    def __init__(self, name: str = "", parent: Any = None) -> None:
        self.name = name
        self.parent = parent
        self._state = NodeState.NEW
        self._state_lock = threading.RLock()
        self.inputs: dict[str, InputStream] = {
            k: InputStream(spec=dict(spec), node=self, name=k) for k, spec in self._input_specs.items()
        }
        self.outputs: dict[str, OutputStream] = {
            k: OutputStream(spec=dict(spec), node=self, name=k) for k, spec in self._output_specs.items()
        }

    # ----------------------------------------------------------------- state
    @property
    def state(self) -> NodeState:
        with self._state_lock:
            return self._state

    def running(self) -> bool:
        """True between start() and stop(). Thread-safe."""
        with self._state_lock:
            return self._state is _S.RUNNING

    def configured(self) -> bool:
        """True once configure() succeeded (and until close()). Thread-safe."""
        with self._state_lock:
            return self._state in (_S.CONFIGURED, _S.INITIALIZED, _S.RUNNING, _S.STOPPED)

    def initialized(self) -> bool:
        """True once initialize() succeeded (and until close()). Thread-safe."""
        with self._state_lock:
            return self._state in (_S.INITIALIZED, _S.RUNNING, _S.STOPPED)

    def closed(self) -> bool:
        with self._state_lock:
            return self._state is _S.CLOSED

    def _require(self, action: str, *allowed: NodeState) -> None:
        if self._state not in allowed:
            names = ", ".join(s.value for s in allowed)
            raise StateError(f"{self._label}: cannot {action}() in state {self._state.value!r} (needs {names})")

    @property
    def _label(self) -> str:
        return f"{type(self).__name__} {self.name!r}" if self.name else type(self).__name__

    # ------------------------------------------------------------ lifecycle
    def configure(self, **kwargs: Any) -> None:
        """Set the node's parameters (see the subclass's ``_configure`` for the accepted keywords)."""
        with self._state_lock:
            self._require("configure", _S.NEW, _S.CONFIGURED)
            self._configure(**kwargs)
            self._state = _S.CONFIGURED

    def initialize(self) -> None:
        """Check stream specs, then allocate and prepare (``_initialize``)."""
        with self._state_lock:
            self._require("initialize", _S.CONFIGURED)
            self.check_input_specs()
            self.check_output_specs()
            self._initialize()
            self._state = _S.INITIALIZED

    def start(self) -> None:
        """Start processing (repeatable after stop())."""
        with self._state_lock:
            self._require("start", _S.INITIALIZED, _S.STOPPED)
            self._start()
            self._state = _S.RUNNING

    def stop(self) -> None:
        """Stop processing; start() may be called again."""
        with self._state_lock:
            self._require("stop", _S.RUNNING)
            self._stop()
            self._state = _S.STOPPED

    def close(self) -> None:
        """Release everything and close all streams. Not allowed while running; idempotent."""
        with self._state_lock:
            if self._state is _S.CLOSED:
                return
            self._require("close", _S.NEW, _S.CONFIGURED, _S.INITIALIZED, _S.STOPPED)
            try:
                if self._state is not _S.NEW:
                    self._close()
            finally:
                for stream in [*self.inputs.values(), *self.outputs.values()]:
                    stream.close()
                self._state = _S.CLOSED

    # -------------------------------------------------------------- streams
    @property
    def input(self) -> InputStream:
        """The single input, or the class's ``_main_input`` when it also has optional ones (e.g. ImageViewer's
        ``image`` beside its optional ``pupil``); ConfigError naming the inputs otherwise."""
        main = type(self)._main_input
        if main is not None and main in self.inputs:
            return self.inputs[main]
        if len(self.inputs) != 1:
            raise ConfigError(
                f"{self._label} has {len(self.inputs)} inputs {sorted(self.inputs)}: use node.inputs[name]"
            )
        return next(iter(self.inputs.values()))

    @property
    def output(self) -> OutputStream:
        """The single output, or the class's ``_main_output`` (e.g. a camera's ``video`` beside ``truth``);
        ConfigError naming the outputs otherwise."""
        main = type(self)._main_output
        if main is not None and main in self.outputs:
            return self.outputs[main]
        if len(self.outputs) != 1:
            raise ConfigError(
                f"{self._label} has {len(self.outputs)} outputs {sorted(self.outputs)}: use node.outputs[name]"
            )
        return next(iter(self.outputs.values()))

    def check_input_specs(self) -> None:
        """Called by initialize(); raise if inputs are misconfigured.

        Default: every input must be connected (override for optional inputs).
        """
        for name, inp in self.inputs.items():
            if not inp.connected:
                raise StateError(f"{self._label}: input {name!r} is not connected")

    def check_output_specs(self) -> None:
        """Called by initialize(); raise if outputs are misconfigured.

        Default: nothing (an output may be optional; a node must not send on an unconfigured output:
        ``self.outputs[name].configured`` tells, and ``send()`` raises StreamError there).
        """

    def after_input_connect(self, inputname: str) -> None:
        """Hook called when input ``inputname`` was connected."""

    def after_output_configure(self, outputname: str) -> None:
        """Hook called when output ``outputname`` was configured."""

    # ---------------------------------------------------------------- hooks
    def _configure(self, **kwargs: Any) -> None:
        """Subclass hook: accept and store parameters. The base class accepts none."""
        if kwargs:
            raise ConfigError(f"{self._label}: unknown configure() argument(s) {sorted(kwargs)}")

    def _initialize(self) -> None:
        """Subclass hook: allocate memory, open devices, create threads."""

    def _start(self) -> None:
        """Subclass hook: begin producing / consuming."""

    def _stop(self) -> None:
        """Subclass hook: stop producing / consuming (threads joined with a deadline)."""

    def _close(self) -> None:
        """Subclass hook: release resources (streams are closed by the base class)."""

    def __repr__(self) -> str:
        return f"<{self._label} {self.state.value}>"
