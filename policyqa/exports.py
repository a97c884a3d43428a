"""Each stage's `__init__` names its public API without importing it until first use.

A question must not pay for the build's, the UI's or the model's imports: `policyqa ask` on a
built index imports neither torch nor Gradio. So a package lists its public names and the module
each lives in, and `lazy` resolves them on first access (PEP 562)."""

from __future__ import annotations

import importlib
from collections.abc import Callable


def lazy(package: str, public: dict[str, str]) -> Callable[[str], object]:
    """The module-level `__getattr__` for `package`, resolving `public` (name → module) on first use."""

    def __getattr__(name: str) -> object:
        if name in public:
            return getattr(importlib.import_module(public[name]), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    return __getattr__
