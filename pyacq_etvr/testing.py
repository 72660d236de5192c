"""Helpers for tests and examples, shipped in the package so remote NodeGroups and users can import them.

Process and shared-memory hygiene checks (Linux ``/proc`` and ``/dev/shm``):

* :func:`descendant_pids` lists every live descendant of a process (children, grandchildren...);
* :func:`shm_segments` lists the shared-memory segments pyacq_etvr created (prefix :data:`SHM_PREFIX`);
* :func:`ipc_files` lists the ZeroMQ ipc socket files pyacq_etvr generated in the temporary directory;
* :func:`wait_until` polls a condition against a deadline instead of sleeping a fixed time.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable

#: Every shared-memory segment pyacq_etvr creates is named ``/dev/shm/<SHM_PREFIX>...``.
SHM_PREFIX = "pyacq_etvr_"

SHM_DIR = "/dev/shm"


def _stat(pid: int) -> tuple[int, str] | None:
    """Return (ppid, state) of ``pid`` from /proc, or None if it is gone."""
    from pyacq_etvr.core.ipcfiles import proc_stat_fields

    rest = proc_stat_fields(pid)
    return None if rest is None else (int(rest[1]), rest[0])


def descendant_pids(pid: int | None = None, include_zombies: bool = True) -> set[int]:
    """Return the pids of all descendants of ``pid`` (default: this process).

    Zombies (exited but not reaped) are included unless ``include_zombies`` is False: an
    unreaped child is a leak too.
    """
    root = os.getpid() if pid is None else pid
    parents: dict[int, list[tuple[int, str]]] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        st = _stat(int(name))
        if st is None:
            continue
        parents.setdefault(st[0], []).append((int(name), st[1]))
    out: set[int] = set()
    todo = [root]
    while todo:
        p = todo.pop()
        for child, state in parents.get(p, ()):
            if child in out:
                continue
            if state == "Z" and not include_zombies:
                continue
            out.add(child)
            todo.append(child)
    return out


def shm_segments(prefix: str = SHM_PREFIX) -> set[str]:
    """Names of the shared-memory segments in /dev/shm that start with ``prefix``."""
    try:
        return {n for n in os.listdir(SHM_DIR) if n.startswith(prefix)}
    except FileNotFoundError:
        return set()


def wait_until(condition: Callable[[], bool], timeout: float, interval: float = 0.01) -> bool:
    """Poll ``condition`` until it returns True or ``timeout`` seconds pass; return its last value."""
    deadline = time.monotonic() + timeout
    while True:
        if condition():
            return True
        if time.monotonic() >= deadline:
            return bool(condition())
        time.sleep(interval)


def kill_and_reap(pids: set[int], timeout: float = 5.0) -> None:
    """SIGKILL the given pids (never by name) and reap those that are our children."""
    for p in pids:
        try:
            os.kill(p, signal.SIGKILL)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + timeout
    for p in pids:
        while time.monotonic() < deadline:
            try:
                done, _ = os.waitpid(p, os.WNOHANG)
            except ChildProcessError:
                break  # not our child (a grandchild): its own parent reaps it
            if done:
                break
            time.sleep(0.01)


def reap_exited_children() -> set[int]:
    """Reap this process's children that have already exited (zombies); return their pids.

    With a child subreaper (see the test suite's conftest), orphaned grandchildren that exited by themselves
    end up as our zombies: they left nothing running, so reaping them is not hiding a leak.
    """
    me = os.getpid()
    reaped: set[int] = set()
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        st = _stat(int(name))
        if st is None or st[0] != me or st[1] != "Z":
            continue
        try:
            if os.waitpid(int(name), os.WNOHANG)[0]:
                reaped.add(int(name))
        except ChildProcessError:
            pass
    return reaped


def ipc_files(directory: str | None = None, prefix: str = SHM_PREFIX) -> set[str]:
    """Names of the ipc socket files ``<prefix>*.ipc`` in ``directory`` (default: the temporary directory).

    Output streams bound with ``protocol='ipc'`` create them (see :mod:`pyacq_etvr.core.ipcfiles`; the name
    carries the binder's pid, :func:`pyacq_etvr.core.ipcfiles.ipc_owner_pid`).
    """
    import tempfile

    try:
        names = os.listdir(tempfile.gettempdir() if directory is None else directory)
    except FileNotFoundError:
        return set()
    return {n for n in names if n.startswith(prefix) and n.endswith(".ipc")}
