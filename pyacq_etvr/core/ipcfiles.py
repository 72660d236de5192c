"""Socket files of the ZeroMQ ``ipc://`` endpoints this process binds: unlinked on close, at exit, when stale.

libzmq unlinks the file of an ``ipc://`` endpoint when its socket closes only if libzmq chose the path itself
(``ipc://*``, a private temporary directory). Output streams bind explicit paths in the temporary directory
(:func:`new_ipc_path`), and RPC / log servers may be given an explicit ``ipc:///path``: nobody else removes
those files, so this module does.

* The binder registers the path after a successful bind (:func:`register_bound`) and unlinks it after closing
  the socket (:func:`release_bound`). A forked child never unlinks its parent's files.
* Paths still registered at interpreter exit are unlinked by an ``atexit`` hook (an uncaught error, a
  NodeGroup torn down without closing its streams). A SIGKILLed process runs no hook, so:
* Generated names carry the binder's pid and start time (``pyacq_etvr_<pid>_<start>_<token>.ipc``, see
  :func:`ipc_owner_pid`). :func:`cleanup_stale_ipc` removes the files of dead binders; every process runs it
  once, at its first generated ipc path, and :class:`~pyacq_etvr.core.rpc.spawner.ProcessSpawner` runs it for
  its child's pid when it reaps the child. A file of a live process is never removed (a recycled pid is
  told apart by its start time).

Linux ``/proc`` gives the start times; elsewhere a pid that exists counts as alive.
"""

from __future__ import annotations

import atexit
import os
import re
import tempfile
import threading
import uuid

#: Generated ipc socket files are named ``<IPC_PREFIX><pid>_<start time>_<token><IPC_SUFFIX>``.
IPC_PREFIX = "pyacq_etvr_"
IPC_SUFFIX = ".ipc"
#: The start-time field is optional: files of older versions were ``pyacq_etvr_<pid>_<token>.ipc``.
_NAME_RE = re.compile(rf"^{re.escape(IPC_PREFIX)}(\d+)_(?:(\d+)_)?([0-9a-f]+){re.escape(IPC_SUFFIX)}$")
#: sun_path holds 108 bytes; keep a margin.
MAX_PATH = 100

_lock = threading.Lock()
_owned: dict[str, int] = {}  # path -> pid of the process that bound it
_cleaned_in: int | None = None  # pid of the process that already ran the first-bind cleanup


def ipc_dir() -> str:
    """Directory of the generated ipc socket files (the temporary directory, ``$TMPDIR``)."""
    return tempfile.gettempdir()


def proc_stat_fields(pid: int) -> list[str] | None:
    """Fields of /proc/<pid>/stat after the command name (state first, then ppid, ...); None if gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read().decode(errors="replace")
    except OSError:
        return None
    return data[data.rfind(")") + 2 :].split()  # the command name is in parentheses and may hold spaces


def process_start_time(pid: int) -> int | None:
    """Start time of ``pid`` in clock ticks since boot (/proc/<pid>/stat field 22); None if dead or a zombie."""
    fields = proc_stat_fields(pid)
    if fields is None or len(fields) < 20 or fields[0] == "Z":
        return None
    return int(fields[19])


def _alive(pid: int, start: int | None) -> bool:
    if not os.path.isdir("/proc/self"):  # no procfs: trust the pid alone
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    actual = process_start_time(pid)
    return actual is not None and (start is None or actual == start)


def ipc_owner_pid(name: str) -> int | None:
    """Pid of the process that generated ipc socket file ``name`` (a base name); None if not one of ours."""
    m = _NAME_RE.match(name)
    return int(m.group(1)) if m else None


def new_ipc_path(directory: str | None = None) -> str:
    """A fresh socket path for this process; the first call in a process removes stale files first."""
    directory = ipc_dir() if directory is None else directory
    _cleanup_once(directory)
    pid = os.getpid()
    name = f"{IPC_PREFIX}{pid}_{process_start_time(pid) or 0}_{uuid.uuid4().hex[:12]}{IPC_SUFFIX}"
    return os.path.join(directory, name)


def _cleanup_once(directory: str) -> None:
    global _cleaned_in
    pid = os.getpid()
    with _lock:
        if _cleaned_in == pid:
            return
        _cleaned_in = pid
    cleanup_stale_ipc(directory)


def cleanup_stale_ipc(directory: str | None = None, pid: int | None = None) -> list[str]:
    """Unlink the generated ipc socket files of dead processes (only ``pid``'s if given); return their names."""
    directory = ipc_dir() if directory is None else directory
    try:
        names = os.listdir(directory)
    except OSError:
        return []
    removed = []
    for name in names:
        m = _NAME_RE.match(name)
        if m is None:
            continue
        owner = int(m.group(1))
        if (pid is not None and owner != pid) or _alive(owner, int(m.group(2)) if m.group(2) else None):
            continue
        try:
            os.unlink(os.path.join(directory, name))
            removed.append(name)
        except OSError:  # gone already, or another user's file in a shared /tmp
            pass
    return removed


def bound_path(url: str) -> str | None:
    """Absolute socket path of an explicit ``ipc://`` url; None for other protocols and for ``ipc://*``."""
    if not url.startswith("ipc://"):
        return None
    path = url[len("ipc://") :]
    if not path or path.startswith("*") or path.startswith("@"):  # wildcard (libzmq's), abstract namespace
        return None
    return os.path.abspath(path)


def register_bound(url: str) -> str | None:
    """Record that this process bound ``url`` (after a successful bind); return the path to release, if any."""
    path = bound_path(url)
    if path is not None:
        with _lock:
            _owned[path] = os.getpid()
    return path


def release_bound(path: str | None) -> None:
    """Unlink a path registered by :func:`register_bound` (call after closing the socket). Idempotent."""
    if path is None:
        return
    with _lock:
        owner = _owned.pop(path, None)
    if owner != os.getpid():
        return  # not registered, or registered by the parent of this forked child: not ours to remove
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def owned_paths() -> list[str]:
    """Socket paths this process bound and has not released yet."""
    pid = os.getpid()
    with _lock:
        return [p for p, owner in _owned.items() if owner == pid]


def _unlink_owned_at_exit() -> None:
    for path in owned_paths():
        release_bound(path)


atexit.register(_unlink_owned_at_exit)
