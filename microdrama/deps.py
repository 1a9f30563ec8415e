"""One guard for optional dependencies, so a missing extra becomes an install hint, not a traceback."""

from __future__ import annotations

import importlib
from types import ModuleType

from microdrama.errors import MissingDependencyError


def require(module: str, *, extra: str, purpose: str) -> ModuleType:
    """Import `module` or raise a MissingDependencyError naming the pip extra that provides it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingDependencyError(
            f"{purpose} needs the Python package '{module.split('.')[0]}', which is not installed.\n"
            f"Install it with:  pip install 'microdrama[{extra}]'"
        ) from exc
