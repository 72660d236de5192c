"""ProcessSpawner: start a Python process running an RPCServer, with a readiness handshake."""

from __future__ import annotations

import atexit
import json
import logging
import os
import select
import signal
import subprocess
import sys
import threading
import time
import weakref
from collections.abc import Callable
from typing import Any

from pyacq_etvr.core import ipcfiles
from pyacq_etvr.core.errors import DeadProcessError, RemoteError, SpawnError
from pyacq_etvr.core.rpc.client import RPCClient, mark_dead

logger = logging.getLogger(__name__)

_live_spawners: weakref.WeakSet[ProcessSpawner] = weakref.WeakSet()
_spawn_count = 0


def _read_handshake(fd: int, deadline: float) -> bytes:
    """Read one line from ``fd`` before ``deadline``; b'' on EOF, raise TimeoutError on timeout."""
    buf = b""
    while not buf.endswith(b"\n"):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError
        ready, _, _ = select.select([fd], [], [], remaining)
        if not ready:
            continue
        chunk = os.read(fd, 65536)
        if not chunk:
            return buf
        buf += chunk
    return buf


class ProcessSpawner:
    """Spawn a new Python process running an :class:`RPCServer` and connect an :class:`RPCClient` to it.

    The child (``python -m pyacq_etvr.core.rpc.bootstrap``) binds ``address`` (default loopback, random
    port) and reports its real address — or its traceback — over a pipe; the constructor returns once the
    server listens, or raises :class:`~pyacq_etvr.core.errors.SpawnError` within ``start_timeout`` seconds.

    Parameters: ``name`` (process name in log records), ``address``, ``qt`` (run a QApplication and a
    :class:`QtRPCServer`), ``log_addr`` (log server receiving the child's records and its stdout/stderr
    lines; without it the child shares this process's stdout/stderr), ``log_level`` (child root logger
    level), ``executable`` (default ``sys.executable``), ``keys_dir`` (CURVE keys, default: this process's,
    see :mod:`~pyacq_etvr.core.rpc.auth`), ``insecure`` (allow a public bind without keys), ``max_msg_size``
    (largest request the child's server accepts, bytes; default 256 MiB).

    The child exits by itself if this process dies (it watches its stdin pipe). A watcher thread reaps
    the child as soon as it exits, removes the ipc socket files it left (if it was killed, see
    :mod:`~pyacq_etvr.core.ipcfiles`) and calls the callbacks given to :meth:`on_exit`; calls into a dead
    child raise :class:`~pyacq_etvr.core.errors.DeadProcessError`. Use :meth:`stop` (polite, then kill),
    :meth:`kill` and :meth:`wait`. Spawners still alive at interpreter exit are stopped.
    """

    def __init__(
        self,
        name: str | None = None,
        address: str = "tcp://127.0.0.1:*",
        qt: bool = False,
        log_addr: str | None = None,
        log_level: int | None = None,
        executable: str | None = None,
        *,
        keys_dir: str | None = None,
        insecure: bool = False,
        start_timeout: float = 20.0,
        max_msg_size: int | None = None,
    ) -> None:
        global _spawn_count
        from pyacq_etvr.core.rpc import auth, log

        _spawn_count += 1
        self.name = name or f"process{_spawn_count}"
        self.qt = qt
        self._exit_callbacks: list[Callable[[ProcessSpawner], Any]] = []
        self._exited = threading.Event()
        rfd, wfd = os.pipe()
        conf = {
            "name": self.name,
            "address": address,
            "qt": bool(qt),
            "log_addr": log_addr,
            "log_level": log_level,
            "keys_dir": keys_dir if keys_dir is not None else auth.keys_dir(),
            "insecure": bool(insecure),
            "max_msg_size": max_msg_size,
            "host_name": log.get_host_name(),
            "handshake_fd": wfd,
        }
        pipe = subprocess.PIPE if log_addr else None
        cmd = [executable or sys.executable, "-m", "pyacq_etvr.core.rpc.bootstrap", json.dumps(conf)]
        try:
            self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=pipe, stderr=pipe, pass_fds=(wfd,))
        except OSError as exc:
            os.close(rfd)
            os.close(wfd)
            raise SpawnError(f"cannot start {cmd[0]}: {exc}") from None
        os.close(wfd)
        self.pid = self.proc.pid
        self._forwarder = None
        try:
            try:
                if log_addr:
                    self._forwarder = threading.Thread(
                        target=self._forward_output, args=(log_addr,), name=f"pyacq-pipe-{self.name}", daemon=True
                    )
                    self._forwarder.start()
                info = self._handshake(rfd, start_timeout)
            finally:
                os.close(rfd)
            self.address: str = info["address"]
            self.client = RPCClient(self.address)
        except SpawnError:
            raise  # the child was already killed and reaped
        except BaseException:  # e.g. Ctrl-C while waiting for the handshake: never leave the child behind
            self._abort()
            raise
        self._waiter = threading.Thread(target=self._wait_exit, name=f"pyacq-reaper-{self.name}", daemon=True)
        self._waiter.start()
        _live_spawners.add(self)

    def _handshake(self, rfd: int, timeout: float) -> dict:
        try:
            line = _read_handshake(rfd, time.monotonic() + timeout)
        except TimeoutError:
            self._abort()
            raise SpawnError(f"process {self.name!r} did not report readiness within {timeout} s") from None
        try:
            info = json.loads(line) if line.strip() else None
        except ValueError:
            info = None
        if not isinstance(info, dict) or "address" not in info:
            detail = info.get("error") if isinstance(info, dict) else None
            rc = self._abort()
            raise SpawnError(f"process {self.name!r} failed to start (exit code {rc}):\n{detail or line!r}")
        return info

    def _abort(self) -> int | None:
        try:
            self.proc.kill()
        except OSError:
            pass
        try:
            rc = self.proc.wait(5)
        except subprocess.TimeoutExpired:
            rc = None
        self._close_pipes()
        return rc

    def _close_pipes(self) -> None:
        if self._forwarder is not None and self._forwarder is not threading.current_thread():
            self._forwarder.join(2)
        for f in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            if f is not None:
                try:
                    f.close()
                except OSError:
                    pass

    def _forward_output(self, log_addr: str) -> None:
        """Send the child's stdout/stderr lines to the log server as records of the child."""
        from pyacq_etvr.core.rpc.log import LogSender, get_host_name

        sender = LogSender(log_addr)
        streams = {
            self.proc.stdout.fileno(): ("stdout", logging.INFO),
            self.proc.stderr.fileno(): ("stderr", logging.WARNING),
        }
        buffers = {fd: b"" for fd in streams}
        try:
            while streams:
                ready, _, _ = select.select(list(streams), [], [], 1.0)
                for fd in ready:
                    chunk = os.read(fd, 65536)
                    if not chunk:
                        lines, buffers[fd] = [buffers[fd]] if buffers[fd] else [], b""
                    else:
                        *lines, buffers[fd] = (buffers[fd] + chunk).split(b"\n")
                    kind, level = streams[fd]
                    for line in lines:
                        rec = logging.LogRecord(
                            f"{self.name}.{kind}", level, "", 0, line.decode(errors="replace"), None, None
                        )
                        rec.hostname, rec.process_name, rec.thread_name = get_host_name(), self.name, kind
                        sender.handle(rec)
                    if not chunk:
                        del streams[fd]
        except (OSError, ValueError):
            pass
        finally:
            sender.close()

    def _wait_exit(self) -> None:
        rc = self.proc.wait()
        exit_time = time.monotonic()
        ipcfiles.cleanup_stale_ipc(pid=self.pid)  # ipc socket files a killed child could not unlink
        mark_dead(self.address, f"process {self.name!r} (pid {self.pid}) exited with code {rc}", before=exit_time)
        self._exited.set()
        if rc != 0 and not getattr(self, "_stopping", False):
            logger.warning("process %r (pid %d) died with exit code %s", self.name, self.pid, rc)
        for cb in list(self._exit_callbacks):
            try:
                cb(self)
            except Exception:
                logger.exception("exit callback of process %r failed", self.name)

    # --- public API ----------------------------------------------------------------------------------
    def on_exit(self, callback: Callable[[ProcessSpawner], Any]) -> None:
        """Call ``callback(spawner)`` from the reaper thread as soon as the child exits."""
        self._exit_callbacks.append(callback)
        if self._exited.is_set():
            callback(self)

    @property
    def returncode(self) -> int | None:
        return self.proc.returncode if self._exited.is_set() else None

    def is_alive(self) -> bool:
        return not self._exited.is_set()

    def _import(self, module: str, **kwds: Any) -> Any:
        """Import ``module`` in the child and return a proxy to it."""
        return self._thread_client().send("import", {"module": module}, **kwds)

    def _thread_client(self) -> RPCClient:
        if threading.get_ident() == self.client.thread_id and not self.client.closed:
            return self.client
        client = RPCClient.get_client(self.address)
        assert client is not None
        return client

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until the child exited (and was reaped); return False on timeout."""
        if not self._exited.wait(timeout):
            return False
        self._waiter.join(timeout)
        self._close_pipes()
        _live_spawners.discard(self)
        if threading.get_ident() == self.client.thread_id:
            self.client.close()
        return True

    def stop(self, timeout: float = 5.0) -> int | None:
        """Ask the child's server to close, wait up to ``timeout`` s, then kill it; return its exit code."""
        self._stopping = True
        if self.is_alive():
            try:
                self._thread_client().close_server(timeout=min(timeout, 2.0))
            except (RemoteError, TimeoutError, OSError):
                pass
        if not self.wait(timeout):
            logger.warning("process %r did not exit within %s s: killing it", self.name, timeout)
            self.kill()
        return self.returncode

    close = stop

    def kill(self, timeout: float = 5.0) -> int | None:
        """SIGKILL the child and reap it; return its exit code."""
        self._stopping = True
        if self.is_alive():
            try:
                os.kill(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if not self.wait(timeout):
            raise DeadProcessError(f"process {self.name!r} (pid {self.pid}) could not be reaped")
        return self.returncode

    def __repr__(self) -> str:
        state = "alive" if self.is_alive() else f"exited {self.returncode}"
        return f"<ProcessSpawner {self.name!r} pid={self.pid} {self.address} {state}>"


def stop_all_spawners(timeout: float = 3.0) -> None:
    """Stop every child spawned by this process that is still running (called at interpreter exit)."""
    for sp in list(_live_spawners):
        try:
            sp.stop(timeout)
        except Exception:
            try:
                sp.kill()
            except Exception:
                pass


atexit.register(stop_all_spawners)
