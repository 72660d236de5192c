"""
Full eye pipeline to OSC
========================

Two eye cameras in, gaze and eyelids out over OSC — the graph ``pyacq-etvr run`` builds, spelled out node
by node:

* per eye, one NodeGroup process: ``Camera`` -> ``PupilDetector`` -> ``OneEuroFilter`` -> ``Calibration``;
* one NodeGroup for the output: ``EyeMerge`` (one lid value, disagreement handling) -> ``OscSender``;
* in this process: a ``GazeViewer`` and an ``ImageViewer`` of the left eye with its pupil overlay, and — so
  that the example shows what leaves the pipeline — a python-osc server standing in for VRChat.

Synthetic eyes are the default; the calibrations sweep themselves on the first seconds of data
(``auto_sweep_s``). Point ``--left`` / ``--right`` at real cameras (``0``, ``http://...``, ``/dev/ttyACM0``)
and ``--osc-port 9000`` at VRChat for the real thing.

Run: ``python examples/eye_pipeline_osc.py [--scheme native|vrcft-v1|vrcft-v2] [--duration S]``
"""

from __future__ import annotations

import argparse
import os
from collections import Counter

from pyacq_etvr import create_manager
from pyacq_etvr.nodes.osc_control import OscCapture
from pyacq_etvr.viewers import GazeViewer, ImageViewer, mkQApp
from pyacq_etvr.viewers._qt import QtCore

NODE_MODULES = {
    "Camera": "pyacq_etvr.nodes.camera.node",
    "PupilDetector": "pyacq_etvr.nodes.pupil",
    "OneEuroFilter": "pyacq_etvr.nodes.filters.nodes",
    "Calibration": "pyacq_etvr.nodes.calibration",
    "EyeMerge": "pyacq_etvr.nodes.merge",
    "OscSender": "pyacq_etvr.nodes.osc",
}
TCP = dict(protocol="tcp", interface="127.0.0.1", transfermode="plaindata")


def make_group(manager, name):
    ng = manager.create_nodegroup(name=name)
    for cls, module in NODE_MODULES.items():
        ng.register_node_type_from_module(module, cls)
    return ng


def make_eye(manager, eye, source, seed):
    """Camera -> pupil -> One Euro -> calibration, all in one process for this eye."""
    ng = make_group(manager, f"eye_{eye}")
    cam = ng.create_node("Camera", name=f"cam_{eye}")
    cam.configure(source=source, fps=60, **({"seed": seed} if source == "synthetic" else {}))
    cam.outputs["video"].configure(**TCP)
    cam.initialize()
    det = ng.create_node("PupilDetector", name=f"pupil_{eye}")
    det.configure(detector="default")
    det.inputs["image"].connect(cam.outputs["video"])
    det.outputs["pupil"].configure(**TCP)
    det.initialize()
    filt = ng.create_node("OneEuroFilter", name=f"filter_{eye}")
    filt.configure(sample_rate=60.0, min_cutoff=1.0, beta=0.05)
    filt.inputs["input"].connect(det.outputs["pupil"])
    filt.outputs["output"].configure(**TCP)
    filt.initialize()
    cal = ng.create_node("Calibration", name=f"calibration_{eye}")
    cal.configure(eye=eye, auto_sweep_s=2.0)
    cal.inputs["pupil"].connect(filt.outputs["output"])
    cal.outputs["gaze"].configure(**TCP)
    cal.initialize()
    return {"cam": cam, "det": det, "filter": filt, "cal": cal}


def make_output(manager, eyes, port, scheme):
    """EyeMerge -> OscSender in their own process."""
    out = make_group(manager, "osc")
    merge = out.create_node("EyeMerge", name="merge")
    merge.configure()
    for eye, nodes in eyes.items():
        merge.inputs[eye].connect(nodes["cal"].outputs["gaze"])
    merge.outputs["merged"].configure(**TCP)
    merge.initialize()
    osc = out.create_node("OscSender", name="osc")
    osc.configure(host="127.0.0.1", port=port, scheme=scheme)
    osc.inputs["merged"].connect(merge.outputs["merged"])
    osc.initialize()
    return merge, osc


def make_viewers(eyes):
    """Viewers in this process, connected to the remote outputs like any other input."""
    gaze_view = GazeViewer(name="gaze")
    gaze_view.configure()
    for eye, nodes in eyes.items():
        gaze_view.inputs[eye].connect(nodes["cal"].outputs["gaze"])
    gaze_view.initialize()
    gaze_view.show()
    eye_view = ImageViewer(name="left eye")
    eye_view.configure()
    eye_view.inputs["image"].connect(eyes["left"]["cam"].outputs["video"])
    eye_view.inputs["pupil"].connect(eyes["left"]["det"].outputs["pupil"])
    eye_view.initialize()
    eye_view.show()
    return gaze_view, eye_view


def report(eyes, osc, listener, scheme):
    for eye, nodes in eyes.items():
        det_stats = nodes["det"].stats()
        print(
            f"{eye}: camera {nodes['cam'].stats()['fps']:.1f} fps, detection {det_stats['fps']:.1f} fps, "
            f"calibrated={nodes['cal'].status()['calibrated']}"
        )
    print(f"osc sender: {osc.stats()}")
    if listener is not None:
        received = Counter(address for _, address, _ in listener.snapshot())
        print(f"OSC received ({scheme}): {dict(received)}")


EYE_CHAIN = ("cam", "det", "filter", "cal")  # upstream first


def main() -> int:
    default_duration = float(os.environ.get("PYACQ_ETVR_EXAMPLE_DURATION") or 10.0)
    parser = argparse.ArgumentParser(description="two eyes -> pupil -> filter -> calibration -> OSC")
    parser.add_argument("--left", default="synthetic")
    parser.add_argument("--right", default="synthetic")
    parser.add_argument("--scheme", default="native", choices=("native", "vrcft-v1", "vrcft-v2"))
    parser.add_argument("--osc-port", type=int, default=0, help="OSC destination port (0: our own listener)")
    parser.add_argument("--duration", type=float, default=default_duration, help="seconds (default %(default)s)")
    args = parser.parse_args()

    app = mkQApp()
    listener = OscCapture(port=0) if args.osc_port == 0 else None
    port = listener.port if listener else args.osc_port
    manager = create_manager()
    try:
        eyes = {"left": make_eye(manager, "left", args.left, 1), "right": make_eye(manager, "right", args.right, 2)}
        merge, osc = make_output(manager, eyes, port, args.scheme)
        gaze_view, eye_view = make_viewers(eyes)
        downstream = (gaze_view, eye_view, osc, merge)
        # start downstream first so that nothing is missed
        for node in downstream:
            node.start()
        for nodes in eyes.values():
            for key in reversed(EYE_CHAIN):
                nodes[key].start()
        QtCore.QTimer.singleShot(int(args.duration * 1000), app.quit)
        app.exec_()
        for nodes in eyes.values():
            for key in EYE_CHAIN:
                nodes[key].stop()
        for node in downstream:
            node.stop()
        report(eyes, osc, listener, args.scheme)
        # close readers before writers
        for node in downstream:
            node.close()
        for nodes in eyes.values():
            for key in reversed(EYE_CHAIN):
                nodes[key].close()
    finally:
        manager.close()
        if listener is not None:
            listener.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
