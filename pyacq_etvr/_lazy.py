"""Lazy re-exports for package ``__init__`` modules (PEP 562 ``__getattr__``).

A package lists ``public name -> defining module`` and gets a ``__getattr__`` that imports the module on
first use and caches the value on the package, so importing the package stays cheap (no Qt, OpenCV or
python-osc until a name that needs them is used).
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Iterable
from typing import Any


def lazy_exports(
    package: str, exports: dict[str, str], extra: Iterable[str] = ()
) -> tuple[Callable[[str], Any], Callable[[], list[str]], list[str]]:
    """Return ``(__getattr__, __dir__, __all__)`` for ``package`` re-exporting ``exports`` lazily.

    ``extra`` names (already defined in the package, e.g. ``__version__``) are added to ``__all__``.
    """
    public = sorted([*extra, *exports])

    def __getattr__(name: str) -> Any:
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        setattr(sys.modules[package], name, value)
        return value

    def __dir__() -> list[str]:
        return list(public)

    return __getattr__, __dir__, public
