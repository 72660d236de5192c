"""Reference device nodes used by pyacq's documentation: NumpyDeviceBuffer and NoiseGenerator."""

from __future__ import annotations

from .noise import NoiseGenerator
from .numpydevice import NumpyDeviceBuffer

__all__ = ["NoiseGenerator", "NumpyDeviceBuffer"]
