"""Difficulty tiers of the synthetic eye: which nuisances are on, and how strong.

A tier is a frozen :class:`Tier` of *ranges*: every sequence (one eye, one camera placement) draws its own
values uniformly inside each ``(lo, hi)`` range from its seed, so a data set of one tier still varies.
Lengths are given for a 240-px frame and scale with the frame size (``min(width, height) / 240``).

The four tiers (see :data:`TIERS`):

``clean``
    No nuisance: no glints, no noise, no blur, no JPEG, no vignetting; high pupil/iris contrast; eye wide open
    (the upper lid clears the pupil except during blinks); nearly frontal camera (ellipses close to circles).
    Blinks still happen (their frames are labelled "no pupil").
``easy``
    1-2 glints away from the pupil edge, light noise (sigma 1-3 grey levels), light defocus, mild vignetting,
    optional light JPEG (quality 80-95), slightly uneven lighting, moderate off-axis camera (up to 20 degrees).
``medium``
    1-4 glints that may sit on the pupil edge, noise sigma 2-6, defocus up to sigma 1.2 px, motion blur
    during saccades, JPEG 55-90, vignetting and uneven lighting, lower pupil/iris contrast, off-axis camera
    up to 30 degrees, eyelid and lashes over the top of the pupil, some eye-liner-like dark regions, low
    resolution (x1-1.5).
``hard``
    What makes real IR data hard: 2-4 glints often on the pupil edge, dark irises (pupil/iris contrast
    22-60 grey levels before shading and noise), strongly off-axis ellipses (camera up to 40 degrees off the
    optical axis, roll up to 35 degrees), partially closed eyes and drooping lashes, noise sigma 3-10, defocus
    up to sigma 2 px, motion blur, JPEG 30-75, strong vignetting and uneven lighting, resolution down to 1/3
    upsampled, make-up and shadows as dark as the pupil, close-ups with the eye partly out of the frame, a
    hazy lens reflection on the cornea, brightness drifting over time.

``python -m pyacq_etvr.synth --list-tiers`` prints every parameter of every tier.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from pyacq_etvr.core.errors import ConfigError

Range = tuple[float, float]


@dataclass(frozen=True)
class Tier:
    """Nuisance ranges of one difficulty tier. Each ``(lo, hi)`` is drawn uniformly once per sequence."""

    name: str
    #: number of corneal glints (integers, inclusive)
    n_glints: tuple[int, int] = (0, 0)
    #: glint distance from the corneal apex, in iris radii (small = often on the pupil or its edge)
    glint_radius: Range = (0.6, 0.9)
    #: additive Gaussian sensor noise, grey levels (sigma)
    noise_sigma: Range = (0.0, 0.0)
    #: defocus blur, Gaussian sigma in px
    defocus_sigma: Range = (0.0, 0.0)
    #: motion blur during fast eye movements: exposure as a fraction of the frame period (0 = off)
    exposure: Range = (0.0, 0.0)
    #: JPEG quality range, or None for no JPEG artefacts
    jpeg_quality: tuple[int, int] | None = None
    #: vignetting: brightness lost in the corners (0 = none, 0.5 = corners at half brightness)
    vignette: Range = (0.0, 0.0)
    #: uneven IR lighting: amplitude of a smooth multiplicative gain field over the frame (0 = uniform)
    lighting: Range = (0.0, 0.0)
    #: slow global brightness drift (auto-exposure, LED power): sd of the gain (OU process, 3 s time constant)
    gain_drift: Range = (0.0, 0.0)
    #: faint blurry reflection of the headset lens / screen on the cornea, peak grey levels added (0 = none)
    reflection: Range = (0.0, 0.0)
    #: render at 1/factor resolution and upsample (1 = full resolution)
    lowres: Range = (1.0, 1.0)
    #: mean grey level of the pupil
    pupil_level: Range = (22.0, 32.0)
    #: iris minus pupil grey level (dark irises close to the pupil level make hard data)
    pupil_iris_contrast: Range = (85.0, 120.0)
    #: camera direction off the eye's optical axis, degrees (yaw and pitch each drawn in +-range)
    camera_offset_deg: Range = (0.0, 8.0)
    #: camera roll, degrees (drawn in +-range)
    roll_deg: Range = (0.0, 6.0)
    #: resting eyelid openness (1 = wide open); blinks and squints go below it
    openness: Range = (1.0, 1.0)
    #: chance per second of a squint episode (eyes partly closed for 0.5-2 s)
    squint_rate: float = 0.0
    #: upper-lid apex height at openness 1, in iris radii above the eye centre (small = lid over the pupil)
    lid_height: Range = (1.45, 1.6)
    #: number of upper-lid lashes, and the share that droops over the eye opening
    lashes: tuple[int, int] = (50, 80)
    lash_droop: Range = (0.0, 0.0)
    #: strength 0..1 of make-up / shadow regions as dark as the pupil around the eye
    makeup: Range = (0.0, 0.0)
    #: iris radius as a share of min(width, height)
    iris_size: Range = (0.16, 0.24)
    #: eye-centre offset from the frame centre, share of the frame size (each axis drawn in +-range)
    eye_offset: Range = (0.0, 0.05)
    #: gaze range, degrees (yaw, pitch) -- gaze_x = yaw / 30, gaze_y = pitch / 30
    gaze_range_deg: tuple[float, float] = (24.0, 18.0)
    #: blink interval range in seconds (from the end of one blink to the start of the next)
    blink_interval_s: Range = (2.0, 6.0)

    def __post_init__(self) -> None:
        for f in fields(self):
            v = getattr(self, f.name)
            if f.name != "gaze_range_deg" and isinstance(v, tuple) and len(v) == 2 and v[0] > v[1]:
                raise ConfigError(f"tier {self.name!r}: range {f.name}={v} has lo > hi")

    def describe(self) -> list[tuple[str, str]]:
        """(parameter, value) pairs of this tier, ranges as ``lo..hi``, for documentation and ``--list-tiers``."""
        out = []
        for f in fields(self):
            if f.name == "name":
                continue
            v = getattr(self, f.name)
            if isinstance(v, tuple) and f.name != "gaze_range_deg":
                v = f"{v[0]:g}..{v[1]:g}"
            elif isinstance(v, tuple):
                v = f"yaw +-{v[0]:g}, pitch +-{v[1]:g}"
            elif v is None:
                v = "off"
            out.append((f.name, str(v)))
        return out


def tiers_table() -> str:
    """Plain-text table of every tier's parameters (one row per parameter, one column per tier)."""
    names = list(TIERS)
    rows = [("parameter", *names)]
    described = [dict(TIERS[n].describe()) for n in names]
    for key in described[0]:
        rows.append((key, *(d[key] for d in described)))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows)


TIERS: dict[str, Tier] = {
    "clean": Tier(name="clean"),
    "easy": Tier(
        name="easy",
        n_glints=(1, 2),
        glint_radius=(0.75, 1.0),
        noise_sigma=(1.0, 3.0),
        defocus_sigma=(0.0, 0.7),
        jpeg_quality=(80, 95),
        vignette=(0.05, 0.2),
        lighting=(0.0, 0.12),
        pupil_level=(20.0, 35.0),
        pupil_iris_contrast=(60.0, 110.0),
        camera_offset_deg=(0.0, 20.0),
        roll_deg=(0.0, 15.0),
        openness=(0.9, 1.0),
        lid_height=(1.3, 1.55),
        lashes=(60, 100),
        makeup=(0.0, 0.2),
        iris_size=(0.15, 0.28),
        eye_offset=(0.0, 0.08),
    ),
    "medium": Tier(
        name="medium",
        n_glints=(1, 4),
        glint_radius=(0.3, 0.9),
        noise_sigma=(2.0, 6.0),
        defocus_sigma=(0.3, 1.2),
        exposure=(0.2, 0.6),
        jpeg_quality=(55, 90),
        vignette=(0.1, 0.35),
        lighting=(0.1, 0.3),
        reflection=(0.0, 20.0),
        gain_drift=(0.0, 0.05),
        lowres=(1.0, 1.5),
        pupil_level=(22.0, 45.0),
        pupil_iris_contrast=(35.0, 90.0),
        camera_offset_deg=(5.0, 30.0),
        roll_deg=(0.0, 25.0),
        openness=(0.75, 1.0),
        squint_rate=0.05,
        lid_height=(1.0, 1.4),
        lashes=(70, 120),
        lash_droop=(0.0, 0.15),
        makeup=(0.2, 0.6),
        iris_size=(0.14, 0.32),
        eye_offset=(0.0, 0.12),
    ),
    "hard": Tier(
        name="hard",
        n_glints=(2, 4),
        glint_radius=(0.2, 0.7),
        noise_sigma=(3.0, 10.0),
        defocus_sigma=(0.5, 2.0),
        exposure=(0.4, 1.0),
        jpeg_quality=(30, 75),
        vignette=(0.2, 0.5),
        lighting=(0.2, 0.45),
        reflection=(10.0, 40.0),
        gain_drift=(0.03, 0.12),
        lowres=(1.0, 3.0),
        pupil_level=(25.0, 55.0),
        pupil_iris_contrast=(22.0, 60.0),
        camera_offset_deg=(15.0, 40.0),
        roll_deg=(0.0, 35.0),
        openness=(0.55, 1.0),
        squint_rate=0.12,
        lid_height=(0.8, 1.3),
        lashes=(80, 150),
        lash_droop=(0.05, 0.3),
        makeup=(0.5, 1.0),
        iris_size=(0.12, 0.36),
        eye_offset=(0.0, 0.18),
        gaze_range_deg=(27.0, 21.0),
        blink_interval_s=(1.5, 5.0),
    ),
}


def get_tier(tier: str | Tier) -> Tier:
    """Return the :class:`Tier` named ``tier`` (or ``tier`` itself); ConfigError for an unknown name."""
    if isinstance(tier, Tier):
        return tier
    if isinstance(tier, str) and tier in TIERS:
        return TIERS[tier]
    raise ConfigError(f"unknown synthetic tier {tier!r}; choose from {', '.join(TIERS)}")


__all__ = ["TIERS", "Tier", "get_tier", "tiers_table"]
