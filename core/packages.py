"""Find files shipped inside installed packages without importing them."""

from __future__ import annotations

import importlib.util
from pathlib import Path


def package_dir(package: str) -> Path:
    """Directory of an installed package; ``FileNotFoundError`` with the fix when it is missing."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"package {package!r} is not installed: run scripts/install.sh")
    return Path(next(iter(spec.submodule_search_locations)))
