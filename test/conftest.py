"""Test-suite wide fixtures: offscreen Qt, and a leak check after every test.

The ``no_leaks`` fixture (autouse) fails a test that leaves behind a descendant process (alive or an
unreaped zombie), a pyacq_etvr shared-memory segment in /dev/shm or a pyacq_etvr ZeroMQ ipc socket file in
the temporary directory, then cleans up so that the next test starts clean.
"""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("XDG_RUNTIME_DIR", "/tmp/runtime-pyacq-etvr-tests")
os.makedirs(os.environ["XDG_RUNTIME_DIR"], mode=0o700, exist_ok=True)

import ctypes  # noqa: E402

import pytest  # noqa: E402

# Become a child subreaper: a grandchild orphaned by a dying child is re-parented to this process instead of
# init, so the leak check below still sees it if it keeps running (Linux only; harmless elsewhere).
try:
    ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
except (OSError, AttributeError):
    pass

from pyacq_etvr.testing import (  # noqa: E402
    SHM_DIR,
    descendant_pids,
    ipc_files,
    kill_and_reap,
    shm_segments,
    wait_until,
)

SHARED = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "..", "shared")


def _ours(segment: str, procs_before: set[int], strict: bool | None = None, ipc: bool = False) -> bool:
    """Whether a new segment (an ipc socket file if ``ipc``) counts against this test run.

    On CI (``CI`` set) every new one counts. On a developer machine where several suites may run at
    once, a segment or file created by a live process outside this process tree belongs to someone else.
    """
    if bool(os.environ.get("CI")) if strict is None else strict:
        return True
    from pyacq_etvr.core.ipcfiles import ipc_owner_pid
    from pyacq_etvr.core.stream.shm import segment_owner_pid

    pid = ipc_owner_pid(segment) if ipc else segment_owner_pid(segment)
    if pid is None or pid == os.getpid() or pid in procs_before or pid in descendant_pids():
        return True
    return not os.path.exists(f"/proc/{pid}")  # a dead owner: a leak unless someone else cleans it


@pytest.fixture(autouse=True)
def no_leaks(request):
    """Fail the test if it leaks processes, shared-memory segments or ipc socket files."""
    procs_before = descendant_pids()
    shm_before = shm_segments()
    ipc_before = ipc_files()
    yield
    grace = 10.0
    leaked: set[int] = set()

    def settled() -> bool:
        nonlocal leaked
        leaked = descendant_pids() - procs_before
        return not leaked

    wait_until(settled, grace, 0.02)
    shm_leaked = {n for n in shm_segments() - shm_before if _ours(n, procs_before)}
    problems = []
    if leaked:
        described = [_describe(pid) for pid in sorted(leaked)]  # before they are killed: what was left, and why
        kill_and_reap(leaked)
        problems.append(f"leaked processes {described}")
    if shm_leaked:
        for name in shm_leaked:
            if not _ours(name, procs_before, strict=False):
                continue  # reported (CI is strict), but never unlink a live segment of another process tree
            try:
                os.unlink(os.path.join(SHM_DIR, name))
            except FileNotFoundError:
                pass
        problems.append(f"leaked shared memory {sorted(shm_leaked)}")
    ipc_leaked = _ipc_leaked(ipc_before, procs_before)
    if ipc_leaked:
        problems.append(f"leaked ipc socket files {sorted(ipc_leaked)}")
    if problems:
        pytest.fail(f"{request.node.nodeid}: " + "; ".join(problems), pytrace=False)


def _describe(pid: int) -> str:
    """``pid (state S, parent P): command line`` of a leaked process, for the failure message."""
    from pyacq_etvr.core.ipcfiles import proc_stat_fields

    fields = proc_stat_fields(pid)
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            cmd = f.read().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        cmd = "?"
    state = f"state {fields[0]}, parent {fields[1]}" if fields else "gone"
    return f"{pid} ({state}): {cmd[:200]}"


def _ipc_leaked(ipc_before: set[str], procs_before: set[int]) -> set[str]:
    """New ipc socket files of this process tree, after a short grace (a reaper thread removes a killed
    child's files just after reaping it); unlinks them unless they belong to a live process of another tree."""
    import tempfile

    leaked: set[str] = set()

    def gone() -> bool:
        nonlocal leaked
        leaked = {n for n in ipc_files() - ipc_before if _ours(n, procs_before, ipc=True)}
        return not leaked

    if not gone():
        wait_until(gone, 2.0, 0.02)
    for name in leaked:
        if _ours(name, procs_before, strict=False, ipc=True):
            try:
                os.unlink(os.path.join(tempfile.gettempdir(), name))
            except FileNotFoundError:
                pass
    return leaked


def find_eye_clips() -> str:
    """Folder holding the real IR eye clips: ``$PYACQ_ETVR_EYE_CLIPS``, else the copy shipped in
    ``test/data/eye-clips`` (MIT, see its SOURCE.md), else ``../shared/data/eye-clips``."""
    candidates = [
        os.environ.get("PYACQ_ETVR_EYE_CLIPS", ""),
        os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "eye-clips"),
        os.path.abspath(os.path.join(SHARED, "data", "eye-clips")),
    ]
    for path in candidates:
        if path and os.path.isdir(path):
            return path
    raise FileNotFoundError(f"eye clips not found in {candidates[1:]} (set PYACQ_ETVR_EYE_CLIPS)")


@pytest.fixture
def eye_clips_dir() -> str:
    """Folder holding the real IR eye clips (they ship with the test suite)."""
    return find_eye_clips()
