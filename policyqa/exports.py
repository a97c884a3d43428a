"""Each stage's `__init__` names its public API without importing it until first use.

A question must not pay for the build's, the UI's or the model's imports: `policyqa ask` on a
built index imports neither torch nor Gradio. So a package lists its public names and the module
each lives in, and `lazy` resolves them on first access (PEP 562)."""

from __future__ import annotations

import importlib
from collections.abc import Callable


def lazy(package: str, modules: dict[str, str]) -> tuple[Callable[[str], object], list[str]]:
    """`__getattr__` and `__all__` for `package`, whose public names are `modules` (module → its
    public names, space-separated), each imported on first use."""
    public = {name: module for module, names in modules.items() for name in names.split()}

    def __getattr__(name: str) -> object:
        if name in public:
            return getattr(importlib.import_module(public[name]), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    return __getattr__, sorted(public)
