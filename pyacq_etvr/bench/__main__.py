"""Dispatch ``python -m pyacq_etvr.bench NAME [args]`` to ``pyacq_etvr.bench.NAME.main``."""

from __future__ import annotations

import importlib
import sys

from pyacq_etvr.bench import BENCHMARKS


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print("usage: python -m pyacq_etvr.bench NAME [options]\n\nbenchmarks:")
        for name, text in BENCHMARKS.items():
            print(f"  {name:10s} {text}")
        return 0 if argv else 2
    name, rest = argv[0], argv[1:]
    if name not in BENCHMARKS:
        print(f"unknown benchmark {name!r}; choose from {', '.join(BENCHMARKS)}", file=sys.stderr)
        return 2
    try:
        module = importlib.import_module(f"pyacq_etvr.bench.{name}")
    except ModuleNotFoundError as exc:
        if exc.name == f"pyacq_etvr.bench.{name}":
            print(f"benchmark {name!r} is not available in this build", file=sys.stderr)
            return 2
        raise
    return int(module.main(rest) or 0)


if __name__ == "__main__":
    sys.exit(main())
