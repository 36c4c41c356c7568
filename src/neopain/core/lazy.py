"""Package APIs whose names load their module on first use (PEP 562).

A stage's ``__init__`` names its whole public API, yet importing the package stays cheap: the
serving side can take a torch-free name from a package whose other modules need torch.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def lazy_api(package: str, api: Mapping[str, str], namespace: dict[str, Any]) -> Callable[[str], Any]:
    """``__getattr__`` for ``package``: ``api`` maps each public name to the submodule defining it."""

    def __getattr__(name: str) -> Any:
        module = api.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{package}.{module}"), name)
        namespace[name] = value  # later look-ups skip this function
        return value

    return __getattr__
