"""A Camera inside a NodeGroup process, reading a real MJPEG server in the test process over loopback and
feeding a local consumer over sharedmem; the synthetic source's truth crosses processes aligned by index."""

from __future__ import annotations

import os
import time

import numpy as np
import pytest

from pyacq_etvr.core.manager import create_manager
from pyacq_etvr.core.stream import InputStream
from pyacq_etvr.testing import wait_until
from pyacq_etvr.testing_peers import MjpegServer, clip_jpegs, decoded_lookup


def recv_n(inp: InputStream, n: int, timeout_s: float = 15.0):
    out = []
    deadline = time.monotonic() + timeout_s
    while len(out) < n:
        remaining = deadline - time.monotonic()
        assert remaining > 0, f"only {len(out)} of {n} chunks within {timeout_s} s"
        if inp.poll(min(remaining, 0.2) * 1000):
            index, data, ts = inp.recv(with_timestamp=True)
            out.append((index, np.array(data), ts))
    return out


@pytest.mark.timeout(90)
def test_camera_in_nodegroup_feeds_consumer_over_sharedmem(eye_clips_dir):
    jpegs = clip_jpegs(os.path.join(eye_clips_dir, "pupil3d-demo3.mp4"), 40)
    lookup = decoded_lookup(jpegs)
    server = MjpegServer(jpegs, fps=60).start()
    man = create_manager()
    video = InputStream()
    truth_video, truth = InputStream(), InputStream()
    try:
        ng = man.create_nodegroup(name="camera-group")
        ng.register_node_type_from_module("pyacq_etvr.nodes.camera.node", "Camera")
        cam = ng.create_node("Camera", name="remote-cam")
        cam.configure(source=server.url, stall_timeout=0.5)
        cam.outputs["video"].configure(protocol="tcp", interface="127.0.0.1", transfermode="sharedmem", buffer_size=64)
        video.connect(cam.outputs["video"])
        cam.initialize()

        syn = ng.create_node("Camera", name="remote-synthetic")
        syn.configure(source="synthetic", width=96, height=96, fps=120.0, seed=1)
        for name in ("video", "truth"):
            syn.outputs[name].configure(protocol="tcp", interface="127.0.0.1", transfermode="sharedmem", buffer_size=64)
        truth_video.connect(syn.outputs["video"])
        truth.connect(syn.outputs["truth"])
        syn.initialize()

        cam.start()
        syn.start()
        got = recv_n(video, 20)
        frames_t, truths = recv_n(truth_video, 10), recv_n(truth, 10)
        assert wait_until(lambda: cam.stats()["frames"] >= 20, 5)
        stats = cam.stats()
        cam.stop()
        syn.stop()
        ng.remove_node(cam)  # closes it: its shared memory is unlinked by its owner
        ng.remove_node(syn)
    finally:
        for inp in (video, truth_video, truth):
            inp.close()
        man.close()
        server.close()
    assert all(frame[0].tobytes() in lookup for _, frame, _ in got), "frames must cross processes intact"
    indices = [i for i, _, _ in got]
    assert indices == sorted(indices) and len(set(indices)) == len(indices)
    assert stats["state"] == "streaming" and stats["corrupt"] == 0 and stats["reconnects"] == 0
    assert [i for i, _, _ in frames_t] == [i for i, _, _ in truths]
    assert all(int(rec["index"][0]) == i for i, rec, _ in truths)
