"""Closing a Manager with nodes still running in its NodeGroups leaves no shared memory behind."""

from __future__ import annotations

import subprocess
import sys

import numpy as np

from pyacq_etvr.core import create_manager
from pyacq_etvr.core.manager import shutdown_manager
from pyacq_etvr.testing import shm_segments, wait_until


def test_manager_close_with_running_sharedmem_node_leaves_no_segment():
    before = shm_segments()
    man = create_manager("rpc")
    try:
        ng = man.create_nodegroup("ng_close")
        dev = ng.create_node("NumpyDeviceBuffer")
        dev.configure(nb_channel=4, sample_interval=0.001, chunksize=10, buffer=np.zeros((1000, 4), "float32"))
        dev.output.configure(protocol="tcp", transfermode="sharedmem", buffer_size=1000)
        dev.initialize()
        dev.start()
        assert len(shm_segments() - before) == 1
    finally:
        shutdown_manager(man)  # no stop(), no remove_node(): the group must clean up by itself
    assert wait_until(lambda: not (shm_segments() - before), 5.0), shm_segments() - before


def test_process_exiting_without_close_unlinks_its_segments():
    before = shm_segments()
    code = (
        "from pyacq_etvr.core.stream import OutputStream\n"
        "o = OutputStream(); o.configure(dtype='float32', shape=(-1, 4), transfermode='sharedmem',"
        " buffer_size=100, protocol='tcp')\n"
        "print('ok')\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "ok" in proc.stdout
    assert not (shm_segments() - before)
