"""POSIX shared-memory segments in ``/dev/shm`` without multiprocessing's resource tracker.

``multiprocessing.shared_memory`` registers every segment it opens with a resource-tracker process that
unlinks it when *any* opener exits (so a reader destroys the writer's segment) and warns about "leaks" it
caused itself. We avoid it entirely: a segment is a file in ``/dev/shm`` (tmpfs, i.e. real shared memory)
opened with ``os.open`` and mapped with ``mmap``.

* The creator (owner) unlinks it exactly once, in :meth:`SharedMemorySegment.close`; readers never unlink.
* The name embeds the owner's pid and its start time (``/proc/<pid>/stat``), so a segment whose owner died
  (even by SIGKILL) is recognised and removed by :func:`cleanup_stale_segments`, which every new writer calls.
"""

from __future__ import annotations

import atexit
import mmap
import os
import re
import threading
import uuid

from ...testing import SHM_DIR, SHM_PREFIX
from ..errors import StreamError
from ..ipcfiles import process_start_time

#: Ring segments are named ``<SHM_PREFIX>ring_<pid>_<start time>_<token>``.
RING_PREFIX = f"{SHM_PREFIX}ring_"
#: MAP_POPULATE pre-faults the pages: no page fault in the hot loop (the first lap would cost ~3 us per page)
_MAP_FLAGS = mmap.MAP_SHARED | getattr(mmap, "MAP_POPULATE", 0)
_NAME_RE = re.compile(rf"^{re.escape(RING_PREFIX)}(\d+)_(\d+)_([0-9a-f]+)$")


# Paths of the segments this process created and has not unlinked yet: unlinked at interpreter exit, so a
# process that exits without closing its streams (an uncaught error, a NodeGroup torn down) leaves nothing.
_owned_paths: set[str] = set()
_owned_lock = threading.Lock()
_owner_pid = os.getpid()


def _unlink_owned_at_exit() -> None:
    if os.getpid() != _owner_pid:  # a forked child inherited the set: not its segments
        return
    with _owned_lock:
        paths = list(_owned_paths)
        _owned_paths.clear()
    for path in paths:
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass


atexit.register(_unlink_owned_at_exit)


def _owner_alive(pid: int, start: int) -> bool:
    return process_start_time(pid) == start


def segment_owner_pid(name: str) -> int | None:
    """Pid of the process that created ring segment ``name`` (None if the name is not a ring segment's)."""
    m = _NAME_RE.match(name)
    return int(m.group(1)) if m else None


def cleanup_stale_segments(shm_dir: str = SHM_DIR) -> list[str]:
    """Unlink ring segments whose owner process is dead; return their names."""
    removed = []
    try:
        names = os.listdir(shm_dir)
    except FileNotFoundError:
        return removed
    for name in names:
        m = _NAME_RE.match(name)
        if m is None or _owner_alive(int(m.group(1)), int(m.group(2))):
            continue
        try:
            os.unlink(os.path.join(shm_dir, name))
            removed.append(name)
        except FileNotFoundError:
            pass
    return removed


class SharedMemorySegment:
    """A mapped ``/dev/shm`` segment. Use :meth:`create` (owner) or :meth:`attach` (reader)."""

    def __init__(self, name: str, mm: mmap.mmap, size: int, owner: bool, shm_dir: str = SHM_DIR) -> None:
        self.name = name
        self.shm_dir = shm_dir
        self.mmap = mm
        self.size = size
        self.owner = owner
        self._unlinked = False

    @classmethod
    def create(cls, size: int, shm_dir: str = SHM_DIR) -> SharedMemorySegment:
        """Create and map a new zero-filled segment of ``size`` bytes owned by this process."""
        pid = os.getpid()
        name = f"{RING_PREFIX}{pid}_{process_start_time(pid) or 0}_{uuid.uuid4().hex[:16]}"
        path = os.path.join(shm_dir, name)
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_RDWR, 0o600)
        try:
            os.ftruncate(fd, size)
            mm = mmap.mmap(fd, size, flags=_MAP_FLAGS)
        except BaseException:
            os.close(fd)
            os.unlink(path)
            raise
        os.close(fd)
        with _owned_lock:
            _owned_paths.add(path)
        return cls(name, mm, size, owner=True, shm_dir=shm_dir)

    @classmethod
    def attach(cls, name: str, size: int, shm_dir: str = SHM_DIR) -> SharedMemorySegment:
        """Map an existing segment (StreamError if it does not exist or is smaller than ``size``)."""
        if os.sep in name or not name.startswith(RING_PREFIX):
            raise StreamError(f"invalid shared memory segment name {name!r}")
        try:
            fd = os.open(os.path.join(shm_dir, name), os.O_RDWR)
        except FileNotFoundError:
            raise StreamError(
                f"shared memory segment {name!r} not found (sharedmem streams only work on one machine, "
                "and the output must be open)"
            ) from None
        try:
            actual = os.fstat(fd).st_size
            if actual < size:
                raise StreamError(f"shared memory segment {name!r} has {actual} bytes, expected {size}")
            mm = mmap.mmap(fd, size, flags=_MAP_FLAGS)
        finally:
            os.close(fd)
        return cls(name, mm, size, owner=False, shm_dir=shm_dir)

    def close(self) -> None:
        """Unmap; the owner also unlinks (exactly once). Views into the mapping must be released first."""
        try:
            self.mmap.close()
        except BufferError:
            pass  # a view is still alive: the mapping goes away with it
        if self.owner and not self._unlinked:
            self._unlinked = True
            path = os.path.join(self.shm_dir, self.name)
            with _owned_lock:
                _owned_paths.discard(path)
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass
