"""OSC address schemes for VRChat and VRCFaceTracking: merged two-eye records -> (address, floats) messages.

Pure functions, no python-osc import (the sender builds the packets). Conventions (DOMAIN.md, "OSC output"):
gaze x, y in [-1, 1] (+x right, +y up); VRChat pitch is positive looking *down*, yaw positive looking right,
in degrees; ``EyesClosedAmount`` is 0 open .. 1 closed; VRCFT lids are 0 closed .. 1 open.

A look message is built only when the look is known (finite); lid and dilation messages likewise. NaN is
never sent.
"""

from __future__ import annotations

import math

import numpy as np

from pyacq_etvr.core.errors import ConfigError

SCHEMES = ("native", "vrcft-v1", "vrcft-v2")
EYE_MODES = ("both", "left", "right")
NATIVE_LOOKS = ("vec", "pitchyaw")

V1 = "/avatar/parameters/"
V2 = "/avatar/parameters/v2/"


def scheme_addresses(scheme: str, eyes: str = "both", native_look: str = "vec") -> dict[str, int]:
    """Every address the scheme sends (when all values are known) -> number of float arguments."""
    check_scheme(scheme, eyes, native_look)
    if scheme == "native":
        look = "/tracking/eye/LeftRightVec" if native_look == "vec" else "/tracking/eye/LeftRightPitchYaw"
        return {look: 6 if native_look == "vec" else 4, "/tracking/eye/EyesClosedAmount": 1}
    if scheme == "vrcft-v1":
        names = ["LeftEyeX", "RightEyeX", "EyesY", "LeftEyeLidExpandedSqueeze", "RightEyeLidExpandedSqueeze"]
        return {V1 + n: 1 for n in [*names, "EyesDilation"]}
    if eyes == "both":
        names = ["EyeLeftX", "EyeLeftY", "EyeRightX", "EyeRightY", "EyeLidLeft", "EyeLidRight", "PupilDilation"]
    else:
        names = ["EyeX", "EyeY", "EyeLid", "PupilDilation"]
    return {V2 + n: 1 for n in names}


def check_scheme(scheme: str, eyes: str, native_look: str) -> None:
    """ConfigError naming the setting for an unknown scheme / eye mode / native look."""
    if scheme not in SCHEMES:
        raise ConfigError(f"osc scheme must be one of {', '.join(SCHEMES)}, got {scheme!r}")
    if eyes not in EYE_MODES:
        raise ConfigError(f"osc eyes must be one of {', '.join(EYE_MODES)}, got {eyes!r}")
    if native_look not in NATIVE_LOOKS:
        raise ConfigError(f"osc native_look must be one of {', '.join(NATIVE_LOOKS)}, got {native_look!r}")


def _finite(*vals: float) -> bool:
    return all(v == v and not math.isinf(v) for v in vals)


def build_messages(
    rec: np.void, scheme: str, eyes: str = "both", native_look: str = "vec", max_angle_deg: float = 30.0
) -> list[tuple[str, list[float]]]:
    """Messages for one MERGED_DTYPE record. ``eyes='left'|'right'`` sends that eye only (one-eye mode)."""
    lx, ly, rx, ry = float(rec["left_x"]), float(rec["left_y"]), float(rec["right_x"]), float(rec["right_y"])
    if eyes == "left":
        rx, ry = lx, ly
    elif eyes == "right":
        lx, ly = rx, ry
    lid, dil = float(rec["lid"]), float(rec["dilation"])
    lo = float(rec["left_open"]) if eyes != "right" else float(rec["right_open"])
    ro = float(rec["right_open"]) if eyes != "left" else float(rec["left_open"])
    msgs: list[tuple[str, list[float]]] = []
    look = _finite(lx, ly, rx, ry)
    if scheme == "native":
        if look and native_look == "vec":
            msgs.append(("/tracking/eye/LeftRightVec", [lx, ly, 1.0, rx, ry, 1.0]))
        elif look:
            a = max_angle_deg
            msgs.append(("/tracking/eye/LeftRightPitchYaw", [-ly * a, lx * a, -ry * a, rx * a]))
        if _finite(lid):
            msgs.append(("/tracking/eye/EyesClosedAmount", [min(1.0, max(0.0, 1.0 - lid))]))
    elif scheme == "vrcft-v1":
        if look:
            msgs += [(V1 + "LeftEyeX", [lx]), (V1 + "RightEyeX", [rx]), (V1 + "EyesY", [0.5 * (ly + ry)])]
        if _finite(lo, ro):
            msgs += [(V1 + "LeftEyeLidExpandedSqueeze", [lo]), (V1 + "RightEyeLidExpandedSqueeze", [ro])]
        if _finite(dil):
            msgs.append((V1 + "EyesDilation", [dil]))
    elif eyes == "both":
        if look:
            msgs += [
                (V2 + "EyeLeftX", [lx]),
                (V2 + "EyeLeftY", [ly]),
                (V2 + "EyeRightX", [rx]),
                (V2 + "EyeRightY", [ry]),
            ]
        if _finite(lo, ro):
            msgs += [(V2 + "EyeLidLeft", [lo]), (V2 + "EyeLidRight", [ro])]
        if _finite(dil):
            msgs.append((V2 + "PupilDilation", [dil]))
    else:
        if look:
            msgs += [(V2 + "EyeX", [lx]), (V2 + "EyeY", [ly])]
        if _finite(lo):
            msgs.append((V2 + "EyeLid", [lo]))
        if _finite(dil):
            msgs.append((V2 + "PupilDilation", [dil]))
    return msgs
