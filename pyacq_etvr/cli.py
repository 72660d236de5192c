"""``pyacq-etvr`` console script: ``run``, ``config``, ``bench``, ``synth``.

Sub-commands live in their own modules and are imported only when used, so ``pyacq-etvr --help`` is
instant and loads neither Qt nor OpenCV.
"""

from __future__ import annotations

import importlib
import sys

# sub-command -> (module, function, help)
COMMANDS: dict[str, tuple[str, str, str]] = {
    "run": ("pyacq_etvr.app.run", "main", "run the eye-tracking pipeline (synthetic cameras by default)"),
    "config": ("pyacq_etvr.app.config", "main", "print or check a TOML configuration"),
    "bench": ("pyacq_etvr.bench.__main__", "main", "run a benchmark (same as python -m pyacq_etvr.bench)"),
    "synth": ("pyacq_etvr.synth.__main__", "main", "write a labelled synthetic eye data set"),
}


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print("usage: pyacq-etvr COMMAND [options]\n\ncommands:")
        for name, (_, _, text) in COMMANDS.items():
            print(f"  {name:8s} {text}")
        return 0 if argv else 2
    if argv[0] in ("-V", "--version"):
        from pyacq_etvr import __version__

        print(__version__)
        return 0
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        print(f"pyacq-etvr: unknown command {name!r} (try --help)", file=sys.stderr)
        return 2
    module, func, _ = COMMANDS[name]
    return int(getattr(importlib.import_module(module), func)(rest) or 0)


if __name__ == "__main__":
    sys.exit(main())
