"""
Remote headset host
===================

The eye cameras are on a headset PC; the Manager (and your script) are on another machine. The headset PC
runs a **host server**; the Manager connects to it and spawns a NodeGroup there, in which the camera and the
pupil detector run; the pupil stream comes straight back to this script.

Here both "machines" are this one, on loopback, and the host is protected with CURVE keys as it would be on
a network:

1. ``pyacq-etvr-host --generate-keys DIR`` makes the deployment's key pairs (copy DIR to each machine);
2. ``pyacq-etvr-host tcp://ADDRESS --keys DIR`` starts the host (it prints ``host server listening on ...``
   once it accepts requests: we wait for that line, with a deadline);
3. the script calls ``use_keys_dir(DIR)`` before ``create_manager()``, then ``manager.add_host(address)``;
4. a client without the keys gets no answer at all.

Run: ``python examples/remote_headset_host.py [--seconds S]``
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
import zmq

from pyacq_etvr import create_manager
from pyacq_etvr.core import InputStream
from pyacq_etvr.core.rpc.auth import use_keys_dir

HOST_CMD = [sys.executable, "-m", "pyacq_etvr.core.hostserver"]
TCP = dict(protocol="tcp", interface="127.0.0.1", transfermode="plaindata")


def start_host(keys: str, timeout: float = 20.0) -> tuple[subprocess.Popen, str]:
    """Start a host server on a free loopback port; return it and its address once it listens."""
    proc = subprocess.Popen(
        [*HOST_CMD, "tcp://127.0.0.1:*", "--keys", keys, "--name", "headset"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.monotonic() + timeout
    lines = []
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:  # the process ended
            break
        lines.append(line)
        if line.startswith("host server listening on "):
            return proc, line.split(" on ", 1)[1].strip()
    proc.kill()
    proc.wait(5)
    raise RuntimeError("host server did not start:\n" + "".join(lines))


def stop_host(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)
    proc.stdout.close()


def unauthorised_ping(address: str) -> bool:
    """A plain ZeroMQ client without keys asks the host for 'ping': True if it got any answer."""
    sock = zmq.Context.instance().socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.setsockopt(zmq.RCVTIMEO, 1000)
    sock.connect(address)
    sock.send_multipart([b"0", b"ping", b"auto", b"json", b""])
    try:
        sock.recv()
        return True
    except zmq.Again:
        return False
    finally:
        sock.close()


def main() -> int:
    parser = argparse.ArgumentParser(description="camera + pupil detector on a (loopback) remote host")
    parser.add_argument("--seconds", type=float, default=float(os.environ.get("PYACQ_ETVR_EXAMPLE_DURATION") or 3))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="pyacq_etvr_keys_") as tmp:
        keys = os.path.join(tmp, "keys")
        subprocess.run([*HOST_CMD, "--generate-keys", keys], check=True, capture_output=True, timeout=60)
        host_proc, address = start_host(keys)
        try:
            print(f"headset host listening on {address}")
            print(f"a client without keys gets an answer: {unauthorised_ping(address)}")
            use_keys_dir(keys)  # our manager and its processes now speak CURVE with the deployment's keys
            manager = create_manager()
            try:
                manager.add_host(address)
                ng = manager.create_nodegroup(name="headset_eyes", host=address)
                ng.register_node_type_from_module("pyacq_etvr.nodes.camera.node", "Camera")
                ng.register_node_type_from_module("pyacq_etvr.nodes.pupil", "PupilDetector")
                cam = ng.create_node("Camera", name="cam_left")
                cam.configure(source="synthetic", fps=60)
                cam.outputs["video"].configure(**TCP)
                cam.initialize()
                det = ng.create_node("PupilDetector", name="pupil_left")
                det.configure(detector="default")
                det.inputs["image"].connect(cam.outputs["video"])
                det.outputs["pupil"].configure(**TCP)
                det.initialize()
                print(f"nodegroups: {manager.list_nodegroups()}; remote pid {ng.getpid()}, ours {os.getpid()}")

                pupil_in = InputStream()
                pupil_in.connect(det.outputs["pupil"])
                det.start()
                cam.start()
                chunks = []
                deadline = time.monotonic() + args.seconds
                while time.monotonic() < deadline:
                    if pupil_in.poll(50):
                        chunks.append(np.array(pupil_in.recv(timeout=100)[1]))
                cam.stop()
                det.stop()
                pupil_in.close()
                det.close()
                cam.close()
                pupil = np.concatenate(chunks) if chunks else np.zeros(0)
                rate = len(pupil) / args.seconds
                found = float(np.mean(pupil["found"])) if len(pupil) else 0.0
                print(f"received {len(pupil)} pupil records from the headset ({rate:.1f}/s), {found:.0%} found")
            finally:
                manager.close()
        finally:
            use_keys_dir(None)
            stop_host(host_proc)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
