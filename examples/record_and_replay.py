"""
Record a session and replay it
==============================

1. **Record**: in a NodeGroup, a synthetic eye camera feeds a pupil detector; a ``RawRecorder`` in the same
   process writes every camera frame and every pupil record to a folder (lossless, crash-safe).
2. **Read** the recording back as numpy arrays (``RawRecording``).
3. **Replay** the recorded frames through the same graph: a ``ReplaySource`` stands in for the camera and
   feeds a fresh pupil detector; the replayed detections are compared with the recorded ones, frame by frame.

Run: ``python examples/record_and_replay.py [--dir DIR] [--seconds S]`` (default: a temporary folder,
``PYACQ_ETVR_EXAMPLE_DURATION`` or 3 s of recording).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import numpy as np

from pyacq_etvr import create_manager
from pyacq_etvr.core import InputStream
from pyacq_etvr.nodes.recorder import RawRecording

TCP = dict(protocol="tcp", interface="127.0.0.1", transfermode="plaindata")
NODE_MODULES = {
    "Camera": "pyacq_etvr.nodes.camera.node",
    "PupilDetector": "pyacq_etvr.nodes.pupil",
    "RawRecorder": "pyacq_etvr.nodes.recorder",
    "ReplaySource": "pyacq_etvr.nodes.recorder",
}


def make_group(manager, name):
    ng = manager.create_nodegroup(name=name)
    for cls, module in NODE_MODULES.items():
        ng.register_node_type_from_module(module, cls)
    return ng


def make_detector(ng, source_output, name):
    det = ng.create_node("PupilDetector", name=name)
    det.configure(detector="default")
    det.inputs["image"].connect(source_output)
    det.outputs["pupil"].configure(**TCP)
    det.initialize()
    return det


def record(manager, dirname, seconds):
    ng = make_group(manager, "record")
    cam = ng.create_node("Camera", name="cam")
    cam.configure(source="synthetic", fps=60, seed=3)
    cam.outputs["video"].configure(**TCP)
    cam.initialize()
    det = make_detector(ng, cam.outputs["video"], "pupil")
    rec = ng.create_node("RawRecorder", name="recorder")
    rec.configure(streams={"video": cam.outputs["video"], "pupil": det.outputs["pupil"]}, dirname=dirname)
    rec.initialize()
    for node in (rec, det, cam):
        node.start()
    time.sleep(seconds)  # recording time
    for node in (cam, det, rec):
        node.stop()
    print(f"recorded to {dirname}: {rec.stats()}")
    for node in (rec, det, cam):
        node.close()


def replay(manager, dirname, n_frames):
    ng = make_group(manager, "replay")
    src = ng.create_node("ReplaySource", name="replay")
    src.configure(dirname=dirname, stream="video", loop=False, realtime=True)
    src.outputs["video"].configure(**TCP)
    src.initialize()
    det = make_detector(ng, src.outputs["video"], "pupil_replay")
    pupil_in = InputStream()
    pupil_in.connect(det.outputs["pupil"])
    det.start()
    src.start()
    records = []
    deadline = time.monotonic() + 2.0 + 2.0 * n_frames / 60.0
    while time.monotonic() < deadline and src.stats()["state"] != "finished":
        if pupil_in.poll(50):
            records.append(np.array(pupil_in.recv(timeout=100)[1]))
    while pupil_in.poll(300):  # the last detections after the source finished
        records.append(np.array(pupil_in.recv(timeout=100)[1]))
    print(f"replay: {src.stats()}")
    src.stop()
    det.stop()
    pupil_in.close()
    det.close()
    src.close()
    return np.concatenate(records) if records else np.zeros(0)


def main() -> int:
    parser = argparse.ArgumentParser(description="record a camera + pupil session, then replay it")
    parser.add_argument("--dir", help="recording folder (must not exist or be empty; default: a temp folder)")
    parser.add_argument("--seconds", type=float, default=float(os.environ.get("PYACQ_ETVR_EXAMPLE_DURATION") or 3))
    args = parser.parse_args()
    tmp = None
    if args.dir is None:
        tmp = tempfile.TemporaryDirectory(prefix="pyacq_etvr_rec_")
        args.dir = os.path.join(tmp.name, "session")
    manager = create_manager()
    try:
        record(manager, args.dir, args.seconds)

        recording = RawRecording(args.dir)
        video, pupil = recording.read("video"), recording.read("pupil")
        print(
            f"read back: {video.data.shape[0]} frames {video.data.shape[1:]} {video.data.dtype}, "
            f"{pupil.data.shape[0]} pupil records, streams {recording.streams}"
        )

        replayed = replay(manager, args.dir, video.data.shape[0])
        # replayed chunk k is recorded frame k: map it to the camera's frame index, then to the recorded pupil
        frame_index = video.chunk_index[replayed["index"] - 1]
        recorded_by_index = {int(i): k for k, i in enumerate(pupil.data["index"])}
        pairs = [(k, recorded_by_index[int(i)]) for k, i in enumerate(frame_index) if int(i) in recorded_by_index]
        a = replayed[[p[0] for p in pairs]]
        b = pupil.data[[p[1] for p in pairs]]
        both = a["found"] & b["found"]
        diff = np.hypot(a["x"][both] - b["x"][both], a["y"][both] - b["y"][both])
        print(
            f"replayed {len(replayed)} detections; {len(pairs)} frames detected in both runs, "
            f"median difference {np.median(diff) if diff.size else float('nan'):.3f} px"
        )
    finally:
        manager.close()
        if tmp is not None:
            tmp.cleanup()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
