"""Interpreter exit and parent death: no orphan processes are left behind."""

from __future__ import annotations

import json
import signal
import subprocess
import sys

import pytest

from pyacq_etvr.testing import descendant_pids, reap_exited_children, wait_until

SCRIPT = """
import json, sys, time
import pyacq_etvr as pyacq
man = pyacq.create_manager("rpc")
ng = man.create_nodegroup("worker")
node = ng.create_node("NumpyDeviceBuffer")
node.configure(nb_channel=2, chunksize=10)
node.output.configure(protocol="tcp", interface="127.0.0.1", transfermode="plaindata")
node.initialize()
node.start()
pids = [man._rpc_addr, [s["pid"] for s in man.list_nodegroups(status=True)]]
from pyacq_etvr.core.manager import _spawned
pids.append(next(iter(_spawned.values()))[1].pid)
print(json.dumps(pids), flush=True)
if sys.argv[1] == "hang":
    time.sleep(60)
"""


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.timeout(60)
@pytest.mark.parametrize("how", ["exit", "sigkill"])
def test_no_orphans_after_exit_or_parent_death(how):
    before = descendant_pids()
    proc = subprocess.Popen(
        [sys.executable, "-c", SCRIPT, "hang" if how == "sigkill" else "exit"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        line = proc.stdout.readline()
        _, ng_pids, manager_pid = json.loads(line)
        pids = [*ng_pids, manager_pid]
        assert all(_alive(p) for p in pids)
        if how == "sigkill":
            proc.send_signal(signal.SIGKILL)  # the children notice their parent is gone and exit
        proc.wait(30)
        assert wait_until(lambda: not any(_alive(p) for p in pids), 15), [p for p in pids if _alive(p)]
        # nor any other process of that tree (all of it is re-parented to this suite, the subreaper)
        left = lambda: descendant_pids(include_zombies=False) - before
        assert wait_until(lambda: not left(), 15), left()

        # the orphans exited by themselves; the suite is their subreaper (conftest), so reap their zombies, until
        # none is left: a zombie's own exited children are re-parented to us only once it is gone (CI once left
        # one behind after a single reaping pass)
        def all_reaped() -> bool:
            reap_exited_children()
            return not (descendant_pids() - before)

        assert wait_until(all_reaped, 15), descendant_pids() - before
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        proc.stdout.close()
